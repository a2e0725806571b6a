"""The streams component as a process of its own: ticketed offers over aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import web as aioweb

from streams import web
from streams.engine import StreamEngine
from streams.errors import Forbidden
from streams.registry import Camera, CameraRegistry
from streams.server import make_app as make_streams_app
from streams.tickets import make_ticket, read_ticket
from tests.integration.streams.apptools import make_app
from tests.integration.streams.conftest import PyViewer, demo_cameras, wait_for

SECRET = "test"  # the test web app's SECRET_KEY


@contextlib.contextmanager
def streams_process(tmp_path: Path, cameras: list[Camera]) -> Iterator[str]:
    """``streams.server`` on a free port in a thread (its own loop); yields its base URL.

    Recordings go to ``tmp_path/data/recordings``: the data directory of the test's web app
    (one host, one data_dir).
    """
    engine = StreamEngine(CameraRegistry(cameras)).start()
    loop = asyncio.new_event_loop()
    runner = aioweb.AppRunner(make_streams_app(engine, SECRET, tmp_path / "data" / "recordings"))
    loop.run_until_complete(runner.setup())
    site = aioweb.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        engine.stop()


@pytest.fixture
def streams_url(tmp_path: Path) -> Iterator[str]:
    with streams_process(tmp_path, demo_cameras()) as url:
        yield url


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def test_tickets_expire_and_cannot_be_forged() -> None:
    ticket = make_ticket("k", "cam-0", "tile", 1)
    assert read_ticket("k", ticket)["camera_id"] == "cam-0"
    with pytest.raises(Forbidden, match="not valid"):
        read_ticket("other", ticket)
    with pytest.raises(Forbidden, match="expired"):
        read_ticket("k", ticket, max_age=-1)
    with pytest.raises(Forbidden, match="required"):
        read_ticket("k", None)


def test_web_signs_a_ticket_and_the_streams_process_answers(
    tmp_path: Path, streams_url: str
) -> None:
    app, _, _, _ = make_app(
        tmp_path,
        [
            {
                "id": "cam-0",
                "name_zh": "测试",
                "name_en": "Test",
                "region": "990101001",
                "lon": 113.0,
                "lat": 28.1,
                "kind": "key_site",
            }
        ],
    )
    try:
        c = app.test_client()
        c.environ_base["HTTP_X_TEST_USER"] = "commander"
        assert c.get("/api/v1/video/config").get_json()["mode"] == "embedded"
        r = c.post("/api/v1/video/tickets", json={"camera_id": "cam-0", "size": "full"})
        assert r.status_code == 200
        ticket = r.get_json()["ticket"]
        c.environ_base["HTTP_X_TEST_USER"] = "county2"  # another county: no ticket for cam-0
        assert c.post("/api/v1/video/tickets", json={"camera_id": "cam-0"}).status_code == 404
    finally:
        web.shutdown(app)

    offer_url = f"{streams_url}/streams/api/v1/video/offer"

    async def main() -> None:
        viewer = PyViewer()
        sdp = await viewer.offer()
        status, body = await asyncio.to_thread(
            _post, offer_url, {"ticket": "forged", "sdp": sdp, "type": "offer"}
        )
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body = await asyncio.to_thread(
            _post, offer_url, {"ticket": ticket, "sdp": "garbage", "type": "offer"}
        )
        assert status == 400 and body["error"]["code"] == "invalid_sdp"
        status, answer = await asyncio.to_thread(
            _post, offer_url, {"ticket": ticket, "sdp": sdp, "type": "offer"}
        )
        assert status == 200, answer
        await viewer.accept(answer)
        await wait_for(lambda: viewer.count >= 5)
        assert (viewer.frames[-1].width, viewer.frames[-1].height) == (640, 480)
        status, _ = await asyncio.to_thread(
            _post, f"{streams_url}/streams/api/v1/video/viewers/{answer['viewer_id']}", {}
        )
        assert status == 204
        await viewer.close()

    asyncio.run(main())


def test_calls_with_media_in_the_streams_process(tmp_path: Path, streams_url: str) -> None:
    from tests.integration.streams.test_calls import STATION, join_media
    from tests.integration.streams.test_calls import _post as post

    app, _, link, _ = make_app(tmp_path, streams_enabled=False, streams_url=streams_url)
    try:
        assert not app.extensions["streams"].engine.running
        status, call = post(
            app, "commander", "/api/v1/calls", {"stations": [STATION], "case_id": 3}
        )
        assert status == 201
        status, _ = post(
            app, "station", f"/api/v1/calls/{call['id']}/accept", {"station_id": STATION}
        )
        assert status == 200

        async def run() -> tuple[int, int]:
            commander, station = await join_media(app, call["id"])
            await wait_for(lambda: commander.video >= 10 and station.video >= 10, within=20)
            status, _ = await asyncio.to_thread(
                post, app, "commander", f"/api/v1/calls/{call['id']}/recording", {"on": True}
            )
            assert status == 200
            await asyncio.sleep(1.5)
            status, ended = await asyncio.to_thread(
                post, app, "commander", f"/api/v1/calls/{call['id']}/hangup", {}
            )
            assert ended["state"] == "ended"
            counts = (commander.video, station.video)
            await commander.close()
            await station.close()
            return counts

        counts = asyncio.run(run())
        assert min(counts) >= 10
        assert [a[1] for a in link.attachments] == ["recording"]
        path = link.attachments[0][2]
        assert str(tmp_path / "data" / "recordings") in path
        with av.open(path) as container:
            assert sum(1 for _ in container.decode(video=0)) >= 2
        # A bad offer comes back as the same error, from the other process.
        status, body = post(app, "commander", "/api/v1/calls", {"stations": [STATION]})
        status, _ = post(
            app, "station", f"/api/v1/calls/{body['id']}/accept", {"station_id": STATION}
        )
        status, err = post(
            app, "commander", f"/api/v1/calls/{body['id']}/media", {"sdp": "garbage"}
        )
        assert status == 400 and err["error"]["code"] == "invalid_sdp"
    finally:
        web.shutdown(app)


def test_control_messages_must_be_signed(streams_url: str) -> None:
    from streams.callmedia import sign_control

    url = f"{streams_url}/streams/api/v1/control/close"
    status, _ = _post(url, {"signed": sign_control("wrong", {"op": "close", "call_id": "x"})})
    assert status == 403
    status, _ = _post(url, {"signed": sign_control(SECRET, {"op": "drop", "call_id": "x"})})
    assert status == 400  # signed for another operation
    status, _ = _post(url, {"signed": sign_control(SECRET, {"op": "close", "call_id": "x"})})
    assert status == 200
