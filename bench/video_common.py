"""Shared pieces of the video benchmarks: a loop thread, receivers, a raw aiortc sender."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import resource
import threading
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any, TypeVar

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from streams.engine import prefer_vp8
from streams.registry import Camera, CameraKind

T = TypeVar("T")


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far; child processes excluded."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoopThread:
    """An asyncio loop on a thread of its own (a sender side, like the engine's)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class Receiver:
    """A receive-only aiortc peer; ``on_frame`` sees every decoded frame."""

    def __init__(self, on_frame: Callable[[av.VideoFrame], None] | None = None) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")
        self.frames = 0
        self.on_frame = on_frame
        self._task: asyncio.Task[None] | None = None

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
            self.frames += 1
            if self.on_frame is not None:
                self.on_frame(frame)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pc.close()


async def raw_answer(track: MediaStreamTrack, offer: str, pcs: list[RTCPeerConnection]) -> str:
    """Plain aiortc: one sender that encodes ``track`` itself (the raw baseline)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pcs.append(pc)
    prefer_vp8(pc.addTransceiver(track, direction="sendonly"))
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


async def close_all(pcs: list[RTCPeerConnection]) -> None:
    for pc in pcs:
        await pc.close()
    pcs.clear()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def settle(seconds: float) -> None:
    time.sleep(seconds)


def bench_camera(camera_id: str, name_zh: str, name_en: str) -> Camera:
    """A key-site camera for a benchmark (synthetic source; place and region do not matter)."""
    return Camera(
        id=camera_id,
        name_zh=name_zh,
        name_en=name_en,
        region="990101001",
        lon=0,
        lat=0,
        kind=CameraKind.KEY_SITE,
    )


def _viewers_main(conn: Connection, n: int) -> None:
    """Child process: ``n`` receivers; offers out, answers in, frame counts on request."""

    async def run() -> None:
        receivers = [Receiver() for _ in range(n)]
        conn.send([await r.offer() for r in receivers])
        answers = await asyncio.to_thread(conn.recv)
        for r, a in zip(receivers, answers, strict=True):
            await r.accept(a)
        while True:
            msg = await asyncio.to_thread(conn.recv)
            if msg == "count":
                conn.send([r.frames for r in receivers])
            else:
                break
        for r in receivers:
            await r.close()

    asyncio.run(run())


class ViewerProcess:
    """``n`` receiving peers in a child process, so a measurement sees the sender alone."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_viewers_main, args=(child, n), daemon=True)
        self._process.start()
        self.offers: list[str] = self._conn.recv()

    def answer(self, answers: list[str]) -> None:
        self._conn.send(answers)

    def frames(self) -> list[int]:
        self._conn.send("count")
        counts: list[int] = self._conn.recv()
        return counts

    def measure(self, warmup: float, seconds: float) -> tuple[float, list[float]]:
        """After ``warmup``: this process's CPU (share of one core) and each viewer's fps."""
        time.sleep(warmup)
        before = self.frames()
        c0, t0 = cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(), time.monotonic()
        after = self.frames()
        fps = [(b - a) / (t1 - t0) for a, b in zip(before, after, strict=True)]
        return (c1 - c0) / (t1 - t0), fps

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
