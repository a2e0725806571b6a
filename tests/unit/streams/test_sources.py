"""Sources: URL scheme checks, the synthetic scene, reconnect with backoff, the pixel stamp."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streams.errors import UnsupportedScheme
from streams.sources import (
    Frame,
    Status,
    SyntheticSource,
    UrlSource,
    fit,
    make_source,
    to_video_frame,
    validate_source,
)
from streams.stamp import draw_stamp, elapsed_ms, read_stamp


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://10.0.0.5:554/stream1",
        "rtsps://cam.example/live",
        "http://10.0.0.6/mjpeg",
        "https://cam.example/h.m3u8",
        "file:///srv/video/demo.mp4",
        "synthetic",
        "synthetic:7",
    ],
)
def test_accepted_sources(url: str) -> None:
    assert validate_source(url) == url


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("ftp://x/y", "ftp"),
        ("javascript:alert(1)", "javascript"),
        ("udp://239.0.0.1:1234", "udp"),
        ("/srv/video/demo.mp4", ""),
        ("rtsp:///nohost", "rtsp"),
        ("gopher://x", "gopher"),
    ],
)
def test_refused_sources_name_the_scheme(url: str, scheme: str) -> None:
    with pytest.raises(UnsupportedScheme) as info:
        validate_source(url)
    assert info.value.details["scheme"] == scheme
    assert info.value.code == "unsupported_scheme"


def test_synthetic_source_draws_moving_frames_lazily() -> None:
    source = SyntheticSource("c", "Cam", seed=1)
    assert source.latest() == (0, None)  # not started: nothing drawn
    source.start()
    seq1, f1 = source.latest()
    time.sleep(0.05)
    seq2, f2 = source.latest()
    assert f1 is not None and f2 is not None
    assert f1.shape == (480, 640, 3) and f1.dtype == np.uint8
    assert seq2 == seq1 + 1
    assert not np.array_equal(f1, f2)
    assert source.health().status is Status.ONLINE


def test_video_frames_are_fresh_yuv420p_at_the_asked_size() -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    frame = to_video_frame(img, 320, 240, 9000)
    assert frame.format.name == "yuv420p"
    assert (frame.width, frame.height, frame.pts) == (320, 240, 9000)


def test_stamp_round_trip_through_luma() -> None:
    img = np.full((240, 320, 3), 128, np.uint8)
    now = int(time.time() * 1000)
    draw_stamp(img, now)
    read = read_stamp(np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), dtype=np.uint8))
    assert read is not None
    assert elapsed_ms(read, now + 42) == 42
    assert read_stamp(np.full((240, 320), 128, np.uint8)) is None


def test_url_source_reconnects_with_backoff_and_reports_offline() -> None:
    attempts: list[float] = []

    def opener(url: str) -> Iterator[Frame]:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("camera unreachable")
        for _ in range(5):
            yield np.zeros((48, 64, 3), np.uint8)
            time.sleep(0.01)
        raise ConnectionError("dropped")

    source = UrlSource("c", "rtsp://cam/x", opener=opener, backoff=0.05, max_backoff=0.2)
    source.start()
    try:
        deadline = time.monotonic() + 5
        while source.latest()[0] < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert source.latest()[0] >= 5
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.04 and gaps[1] >= 0.09  # doubling backoff
        deadline = time.monotonic() + 5
        while source.health().status is not Status.OFFLINE and time.monotonic() < deadline:
            time.sleep(0.01)
        health = source.health()
        assert health.status in (Status.OFFLINE, Status.CONNECTING, Status.ONLINE)
        assert source.connects >= 3
    finally:
        source.stop()
    assert source.health().status is Status.IDLE


def test_file_source_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = to_video_frame(np.full((48, 64, 3), i * 20, np.uint8), 64, 48, i)
            frame.pts = i
            frame.time_base = Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    source = make_source("f", f"file://{path}", "File", fps=25)
    source.start()
    try:
        deadline = time.monotonic() + 5
        while source.latest()[0] < 15 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert source.latest()[0] >= 15  # more frames than the file holds: it looped
    finally:
        source.stop()


@pytest.mark.parametrize(
    ("src", "bars"),
    [((720, 1280), "top"), ((480, 640), None), ((960, 1280), None), ((640, 480), "side")],
)
def test_fit_letterboxes_instead_of_squeezing(src: tuple[int, int], bars: str | None) -> None:
    img = np.full((*src, 3), 200, np.uint8)
    out = fit(img, 320, 240)
    assert out.shape == (240, 320, 3)
    if bars == "top":
        assert out[0, 160, 0] == 0 and out[120, 160, 0] == 200
    elif bars == "side":
        assert out[120, 0, 0] == 0 and out[120, 160, 0] == 200
    else:
        assert (out == 200).all()
