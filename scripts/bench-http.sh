#!/usr/bin/env bash
# Load-tests the real binary on loopback and reports requests per second and the
# process's resident memory. Bounded: 10 s per page, 127.0.0.1 only.
# Usage: scripts/bench-http.sh [bin/sportello]
# BENCH_DURATION (default 10s) is the time per page; BENCH_PATHS replaces the list of
# pages measured besides the verification page and API (default: a static file, the
# catalogue, the URP page and the home page). The summary compares the verification
# page and API with the static file (the aim: a quarter of its rate or better).
set -euo pipefail
BIN=${1:-bin/sportello}
DURATION=${BENCH_DURATION:-10s}
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
command -v wrk >/dev/null 2>&1 || { echo "bench: wrk is missing and could not be installed (apt-get install wrk)" >&2; exit 1; }
command -v sqlite3 >/dev/null 2>&1 || { echo "bench: sqlite3 is missing (apt-get install sqlite3): it finds the demo certificate" >&2; exit 1; }
dir=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
# The verification rate limit (30 a minute per client) would answer wrk with 429.
cat > "$dir/bench.yaml" <<'YAML'
modules:
  settings:
    certificati:
      verify_rate_per_minute: -1
YAML
export SPORTELLO_CONFIG=$dir/bench.yaml
export SPORTELLO_DATA_DIR=$dir SPORTELLO_HTTP_ADDR=127.0.0.1:$port SPORTELLO_HTTP_BASE_URL=http://127.0.0.1:$port SPORTELLO_LOG_LEVEL=warn
"$BIN" demo >/dev/null
"$BIN" serve 2>"$dir/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
rss() { awk '/^(VmRSS|VmHWM)/ {printf "%s %d MiB  ", $1, $2/1024}' /proc/$pid/status; echo; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "idle after start:      $(rss)"
static=/static/css/sportello.css
paths=${BENCH_PATHS:-"$static /servizi /servizi/urp/ /"}
# The demo's sample certificate, for the public verification page and API.
code=$(sqlite3 "$dir/sportello.db" "SELECT id FROM certificates LIMIT 1" 2>/dev/null || true)
[ -n "$code" ] || { echo "bench: no demo certificate in $dir/sportello.db" >&2; exit 1; }
paths="$paths /verifica/$code /api/verifica/$code"
declare -A rate
for path in $paths; do
  echo "== GET $path (wrk -t2 -c32 -d$DURATION, embedded SQLite, gzip off)"
  out=$(wrk -t2 -c32 -d"$DURATION" --latency "http://127.0.0.1:$port$path")
  echo "$out" | grep -E 'Requests/sec|Latency|99%|Non-2xx' || true
  rate[$path]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  echo "memory after load:     $(rss)"
done
if [ -n "${rate[$static]:-}" ]; then
  echo "== summary (share of the static file's rate; aim: 0.25 or more)"
  for path in "/verifica/$code" "/api/verifica/$code"; do
    awk -v p="$path" -v r="${rate[$path]}" -v s="${rate[$static]}" 'BEGIN {printf "%-40s %10.0f req/s  %.2f of static\n", p, r, r / s}'
  done
fi
