#!/usr/bin/env bash
# nomadlite under load: 20 build-like jobs at once on a fresh agent; prints whether every job
# ended right and the agent's peak RSS (the target is under 100 MB). A measurement, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NBS_NOMADLITE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/nbs/nomadlite}
work=$(mktemp -d)
port=${BENCH_NOMAD_PORT:-14747}
mkdir -p "$work/cache"
"$bin" agent -bind 127.0.0.1 -port "$port" -data-dir "$work/data" -host-volume "buildah-cache=$work/cache" 2>"$work/agent.log" &
agent=$!
trap 'kill "$agent" 2>/dev/null; wait "$agent" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/v1/status/leader" >/dev/null 2>&1 && break; sleep 0.1; done
cd tools/nomadlite && go run ./bench -addr "http://127.0.0.1:$port" -pid "$agent" -n "${BENCH_JOBS:-20}"
