# Groups a profile's samples (CPU time, or with -sample_index=alloc_space bytes allocated) by
# what the gateway was doing, from `go tool pprof -traces BINARY PROFILE`: each sample goes to
# the first group that one of its frames matches, read from the leaf towards the root, so a
# syscall counts for the HTTP or gRPC code that made it and an allocation for the decoder that
# asked for it. Prints one row per group with its share of all samples, largest first.

# amount turns a sample's value into ms (times) or MB (bytes), and sets unit.
function amount(v) {
	if (v ~ /us$/) { unit = "ms"; return v / 1000 }
	if (v ~ /ms$/) { unit = "ms"; return v + 0 }
	if (v ~ /[0-9]s$/) { unit = "ms"; return v * 1000 }
	if (v ~ /GB$/) { unit = "MB"; return v * 1024 }
	if (v ~ /MB$/) { unit = "MB"; return v + 0 }
	if (v ~ /kB$/) { unit = "MB"; return v / 1024 }
	unit = "MB"
	return v / 1048576
}

# group names the group of one frame, or "" to keep reading towards the root.
function group(f) {
	if (f ~ /^runtime\.(gc[A-Z]|gcDrain|gcBgMarkWorker|markroot|scan|greyobject|bgsweep|bgscavenge|sweepone|wbBuf|\(\*gcWork\)|\(\*mspan\)\.sweep|\(\*sweepLocked\)|tryDeferToSpanScan)/ || f ~ /^gcWriteBarrier/)
		return "GC (marking, sweeping, assists, write barriers)"
	if (f ~ /^runtime\.(newstack|copystack|morestack)/)
		return "goroutine stack growth"
	if (f ~ /^runtime\.(newproc|goexit0|schedule|findRunnable|park_m|mcall|wakep|startm|stopm|mstart|sysmon|netpoll|goready|ready)/)
		return "scheduler, goroutine start and exit, netpoll"
	if (f ~ /jsonschema/)
		return "SDK JSON schema validation"
	if (f ~ /(encoding\/json|go-sdk\/internal\/json)\./) {
		json = 1
		return ""
	}
	if (json)
		return "" # the JSON code's own frames say whether it decoded or encoded
	if (f ~ /(google\.golang\.org\/(grpc|protobuf|genproto)|otelgrpc|osirisplane\/osiris\/api\/)/)
		return "gRPC to the services (client, HTTP/2, protobuf)"
	if (f ~ /go-sdk\/internal\/jsonrpc2\./)
		return "SDK jsonrpc2 machinery (connections, calls, async handlers)"
	if (f ~ /go-sdk\/mcp\..*([sS]treamable|SSE|sse|[eE]vent)/ || f ~ /^(net\/http|net\/textproto|mime)\./)
		return "HTTP and SSE (net/http, the SDK's streamable transports)"
	if (f ~ /go-sdk\/(mcp|auth|internal)/)
		return "SDK MCP sessions, middleware, methods"
	if (f ~ /gateway\/internal\/proxy\./)
		return "Osiris proxy"
	if (f ~ /gateway\/internal\/fanout\.|osirisplane\/osiris\/gateway\./)
		return "Osiris fan-out (audit, telemetry, session, cache, builtins)"
	if (f ~ /(go\.opentelemetry\.io|prometheus)/)
		return "OpenTelemetry metrics and traces"
	return ""
}

# jsonGroup says whether the JSON frames of a stack decoded or encoded.
function jsonGroup(frames) {
	if (frames ~ /(Unmarshal|[dD]ecode|Parse|parse|readValue|Valid)/)
		return "JSON decode (the SDK's internal/json, encoding/json)"
	return "JSON encode (the SDK's internal/json, encoding/json)"
}

function flush() {
	if (value == "") return
	if (g == "" && json) g = jsonGroup(jframes)
	if (g == "") g = "other (runtime, sync, syscalls of unknown callers)"
	total += value
	by[g] += value
	value = ""
}

/^-----------\+/ { flush(); g = ""; json = 0; jframes = ""; next }
/^ +-?[0-9.]+(us|ms|s|B|kB|MB|GB) +/ { value = amount($1); frame = $2; }
/^ +[^ 0-9-]/ && value != "" { frame = $1 }
value != "" && frame != "" {
	if (g == "") {
		r = group(frame)
		if (frame ~ /(encoding\/json|go-sdk\/internal\/json)\./) jframes = jframes " " frame
		if (r != "") g = r
	}
	frame = ""
}
END {
	flush()
	for (k in by) printf "%6.1f%%  %8.0f %s  %s\n", 100 * by[k] / total, by[k], unit, k | "sort -rn"
	close("sort -rn")
	printf "total %.0f %s\n", total, unit
}
