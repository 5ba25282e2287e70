#!/usr/bin/env bash
# Compares one Go benchmark at two revisions on this machine, fairly: both test
# binaries are built first, then run in alternation (base, work, base, work, ...), so
# that a noisy neighbour or a CPU that warms up slows both sides alike. A timed run of
# one side after the other would credit the machine's drift to the code.
#
# Usage: scripts/bench-ab.sh BASE_REV PACKAGE BENCH_REGEXP [PAIRS] [BENCHTIME]
#   scripts/bench-ab.sh e52d447 ./services/certificates 'BenchmarkIssueCertificate$/sqlite'
# The work side is the working tree as it is (uncommitted changes included). PAIRS
# defaults to 10, BENCHTIME to 2s. Prints every run, then min, median and max of
# ns/op for each side.
set -euo pipefail
base=${1:?base revision}
pkg=${2:?package, e.g. ./services/certificates}
bench=${3:?benchmark regexp}
pairs=${4:-10}
benchtime=${5:-2s}
root=$(git rev-parse --show-toplevel)
dir=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$dir/base" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
git -C "$root" worktree add --detach "$dir/base" "$base" >/dev/null 2>&1
(cd "$dir/base" && go test -c -o "$dir/base.test" "$pkg")
(cd "$root" && go test -c -o "$dir/work.test" "$pkg")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "base $(git -C "$root" rev-parse --short "$base"), work $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' + uncommitted changes'); $pairs pairs of $benchtime"
# A benchmark's fixtures (testdata) are found relative to the package directory.
cd "$root/$pkg"
for i in $(seq 1 "$pairs"); do
  for side in base work; do
    ns=$("$dir/$side.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime" -test.benchmem 2>/dev/null |
      awk '/^Benchmark/ && !n++ {print $3}')
    [ -n "$ns" ] || { echo "bench-ab: $side run $i printed no result" >&2; exit 1; }
    echo "$side $ns" | tee -a "$dir/runs"
  done
done
for side in base work; do
  awk -v s="$side" '$1 == s {print $2}' "$dir/runs" | sort -n |
    awk -v s="$side" '{v[NR] = $1} END {
      med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%s: min %.3f ms, median %.3f ms, max %.3f ms (%d runs)\n", s, v[1] / 1e6, med / 1e6, v[NR] / 1e6, NR
    }'
done
