#!/usr/bin/env bash
# Every benchmark in bench/, one after the other; each prints its figures beside a raw baseline
# measured in the same run, and the ratio. Extra arguments go to every benchmark
# (e.g. --backend sqlite). PostgreSQL must answer on 127.0.0.1 (scripts/setup-system.sh starts
# it) unless --backend sqlite is given.
#
#   bash bench/run.sh                   # import 200,000 cases; summary over 1,000,000 cases
#   bash bench/run.sh --backend sqlite
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.

status=0
for bench in bench/*_bench.py; do
    name=$(basename "${bench}" .py)
    echo "=== ${name} ($(date -u +%H:%M:%S) UTC)"
    "${PY}" -m "bench.${name}" "$@" || status=$?
    echo
done
exit "${status}"
