#!/usr/bin/env bash
# Runs every service and the gateway as separate processes, as in production, from the
# Procfile; Ctrl-C stops them all. Needs `make build tools` first.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait; }
trap stop INT TERM EXIT
while IFS= read -r line; do
	[[ -z "$line" || "$line" == \#* ]] && continue
	name=${line%%:*}
	cmd=${line#*: }
	echo "starting $name: $cmd"
	bash -c "exec $cmd" > >(sed "s/^/[$name] /") 2>&1 &
	pids+=($!)
done < deploy/Procfile
wait
