#!/usr/bin/env bash
# README's first command: install the Python environment and run the console on the embedded
# default (SQLite file under var/, in-process event bus, generated demo data) at
# http://127.0.0.1:8050. Arguments go to `python -m console run` (e.g. --host, --port).
#
# No Debian packages and no services are needed for this; scripts/test.sh sets those up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-system.sh --venv-only

PY=.venv/bin/python
"${PY}" -m console init-db
# Demo data only for an empty database: a restart keeps what was entered.
"${PY}" -m console seed-demo --if-empty
exec "${PY}" -m console run "$@"
