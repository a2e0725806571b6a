"""The streams component as a process of its own (aiohttp), for the scaled-out deployment.

The web process keeps the camera list, scoping and call signalling; it hands browsers a signed
viewing ticket (``POST /api/v1/video/tickets``) and this process answers the offer that carries
it. Call media and recordings run here too, driven by the web process's ``RemoteMedia`` with
signed control messages (``/streams/api/v1/control/<op>``).
Put it behind the same origin as the web process (the proxy routes ``/streams/`` here):

    python -m streams serve [--host 127.0.0.1] [--port 8060]

Settings are the product's (``CC_*`` over ``config/app.yaml``): the same ``secret_key`` as the
web process signs and checks tickets; health goes on the same bus.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from streams.callmedia import LocalMedia, control, read_control
from streams.engine import SIZES, StreamEngine
from streams.errors import BadRequest, PayloadTooLarge, StreamError
from streams.tickets import read_ticket

logger = logging.getLogger(__name__)

PREFIX = "/streams"
MAX_BODY = 64 * 1024
ENGINE: web.AppKey[StreamEngine] = web.AppKey("engine", StreamEngine)
SECRET: web.AppKey[str] = web.AppKey("secret", str)
MEDIA: web.AppKey[LocalMedia] = web.AppKey("media", LocalMedia)


def _error(err: StreamError) -> web.Response:
    details = dict(err.details)
    details.setdefault("reason", err.message)
    body = {"error": {"code": err.code, "message": err.message, "details": details}}
    return web.json_response(body, status=err.status)


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except StreamError as err:
        return _error(err)


async def _json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge("request body is too large", limit=MAX_BODY)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge("request body is too large", limit=MAX_BODY)
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise BadRequest("body must be a JSON object") from err
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


async def offer(request: web.Request) -> web.Response:
    """``{ticket, sdp, type: "offer"}`` -> ``{sdp, type, viewer_id}``."""
    data = await _json(request)
    ticket = read_ticket(request.app[SECRET], data.get("ticket"))
    size = ticket.get("size", "tile")
    if size not in SIZES:
        raise BadRequest("bad size in ticket", field="size")
    engine = request.app[ENGINE]
    answer = await asyncio.wrap_future(
        engine.submit(engine.view(ticket["camera_id"], data.get("sdp"), data.get("type"), size))
    )
    return web.json_response(answer)


async def close_viewer(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    viewer_id = request.match_info["viewer_id"]
    await asyncio.wrap_future(engine.submit(engine.close_viewer(viewer_id)))
    return web.Response(status=204)


async def call_control(request: web.Request) -> web.Response:
    """Call media on behalf of the web process (``RemoteMedia``): a signed message per op."""
    data = await _json(request)
    op = request.match_info["op"]
    msg = read_control(request.app[SECRET], data.get("signed"))
    if msg.get("op") != op:
        raise BadRequest("the signed operation does not match the URL")
    result = await asyncio.to_thread(control, request.app[MEDIA], op, msg)
    return web.json_response(result)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", **request.app[ENGINE].stats()})


def make_app(
    engine: StreamEngine, secret: str, recordings_dir: Path | None = None
) -> web.Application:
    """The aiohttp application around a started engine."""
    app = web.Application(middlewares=[errors], client_max_size=MAX_BODY)
    app[ENGINE] = engine
    app[SECRET] = secret
    media = LocalMedia(engine, recordings_dir or Path("var") / "recordings")
    engine.add_closer(media.close_all)
    app[MEDIA] = media
    app.router.add_post(f"{PREFIX}/api/v1/control/{{op}}", call_control)
    app.router.add_post(f"{PREFIX}/api/v1/video/offer", offer)
    app.router.add_delete(
        f"{PREFIX}/api/v1/video/viewers/{{viewer_id:[0-9a-f]{{32}}}}", close_viewer
    )
    app.router.add_post(f"{PREFIX}/api/v1/video/viewers/{{viewer_id:[0-9a-f]{{32}}}}", close_viewer)
    app.router.add_get(f"{PREFIX}/healthz", health)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the streams process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8060)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from config.regions import load_regions
    from config.settings import load_settings
    from dispatch.realtime.bus import make_bus
    from streams.registry import CameraRegistry

    settings = load_settings()
    regions = load_regions(settings.config_dir)
    registry = CameraRegistry.from_file(settings.config_dir / "cameras.yaml", regions.path)
    bus = make_bus(settings.redis_url)
    engine = StreamEngine(registry, bus).start()
    try:
        app = make_app(engine, settings.secret_key, settings.data_dir / "recordings")
        web.run_app(app, host=args.host, port=args.port)
    finally:
        engine.stop()
        bus.stop()
