"""Operations without a browser: python -m console run|init-db|create-user|seed-demo|import-cases."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from config.errors import ConfigError
from config.settings import Settings, load_settings
from dispatch.domain.errors import DispatchError

logger = logging.getLogger("console")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return load_settings(**overrides)


def _offline_runtime(settings: Settings):  # type: ignore[no-untyped-def]
    """Database, deps and reference data without the web server (for batch commands)."""
    from config.reference import load_reference
    from config.regions import load_regions
    from console.app import build_deps
    from dispatch.db.session import make_engine, make_session_factory
    from dispatch.realtime.bus import make_bus
    from dispatch.services.outbox import install_publisher

    reference = load_reference(settings.config_dir)
    regions = load_regions(settings.config_dir)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    install_publisher(factory, make_bus(settings.redis_url))
    return engine, factory, build_deps(settings, regions, reference), regions, reference


def cmd_run(args: argparse.Namespace) -> int:
    from console.app import create_app
    from dispatch.db.schema import upgrade

    settings = _settings(args)
    upgrade(settings.database_url)
    app = create_app(settings)
    socketio = app.extensions["socketio"]
    print(f"Serving on http://{settings.host}:{settings.port}  (env={settings.env})", flush=True)
    try:
        socketio.run(
            app,
            host=settings.host,
            port=settings.port,
            allow_unsafe_werkzeug=True,
            use_reloader=False,
        )
    finally:
        app.extensions["cc"].stop()
    return 0


def cmd_init_db(args: argparse.Namespace) -> int:
    from dispatch.db.schema import upgrade
    from dispatch.services import seed

    settings = _settings(args)
    upgrade(settings.database_url)
    engine, factory, deps, regions, reference = _offline_runtime(settings)
    with factory.begin() as db:
        seed.seed_reference(db, regions, reference)
        if settings.env == "demo":
            created = _ensure_demo_users(db, deps, regions)
            if created:
                print(f"demo users created: {', '.join(created)} (password: {seed.DEMO_PASSWORD})")
    engine.dispose()
    print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _ensure_demo_users(db: object, deps: object, regions: object) -> list[str]:
    """Create the demo users that do not exist yet (demo mode only)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from dispatch.db.models import User
    from dispatch.services import seed, users
    from dispatch.services.deps import Deps

    assert isinstance(db, Session) and isinstance(deps, Deps)
    existing = set(db.scalars(select(User.username)).all())
    created = []
    for demo in seed.demo_users(regions):  # type: ignore[arg-type]
        if demo.username in existing:
            continue
        users.create_user(
            db,
            deps,
            None,
            {
                "username": demo.username,
                "password": demo.password,
                "role": demo.role.value,
                "region_code": demo.region_code,
                "display_name": demo.display_name,
            },
        )
        created.append(demo.username)
    return created


def cmd_create_user(args: argparse.Namespace) -> int:
    from dispatch.services import users

    settings = _settings(args)
    engine, factory, deps, regions, _ = _offline_runtime(settings)
    with factory.begin() as db:
        user = users.create_user(
            db,
            deps,
            None,
            {
                "username": args.username,
                "password": args.password,
                "role": args.role,
                "region_code": args.region or regions.city.code,
                "display_name": args.display_name,
            },
        )
        print(
            f"user {user.username} created (id {user.id}, role {user.role}, region {user.region_code})"
        )
    engine.dispose()
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from dispatch.db.models import Case
    from dispatch.services import seed

    settings = _settings(args)
    engine, factory, deps, regions, reference = _offline_runtime(settings)
    with factory.begin() as db:
        if args.if_empty and (db.scalar(select(func.count()).select_from(Case)) or 0) > 0:
            print("database already has cases; nothing to do")
            return 0
        count = seed.seed_demo(db, deps, regions, reference, args.cases, deps.now())
    engine.dispose()
    print(f"{count} demo cases generated")
    return 0


def cmd_import_cases(args: argparse.Namespace) -> int:
    from dispatch.services import imports
    from dispatch.services.context import system_actor

    settings = _settings(args)
    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    fmt = args.format or (
        "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
    )
    engine, factory, deps, regions, _ = _offline_runtime(settings)
    actor = system_actor(regions.city.code, settings.lang)
    from console.i18n import t

    lang = settings.lang
    try:
        with factory.begin() as db:
            report = imports.import_cases(
                db,
                deps,
                actor,
                path.read_bytes(),
                fmt,  # type: ignore[arg-type]
                progress=ImportProgress(lang, sys.stderr),
            )
    finally:
        engine.dispose()
    if report.errors:
        print(t("errors.import_rejected", lang, count=len(report.errors)), file=sys.stderr)
        for error in report.errors[:500]:
            problems = "; ".join(
                f"{k}: {t(f'problems.{v}', lang)}" for k, v in error.fields.items()
            )
            print(f"  {t('cli.import_line', lang, line=error.line)}: {problems}", file=sys.stderr)
        if len(report.errors) > 500:
            print(
                f"  {t('cli.import_more', lang, count=len(report.errors) - 500)}", file=sys.stderr
            )
        return 1
    print(
        t(
            "cli.import_done",
            lang,
            rows=report.rows,
            imported=report.imported,
            unchanged=report.unchanged,
        )
    )
    return 0


class ImportProgress:
    """Progress of a long import on stderr, in the operator's language: one line rewritten in
    place on a terminal; on a pipe or log file, one line per tenth of the file. Files below
    ``imports.PARALLEL_MIN_ROWS`` lines finish too fast to need it and print nothing."""

    def __init__(self, lang: str, stream: TextIO) -> None:
        self.lang = lang
        self.stream = stream
        self.terminal = stream.isatty()
        self.last_tenth: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        from console.i18n import t
        from dispatch.services.imports import PARALLEL_MIN_ROWS

        if total < PARALLEL_MIN_ROWS:
            return
        tenth = done * 10 // total
        if not self.terminal and self.last_tenth.get(phase, -1) >= tenth:
            return
        self.last_tenth[phase] = tenth
        text = t(
            f"cli.import_{phase}",
            self.lang,
            done=f"{done:,}",
            total=f"{total:,}",
            percent=done * 100 // total,
        )
        end = "\n" if not self.terminal or done >= total else ""
        self.stream.write(("\r" if self.terminal else "") + text + end)
        self.stream.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m console", description="Dispute mediation command console"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the console (default 127.0.0.1:8050)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    sub.add_parser("init-db", help="run migrations and load regions, departments, teams")
    user = sub.add_parser("create-user", help="create a user (non-interactive)")
    user.add_argument("--username", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", required=True)
    user.add_argument("--region", help="region code (default: the city)")
    user.add_argument("--display-name")
    seed_p = sub.add_parser("seed-demo", help="generate two years of demo cases")
    seed_p.add_argument("--cases", type=int, default=20000)
    seed_p.add_argument(
        "--if-empty", action="store_true", help="only when the database has no cases"
    )
    imp = sub.add_parser("import-cases", help="import a CSV or JSON Lines file")
    imp.add_argument("file")
    imp.add_argument("--format", choices=["csv", "jsonl"])
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "init-db": cmd_init_db,
    "create-user": cmd_create_user,
    "seed-demo": cmd_seed_demo,
    "import-cases": cmd_import_cases,
}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic announces every plugin at INFO; operators need only its warnings.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    except DispatchError as err:
        from console.errors import error_body

        body = error_body(err, "zh-CN")["error"]
        print(f"error: {body['message']} {body['details'] or ''}", file=sys.stderr)
        return 1
