"""Fixtures for streams integration tests: an engine on demo cameras and Python viewers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import av
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from streams.engine import StreamEngine
from streams.loopback import ensure_host_candidates
from streams.registry import Camera, CameraKind, CameraRegistry

T = TypeVar("T")

# Media over 127.0.0.1 when the machine has no other interface (PITFALLS.md).
ensure_host_candidates()
ROOT = Path(__file__).resolve().parents[3]


def demo_cameras() -> list[Camera]:
    return [
        Camera(
            id=f"cam-{i}",
            name_zh=f"测试{i}",
            name_en=f"Test {i}",
            region=f"99010{1 + i % 2}001",
            lon=113.0 + i * 0.01,
            lat=28.1,
            kind=CameraKind.KEY_SITE,
        )
        for i in range(4)
    ]


@pytest.fixture
def engine() -> Iterator[StreamEngine]:
    eng = StreamEngine(CameraRegistry(demo_cameras()), health_interval=0.5).start()
    yield eng
    eng.stop()


class PyViewer:
    """A receive-only aiortc peer that counts decoded frames."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")
        self.frames: list[av.VideoFrame] = []
        self._task: asyncio.Task[None] | None = None
        self.count = 0
        self.viewer_id = ""

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._task = asyncio.ensure_future(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            assert isinstance(frame, av.VideoFrame)
            self.frames.append(frame)
            if len(self.frames) > 50:
                del self.frames[:-50]
            self.count += 1

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def close(self) -> None:
        await self.pc.close()
        if self._task is not None:
            self._task.cancel()


async def on_engine(engine: StreamEngine, coro: Coroutine[Any, Any, T]) -> T:
    """Await a coroutine that must run on the engine's loop."""
    return await asyncio.wrap_future(engine.submit(coro))


async def wait_for(predicate: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not predicate():
        if loop.time() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)
