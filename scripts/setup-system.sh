#!/usr/bin/env bash
# Install and start what the test suite needs; idempotent and quick when all is in place.
#
#   bash scripts/setup-system.sh              Debian packages, PostgreSQL, Redis, then the venv
#   bash scripts/setup-system.sh --venv-only  only the virtualenv (what scripts/run.sh needs)
#
# System part (needs root or sudo): Debian packages, a PostgreSQL cluster answering on
# 127.0.0.1:5432 with trust auth for 127.0.0.1, the database "test", Redis on 127.0.0.1:6379.
# Python part: .venv created when missing; requirements-dev.txt installed only when the
# requirements files changed since the last install (a hash stamp inside .venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$(pwd)"

VENV="${REPO_ROOT}/.venv"
STAMP="${VENV}/.requirements.sha256"
PACKAGES=(redis-server postgresql chromium chromium-driver fonts-noto-cjk libgl1)
PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Several checkouts on one machine may run this at once: serialise apt, services and pip.
LOCK_FILE="${TMPDIR:-/tmp}/mediation-console-setup.lock"
exec 9>"${LOCK_FILE}"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "root needed for: $* (run as root or install sudo)"
    fi
}

as_postgres() {
    if [[ ${EUID} -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        sudo -u postgres "$@"
    fi
}

# ------------------------------------------------------------------------------------------
# Debian packages
# ------------------------------------------------------------------------------------------
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

ensure_packages() {
    local missing=()
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        installed "${pkg}" || missing+=("${pkg}")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
}

# ------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------
pg_version() {
    local v
    v="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -z ${v} ]]; then
        v="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    fi
    [[ -n ${v} ]] || die "PostgreSQL is not installed (no /usr/lib/postgresql/<version>)"
    printf '%s' "${v}"
}

pg_answers() {
    pg_isready -q -h "${PG_HOST}" -p "${PG_PORT}" -t 2
}

pg_trusts_loopback() {
    psql -X -q -w -h "${PG_HOST}" -p "${PG_PORT}" -U postgres -d postgres -tAc 'select 1' \
        >/dev/null 2>&1
}

ensure_pg_cluster() {
    local version="$1"
    if [[ ! -f /etc/postgresql/${version}/main/postgresql.conf ]]; then
        log "creating PostgreSQL ${version} cluster 'main'"
        as_root pg_createcluster --port "${PG_PORT}" "${version}" main
    fi
}

ensure_pg_config() {
    # Loopback trust for the test fixtures; returns 0 when the file was changed. The default
    # listen_addresses ('localhost') already covers 127.0.0.1.
    local version="$1"
    local hba="/etc/postgresql/${version}/main/pg_hba.conf"
    local changed=1
    if ! as_root grep -Eq "^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust" "${hba}"; then
        log "adding trust auth for 127.0.0.1 to ${hba}"
        # pg_hba is first-match: the trust line must come before any md5/scram line.
        as_root sed -i '1i host all all 127.0.0.1/32 trust' "${hba}"
        changed=0
    fi
    return "${changed}"
}

start_pg() {
    local version="$1"
    log "starting PostgreSQL ${version}/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "${version}" main start || true
    local i
    for i in $(seq 1 60); do
        pg_answers && return 0
        sleep 0.5
    done
    die "PostgreSQL did not answer on ${PG_HOST}:${PG_PORT} (see /var/log/postgresql/)"
}

ensure_postgres() {
    local version
    if pg_answers && pg_trusts_loopback; then
        ensure_pg_database
        return 0
    fi
    version="$(pg_version)"
    ensure_pg_cluster "${version}"
    local reconfigured=1
    if ensure_pg_config "${version}"; then
        reconfigured=0
    fi
    if ! pg_answers; then
        start_pg "${version}"
    elif [[ ${reconfigured} -eq 0 ]]; then
        log "reloading PostgreSQL ${version}/main"
        as_root pg_ctlcluster --skip-systemctl-redirect "${version}" main reload
        sleep 0.5
    fi
    pg_trusts_loopback || die "PostgreSQL answers but user postgres cannot log in from ${PG_HOST} without a password; check pg_hba.conf"
    ensure_pg_database
}

ensure_pg_database() {
    local psql_cmd=(psql -X -q -w -h "${PG_HOST}" -p "${PG_PORT}" -U postgres -d postgres -tA)
    local me="${USER:-$(id -un)}"
    # A superuser role named after the local user, so plain `psql -h 127.0.0.1 test` works too.
    if [[ -n ${me} && ${me} != postgres ]] \
        && [[ "$("${psql_cmd[@]}" -c "select 1 from pg_roles where rolname = '${me}'")" != 1 ]]; then
        log "creating PostgreSQL role ${me}"
        "${psql_cmd[@]}" -c "create role \"${me}\" login superuser"
    fi
    if [[ "$("${psql_cmd[@]}" -c "select 1 from pg_database where datname = 'test'")" != 1 ]]; then
        log "creating PostgreSQL database test"
        "${psql_cmd[@]}" -c "create database test"
    fi
}

# ------------------------------------------------------------------------------------------
# Redis
# ------------------------------------------------------------------------------------------
redis_answers() {
    [[ "$(redis-cli -h "${REDIS_HOST}" -p "${REDIS_PORT}" ping 2>/dev/null)" == PONG ]]
}

ensure_redis() {
    redis_answers && return 0
    log "starting Redis on ${REDIS_HOST}:${REDIS_PORT}"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "${REDIS_PORT}" \
        --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    local i
    for i in $(seq 1 40); do
        redis_answers && return 0
        sleep 0.25
    done
    die "Redis did not answer on ${REDIS_HOST}:${REDIS_PORT} (see /var/log/redis/ci.log)"
}

# ------------------------------------------------------------------------------------------
# Python virtualenv
# ------------------------------------------------------------------------------------------
pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [[ -n ${candidate} ]] || continue
        if command -v "${candidate}" >/dev/null 2>&1 \
            && "${candidate}" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            printf '%s' "${candidate}"
            return 0
        fi
    done
    die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"
}

requirements_hash() {
    cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    if [[ ! -x ${VENV}/bin/python ]]; then
        local python
        python="$(pick_python)"
        log "creating ${VENV} with $(${python} --version)"
        "${python}" -m venv "${VENV}"
    fi
    local want have=""
    want="$(requirements_hash)"
    [[ -f ${STAMP} ]] && have="$(cat "${STAMP}")"
    if [[ ${want} == "${have}" ]]; then
        return 0
    fi
    log "installing requirements-dev.txt into ${VENV}"
    "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    printf '%s\n' "${want}" >"${STAMP}"
}

main() {
    local venv_only=0
    case "${1:-}" in
        --venv-only) venv_only=1 ;;
        "") ;;
        -h | --help)
            sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            return 0
            ;;
        *) die "unknown option: $1" ;;
    esac
    if [[ ${venv_only} -eq 0 ]]; then
        ensure_packages
        ensure_postgres
        ensure_redis
    fi
    ensure_venv
}

main "$@"
