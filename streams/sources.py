"""Camera sources: synthetic scenes, video files and RTSP/HTTP cameras, latest frame only.

A source hands out BGR ``ndarray`` frames; conversion to ``yuv420p`` ``av.VideoFrame`` happens
once per frame per encoded size (see ``to_video_frame``), never in a shared frame object: two
encoder threads reformatting one shared ``bgr24`` frame crash libvpx (PITFALLS.md).
"""

from __future__ import annotations

import enum
import fractions
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from streams.errors import UnsupportedScheme
from streams.stamp import draw_stamp

logger = logging.getLogger(__name__)

Frame = NDArray[np.uint8]

WIDTH, HEIGHT, FPS = 640, 480, 25
SYNTHETIC = "synthetic"
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
URL_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https", "file"})


def validate_source(url: str) -> str:
    """Return ``url`` when it names a source we can read; raise ``UnsupportedScheme`` otherwise.

    Accepted: ``synthetic`` (a generated scene), ``synthetic:<seed>``, and URLs with the
    schemes rtsp, rtsps, http, https and file. Anything else (``javascript:``, ``ftp:``,
    ``udp:``, bare paths, ...) is refused with the scheme named in the error.
    """
    text = url.strip()
    if text == SYNTHETIC or text.startswith(SYNTHETIC + ":"):
        return text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        raise UnsupportedScheme(
            f"unsupported camera URL scheme {scheme or '(none)'!r}; "
            f"use one of {', '.join(sorted(URL_SCHEMES))} or 'synthetic'",
            scheme=scheme,
            allowed=sorted(URL_SCHEMES),
        )
    if scheme == "file":
        if not parts.path:
            raise UnsupportedScheme("file URL has no path", scheme=scheme)
    elif not parts.hostname:
        raise UnsupportedScheme(f"{scheme} URL has no host", scheme=scheme)
    return text


class Status(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Health:
    """What the hall shows for a camera."""

    camera_id: str
    status: Status
    fps: float
    last_frame_at: datetime | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "status": self.status.value,
            "fps": round(self.fps, 1),
            "last_frame_at": self.last_frame_at.isoformat() if self.last_frame_at else None,
            "error": self.error,
        }


class _RateMeter:
    """Frames per second over the last couple of seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self._times: deque[float] = deque()
        self._window = window

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(now - self._times[0], 1e-6)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()


class FrameSource:
    """Base: holds the latest frame and its health. Subclasses fill it."""

    def __init__(self, camera_id: str, fps: int = FPS) -> None:
        self.camera_id = camera_id
        self.fps = fps
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._seq = 0
        self._last_mono = 0.0
        self._last_wall: datetime | None = None
        self._meter = _RateMeter()
        self._status = Status.IDLE
        self._error: str | None = None

    def start(self) -> None:
        """Begin producing frames."""

    def stop(self) -> None:
        """Stop producing frames and release the device/stream."""

    def latest(self) -> tuple[int, Frame | None]:
        """The newest frame and its sequence number (unchanged number = no new frame)."""
        with self._lock:
            return self._seq, self._frame

    def health(self) -> Health:
        now = time.monotonic()
        with self._lock:
            status = self._status
            if status is Status.ONLINE and now - self._last_mono > 3.0:
                status = Status.OFFLINE
            return Health(
                self.camera_id, status, self._meter.rate(now), self._last_wall, self._error
            )

    def _put(self, frame: Frame) -> None:
        now = time.monotonic()
        with self._lock:
            self._frame = frame
            self._seq += 1
            self._last_mono = now
            self._last_wall = datetime.now(UTC)
            self._meter.tick(now)
            self._status = Status.ONLINE
            self._error = None

    def _set_status(self, status: Status, error: str | None = None) -> None:
        with self._lock:
            self._status = status
            self._error = error


def draw_scene(
    background: Frame, label: str, t: float, index: int, stamp_ms: int | None = None
) -> Frame:
    """A frame of the synthetic scene: background, a moving ball, the label and a clock.

    Pure: returns a new image, ``background`` is left untouched.
    """
    img = background.copy()
    height, width = img.shape[:2]
    x = int(width / 2 + width / 3 * math.sin(t * 0.9))
    y = int(height / 2 + height / 4 * math.sin(t * 1.7))
    cv2.circle(img, (x, y), max(height // 12, 4), (40, 200, 255), -1)
    clock = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    scale = height / 480
    cv2.putText(
        img,
        label,
        (int(16 * scale), height - int(60 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.0 * scale,
        (255, 255, 255),
        max(int(2 * scale), 1),
    )
    cv2.putText(
        img,
        f"{clock}  #{index}",
        (int(16 * scale), height - int(20 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.8 * scale,
        (230, 230, 230),
        max(int(2 * scale), 1),
    )
    if stamp_ms is not None:
        draw_stamp(img, stamp_ms)
    return img


def make_background(seed: int, width: int = WIDTH, height: int = HEIGHT) -> Frame:
    """A gradient background whose colour depends on ``seed`` (each camera looks different)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 160, size=3)
    ramp = np.linspace(0.6, 1.2, width, dtype=np.float32)[None, :, None]
    img = np.clip(np.ones((height, width, 3), np.float32) * base * ramp, 0, 255).astype(np.uint8)
    for i in range(0, width, 80):
        cv2.line(img, (i, 0), (i, height), (int(base[0]) // 2, 90, 90), 1)
    return img


class SyntheticSource(FrameSource):
    """A generated scene. Frames are drawn lazily when asked for, at most ``fps`` times a second,
    so an unwatched synthetic camera costs nothing.

    ``stamp=True`` draws the wall-clock milliseconds into the top strip (latency benchmark).
    """

    def __init__(
        self,
        camera_id: str,
        label: str,
        seed: int = 0,
        fps: int = FPS,
        size: tuple[int, int] = (WIDTH, HEIGHT),
        stamp: bool = False,
    ) -> None:
        super().__init__(camera_id, fps)
        self.label = label
        self._seed = seed
        self._size = size
        self._background: Frame | None = None  # made on first draw: probing costs no memory
        self._stamp = stamp
        self._t0 = time.monotonic()
        self._running = False

    def start(self) -> None:
        self._running = True
        self._set_status(Status.ONLINE)

    def stop(self) -> None:
        self._running = False
        self._set_status(Status.IDLE)

    def health(self) -> Health:
        # Drawn only on demand: a running synthetic camera is online even when unwatched.
        health = super().health()
        if self._running and health.status is Status.OFFLINE:
            return Health(self.camera_id, Status.ONLINE, health.fps, health.last_frame_at)
        return health

    def latest(self) -> tuple[int, Frame | None]:
        now = time.monotonic()
        with self._lock:
            fresh = self._frame is not None and now - self._last_mono < 1.0 / self.fps * 0.9
            if fresh or not self._running:
                return self._seq, self._frame
        stamp = int(time.time() * 1000) if self._stamp else None
        if self._background is None:
            self._background = make_background(self._seed, *self._size)
        img = draw_scene(self._background, self.label, now - self._t0, self._seq + 1, stamp)
        self._put(img)
        with self._lock:
            return self._seq, self._frame


#: Opens a URL and yields BGR frames; raises on failure. Swappable in tests.
Opener = Callable[[str], Iterator[Frame]]


def pyav_frames(url: str) -> Iterator[Frame]:
    """Decode ``url`` with PyAV at the live rate (RTSP over TCP, no buffering)."""
    options: dict[str, str] = {}
    if url.startswith(("rtsp:", "rtsps:")):
        options = {"rtsp_transport": "tcp", "fflags": "nobuffer", "stimeout": "5000000"}
    else:
        options = {"rw_timeout": "5000000"}
    path = url[len("file://") :] if url.startswith("file://") else url
    with av.open(path, options=options, timeout=5.0) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


class UrlSource(FrameSource):
    """A camera or file read on its own thread; only the newest frame is kept.

    When the stream ends or fails the source shows OFFLINE and reconnects with exponential
    backoff (``backoff`` .. ``max_backoff`` seconds). Files (``file://``) are paced at
    ``fps`` and looped, which makes a file behave like a live camera.
    """

    def __init__(
        self,
        camera_id: str,
        url: str,
        fps: int = FPS,
        opener: Opener = pyav_frames,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(camera_id, fps)
        self.url = validate_source(url)
        self._opener = opener
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connects = 0

    @property
    def paced(self) -> bool:
        return self.url.startswith("file:")

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"source-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None
        self._set_status(Status.IDLE)

    def _run(self) -> None:
        delay = self._backoff
        while not self._stop.is_set():
            self._set_status(Status.CONNECTING)
            self.connects += 1
            got_frame = False
            try:
                period = 1.0 / self.fps
                next_at = time.monotonic()
                for frame in self._opener(self.url):
                    if self._stop.is_set():
                        return
                    got_frame = True
                    self._put(frame)
                    if self.paced:
                        next_at += period
                        wait = next_at - time.monotonic()
                        if wait > 0:
                            self._stop.wait(wait)
                        else:
                            next_at = time.monotonic()
                error = "stream ended"
            except Exception as err:  # any reader failure means: offline, reconnect later
                error = f"{type(err).__name__}: {err}"
            if got_frame:
                delay = self._backoff
                if self.paced and error == "stream ended":
                    continue  # loop the file
            logger.info("camera %s offline (%s); retry in %.1fs", self.camera_id, error, delay)
            self._set_status(Status.OFFLINE, error)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self._max_backoff)


def make_source(camera_id: str, url: str, label: str, seed: int = 0, fps: int = FPS) -> FrameSource:
    """The source for a camera's configured ``source`` value."""
    url = validate_source(url)
    if url.startswith(SYNTHETIC):
        return SyntheticSource(camera_id, label, seed=seed, fps=fps)
    if url.startswith("file:"):
        path = Path(url[len("file://") :] if url.startswith("file://") else url[len("file:") :])
        if not path.exists():
            logger.warning("camera %s: file %s does not exist (will show offline)", camera_id, path)
    return UrlSource(camera_id, url, fps=fps)


def fit(img: Frame, width: int, height: int) -> Frame:
    """``img`` scaled to fit ``width`` x ``height`` without distortion, bars on the sides
    (a 16:9 camera on a 4:3 tile is letterboxed, not squeezed). Pure."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    scale = min(width / w, height / h)
    new_w, new_h = max(2, round(w * scale)), max(2, round(h * scale))
    if abs(new_w - width) <= 2 and abs(new_h - height) <= 2:
        return np.asarray(cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA))
    scaled = np.asarray(cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA))
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top : top + new_h, left : left + new_w] = scaled
    return out


def to_video_frame(img: Frame, width: int, height: int, pts: int) -> av.VideoFrame:
    """A fresh ``yuv420p`` frame at ``width`` x ``height`` (pts in 1/90000 s)."""
    img = fit(img, width, height)
    yuv: Frame = np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    frame.pts = pts
    frame.time_base = VIDEO_TIME_BASE
    return frame
