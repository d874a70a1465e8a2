#!/usr/bin/env bash
# The official MCP conformance suite through the gateway, fronting the Go SDK's
# everything-server (pinned in tools/go.mod) over streamable HTTP, then over stdio, with the
# audit, telemetry and session services behind it. Each run must pass every check; every tool
# call the suite made must be in the audit log twice (started, then completed or failed) under
# one correlation id, counted once in the telemetry summary, and audited under a session that
# the session service holds.
# Needs: Go, curl, Node 20 + npx (the suite is an npm package).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=@modelcontextprotocol/conformance@0.1.13
bin=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$bin"; }
trap cleanup EXIT

go build -o "$bin/" ./gateway/cmd/osiris-gateway ./services/audit/cmd/osiris-audit ./services/telemetry/cmd/osiris-telemetry ./services/session/cmd/osiris-session
everything=.tools/everything-server
[ -x "$everything" ] || { echo "missing $everything: run make tools"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened"; exit 1; }

run_suite() { # name url audit-http
	local log="$bin/$1.log"
	npx -y "$SUITE" server --url "$2" > "$log" 2>&1 || true
	grep -E '^(✗|Total)' "$log" | sed "s/^/[$1] /"
	grep -q '^Total: 40 passed, 0 failed' "$log" || { echo "[$1] conformance through the gateway failed"; tail -40 "$log"; exit 1; }
	curl -sf "http://$3/v1/audit/events:export" > "$bin/audit.jsonl"
	awk -v name="$1" '
		match($0, /"correlation_id":"[^"]*"/) { id = substr($0, RSTART + 18, RLENGTH - 19) }
		/"event":"tool_call_started"/ { started[id]++; n++ }
		/"event":"tool_call_(completed|failed)"/ { ended[id]++ }
		END {
			for (id in started) if (started[id] != 1 || ended[id] != 1) { printf "[%s] call %s: %d started, %d ended\n", name, id, started[id], ended[id]; bad = 1 }
			for (id in ended) if (!(id in started)) { printf "[%s] call %s ended but never started\n", name, id; bad = 1 }
			if (n == 0) { printf "[%s] no tool call was audited\n", name; bad = 1 }
			if (!bad) printf "[%s] audit log: %d tool calls, each started and ended once\n", name, n
			exit bad
		}' "$bin/audit.jsonl"
	local audited counted=""
	audited=$(grep -c '"event":"tool_call_started"' "$bin/audit.jsonl")
	for _ in $(seq 100); do # the gateway sends telemetry from a spool, a moment after each call
		# The global count is the reply's first field; the per-tool breakdown repeats the name.
		counted=$(curl -sf "http://$4/v1/telemetry/summary" | sed -n 's/^{"toolCalls":"\([0-9]*\)".*/\1/p' || true)
		[ "$counted" = "$audited" ] && break
		sleep 0.1
	done
	[ "$counted" = "$audited" ] || { echo "[$1] telemetry counts ${counted:-0} tool calls, the audit log $audited"; exit 1; }
	echo "[$1] telemetry summary: $counted tool calls"
	local sessions=0
	for id in $(grep '"event":"tool_call_started"' "$bin/audit.jsonl" | grep -o '"session_id":"[^"]*"' | cut -d'"' -f4 | sort -u); do
		curl -sf -o /dev/null "http://$5/v1/sessions/$id" || { echo "[$1] audited session $id is not in the session service"; exit 1; }
		sessions=$((sessions + 1))
	done
	[ "$sessions" -gt 0 ] || { echo "[$1] no tool call was audited under a session"; exit 1; }
	echo "[$1] session service: all $sessions sessions of those calls"
}

start_services() { # data-dir -> sets AUDIT_*, TEL_*, SESS_* (GRPC and HTTP addresses)
	AUDIT_GRPC=127.0.0.1:$(free_port); AUDIT_HTTP=127.0.0.1:$(free_port)
	TEL_GRPC=127.0.0.1:$(free_port); TEL_HTTP=127.0.0.1:$(free_port)
	SESS_GRPC=127.0.0.1:$(free_port); SESS_HTTP=127.0.0.1:$(free_port)
	"$bin/osiris-audit" --data-dir "$1/audit" --grpc-addr "$AUDIT_GRPC" --http-addr "$AUDIT_HTTP" > "$1-audit.log" 2>&1 & pids+=($!)
	"$bin/osiris-telemetry" --data-dir "$1/telemetry" --grpc-addr "$TEL_GRPC" --http-addr "$TEL_HTTP" > "$1-telemetry.log" 2>&1 & pids+=($!)
	"$bin/osiris-session" --data-dir "$1/session" --grpc-addr "$SESS_GRPC" --http-addr "$SESS_HTTP" > "$1-session.log" 2>&1 & pids+=($!)
	wait_port "${AUDIT_HTTP#*:}"; wait_port "${TEL_HTTP#*:}"; wait_port "${SESS_HTTP#*:}"
}

up=$(free_port); gw=$(free_port)
start_services "$bin/http"
"$everything" -http "127.0.0.1:$up" -stateless=false > "$bin/upstream.log" 2>&1 & pids+=($!)
wait_port "$up"
"$bin/osiris-gateway" --http-addr "127.0.0.1:$gw" --upstream "everything=http://127.0.0.1:$up/mcp" --audit-addr "$AUDIT_GRPC" --telemetry-addr "$TEL_GRPC" --session-addr "$SESS_GRPC" > "$bin/gw-http.log" 2>&1 & pids+=($!)
wait_port "$gw"
run_suite "upstream over HTTP" "http://127.0.0.1:$gw/mcp" "$AUDIT_HTTP" "$TEL_HTTP" "$SESS_HTTP"

gw2=$(free_port)
start_services "$bin/stdio"
"$bin/osiris-gateway" --http-addr "127.0.0.1:$gw2" --upstream-stdio "everything=$PWD/$everything" --audit-addr "$AUDIT_GRPC" --telemetry-addr "$TEL_GRPC" --session-addr "$SESS_GRPC" > "$bin/gw-stdio.log" 2>&1 & pids+=($!)
wait_port "$gw2"
run_suite "upstream over stdio" "http://127.0.0.1:$gw2/mcp" "$AUDIT_HTTP" "$TEL_HTTP" "$SESS_HTTP"
echo "conformance: 80 passed, 0 failed"
