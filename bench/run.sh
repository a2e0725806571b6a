#!/usr/bin/env bash
# Every benchmark in bench/ (each module with a __main__ block; helpers have none), one after
# the other. Each prints its figures beside a raw baseline measured in the same run, and the
# ratio. PostgreSQL and Redis must answer on 127.0.0.1 (scripts/setup-system.sh starts them).
#
#   bash bench/run.sh                              # all of them
#   bash bench/run.sh import_bench stats_bench     # some of them, by module name
#   BENCH_OPTS_import_bench="--cases 50000 --backend sqlite" bash bench/run.sh import_bench
#
# Options for one benchmark go in BENCH_OPTS_<module>: the benchmarks take different flags.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.

if [ "$#" -gt 0 ]; then
    names=("$@")
else
    names=()
    for file in bench/*.py; do
        if grep -q '^if __name__ == "__main__":' "${file}"; then
            names+=("$(basename "${file}" .py)")
        fi
    done
fi

failed=()
for name in "${names[@]}"; do
    opts_var="BENCH_OPTS_${name}"
    read -r -a opts <<< "${!opts_var:-}"
    echo "=== ${name} ${opts[*]:-} ($(date -u +%H:%M:%S) UTC)"
    if ! "${PY}" -m "bench.${name}" "${opts[@]}"; then
        failed+=("${name}")
    fi
    echo
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
