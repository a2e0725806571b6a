#!/usr/bin/env bash
# THE test command (README, .ci/run): install what the tests need, then lint, type-check and
# run the whole suite on SQLite and PostgreSQL. Exits non-zero if any step fails.
#
#   bash scripts/test.sh                          everything (what CI runs)
#   bash scripts/test.sh --db sqlite -m "not e2e" arguments go to pytest (quick local subsets)
#
# Steps: scripts/setup-system.sh, ruff check, ruff format --check, mypy, pytest. All steps run
# even after a failure so one run shows every problem; the summary at the end names them.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$(pwd)"
ARTIFACTS="${REPO_ROOT}/artifacts"
PYTEST_LOG="${ARTIFACTS}/pytest.log"

started=$(date +%s)
failures=()

banner() { printf '\n==> %s\n' "$*"; }

run_step() {
    # run_step NAME COMMAND...: run, time and record a failure without stopping.
    local name="$1"
    shift
    local t0 rc
    t0=$(date +%s)
    banner "${name}: $*"
    "$@"
    rc=$?
    printf '<== %s: %s (%ss)\n' "${name}" "$([[ ${rc} -eq 0 ]] && echo ok || echo "FAILED, exit ${rc}")" \
        "$(($(date +%s) - t0))"
    [[ ${rc} -eq 0 ]] || failures+=("${name}")
    return 0
}

banner "setup: scripts/setup-system.sh"
if ! bash scripts/setup-system.sh; then
    echo "setup failed: the tests cannot run without it" >&2
    exit 1
fi

export PATH="${REPO_ROOT}/.venv/bin:${PATH}"
export PYTHONUNBUFFERED=1
mkdir -p "${ARTIFACTS}"

run_step "ruff check" ruff check .
run_step "ruff format" ruff format --check .

# mypy refuses a configured directory that holds no Python file yet; check the ones that do.
mapfile -t MYPY_TARGETS < <(python - <<'PY'
import tomllib
from pathlib import Path

files = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mypy"]["files"]
for entry in files:
    path = Path(entry)
    if path.is_file() or (path.is_dir() and any(path.rglob("*.py"))):
        print(entry)
PY
)
run_step "mypy" mypy "${MYPY_TARGETS[@]}"

banner "pytest $*"
color=()
[[ -t 1 ]] && color=(--color=yes)
t0=$(date +%s)
# --durations: the slowest tests, to keep the whole run well under 20 minutes on 2 cores.
python -m pytest "${color[@]}" --durations=15 --junitxml="${ARTIFACTS}/junit.xml" "$@" 2>&1 \
    | tee "${PYTEST_LOG}"
pytest_rc=${PIPESTATUS[0]}
case ${pytest_rc} in
    0) ;;
    5)
        echo "pytest collected no tests: that is a failure here" >&2
        failures+=("pytest (no tests collected)")
        ;;
    *) failures+=("pytest (exit ${pytest_rc})") ;;
esac
printf '<== pytest: exit %s (%ss)\n' "${pytest_rc}" "$(($(date +%s) - t0))"

# pytest's closing line, e.g. "==== 412 passed, 3 skipped in 301.22s (0:05:01) ====".
closing="$(sed 's/\x1b\[[0-9;]*m//g' "${PYTEST_LOG}" \
    | grep -E '^=+ .*( in [0-9.]+s).* =+$' | tail -n 1)"

banner "summary ($(($(date +%s) - started))s)"
printf 'pytest: %s\n' "${closing:-<no closing line: see ${PYTEST_LOG}>}"
if [[ ${#failures[@]} -gt 0 ]]; then
    printf 'FAILED: %s\n' "$(IFS=,; echo "${failures[*]}" | sed 's/,/, /g')"
    exit 1
fi
echo "all steps passed"
