"""Sources against real streams: a WebM served over HTTP read by PyAV, reconnect after the
server goes away, and camera health published on the bus."""

from __future__ import annotations

import fractions
import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from dispatch.realtime import channels
from dispatch.realtime.bus import InProcessBus
from streams.engine import StreamEngine
from streams.registry import CameraRegistry
from streams.sources import Status, UrlSource, to_video_frame
from tests.integration.streams.conftest import demo_cameras


def write_clip(path: Path, frames: int = 50) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(frames):
            frame = to_video_frame(np.full((120, 160, 3), (i * 5) % 255, np.uint8), 160, 120, i)
            frame.pts = i
            frame.time_base = fractions.Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    write_clip(tmp_path / "clip.webm")
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def _wait(predicate: Any, within: float = 10.0) -> None:
    end = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_http_source_reads_and_goes_offline_when_the_server_dies(
    http_dir: tuple[str, ThreadingHTTPServer],
) -> None:
    base, server = http_dir
    source = UrlSource("http-cam", f"{base}/clip.webm", backoff=0.1, max_backoff=0.2)
    source.start()
    try:
        _wait(lambda: source.latest()[0] >= 50)  # the whole clip was decoded
        _seq, frame = source.latest()
        assert frame is not None and frame.shape == (120, 160, 3)
        server.shutdown()
        server.server_close()
        _wait(lambda: source.health().status is Status.OFFLINE)
        assert source.health().error
        assert source.connects >= 2
    finally:
        source.stop()


def test_missing_stream_is_offline_with_an_error(http_dir: tuple[str, ThreadingHTTPServer]) -> None:
    base, _ = http_dir
    source = UrlSource("nope", f"{base}/missing.webm", backoff=0.1, max_backoff=0.2)
    source.start()
    try:
        _wait(lambda: source.health().status is Status.OFFLINE)
        assert source.health().error  # the reader's reason, e.g. the HTTP 404
    finally:
        source.stop()


def test_health_is_published_on_the_cameras_channel() -> None:
    bus = InProcessBus()
    got: list[dict[str, Any]] = []
    bus.subscribe(channels.CAMERAS, lambda _c, payload: got.append(payload))
    engine = StreamEngine(CameraRegistry(demo_cameras()), bus, health_interval=0.1).start()
    try:
        engine.snapshot_jpeg("cam-0")  # starts the feed
        _wait(lambda: any(p["camera_id"] == "cam-0" and p["status"] == "online" for p in got))
    finally:
        engine.stop()


def test_probed_camera_reports_offline_without_viewers(
    http_dir: tuple[str, ThreadingHTTPServer],
) -> None:
    from streams.registry import Camera, CameraKind

    base, _ = http_dir
    bus = InProcessBus()
    got: list[dict[str, Any]] = []
    bus.subscribe(channels.CAMERAS, lambda _c, payload: got.append(payload))
    cameras = [
        Camera(
            id="gone",
            name_zh="断线",
            name_en="Gone",
            region="990101001",
            lon=0,
            lat=0,
            kind=CameraKind.PUBLIC_SECURITY,
            source=f"{base}/missing.webm",
            probe=True,
        ),
        Camera(
            id="synth",
            name_zh="合成",
            name_en="Synth",
            region="990101001",
            lon=0,
            lat=0,
            kind=CameraKind.KEY_SITE,
            probe=True,
        ),
    ]
    engine = StreamEngine(CameraRegistry(cameras), bus, health_interval=0.1, idle_grace=0).start()
    try:
        _wait(lambda: any(p["camera_id"] == "gone" and p["status"] == "offline" for p in got))
        _wait(lambda: any(p["camera_id"] == "synth" and p["status"] == "online" for p in got))
        time.sleep(0.5)  # past the idle grace: probed feeds stay open
        assert engine.health("synth").status is Status.ONLINE
        assert engine.health("gone").status is Status.OFFLINE
    finally:
        engine.stop()
