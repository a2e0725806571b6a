"""A standalone Flask + Socket.IO app with only the video component, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, request
from flask_socketio import SocketIO

from dispatch.domain.codes import Level, Role
from dispatch.domain.jurisdiction import Scope
from dispatch.realtime.bus import InProcessBus
from dispatch.services.context import Actor
from streams import web
from streams.caselink import MemoryCaseLink

#: Test identities, picked by the ``X-Test-User`` header or the ``test_user`` cookie/query.
ACTORS: dict[str, Actor] = {
    "commander": Actor(1, "commander", Role.COMMANDER, Scope(Level.CITY, "990100"), lang="en"),
    "county2": Actor(2, "county2", Role.COMMANDER, Scope(Level.COUNTY, "990102"), lang="en"),
    "station": Actor(3, "station", Role.MEDIATOR, Scope(Level.TOWNSHIP, "990101001"), lang="en"),
    "station2": Actor(4, "station2", Role.MEDIATOR, Scope(Level.TOWNSHIP, "990101002"), lang="en"),
}

CAMERAS: list[dict[str, Any]] = [
    {
        "id": "st-990101001",
        "name_zh": "一镇综治中心",
        "name_en": "Town 1 station",
        "region": "990101001",
        "lon": 113.0,
        "lat": 28.1,
        "kind": "township_station",
    },
    {
        "id": "st-990101002",
        "name_zh": "二镇综治中心",
        "name_en": "Town 2 station",
        "region": "990101002",
        "lon": 113.05,
        "lat": 28.12,
        "kind": "township_station",
    },
    {
        "id": "ks-001",
        "name_zh": "一中",
        "name_en": "School 1",
        "region": "990101001",
        "lon": 113.01,
        "lat": 28.1,
        "kind": "key_site",
        "tags": ["school"],
        "tour": True,
    },
    {
        "id": "ks-002",
        "name_zh": "医院",
        "name_en": "Hospital",
        "region": "990102001",
        "lon": 113.2,
        "lat": 28.3,
        "kind": "key_site",
        "tags": ["hospital"],
        "tour": True,
    },
]


@dataclass
class Settings:
    config_dir: Path
    data_dir: Path
    streams_enabled: bool = True


@dataclass
class Runtime:
    settings: Settings
    bus: InProcessBus
    session_factory: Any = None
    regions: Any = None


def test_actor() -> Actor:
    name = (
        request.headers.get("X-Test-User")
        or request.cookies.get("test_user")
        or request.args.get("test_user")
    )
    if name not in ACTORS:
        raise web.Unauthorized("log in first")
    return ACTORS[name]


def make_app(
    tmp: Path,
    cameras: list[dict[str, Any]] | None = None,
    *,
    streams_enabled: bool = True,
    streams_url: str | None = None,
) -> tuple[Flask, SocketIO, MemoryCaseLink, InProcessBus]:
    config_dir = tmp / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "cameras.yaml").write_text(
        yaml.safe_dump({"cameras": cameras if cameras is not None else CAMERAS}, allow_unicode=True)
    )
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    socketio = SocketIO(app, async_mode="threading")
    link = MemoryCaseLink()
    bus = InProcessBus()
    runtime = Runtime(Settings(config_dir, tmp / "data", streams_enabled), bus)
    web.init_app(
        app,
        socketio,
        runtime,
        actor_provider=test_actor,
        case_link=link,
        announce_delay=0.2,
        streams_url=streams_url,
    )
    return app, socketio, link, bus
