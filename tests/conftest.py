"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, settings, the app, a live server.

Every test that asks for ``database_url`` (directly or through ``settings``, ``app``,
``client`` or ``live_server``) runs once per database backend: ``[sqlite]`` and
``[postgresql]``. ``--db sqlite`` or ``--db postgresql`` restricts that for quick local runs;
PostgreSQL cases also carry the ``postgres`` marker. PostgreSQL and Redis are the real servers
on 127.0.0.1 that ``scripts/setup-system.sh`` starts; when they do not answer, the tests that need
them fail with a message saying so (never a silent skip).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from config.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = REPO_ROOT / "artifacts"

#: Server URLs; override with TEST_POSTGRES_URL / TEST_REDIS_URL (not CC_*: those are cleared).
PG_SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

REDIS_LOCK_FILE = Path(os.environ.get("TMPDIR", "/tmp")) / "mediation-console-redis-db15.lock"

DB_BACKENDS = ("sqlite", "postgresql")
#: Long enough for production-style checks; tests never rely on its value.
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
LIVE_SERVER_START_TIMEOUT = 30.0

SETUP_HINT = "run `bash scripts/setup-system.sh` (or `bash scripts/test.sh`, which runs it)"

_REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()


# ----------------------------------------------------------------------------------------------
# Options, markers, reports
# ----------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="database backend(s) for tests that use database_url (default: both)",
    )


def _selected_backends(config: pytest.Config) -> tuple[str, ...]:
    choice = str(config.getoption("--db"))
    return DB_BACKENDS if choice == "both" else (choice,)


def _explicitly_parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrize through the backend fixture so every fixture built on database_url (settings,
    # app, client, live_server) fans out too; a test may pin its own backend list instead.
    if "db_backend" not in metafunc.fixturenames:
        return
    if _explicitly_parametrized(metafunc, "db_backend"):
        return
    params = [
        pytest.param(
            backend,
            id=backend,
            marks=[pytest.mark.postgres] if backend == "postgresql" else [],
        )
        for backend in _selected_backends(metafunc.config)
    ]
    metafunc.parametrize("db_backend", params, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e_root = REPO_ROOT / "tests" / "e2e"
    for item in items:
        if e2e_root in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the item so fixtures can tell, at teardown, that the test
    # failed (the browser fixture saves a screenshot then).
    report = yield
    item.stash.setdefault(_REPORTS_KEY, {})[report.when] = report
    return report


@pytest.fixture
def did_test_fail(request: pytest.FixtureRequest) -> Callable[[], bool]:
    """A check, for fixture teardown, of whether the current test failed (setup or call)."""

    def failed() -> bool:
        reports = request.node.stash.get(_REPORTS_KEY, {})
        return any(report.failed for report in reports.values())

    return failed


@pytest.fixture
def artifact_stem(request: pytest.FixtureRequest) -> str:
    """A file-system-safe name for the current test, for screenshots and logs."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")[:180]


# ----------------------------------------------------------------------------------------------
# Hermetic environment
# ----------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_cc_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop the developer's ``CC_*`` variables so settings come only from what tests pass."""
    for name in list(os.environ):
        if name.startswith("CC_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``artifacts/`` at the repository root (git-ignored): screenshots, logs, reports."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


# ----------------------------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------------------------
def _libpq_url(database: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(PG_SERVER_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def _sqlalchemy_pg_url(database: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(PG_SERVER_URL).set(database=database)
    return url.render_as_string(hide_password=False)


class _PgServer:
    """Administrative connection (autocommit) to the PostgreSQL server, for test databases."""

    def __init__(self) -> None:
        import psycopg

        problem: str | None = None
        try:
            self._conn = psycopg.connect(_libpq_url("postgres"), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as err:
            problem = str(err).strip()
        if problem is not None:  # outside the except block: no chained traceback
            pytest.fail(
                f"PostgreSQL is not reachable at {PG_SERVER_URL} as a trusted user: {problem}\n"
                f"Start it: {SETUP_HINT}. To run without it: pytest --db sqlite",
                pytrace=False,
            )
        self._lock = threading.Lock()

    def create(self, name: str, template: str | None = None) -> None:
        sql = f'CREATE DATABASE "{name}"'
        if template is not None:
            self._terminate(template)
            # The default strategy (WAL_LOG on PostgreSQL 15+) needs no checkpoint, unlike
            # FILE_COPY, which measured several times slower on a busy 2-core machine.
            sql += f' TEMPLATE "{template}"'
        with self._lock:
            self._conn.execute(sql.encode())

    def drop(self, name: str) -> None:
        with self._lock:
            self._conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    def _terminate(self, name: str) -> None:
        # A template must have no open connections while it is copied.
        with self._lock:
            self._conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    def close(self) -> None:
        self._conn.close()


@pytest.fixture(scope="session")
def _pg_server() -> Iterator[_PgServer]:
    server = _PgServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def _pg_prefix() -> str:
    return f"cc_test_{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def pg_url(_pg_server: _PgServer, _pg_prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the session (dropped at the end); its URL."""
    name = _pg_prefix
    _pg_server.create(name)
    try:
        yield _sqlalchemy_pg_url(name)
    finally:
        _pg_server.drop(name)


@pytest.fixture(scope="session")
def _pg_template(_pg_server: _PgServer, _pg_prefix: str) -> Iterator[str]:
    """A PostgreSQL database migrated to head once; each test gets a copy of it."""
    from dispatch.db.schema import upgrade

    name = f"{_pg_prefix}_tpl"
    _pg_server.create(name)
    try:
        upgrade(_sqlalchemy_pg_url(name))
        yield name
    finally:
        _pg_server.drop(name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once; each test gets a copy of it."""
    from dispatch.db.schema import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


_clone_counter = itertools.count(1)
#: URLs handed out by database_url, already at head: app_factory need not run Alembic again.
_MIGRATED_URLS: set[str] = set()


# ----------------------------------------------------------------------------------------------
# The database under test
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``: the backend of the current parametrization."""
    backend: str = getattr(request, "param", "sqlite")
    return backend


@pytest.fixture
def database_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database of the current backend, already migrated to head.

    SQLite: a copy of a migrated file in ``tmp_path``. PostgreSQL: a copy (CREATE DATABASE ...
    TEMPLATE) of a migrated database, dropped after the test. Both are private to the test.
    A test that changes the schema (downgrades, drift checks) should use ``pg_url`` or its own
    SQLite file instead: ``app_factory`` trusts these databases to be at head.
    """
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = tmp_path / "test.db"
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{template}{suffix}")
            if source.exists():
                shutil.copyfile(source, Path(f"{target}{suffix}"))
        url = f"sqlite:///{target}"
        _MIGRATED_URLS.add(url)
        yield url
        return
    if db_backend == "postgresql":
        server: _PgServer = request.getfixturevalue("_pg_server")
        pg_template: str = request.getfixturevalue("_pg_template")
        prefix: str = request.getfixturevalue("_pg_prefix")
        name = f"{prefix}_{next(_clone_counter)}"
        server.create(name, template=pg_template)
        url = _sqlalchemy_pg_url(name)
        _MIGRATED_URLS.add(url)
        try:
            yield url
        finally:
            _MIGRATED_URLS.discard(url)
            server.drop(name)
        return
    raise ValueError(f"unknown database backend {db_backend!r}")


# ----------------------------------------------------------------------------------------------
# Redis
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of Redis database 15 on 127.0.0.1:6379, flushed before and after the test.

    Test runs of several checkouts on one machine share that database: a file lock makes
    their Redis tests take turns instead of flushing each other's keys.
    """
    import fcntl

    with open(REDIS_LOCK_FILE, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield from _flushed_redis()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _flushed_redis() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    problem: str | None = None
    try:
        client.ping()
    except redis.exceptions.ConnectionError as err:
        problem = str(err)
    if problem is not None:  # outside the except block: no chained traceback
        client.close()
        pytest.fail(
            f"Redis is not reachable at {REDIS_TEST_URL}: {problem}\nStart it: {SETUP_HINT}.",
            pytrace=False,
        )
    client.flushdb()
    try:
        yield REDIS_TEST_URL
    finally:
        client.flushdb()
        client.close()


# ----------------------------------------------------------------------------------------------
# Settings, app, clients
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def settings_factory(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Build settings for tests: the test database, a temporary data dir, no simulator or video.

    Keyword arguments override any field, e.g. ``settings_factory(redis_url=redis_url)``.
    """
    from config.settings import load_settings

    # An empty YAML layer: a developer's config/app.yaml must not leak into the tests.
    empty_yaml = tmp_path / "app.yaml"
    empty_yaml.touch()

    def make(config_file: str | Path | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "secret_key": TEST_SECRET_KEY,
            "simulator": False,
            "streams_enabled": False,
        }
        values.update(overrides)
        Path(values["data_dir"]).mkdir(parents=True, exist_ok=True)
        return load_settings(config_file=config_file or empty_yaml, **values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Settings on the test database (in-process bus, no simulator, no video)."""
    return settings_factory()


def _stop_app(app: Flask) -> None:
    # console.runtime.Runtime (app.extensions["cc"]) stops workers, the bus and the engine.
    runtime = app.extensions.get("cc")
    stop = getattr(runtime, "stop", None)
    if callable(stop):
        stop()


@pytest.fixture
def app_factory(
    settings: Settings, settings_factory: Callable[..., Settings]
) -> Iterator[Callable[..., Flask]]:
    """Build apps with ``create_app`` (after migrating); every app built is stopped at the end.

    Call with keyword overrides to build on different settings: ``app_factory(lang="en")``.
    """
    from console.app import create_app
    from dispatch.db.schema import upgrade

    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app_settings = settings_factory(**overrides) if overrides else settings
        # database_url's own databases are copies of a migrated template: no second Alembic run.
        if app_settings.database_url not in _MIGRATED_URLS:
            upgrade(app_settings.database_url)
        app = create_app(app_settings)
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield make
    for app in reversed(built):
        _stop_app(app)


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    """The Flask app from ``create_app(settings)`` on a migrated test database."""
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask test client of ``app`` (no network)."""
    return app.test_client()


# ----------------------------------------------------------------------------------------------
# A live server: real HTTP and websockets on 127.0.0.1
# ----------------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(base_url: str, thread: threading.Thread, errors: list[BaseException]) -> None:
    deadline = time.monotonic() + LIVE_SERVER_START_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if errors:
            raise RuntimeError(f"live server failed to start: {errors[0]!r}") from errors[0]
        if not thread.is_alive():
            raise RuntimeError("live server thread exited before /healthz answered")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
                last = response.status
        except urllib.error.HTTPError as err:
            last = err.code
            err.close()  # it holds the response's socket: unclosed it is a ResourceWarning
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            last = err
        time.sleep(0.1)
    raise RuntimeError(f"{base_url}/healthz did not answer 200 in time (last: {last!r})")


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` with Flask-SocketIO on a free port in a thread; yields the base URL.

    Threading mode (the embedded default) is served by Werkzeug's threaded server, exactly what
    ``socketio.run(app, allow_unsafe_werkzeug=True)`` starts, but kept so that it can be shut
    down after the test. Other async modes fall back to ``socketio.run`` in a daemon thread.
    """
    from werkzeug.serving import BaseWSGIServer, make_server

    socketio = app.extensions["socketio"]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    errors: list[BaseException] = []
    server: BaseWSGIServer | None = None

    if socketio.async_mode == "threading":
        server = make_server("127.0.0.1", port, app, threaded=True)

        def serve() -> None:
            assert server is not None
            try:
                server.serve_forever(poll_interval=0.1)
            except BaseException as err:  # reported to the waiting test thread
                errors.append(err)

    else:

        def serve() -> None:
            try:
                socketio.run(
                    app,
                    host="127.0.0.1",
                    port=port,
                    allow_unsafe_werkzeug=True,
                    use_reloader=False,
                    log_output=False,
                )
            except BaseException as err:
                errors.append(err)

    thread = threading.Thread(target=serve, name=f"live-server-{port}", daemon=True)
    thread.start()
    try:
        _wait_healthy(base_url, thread, errors)
        yield base_url
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
