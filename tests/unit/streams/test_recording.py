"""Recorder pieces: the grid, the mosaic, and a short recording decodable with PyAV."""

from __future__ import annotations

import fractions
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streams.recording import CELL, CallRecorder, grid_shape, mosaic


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (2, (2, 1)), (3, (2, 2)), (5, (3, 2))])
def test_grid_shape(n: int, shape: tuple[int, int]) -> None:
    assert grid_shape(n) == shape


def test_mosaic_places_cells() -> None:
    cell = np.full((CELL[1], CELL[0], 3), 200, np.uint8)
    img = mosaic([None, cell], 2, 1)
    assert img.shape == (CELL[1], 2 * CELL[0], 3)
    assert img[0, 0, 0] == 24 and img[0, CELL[0], 0] == 200


def test_recording_is_decodable(tmp_path: Path) -> None:
    rec = CallRecorder(tmp_path, "abc", ["commander", "s1"], start_delay=0.0)
    rec.start()
    yuv = np.full((480 * 3 // 2, 640), 90, np.uint8)
    for i in range(30):
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        rec.feed("commander", "video", frame)
        audio = av.AudioFrame.from_ndarray(
            np.zeros((1, 960 * 2), np.int16), format="s16", layout="stereo"
        )
        audio.sample_rate = 48000
        audio.pts = i * 960
        audio.time_base = fractions.Fraction(1, 48000)
        rec.feed("s1", "audio", audio)
        time.sleep(0.04)
    info = rec.stop()
    assert info is not None and info["frames"] >= 10
    with av.open(info["path"]) as container:
        frames = sum(1 for _ in container.decode(video=0))
        assert container.streams.video[0].codec_context.width == 2 * CELL[0]
    assert frames == info["frames"]
