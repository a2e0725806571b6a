"""The streams engine: one asyncio loop on its own thread running sources, encoders and peers.

Shaped like aiortc's ``examples/server/server.py``: the signalling endpoint hands an offer to
``view`` and returns the answer; every peer connection is tracked and closed when its viewer
leaves, fails, or the engine stops. Other threads (Flask views, Socket.IO handlers) reach the
loop through ``call``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import cv2
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from dispatch.realtime import channels
from dispatch.realtime.bus import EventBus
from streams.errors import BadRequest, StreamError, Unavailable
from streams.registry import Camera, CameraRegistry
from streams.relay import PacketTrack, SharedEncoder
from streams.sdp import validate_offer
from streams.sources import FrameSource, Health, Status, make_source

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Encoded sizes: tiles on a wall, full size when a tile is focused.
SIZES: dict[str, tuple[int, int]] = {"full": (640, 480), "tile": (320, 240)}

SourceFactory = Callable[[Camera], FrameSource]


def default_source(camera: Camera) -> FrameSource:
    seed = sum(camera.id.encode())
    return make_source(camera.id, camera.source, camera.name_en, seed=seed, fps=camera.fps)


def rtc_configuration() -> RTCConfiguration:
    """No STUN/TURN: the default would ask a public STUN server (PITFALLS.md)."""
    return RTCConfiguration(iceServers=[])


def prefer_vp8(transceiver: Any) -> None:
    """Negotiate VP8 only: the shared encoder's packets are VP8. Must run before
    ``setRemoteDescription`` or another codec may be chosen silently (PITFALLS.md)."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences(
        [c for c in caps if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    )


@dataclass
class Viewer:
    id: str
    camera_id: str
    size: str
    pc: RTCPeerConnection
    track: PacketTrack
    created: float = field(default_factory=time.monotonic)


@dataclass
class Feed:
    """A running camera: its one source and one encoder per size."""

    camera: Camera
    source: FrameSource
    encoders: dict[str, SharedEncoder] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    last_status: Status | None = None
    #: Probed cameras stay open without viewers (health always known).
    pinned: bool = False

    @property
    def viewers(self) -> int:
        return sum(e.subscribers for e in self.encoders.values())


class StreamEngine:
    """Owns the video loop. Start it once per process; ``stop`` frees everything."""

    def __init__(
        self,
        registry: CameraRegistry,
        bus: EventBus | None = None,
        *,
        source_factory: SourceFactory = default_source,
        max_viewers: int = 128,
        health_interval: float = 2.0,
        idle_grace: float = 10.0,
        encode_workers: int = 2,
    ) -> None:
        self.registry = registry
        self.bus = bus
        self._source_factory = source_factory
        self.max_viewers = max_viewers
        self._health_interval = health_interval
        self._idle_grace = idle_grace
        self.executor = ThreadPoolExecutor(encode_workers, thread_name_prefix="stream-enc")
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._feeds: dict[str, Feed] = {}
        self._feeds_lock = threading.Lock()
        self.viewers: dict[str, Viewer] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []
        #: Called with each health published by this engine (the web process forwards it to
        #: browsers of the camera's area; other processes read the bus).
        self.health_listeners: list[Callable[[Health], None]] = []
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- lifecycle
    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> StreamEngine:
        if self._thread is not None:
            return self
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.create_task(self._housekeeping())
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="streams-loop", daemon=True)
        self._thread.start()
        ready.wait(5)
        for camera in self.registry.all():
            if camera.probe:
                self._feed(camera.id).pinned = True
        return self

    def add_closer(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Something else on the loop (calls, recorders) to close when the engine stops."""
        self._closers.append(closer)

    def stop(self) -> None:
        if self._thread is None:
            # Never started (video disabled): still release the loop and the pool.
            if not self.loop.is_closed():
                self.loop.close()
                self.executor.shutdown(wait=False)
            return
        try:
            self.call(self._shutdown(), timeout=10)
        except Exception:
            logger.exception("streams shutdown was not clean")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self._thread = None
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.loop.close()

    async def _shutdown(self) -> None:
        for closer in self._closers:
            await closer()
        await asyncio.gather(*(self.close_viewer(v) for v in list(self.viewers)))
        for feed in list(self._feeds.values()):
            for encoder in feed.encoders.values():
                await encoder.stop()
            feed.source.stop()
        self._feeds.clear()
        # Cancel what is left and let it unwind before the loop stops: a task destroyed while
        # pending (or a gather whose error nobody reads) is reported at garbage collection.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=3)
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: not reported as "never retrieved"
            if pending:
                logger.warning("%d video tasks did not stop in time", len(pending))

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        if self._thread is None:
            coro.close()
            raise Unavailable("the video engine is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        """Run ``coro`` on the engine loop from another thread and wait for its result."""
        return self.submit(coro).result(timeout)

    # ----------------------------------------------------------------- feeds
    def _feed(self, camera_id: str) -> Feed:
        with self._feeds_lock:
            feed = self._feeds.get(camera_id)
            if feed is None:
                camera = self.registry.get(camera_id)
                feed = Feed(camera, self._source_factory(camera))
                self._feeds[camera_id] = feed
                feed.source.start()
            feed.last_used = time.monotonic()
            return feed

    def encoder(self, camera_id: str, size: str) -> SharedEncoder:
        """The shared encoder of a camera at a size (created on first use; loop thread)."""
        if size not in SIZES:
            raise BadRequest(f"size must be one of {sorted(SIZES)}", field="size")
        feed = self._feed(camera_id)
        encoder = feed.encoders.get(size)
        if encoder is None:
            width, height = SIZES[size]
            encoder = SharedEncoder(feed.source, width, height, self.executor, fps=feed.camera.fps)
            feed.encoders[size] = encoder
        return encoder

    def health(self, camera_id: str) -> Health:
        self.registry.get(camera_id)
        feed = self._feeds.get(camera_id)
        if feed is None:
            return Health(camera_id, Status.IDLE, 0.0, None)
        return feed.source.health()

    def snapshot_jpeg(self, camera_id: str, timeout: float = 3.0, quality: int = 85) -> bytes:
        """The latest frame of a camera as JPEG (any thread)."""
        feed = self._feed(camera_id)
        deadline = time.monotonic() + timeout
        while True:
            _, img = feed.source.latest()
            if img is not None:
                break
            if time.monotonic() > deadline:
                raise Unavailable(f"camera {camera_id!r} has no picture", camera_id=camera_id)
            time.sleep(0.05)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise StreamError("JPEG encoding failed")
        return bytes(buf)

    def stats(self) -> dict[str, Any]:
        """Encoders and viewers (tests and benchmarks read this)."""
        return {
            "viewers": len(self.viewers),
            "encoders": [
                {
                    "camera_id": cid,
                    "size": size,
                    "subscribers": enc.subscribers,
                    "encode_calls": enc.encode_calls,
                    "keyframes": enc.keyframes,
                }
                for cid, feed in list(self._feeds.items())
                for size, enc in list(feed.encoders.items())
            ],
        }

    # ----------------------------------------------------------------- viewers
    async def view(
        self, camera_id: str, sdp: object, kind: object = "offer", size: str = "tile"
    ) -> dict[str, str]:
        """Answer a viewer's offer for a camera; returns ``{"sdp", "type", "viewer_id"}``."""
        validate_offer(sdp, kind)
        assert isinstance(sdp, str)
        if size not in SIZES:
            raise BadRequest(f"size must be one of {sorted(SIZES)}", field="size")
        self.registry.get(camera_id)
        if len(self.viewers) >= self.max_viewers:
            raise Unavailable("too many viewers", limit=self.max_viewers)
        encoder = self.encoder(camera_id, size)
        track = encoder.subscribe()
        pc = RTCPeerConnection(rtc_configuration())
        viewer = Viewer(uuid.uuid4().hex, camera_id, size, pc, track)
        self.viewers[viewer.id] = viewer
        try:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            prefer_vp8(transceiver)
            # Picture-loss from this viewer: a keyframe from the shared encoder.
            transceiver.sender._send_keyframe = encoder.request_keyframe  # type: ignore[method-assign]

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                if pc.connectionState in ("failed", "closed"):
                    await self.close_viewer(viewer.id)

            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except StreamError:
            await self.close_viewer(viewer.id)
            raise
        except Exception as err:
            await self.close_viewer(viewer.id)
            raise BadRequest(f"cannot answer this offer: {err}", field="sdp") from err
        logger.info("viewer %s on %s (%s)", viewer.id[:8], camera_id, size)
        return {"sdp": pc.localDescription.sdp, "type": "answer", "viewer_id": viewer.id}

    async def close_viewer(self, viewer_id: str) -> bool:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is None:
            return False
        viewer.track.stop()
        await viewer.pc.close()
        feed = self._feeds.get(viewer.camera_id)
        if feed is not None:
            feed.last_used = time.monotonic()
        return True

    # ----------------------------------------------------------------- housekeeping
    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            try:
                await self._tick()
            except Exception:
                logger.exception("streams housekeeping failed")

    async def _tick(self) -> None:
        now = time.monotonic()
        for camera_id, feed in list(self._feeds.items()):
            if not feed.pinned and feed.viewers == 0 and now - feed.last_used > self._idle_grace:
                for encoder in feed.encoders.values():
                    await encoder.stop()
                feed.source.stop()
                with self._feeds_lock:
                    self._feeds.pop(camera_id, None)
                self._publish(feed.source.health())
                continue
            health = feed.source.health()
            if feed.viewers or health.status != feed.last_status:
                feed.last_status = health.status
                self._publish(health)

    def _publish(self, health: Health) -> None:
        if self.bus is not None:
            self.bus.publish(channels.CAMERAS, health.as_dict())
        for listener in self.health_listeners:
            try:
                listener(health)
            except Exception:
                logger.exception("health listener failed")
