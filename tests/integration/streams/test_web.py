"""The video HTTP API: scoping, errors, viewing through HTTP offer/answer, snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dispatch.realtime import channels
from streams import web
from tests.integration.streams.apptools import make_app
from tests.integration.streams.conftest import PyViewer, wait_for


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    flask_app, _, _, _ = make_app(tmp_path)
    yield flask_app
    web.shutdown(flask_app)


def client(app: Flask, user: str = "commander") -> FlaskClient:
    c = app.test_client()
    c.environ_base["HTTP_X_TEST_USER"] = user
    return c


def test_cameras_are_scoped(app: Flask) -> None:
    all_ids = {c["id"] for c in client(app).get("/api/v1/cameras").get_json()["cameras"]}
    assert all_ids == {"st-990101001", "st-990101002", "ks-001", "ks-002"}
    county = {c["id"] for c in client(app, "county2").get("/api/v1/cameras").get_json()["cameras"]}
    assert county == {"ks-002"}
    r = client(app, "county2").get("/api/v1/cameras/ks-001")
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "unknown_camera"
    assert "source" not in client(app).get("/api/v1/cameras/ks-001").get_json()


def test_nearest_and_filters(app: Flask) -> None:
    r = client(app).get("/api/v1/cameras?near=113.0,28.1&n=2")
    ids = [c["id"] for c in r.get_json()["cameras"]]
    assert ids == ["st-990101001", "ks-001"]
    r = client(app).get("/api/v1/cameras?kind=key_site&tag=hospital")
    assert [c["id"] for c in r.get_json()["cameras"]] == ["ks-002"]
    assert client(app).get("/api/v1/cameras?kind=tank").status_code == 400
    assert client(app).get("/api/v1/cameras?near=abc").status_code == 400


def test_not_logged_in_is_401(app: Flask) -> None:
    r = app.test_client().get("/api/v1/cameras")
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"camera_id": "nope", "sdp": "v=0", "type": "offer"}, 404, "unknown_camera"),
        ({"camera_id": "ks-001", "sdp": "garbage", "type": "offer"}, 400, "invalid_sdp"),
        ({"camera_id": "ks-001", "sdp": "v=0\r\n", "type": "answer"}, 400, "invalid_sdp"),
        ({"camera_id": "ks-001", "sdp": 42, "type": "offer"}, 400, "invalid_sdp"),
        ({"camera_id": "ks-001", "sdp": "v=0", "size": "huge"}, 400, "bad_request"),
        ({"sdp": "v=0"}, 400, "bad_request"),
        ({"camera_id": "ks-001", "sdp": "v=0\r\n" + "a=x\r\n" * 7000}, 413, "payload_too_large"),
        ({"camera_id": "ks-001", "sdp": "v=0\r\n" + "a=x\r\n" * 12000}, 413, "payload_too_large"),
    ],
)
def test_bad_offers(app: Flask, body: dict[str, Any], status: int, code: str) -> None:
    r = client(app).post("/api/v1/video/offer", json=body)
    assert r.status_code == status, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == code
    assert err["message"]


def test_not_json_is_refused(app: Flask) -> None:
    r = client(app).post("/api/v1/video/offer", data=b"\xff\x00", content_type="text/plain")
    assert r.status_code == 400


def test_snapshot_is_a_jpeg_and_attaches_to_a_case(tmp_path: Path) -> None:
    flask_app, _, link, bus = make_app(tmp_path)
    health: list[dict[str, Any]] = []
    bus.subscribe(channels.CAMERAS, lambda _c, p: health.append(p))
    try:
        r = client(flask_app).get("/api/v1/cameras/ks-001/snapshot.jpg")
        assert r.status_code == 200
        assert r.data[:2] == b"\xff\xd8"
        r = client(flask_app).post("/api/v1/cameras/ks-001/snapshots", json={"case_id": 7})
        assert r.status_code == 201
        assert link.attachments[0][0:2] == (7, "snapshot")
        with client(flask_app).get(r.get_json()["url"]) as got:
            assert got.data[:2] == b"\xff\xd8"
        h = client(flask_app).get("/api/v1/cameras/ks-001/health").get_json()
        assert h["status"] == "online"
    finally:
        web.shutdown(flask_app)


def test_http_offer_answer_delivers_frames(app: Flask) -> None:
    async def main() -> None:
        viewer = PyViewer()
        sdp = await viewer.offer()
        r = await asyncio.to_thread(
            client(app).post,
            "/api/v1/video/offer",
            json={"camera_id": "ks-001", "sdp": sdp, "type": "offer", "size": "full"},
        )
        assert r.status_code == 200, r.get_json()
        answer = r.get_json()
        await viewer.accept(answer)
        await wait_for(lambda: viewer.count >= 5)
        r = await asyncio.to_thread(
            client(app).delete, f"/api/v1/video/viewers/{answer['viewer_id']}"
        )
        assert r.status_code == 204
        assert client(app).get("/api/v1/video/stats").get_json()["viewers"] == 0
        await viewer.close()

    asyncio.run(main())


def test_camera_health_reaches_browsers_of_the_area_only(tmp_path: Path) -> None:
    import time

    flask_app, socketio, _, _ = make_app(tmp_path)
    try:
        sock = socketio.test_client(
            flask_app, namespace="/video", headers={"X-Test-User": "station"}
        )
        assert sock.is_connected("/video")
        for camera_id in (
            "ks-001",
            "ks-002",
        ):  # the first in the station's township, not the second
            assert (
                client(flask_app).get(f"/api/v1/cameras/{camera_id}/snapshot.jpg").status_code
                == 200
            )
        seen: set[str] = set()
        deadline = time.monotonic() + 8
        while "ks-001" not in seen and time.monotonic() < deadline:
            for msg in sock.get_received("/video"):
                if msg["name"] == "camera_health":
                    seen.add(msg["args"][0]["camera_id"])
            time.sleep(0.1)
        assert "ks-001" in seen
        time.sleep(2.5)  # another health round
        for msg in sock.get_received("/video"):
            if msg["name"] == "camera_health":
                seen.add(msg["args"][0]["camera_id"])
        assert "ks-002" not in seen
        sock.disconnect(namespace="/video")
    finally:
        web.shutdown(flask_app)
