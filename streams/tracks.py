"""A plain aiortc video track from a frame source (each consumer encodes it itself).

The raw baseline of the benchmarks, and the camera of Python test peers in calls.
"""

from __future__ import annotations

import asyncio
import time

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streams.sources import HEIGHT, WIDTH, FrameSource, to_video_frame


class SourceTrack(MediaStreamTrack):
    """Frames of ``source`` as fresh ``yuv420p`` frames, paced at the source's rate."""

    kind = "video"

    def __init__(self, source: FrameSource, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self._source = source
        self._size = (width, height)
        self._t0: float | None = None
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        target = self._t0 + self._n / self._source.fps
        if target > now:
            await asyncio.sleep(target - now)
        self._n += 1
        _, img = self._source.latest()
        while img is None:
            await asyncio.sleep(0.01)
            _, img = self._source.latest()
        return to_video_frame(img, *self._size, int((time.monotonic() - self._t0) * 90000))
