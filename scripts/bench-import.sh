#!/usr/bin/env bash
# Imports a generated fictional register of PERSONS people (default 150,000, a comune
# the size of Livorno) into an empty database, on SQLite and on PostgreSQL
# (SPORTELLO_TEST_DATABASE_URL), and prints the time of each import.
# Usage: scripts/bench-import.sh [PERSONS]
set -euo pipefail
cd "$(dirname "$0")/.."
persons="${1:-150000}"
SPORTELLO_BENCH_IMPORT_PERSONS="$persons" go test -run '^$' -bench 'BenchmarkImport$' -benchtime 1x -timeout 60m ./app/anagrafe/
