"""Encode once, send to many: one VP8 encoder per camera and size, packets shared by viewers.

aiortc's ``RTCRtpSender`` packetizes an ``av.Packet`` it receives from a track with
``encoder.pack`` instead of re-encoding it (aiortc 1.16, ``rtcrtpsender._next_encoded_frame``),
so a ``PacketTrack`` that hands out the shared encoder's packets costs each viewer only the
RTP packetization. A new viewer starts on a keyframe (one is forced when it joins), a viewer
that falls behind is resynchronised on the next keyframe, and picture-loss requests from any
viewer's browser are turned into a (rate-limited) keyframe of the shared encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streams.sources import VIDEO_TIME_BASE, Frame, FrameSource, to_video_frame

logger = logging.getLogger(__name__)

#: Bits per second by frame area: ~1 Mbit/s at 640x480, scaled by area, at least 150 kbit/s.
BITRATE_640 = 1_000_000


def bitrate_for(width: int, height: int) -> int:
    return max(150_000, int(BITRATE_640 * width * height / (640 * 480)))


def make_vp8_context(width: int, height: int, fps: int, bitrate: int) -> av.VideoCodecContext:
    """A real-time libvpx context with aiortc's own settings (no look-ahead, CBR)."""
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width = width
    codec.height = height
    codec.bit_rate = bitrate
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, 90000)
    codec.framerate = fractions.Fraction(fps, 1)
    codec.gop_size = 3000  # keyframes are forced by us: periodic, on join, on picture loss
    codec.qmin = 2
    codec.qmax = 56
    codec.options = {
        "bufsize": str(bitrate),
        "cpu-used": "-6",
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "noise-sensitivity": "4",
        "overshoot-pct": "15",
        "partitions": "0",
        "static-thresh": "1",
        "undershoot-pct": "100",
    }
    codec.thread_count = 1
    return codec


class PacketTrack(MediaStreamTrack):
    """A viewer's video track: encoded packets from a ``SharedEncoder``."""

    kind = "video"

    def __init__(self, encoder: SharedEncoder, max_queue: int = 8) -> None:
        super().__init__()
        self._encoder = encoder
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue()
        self._max_queue = max_queue
        self._synced = False
        self.delivered = 0
        self.dropped = 0

    def push(self, packet: av.Packet) -> None:
        """Called on the engine loop by the encoder."""
        if self.readyState != "live":
            return
        if not self._synced:
            if not packet.is_keyframe:
                self.dropped += 1
                return
            self._synced = True
        if self._queue.qsize() >= self._max_queue:
            # The viewer is too slow: drop what is queued and restart from a keyframe.
            self.dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._synced = bool(packet.is_keyframe)
            if not self._synced:
                self._encoder.request_keyframe()
                return
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        self.delivered += 1
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._encoder.unsubscribe(self)
            self._queue.put_nowait(None)
        super().stop()


class SharedEncoder:
    """Encodes one source at one size, once per frame, for all subscribed viewers.

    Runs as a task on the engine loop while it has subscribers; the encoding itself runs in
    ``executor`` so the loop stays free for RTP. ``encode_calls`` counts frames encoded (the
    benchmark and the tests check it does not grow with the number of viewers).
    """

    def __init__(
        self,
        source: FrameSource,
        width: int,
        height: int,
        executor: Executor,
        fps: int | None = None,
        keyframe_interval: float = 3.0,
        on_idle: Callable[[SharedEncoder], None] | None = None,
    ) -> None:
        self.source = source
        self.width = width
        self.height = height
        self.fps = fps or source.fps
        self._executor = executor
        self._keyframe_interval = keyframe_interval
        self._on_idle = on_idle
        self._tracks: set[PacketTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._codec: av.VideoCodecContext | None = None
        self._force_keyframe = True
        self._last_keyframe = 0.0
        self._last_request = 0.0
        self.encode_calls = 0
        self.keyframes = 0
        self.errors = 0
        # One time origin for the encoder's whole life: the codec outlives pauses (no viewers)
        # and libvpx refuses a pts that goes backwards.
        self._t0 = time.monotonic()
        self._last_pts = -1

    @property
    def subscribers(self) -> int:
        return len(self._tracks)

    def subscribe(self) -> PacketTrack:
        """A new viewer track (call on the engine loop). Forces a keyframe for it."""
        track = PacketTrack(self)
        self._tracks.add(track)
        self._force_keyframe = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return track

    def unsubscribe(self, track: PacketTrack) -> None:
        self._tracks.discard(track)
        if not self._tracks and self._on_idle is not None:
            self._on_idle(self)

    def request_keyframe(self) -> None:
        """Picture-loss from a viewer; at most one forced keyframe every half second."""
        now = time.monotonic()
        if now - self._last_request >= 0.5:
            self._last_request = now
            self._force_keyframe = True

    async def stop(self) -> None:
        for track in list(self._tracks):
            track.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._codec = None

    def _pts(self, now: float) -> int:
        pts = max(int((now - self._t0) * 90000), self._last_pts + 1)
        self._last_pts = pts
        return pts

    def _encode_image(self, img: Frame, pts: int, keyframe: bool) -> list[av.Packet]:
        # A fresh yuv420p frame per encoder: never share one frame object between encoders.
        return self._encode(to_video_frame(img, self.width, self.height, pts), keyframe)

    def _encode(self, frame: av.VideoFrame, keyframe: bool) -> list[av.Packet]:
        if self._codec is None:
            self._codec = make_vp8_context(
                self.width, self.height, self.fps, bitrate_for(self.width, self.height)
            )
            keyframe = True
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        try:
            packets = list(self._codec.encode(frame))
        except av.error.FFmpegError:
            # A broken codec state must not end every viewer's stream: start a fresh codec
            # (its first frame is a keyframe, which also resynchronises the viewers).
            logger.warning("encoder for %s reset after an error", self.source.camera_id)
            self.errors += 1
            self._codec = None
            return []
        for packet in packets:
            packet.pts = frame.pts
            packet.time_base = VIDEO_TIME_BASE
        return packets

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.fps
        next_at = loop.time()
        last_seq = -1
        try:
            while self._tracks:
                next_at += period
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -period:
                    next_at = loop.time()  # fell behind: skip frames rather than burst
                seq, img = self.source.latest()
                if img is None or seq == last_seq:
                    continue
                last_seq = seq
                now = time.monotonic()
                keyframe = (
                    self._force_keyframe or now - self._last_keyframe >= self._keyframe_interval
                )
                self._force_keyframe = False
                packets = await loop.run_in_executor(
                    self._executor, self._encode_image, img, self._pts(now), keyframe
                )
                self.encode_calls += 1
                if keyframe:
                    self._last_keyframe = now
                    self.keyframes += 1
                for packet in packets:
                    for track in list(self._tracks):
                        track.push(packet)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("encoder for %s stopped", self.source.camera_id)
            for track in list(self._tracks):
                track.stop()
