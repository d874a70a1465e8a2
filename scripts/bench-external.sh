#!/usr/bin/env bash
# Measures the gateway from outside, as deployed: the four services, the upstream (the SDK's
# everything-server over streamable HTTP), the gateway in front of it with its default fan-out
# (audit synced before and after every call, telemetry, session) and the load client
# (bench/mcpload) all run as separate processes on loopback. It reports the gateway's share
# of direct throughput at 32 sessions, its added p50 at 1 session, and the design's floor for
# that (two synced audit Appends in sequence), in one table.
#
# Environment: TOOLS (where everything-server is; default ./.tools), DURATION (one round of one
# target, default 5s), ROUNDS (3), SESSIONS (32), PROFILE=1 to add, under the same load, each
# process's CPU time per call (directly and through the gateway), a 20 s CPU profile of the
# gateway and what it allocated, grouped by scripts/profile-groups.awk, and at 1 session the
# time its goroutines waited for a CPU and spent in syscalls (the profiles are kept in
# PROFILE_DIR), MCP_PROXY_BIN=path of a built TBXark/mcp-proxy to measure as a third target
# (a proxy without fan-out, for comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
TOOLS=${TOOLS:-$root/.tools}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
SESSIONS=${SESSIONS:-32}
PROFILE=${PROFILE:-0}
MCP_PROXY_BIN=${MCP_PROXY_BIN:-}
[[ -x "$TOOLS/everything-server" ]] || { echo "$TOOLS/everything-server missing: run make tools" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/osiris-bench-external.XXXXXX")
pids=()
declare -A pid # name -> pid of the measured processes
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... runs CMD in the background, its output in $work/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	pid[$name]=$!
}

# logged NAME SED-EXPR waits (up to 30 s: the machine may be busy) for the log line SED-EXPR
# prints from, and prints it.
logged() {
	local name=$1 expr=$2 v
	for _ in $(seq 300); do
		v=$(sed -n "$expr" "$work/$name.log" | head -1)
		[[ -n "$v" ]] && { echo "$v"; return; }
		sleep 0.1
	done
	echo "$name did not start:" >&2
	cat "$work/$name.log" >&2
	return 1
}

# freeport prints a loopback TCP port nothing listens on (for the servers that need one given).
freeport() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-)
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

# listening NAME PORT waits (up to 30 s) until something accepts on PORT.
listening() {
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return
		sleep 0.1
	done
	echo "$1: nothing listens on 127.0.0.1:$2:" >&2
	cat "$work/$1.log" >&2
	return 1
}

echo "building into $work/bin"
go build -o "$work/bin/" ./services/audit/cmd/osiris-audit ./services/telemetry/cmd/osiris-telemetry \
	./services/session/cmd/osiris-session ./services/cache/cmd/osiris-cache ./gateway/cmd/osiris-gateway ./bench/mcpload
bin=$work/bin
grpc='s/.*"msg":"serving".*"grpc":"\([^"]*\)".*/\1/p'

# The services as the Procfile runs them (audit syncs every write, as in production).
for s in audit telemetry cache; do
	start "$s" "$bin/osiris-$s" --data-dir "$work/data/$s" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0
done
audit=$(logged audit "$grpc")
telemetry=$(logged telemetry "$grpc")
cache=$(logged cache "$grpc")
start session "$bin/osiris-session" --data-dir "$work/data/session" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --audit-addr "$audit"
session=$(logged session "$grpc")

port=$(freeport)
start upstream "$TOOLS/everything-server" -http "127.0.0.1:$port" -stateless=false
listening upstream "$port"
direct=http://127.0.0.1:$port/mcp

debug=()
[[ "$PROFILE" == 1 ]] && debug=(--debug-addr 127.0.0.1:0)
start gateway "$bin/osiris-gateway" --http-addr 127.0.0.1:0 --upstream "everything=$direct" --audit-addr "$audit" \
	--telemetry-addr "$telemetry" --cache-addr "$cache" --session-addr "$session" "${debug[@]}"
gateway=$(logged gateway 's/.*"msg":"gateway serving".*"mcp":"\([^"]*\)".*/\1/p')
targets="direct=$direct,gateway=$gateway"

if [[ -n "$MCP_PROXY_BIN" ]]; then
	pport=$(freeport)
	cat >"$work/mcp-proxy.json" <<-EOF
		{"mcpProxy": {"baseURL": "http://127.0.0.1:$pport", "addr": "127.0.0.1:$pport", "name": "mcp-proxy", "version": "1",
		              "type": "streamable-http", "options": {"logEnabled": false}},
		 "mcpServers": {"everything": {"url": "$direct", "transportType": "streamable-http"}}}
	EOF
	start mcp-proxy "$MCP_PROXY_BIN" -config "$work/mcp-proxy.json"
	listening mcp-proxy "$pport"
	targets="$targets,mcpproxy=http://127.0.0.1:$pport/everything"
fi

load() { "$bin/mcpload" --targets "$targets" --duration "$DURATION" --rounds "$ROUNDS" --tool test_simple_text --args '{}' "$@"; }
echo
load --sessions "$SESSIONS" | tee "$work/many.txt"
echo
load --sessions 1 | tee "$work/one.txt"
echo
"$bin/mcpload" --audit-floor "$audit" --sessions 1 --duration "$DURATION" --rounds "$ROUNDS" | tee "$work/floor.txt"

# col FILE TARGET N prints column N of TARGET's row in an mcpload report.
col() { awk -v t="$2" -v n="$3" '$1 == t { print $n }' "$1"; }
ratio=$(col "$work/many.txt" gateway 6)
p50d=$(col "$work/one.txt" direct 3)
p50g=$(col "$work/one.txt" gateway 3)
floor=$(col "$work/floor.txt" floor 3)
echo
echo "Gateway from outside: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| gateway/direct calls/s at $SESSIONS sessions (target >= 0.6) | $ratio |"
[[ -n "$MCP_PROXY_BIN" ]] && echo "| mcp-proxy/direct calls/s at $SESSIONS sessions (no fan-out) | $(col "$work/many.txt" mcpproxy 6) |"
echo "| p50 direct, 1 session (ms) | $p50d |"
echo "| p50 gateway, 1 session (ms) | $p50g |"
awk -v g="$p50g" -v d="$p50d" -v f="$floor" 'BEGIN {
	printf "| added p50 (ms) | %.3f |\n", g - d
	printf "| floor p50: two synced audit Appends in sequence (ms) | %.3f |\n", f
	printf "| added minus floor (ms) | %.3f |\n", g - d - f
}'

if [[ "$PROFILE" == 1 ]]; then
	# Under the same load: the CPU time each process spends per call, directly and through the
	# gateway, and during the latter a 20 s CPU profile of the gateway and what it allocated.
	PROFILE_DIR=${PROFILE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/osiris-gateway-profile.XXXXXX")}
	mkdir -p "$PROFILE_DIR"
	pprof=$(logged gateway 's/.*"msg":"gateway debug serving".*"pprof":"\([^"]*\)".*/\1/p')
	ticks() { for n in "${!pid[@]}"; do echo "$n $(awk '{print $14 + $15}' "/proc/${pid[$n]}/stat")"; done | sort; }
	# drive NAME URL SECONDS loads one target, with each process's CPU ticks before and after.
	drive() {
		ticks >"$work/$1-ticks-before"
		"$bin/mcpload" --targets "$1=$2" --sessions "$SESSIONS" --duration "${3}s" --rounds 1 >"$work/$1-load.txt"
		ticks >"$work/$1-ticks-after"
	}
	# percall NAME SECONDS prints each process's CPU time per call of the load drive made.
	percall() {
		local calls
		calls=$(awk -v t="$1" '$1 == t { printf "%d", $2 * '"$2"' }' "$work/$1-load.txt")
		echo "CPU time per call, $1, $SESSIONS sessions, by process ($calls calls in $2 s):"
		join "$work/$1-ticks-before" "$work/$1-ticks-after" |
			awk -v calls="$calls" -v hz="$(getconf CLK_TCK)" '{ printf "  %-10s %6.0f us\n", $1, ($3 - $2) * 1e6 / hz / calls }'
		awk -v t="$1" '$1 == t { printf "  %-10s %6d us\n", "mcpload", $7 }' "$work/$1-load.txt"
	}
	echo
	echo "per-call CPU time, directly for 12 s, then through the gateway for 24 s with a 20 s profile; profiles in $PROFILE_DIR"
	drive direct "$direct" 12
	curl -fsS -o "$PROFILE_DIR/allocs-before.pprof" "${pprof}allocs"
	drive gateway "$gateway" 24 &
	sleep 2
	curl -fsS -o "$PROFILE_DIR/gateway-cpu.pprof" "${pprof}profile?seconds=20"
	wait $!
	curl -fsS -o "$PROFILE_DIR/allocs-after.pprof" "${pprof}allocs"
	cp "$bin/osiris-gateway" "$PROFILE_DIR/"
	cd "$PROFILE_DIR"
	percall direct 12
	percall gateway 24
	echo
	echo "The gateway's CPU, grouped (go tool pprof -traces | awk -f scripts/profile-groups.awk):"
	go tool pprof -traces osiris-gateway gateway-cpu.pprof 2>/dev/null | awk -f "$root/scripts/profile-groups.awk"
	echo
	echo "What it allocated meanwhile, grouped the same way:"
	go tool pprof -sample_index=alloc_space -diff_base allocs-before.pprof -traces osiris-gateway allocs-after.pprof 2>/dev/null |
		awk -f "$root/scripts/profile-groups.awk"
	echo
	# At 1 session the added latency is mostly waiting, which a CPU profile does not show: a 3 s
	# execution trace sums the time the gateway's goroutines were runnable but not running, and
	# the time they spent in syscalls (writes to sockets), per call.
	"$bin/mcpload" --targets "gateway=$gateway" --sessions 1 --duration 8s --rounds 1 >"$work/traced.txt" &
	sleep 3
	curl -fsS -o trace.out "${pprof}trace?seconds=3"
	wait $!
	calls=$(awk '$1 == "gateway" { printf "%d", $2 * 3 }' "$work/traced.txt")
	for k in sched syscall; do
		go tool trace -pprof="$k" trace.out >"trace-$k.pprof" 2>/dev/null
		go tool pprof -unit=ms -top -nodecount=8 osiris-gateway "trace-$k.pprof" 2>/dev/null >"trace-$k.txt"
		total=$(sed -n 's/.* of \([0-9.]*\)ms total.*/\1/p' "trace-$k.txt")
		echo "1 session, $k (go tool trace -pprof=$k): $(awk -v t="$total" -v c="$calls" 'BEGIN { printf "%.2f", t / c }') ms per call, summed over goroutines ($calls calls in 3 s)"
		sed -n '/flat%/,$p' "trace-$k.txt"
	done
	echo
	go tool pprof -top -cum -nodecount=60 osiris-gateway gateway-cpu.pprof 2>/dev/null | tee top-cum.txt
	echo
	go tool pprof -top -nodecount=40 osiris-gateway gateway-cpu.pprof 2>/dev/null | tee top.txt
fi
