"""HTTP and Socket.IO glue of the video component: cameras, viewing, snapshots, calls.

``init_app(app, socketio, runtime)`` is what ``console.app.create_app`` calls. Views parse and
check the request, call the engine or the call service, and map ``StreamError`` to the JSON
error shape ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_from_directory
from flask_socketio import Namespace, join_room

from dispatch.realtime import channels
from dispatch.services.context import Actor
from streams.callmedia import RemoteMedia
from streams.calls import CallService
from streams.caselink import CaseLink, DispatchCaseLink, MemoryCaseLink
from streams.engine import SIZES, StreamEngine
from streams.errors import BadRequest, NotFound, PayloadTooLarge, StreamError, Unavailable
from streams.registry import CameraKind, CameraRegistry, path_from_code
from streams.sources import Health
from streams.tickets import TICKET_SECONDS, make_ticket

logger = logging.getLogger(__name__)

NAMESPACE = "/video"
MAX_BODY = 64 * 1024
EXTENSION = "streams"
_FILE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

ActorProvider = Callable[[], Actor]


class Unauthorized(StreamError):
    code = "unauthorized"
    status = 401


def console_actor() -> Actor:
    """The logged-in user, through the console's auth (looked up when called)."""
    try:
        auth = importlib.import_module("console.auth")
    except ImportError as err:
        raise Unauthorized("authentication is not available") from err
    try:
        actor: Actor = auth.current_actor()
    except Exception as err:  # whatever "not logged in" looks like there
        raise Unauthorized("log in first") from err
    return actor


@dataclass
class Streams:
    """What the views need; kept in ``app.extensions["streams"]``."""

    engine: StreamEngine
    registry: CameraRegistry
    calls: CallService
    actor: ActorProvider
    data_dir: Path
    case_link: CaseLink
    #: Where browsers post ticketed offers when the engine runs in its own process: the same
    #: origin, routed to ``python -m streams serve`` by the proxy.
    streams_offer_url: str = "/streams/api/v1/video/offer"


def _streams() -> Streams:
    ext: Streams = current_app.extensions[EXTENSION]
    return ext


def _lang(actor: Actor | None = None) -> str:
    if actor is not None:
        return actor.lang
    try:
        i18n = importlib.import_module("console.i18n")
        lang: str = i18n.negotiate(request.headers.get("Accept-Language"), request.args.get("lang"))
        return lang
    except Exception:
        return "zh-CN"


def message(key: str, lang: str, fallback: str) -> str:
    """The catalog text for ``key`` in ``lang``, else ``fallback`` (the English detail)."""
    try:
        i18n = importlib.import_module("console.i18n")
        if key in i18n.catalog():
            text: str = i18n.t(key, lang)
            return text
    except Exception:
        logger.debug("message catalog unavailable")
    return fallback


def error_body(err: StreamError, lang: str) -> dict[str, Any]:
    details = dict(err.details)
    details.setdefault("reason", err.message)
    return {
        "error": {
            "code": err.code,
            "message": message(f"video.error.{err.code}", lang, err.message),
            "details": details,
        }
    }


def _json_body() -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge("request body is too large", limit=MAX_BODY)
    # Read at most one byte past the limit, also for chunked bodies without a length.
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge("request body is too large", limit=MAX_BODY)
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def _str_field(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be a non-empty string", field=name)
    return value


def _case_id(data: dict[str, Any]) -> int | None:
    value = data.get("case_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest("case_id must be a positive integer", field="case_id")
    return value


bp = Blueprint("streams", __name__)


@bp.errorhandler(StreamError)
def _stream_error(err: StreamError) -> tuple[Response, int]:
    return jsonify(error_body(err, _lang())), err.status


@bp.before_request
def _limit() -> None:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge("request body is too large", limit=MAX_BODY)


def _camera_out(camera_id: str, lang: str) -> dict[str, Any]:
    s = _streams()
    out = s.registry.get(camera_id).public(lang)
    out["health"] = s.engine.health(camera_id).as_dict()
    return out


# ---------------------------------------------------------------------- cameras
@bp.get("/api/v1/cameras")
def list_cameras() -> Response:
    s = _streams()
    actor = s.actor()
    lang = _lang(actor)
    kinds = None
    if kind := request.args.get("kind"):
        try:
            kinds = [CameraKind(k) for k in kind.split(",")]
        except ValueError as err:
            raise BadRequest("unknown camera kind", field="kind") from err
    near = request.args.get("near")
    if near:
        try:
            lon, lat = (float(x) for x in near.split(","))
            n = min(max(int(request.args.get("n", "4")), 1), 16)
        except ValueError as err:
            raise BadRequest("near must be 'lon,lat' and n an integer", field="near") from err
        ranked = s.registry.nearest(lon, lat, n, actor.scope, kinds)
        cameras = [{**_camera_out(c.id, lang), "distance_m": round(d)} for c, d in ranked]
    else:
        region = request.args.get("region")
        if region is not None and not re.fullmatch(r"\d{6}(\d{3}){0,2}", region):
            raise BadRequest("region must be a region code", field="region")
        found = s.registry.visible(actor.scope, kinds, request.args.get("tag"), region)
        cameras = [_camera_out(c.id, lang) for c in found]
    return jsonify({"cameras": cameras, "count": len(cameras)})


@bp.get("/api/v1/cameras/<camera_id>")
def get_camera(camera_id: str) -> Response:
    s = _streams()
    actor = s.actor()
    s.registry.get_visible(camera_id, actor.scope)
    return jsonify(_camera_out(camera_id, _lang(actor)))


@bp.get("/api/v1/cameras/<camera_id>/health")
def camera_health(camera_id: str) -> Response:
    s = _streams()
    s.registry.get_visible(camera_id, s.actor().scope)
    return jsonify(s.engine.health(camera_id).as_dict())


@bp.get("/api/v1/cameras/<camera_id>/snapshot.jpg")
def snapshot(camera_id: str) -> Response:
    s = _streams()
    s.registry.get_visible(camera_id, s.actor().scope)
    jpeg = s.engine.snapshot_jpeg(camera_id)
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.post("/api/v1/cameras/<camera_id>/snapshots")
def attach_snapshot(camera_id: str) -> tuple[Response, int]:
    """Take a snapshot and attach it to a case."""
    s = _streams()
    actor = s.actor()
    s.registry.get_visible(camera_id, actor.scope)
    case_id = _case_id(_json_body())
    if case_id is None:
        raise BadRequest("case_id is required", field="case_id")
    jpeg = s.engine.snapshot_jpeg(camera_id)
    directory = s.data_dir / "snapshots"
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{camera_id}-{time.strftime('%Y%m%dT%H%M%S')}-{int(time.time() * 1000) % 1000:03d}.jpg"
    path = directory / name
    path.write_bytes(jpeg)
    meta = {"camera_id": camera_id, "bytes": len(jpeg)}
    try:
        s.case_link.attach(actor, case_id, "snapshot", str(path), "image/jpeg", meta)
    except Exception:
        path.unlink(missing_ok=True)  # not attached (unknown case, out of scope): keep nothing
        raise
    return jsonify({"name": name, "url": f"/api/v1/snapshots/{name}", **meta}), 201


@bp.get("/api/v1/snapshots/<name>")
def get_snapshot(name: str) -> Response:
    s = _streams()
    s.actor()
    if not _FILE_NAME.fullmatch(name):
        raise BadRequest("bad file name", field="name")
    return send_from_directory(s.data_dir / "snapshots", name, mimetype="image/jpeg")


# ---------------------------------------------------------------------- viewing
@bp.post("/api/v1/video/offer")
def video_offer() -> Response:
    """WebRTC offer/answer: ``{camera_id, sdp, type: "offer", size: "tile"|"full"}``."""
    s = _streams()
    actor = s.actor()
    data = _json_body()
    camera_id = _str_field(data, "camera_id")
    assert camera_id is not None
    size = data.get("size", "tile")
    if size not in SIZES:
        raise BadRequest(f"size must be one of {sorted(SIZES)}", field="size")
    s.registry.get_visible(camera_id, actor.scope)
    answer = s.engine.call(s.engine.view(camera_id, data.get("sdp"), data.get("type"), size))
    return jsonify(answer)


@bp.get("/api/v1/video/config")
def video_config() -> Response:
    """How browsers reach the video: ``embedded`` (offers to this process) or ``ticket``
    (a signed ticket from here, the offer to the streams process at ``offer_url``)."""
    s = _streams()
    s.actor()
    if s.engine.running:
        return jsonify({"mode": "embedded", "offer_url": "/api/v1/video/offer"})
    return jsonify({"mode": "ticket", "offer_url": s.streams_offer_url})


@bp.post("/api/v1/video/tickets")
def video_ticket() -> Response:
    """``{camera_id, size}`` -> a 60-second ticket for the streams process."""
    s = _streams()
    actor = s.actor()
    data = _json_body()
    camera_id = _str_field(data, "camera_id")
    assert camera_id is not None
    size = data.get("size", "tile")
    if size not in SIZES:
        raise BadRequest(f"size must be one of {sorted(SIZES)}", field="size")
    s.registry.get_visible(camera_id, actor.scope)
    secret = str(current_app.config.get("SECRET_KEY") or "")
    if not secret:
        raise Unavailable("no secret key to sign tickets")
    ticket = make_ticket(secret, camera_id, size, actor.user_id)
    return jsonify(
        {"ticket": ticket, "offer_url": s.streams_offer_url, "expires_in": TICKET_SECONDS}
    )


@bp.route("/api/v1/video/viewers/<viewer_id>", methods=["DELETE", "POST"])
def close_viewer(viewer_id: str) -> tuple[str, int]:
    """Close a viewer (DELETE; POST for ``navigator.sendBeacon`` when the tab closes)."""
    s = _streams()
    if not re.fullmatch(r"[0-9a-f]{32}", viewer_id):
        raise BadRequest("bad viewer id", field="viewer_id")
    s.engine.call(s.engine.close_viewer(viewer_id))
    return "", 204


@bp.get("/api/v1/video/stats")
def video_stats() -> Response:
    s = _streams()
    s.actor()
    return jsonify(s.engine.stats())


# ---------------------------------------------------------------------- calls
@bp.post("/api/v1/calls")
def create_call() -> tuple[Response, int]:
    """``{stations: [station camera id, ...], case_id?}``: ring the stations."""
    s = _streams()
    actor = s.actor()
    data = _json_body()
    stations = data.get("stations")
    if not isinstance(stations, list) or not all(isinstance(x, str) for x in stations):
        raise BadRequest("stations must be a list of station ids", field="stations")
    call = s.calls.create(actor, stations, _case_id(data))
    return jsonify(call.as_dict()), 201


@bp.get("/api/v1/calls")
def list_calls() -> Response:
    s = _streams()
    return jsonify({"calls": [c.as_dict() for c in s.calls.active_for(s.actor())]})


@bp.get("/api/v1/calls/<call_id>")
def get_call(call_id: str) -> Response:
    s = _streams()
    return jsonify(s.calls.get(s.actor(), call_id).as_dict())


@bp.post("/api/v1/calls/<call_id>/<action>")
def call_action(call_id: str, action: str) -> Response:
    """accept | decline | hangup | media | recording."""
    s = _streams()
    actor = s.actor()
    data = _json_body()
    station_id = _str_field(data, "station_id", required=False)
    handlers: dict[str, Callable[[], Any]] = {
        "accept": lambda: s.calls.answer(actor, call_id, station_id or "", True).as_dict(),
        "decline": lambda: s.calls.answer(actor, call_id, station_id or "", False).as_dict(),
        "hangup": lambda: s.calls.hang_up(actor, call_id, station_id).as_dict(),
        "media": lambda: s.calls.connect_media(actor, call_id, station_id, data.get("sdp")),
        "recording": lambda: (
            s.calls.start_recording(actor, call_id)
            if data.get("on", True)
            else s.calls.stop_recording(actor, call_id)
        ).as_dict(),
    }
    handler = handlers.get(action)
    if handler is None:
        raise BadRequest(f"unknown action {action!r}", allowed=sorted(handlers))
    return jsonify(handler())


@bp.get("/api/v1/recordings")
def list_recordings() -> Response:
    """Recordings the caller may see (``?case_id=`` for one case), newest last."""
    s = _streams()
    case_id = request.args.get("case_id", type=int)
    out = [
        {k: v for k, v in rec.items() if k != "path"} | {"url": f"/api/v1/recordings/{rec['name']}"}
        for rec in s.calls.recordings_for(s.actor(), case_id)
    ]
    return jsonify({"recordings": out})


@bp.get("/api/v1/recordings/<name>")
def get_recording(name: str) -> Response:
    """The WebM file (Range requests supported, so the browser can seek)."""
    s = _streams()
    if not _FILE_NAME.fullmatch(name):
        raise BadRequest("bad file name", field="name")
    if not any(rec["name"] == name for rec in s.calls.recordings_for(s.actor())):
        raise NotFound("unknown recording", name=name)
    return send_from_directory(
        s.data_dir / "recordings", name, mimetype="video/webm", conditional=True
    )


# ---------------------------------------------------------------------- Socket.IO
class VideoNamespace(Namespace):
    """``/video``: stations register and answer rings; parties follow call state."""

    def __init__(self, namespace: str, get: Callable[[], Streams]) -> None:
        super().__init__(namespace)
        self._get = get
        self._actors: dict[str, Actor] = {}

    def _actor(self) -> Actor:
        sid: str = request.sid  # type: ignore[attr-defined]
        actor = self._actors.get(sid)
        if actor is None:
            raise Unauthorized("connect again")
        return actor

    def on_connect(self, auth: Any = None) -> bool:
        try:
            actor = self._get().actor()
        except StreamError:
            return False
        self._actors[request.sid] = actor  # type: ignore[attr-defined]
        join_room(f"user:{actor.user_id}")
        # Camera health goes to the rooms of each region on the camera's path.
        join_room(f"region:{actor.scope.code}")
        return True

    def on_disconnect(self, reason: Any = None) -> None:
        self._actors.pop(request.sid, None)  # type: ignore[attr-defined]

    def _guard(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return {"ok": True, **fn()}
        except StreamError as err:
            actor = self._actors.get(request.sid)  # type: ignore[attr-defined]
            return {"ok": False, **error_body(err, actor.lang if actor else "zh-CN")}

    def on_station_register(self, data: Any) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            station_id = _str_field(data if isinstance(data, dict) else {}, "station_id")
            assert station_id is not None
            camera = self._get().registry.get_visible(station_id, self._actor().scope)
            if camera.kind is not CameraKind.TOWNSHIP_STATION:
                raise BadRequest("not a township station", field="station_id")
            join_room(f"station:{station_id}")
            ringing = [
                c.as_dict()
                for c in self._get().calls.active_for(self._actor())
                if any(
                    leg.station_id == station_id and leg.state.value == "ringing" for leg in c.legs
                )
            ]
            return {"station_id": station_id, "ringing": ringing}

        return self._guard(run)

    def on_call_join(self, data: Any) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            call_id = _str_field(data if isinstance(data, dict) else {}, "call_id")
            assert call_id is not None
            call = self._get().calls.get(self._actor(), call_id)
            join_room(f"call:{call.id}")
            return {"call": call.as_dict()}

        return self._guard(run)

    def _answer(self, data: Any, accept: bool) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            body = data if isinstance(data, dict) else {}
            call_id = _str_field(body, "call_id")
            station_id = _str_field(body, "station_id")
            assert call_id is not None and station_id is not None
            call = self._get().calls.answer(self._actor(), call_id, station_id, accept)
            join_room(f"call:{call.id}")
            return {"call": call.as_dict()}

        return self._guard(run)

    def on_call_accept(self, data: Any) -> dict[str, Any]:
        return self._answer(data, True)

    def on_call_decline(self, data: Any) -> dict[str, Any]:
        return self._answer(data, False)

    def on_call_hangup(self, data: Any) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            body = data if isinstance(data, dict) else {}
            call_id = _str_field(body, "call_id")
            assert call_id is not None
            station_id = _str_field(body, "station_id", required=False)
            call = self._get().calls.hang_up(self._actor(), call_id, station_id)
            return {"call": call.as_dict()}

        return self._guard(run)


# ---------------------------------------------------------------------- wiring
def _gevent_patched() -> bool:
    try:
        monkey = importlib.import_module("gevent.monkey")
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))


def init_app(
    app: Flask,
    socketio: Any,
    runtime: Any = None,
    *,
    actor_provider: ActorProvider | None = None,
    case_link: CaseLink | None = None,
    announce_delay: float = 3.0,
    streams_url: str | None = None,
) -> None:
    """Register the video API and the ``/video`` namespace, and start the engine.

    Called as ``init_app(app, socketio, runtime)`` or, by the console's extension loop, as
    ``init_app(app, runtime)`` (the Socket.IO server is then ``runtime.socketio``).
    ``runtime`` gives ``settings`` (``config_dir``, ``data_dir``, ``streams_enabled``), ``bus``,
    ``session_factory`` and ``regions`` (optional: region paths come from the codes otherwise).
    ``streams_url`` (or a ``streams_url`` setting), used when this process does not run the
    engine, is the base URL of ``python -m streams serve`` for calls' media.
    """
    if runtime is None:
        runtime, socketio = socketio, socketio.socketio
    settings = runtime.settings
    config_dir = Path(getattr(settings, "config_dir", "config"))
    data_dir = Path(getattr(settings, "data_dir", "var"))
    regions = getattr(runtime, "regions", None)
    path_of = regions.path if regions is not None else path_from_code
    registry = CameraRegistry.from_file(config_dir / "cameras.yaml", path_of)
    bus = getattr(runtime, "bus", None)
    engine = StreamEngine(registry, bus)
    if not getattr(settings, "streams_enabled", True):
        logger.info("video engine disabled by settings")
    elif _gevent_patched() or getattr(socketio, "async_mode", None) == "gevent":
        # Encoding would block the whole gevent worker (PITFALLS.md): the API stays mounted
        # and answers 503 "unavailable" until video runs in a process of its own.
        logger.warning("video engine not started in a gevent process")
    else:
        engine.start()
    if case_link is None:
        session_factory = getattr(runtime, "session_factory", None)
        deps = getattr(runtime, "deps", None)
        case_link = (
            DispatchCaseLink(session_factory, deps)
            if session_factory is not None and deps is not None
            else MemoryCaseLink()
        )

    def notify(event: str, payload: dict[str, Any], rooms: list[str]) -> None:
        socketio.emit(event, payload, to=rooms, namespace=NAMESPACE)
        if bus is not None:
            bus.publish(channels.CALLS, {"event": event, **payload})

    def health_to_browsers(health: Health) -> None:
        path = registry.path(health.camera_id)
        rooms = [f"region:{c}" for c in (path.city, path.county, path.township, path.grid) if c]
        socketio.emit("camera_health", health.as_dict(), to=rooms, namespace=NAMESPACE)

    engine.health_listeners.append(health_to_browsers)
    media = None
    streams_url = streams_url or getattr(settings, "streams_url", None)
    if not engine.running and streams_url:
        # Calls' media in the streams process (this process must not run aiortc).
        media = RemoteMedia(str(streams_url), str(app.config.get("SECRET_KEY") or ""))
    calls = CallService(
        engine,
        registry,
        notify,
        case_link,
        data_dir / "recordings",
        announce_delay=announce_delay,
        media=media,
    )
    app.extensions[EXTENSION] = Streams(
        engine, registry, calls, actor_provider or console_actor, data_dir, case_link
    )
    app.register_blueprint(bp)
    socketio.on_namespace(VideoNamespace(NAMESPACE, lambda: app.extensions[EXTENSION]))
    stoppers = getattr(runtime, "stoppers", None)
    if isinstance(stoppers, list):
        stoppers.append(engine.stop)
    else:
        atexit.register(engine.stop)


def shutdown(app: Flask) -> None:
    """Stop the engine (tests; at exit it stops by itself)."""
    ext: Streams | None = app.extensions.get(EXTENSION)
    if ext is not None:
        ext.engine.stop()


__all__ = ["NAMESPACE", "Unavailable", "init_app", "shutdown"]
