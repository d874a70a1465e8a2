#!/usr/bin/env bash
# The official MCP conformance suite through the gateway, fronting the Go SDK's
# everything-server (pinned in tools/go.mod) over streamable HTTP, then over stdio.
# Each run must pass every check. Needs: Go, Node 20 + npx (the suite is an npm package).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=@modelcontextprotocol/conformance@0.1.13
bin=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$bin"; }
trap cleanup EXIT

go build -o "$bin/osiris-gateway" ./gateway/cmd/osiris-gateway
everything=.tools/everything-server
[ -x "$everything" ] || { echo "missing $everything: run make tools"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened"; exit 1; }

run_suite() { # name url
	local log="$bin/$1.log"
	npx -y "$SUITE" server --url "$2" > "$log" 2>&1 || true
	grep -E '^(✗|Total)' "$log" | sed "s/^/[$1] /"
	grep -q '^Total: 40 passed, 0 failed' "$log" || { echo "[$1] conformance through the gateway failed"; tail -40 "$log"; exit 1; }
}

up=$(free_port); gw=$(free_port)
"$everything" -http "127.0.0.1:$up" -stateless=false > "$bin/upstream.log" 2>&1 & pids+=($!)
wait_port "$up"
"$bin/osiris-gateway" --http-addr "127.0.0.1:$gw" --upstream "everything=http://127.0.0.1:$up/mcp" > "$bin/gw-http.log" 2>&1 & pids+=($!)
wait_port "$gw"
run_suite "upstream over HTTP" "http://127.0.0.1:$gw/mcp"

gw2=$(free_port)
"$bin/osiris-gateway" --http-addr "127.0.0.1:$gw2" --upstream-stdio "everything=$PWD/$everything" > "$bin/gw-stdio.log" 2>&1 & pids+=($!)
wait_port "$gw2"
run_suite "upstream over stdio" "http://127.0.0.1:$gw2/mcp"
echo "conformance: 80 passed, 0 failed"
