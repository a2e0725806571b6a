"""The app factory: builds the Flask server, database, bus, Socket.IO, API, Dash and workers.

Nothing is built at import time; tests build their own app with their own settings.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
from datetime import timedelta

from flask import Flask, Response, jsonify
from flask_socketio import SocketIO
from sqlalchemy import text

from config.reference import load_reference
from config.regions import load_regions
from config.settings import Settings, load_settings
from console.api import register_all
from console.errors import register_error_handlers
from console.runtime import Runtime
from console.web import register_minimal_home, register_pages
from dispatch.db.session import make_engine, make_session_factory
from dispatch.realtime.bus import make_bus
from dispatch.services.deps import Deps
from dispatch.services.outbox import install_publisher

logger = logging.getLogger(__name__)

#: Parts of the product that plug into the app, in start order. Each module offers
#: ``init_app(app, runtime)``; the order matters (namespaces before workers that emit on them).
EXTENSIONS: tuple[str, ...] = (
    "dispatch.realtime.hall",
    "dispatch.realtime.field",
    "streams.web",
    "layouts.app",
    "dispatch.workers.supervisor",
    "dispatch.workers.simulator",
)


def build_deps(settings: Settings, runtime_regions: object, reference: object) -> Deps:
    from config.reference import Reference
    from config.regions import RegionTree

    assert isinstance(runtime_regions, RegionTree) and isinstance(reference, Reference)
    regions = runtime_regions

    def region_level(code: str):  # type: ignore[no-untyped-def]
        return regions.get(code).level

    return Deps(
        deadline_rules=reference.deadline_rules(),
        region_path=regions.path,
        region_level=region_level,
        # A separate key for matching hashes, so rotating sessions does not need re-hashing.
        match_secret=hmac.new(
            settings.secret_key.encode(), b"party-match", hashlib.sha256
        ).digest(),
    )


def _sync_reference_data(runtime: Runtime) -> None:
    """Make the regions table match the configured tree (foreign keys depend on it)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from dispatch.services.regions import sync_regions

    try:
        with runtime.session_factory.begin() as db:
            changed = sync_regions(db, runtime.regions, runtime.regions.path)
    except (OperationalError, ProgrammingError) as err:
        raise RuntimeError(
            "the database is not initialised: run `python -m console init-db` first"
        ) from err
    if changed:
        logger.info("regions table updated from config (%d rows)", changed)


def create_app(
    settings: Settings | None = None, extensions: tuple[str, ...] | None = None
) -> Flask:
    """Build the whole web process for ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    reference = load_reference(settings.config_dir)
    regions = load_regions(settings.config_dir)

    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=210 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    bus = make_bus(settings.redis_url)
    install_publisher(session_factory, bus)
    socketio = SocketIO(
        app,
        async_mode=settings.async_mode,
        message_queue=settings.redis_url,
        cors_allowed_origins=[],
        ping_interval=10,
        ping_timeout=20,
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        bus=bus,
        deps=build_deps(settings, regions, reference),
        reference=reference,
        regions=regions,
        socketio=socketio,
    )
    app.extensions["cc"] = runtime
    _sync_reference_data(runtime)

    register_error_handlers(app)
    app.register_blueprint(register_all())
    register_pages(app)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            logger.warning("health check: database not reachable")
            return jsonify(status="database_unavailable"), 503
        return jsonify(status="ok", env=settings.env), 200

    for name in extensions if extensions is not None else EXTENSIONS:
        if name.endswith("streams.web") and not settings.streams_enabled:
            continue
        if name.endswith("simulator") and not settings.simulator_enabled:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and name.startswith(err.name):
                logger.info("extension %s is not installed in this build", name)
                continue
            raise
        module.init_app(app, runtime)
    if "dash" not in app.extensions:
        register_minimal_home(app)
    logger.info(
        "console ready (env=%s, db=%s, bus=%s)",
        settings.env,
        engine.dialect.name,
        type(bus).__name__,
    )
    return app
