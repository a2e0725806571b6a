"""Call recording on a thread of its own: a mosaic of the parties and their mixed voices.

Encoding on the engine loop would slow every live peer (aiortc's ``MediaRecorder`` there costs
most of a core for webm: PITFALLS.md), so the loop only hands frame references to ``feed`` and
this thread composes, encodes and muxes a WebM file (VP8 + Opus) at a modest frame rate.
"""

from __future__ import annotations

import fractions
import logging
import math
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

CELL = (320, 240)
FPS = 15
RATE = 48000
CHUNK = 960  # 20 ms of audio


def grid_shape(parties: int) -> tuple[int, int]:
    """(columns, rows) for ``parties`` cells: 1 -> 1x1, 2 -> 2x1, 3-4 -> 2x2, 5-6 -> 3x2 ..."""
    cols = max(1, math.ceil(math.sqrt(parties)))
    rows = max(1, math.ceil(parties / cols))
    return cols, rows


def mosaic(
    cells: list[NDArray[np.uint8] | None],
    cols: int,
    rows: int,
    labels: list[str] | None = None,
) -> NDArray[np.uint8]:
    """Place BGR cells (already CELL-sized, ``None`` = dark) in a grid, each with its label
    (ASCII: OpenCV's fonts have no CJK glyphs). Pure."""
    w, h = CELL
    out = np.full((rows * h, cols * w, 3), 24, np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, cols)
        if cell is not None:
            out[r * h : (r + 1) * h, c * w : (c + 1) * w] = cell
        if labels and i < len(labels) and labels[i]:
            org = (c * w + 6, (r + 1) * h - 8)
            cv2.putText(out, labels[i], org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3)
            cv2.putText(out, labels[i], org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return out


def _video_to_bgr(frame: av.VideoFrame) -> NDArray[np.uint8]:
    # Read the planes without ``reformat``: PyAV caches one converter per frame object and the
    # frame is shared with the live senders (two threads in one converter crash libswscale).
    if frame.format.name == "yuv420p":
        yuv = np.asarray(frame.to_ndarray(), dtype=np.uint8)
        bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
    else:
        bgr = frame.to_ndarray(format="bgr24")
    return np.asarray(cv2.resize(bgr, CELL, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _audio_to_mono(frame: av.AudioFrame) -> NDArray[np.int16]:
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        samples = data.astype(np.float32).mean(axis=0)
    else:
        samples = data.reshape(-1, channels).astype(np.float32).mean(axis=1)
    if frame.format.name.startswith("flt"):
        samples = samples * 32767
    if frame.sample_rate != RATE:
        n = int(len(samples) * RATE / frame.sample_rate)
        samples = np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples)
    return np.clip(samples, -32768, 32767).astype(np.int16)


class CallRecorder:
    """Records the parties of a call into ``<dir>/call-<id>-<time>.webm``."""

    def __init__(
        self,
        directory: Path,
        call_id: str,
        parties: list[str],
        start_delay: float = 3.0,
        labels: list[str] | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.path = directory / f"call-{call_id}-{stamp}.webm"
        self.parties = parties
        self.labels = labels or parties
        self._start_delay = start_delay
        self._video: dict[str, av.VideoFrame] = {}
        self._audio: dict[str, deque[NDArray[np.int16]]] = {p: deque(maxlen=100) for p in parties}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rec-{call_id}", daemon=True)
        self.frames = 0
        self.seconds = 0.0
        self.error: str | None = None
        self.started_at: datetime | None = None

    def feed(self, party: str, kind: str, frame: av.VideoFrame | av.AudioFrame) -> None:
        """Called on the engine loop for every forwarded frame: keep a reference, no work."""
        if party not in self._audio:
            return
        if isinstance(frame, av.VideoFrame):
            self._video[party] = frame
        else:
            try:
                samples = _audio_to_mono(frame)
            except Exception:
                return
            with self._lock:
                self._audio[party].append(samples)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, Any] | None:
        """Finish the file; returns what to list (path, frames, seconds) or None."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self.started_at is None or not self.path.exists():
            return None
        return {
            "path": str(self.path),
            "name": self.path.name,
            "frames": self.frames,
            "seconds": round(self.seconds, 1),
            "started_at": self.started_at.isoformat(),
            "error": self.error,
        }

    def _mix(self) -> NDArray[np.int16]:
        total = np.zeros(CHUNK, np.int32)
        with self._lock:
            for queue in self._audio.values():
                need = CHUNK
                parts: list[NDArray[np.int16]] = []
                while need > 0 and queue:
                    head = queue[0]
                    take = head[:need]
                    parts.append(take)
                    need -= len(take)
                    if len(take) == len(head):
                        queue.popleft()
                    else:
                        queue[0] = head[len(take) :]
                if parts:
                    got = np.concatenate(parts)
                    total[: len(got)] += got
        return np.clip(total, -32768, 32767).astype(np.int16)

    def _run(self) -> None:
        if self._stop.wait(self._start_delay):
            return
        cols, rows = grid_shape(len(self.parties))
        try:
            container = av.open(str(self.path), "w", format="webm")
        except Exception as err:
            self.error = str(err)
            logger.exception("cannot open recording %s", self.path.name)
            return
        self.started_at = datetime.now(UTC)
        try:
            vstream = container.add_stream("libvpx", rate=FPS)
            vstream.width, vstream.height = cols * CELL[0], rows * CELL[1]
            vstream.pix_fmt = "yuv420p"
            vstream.bit_rate = 600_000
            vstream.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
            astream = container.add_stream("libopus", rate=RATE, layout="mono")
            t0 = time.monotonic()
            written_samples = 0
            period = 1.0 / FPS
            last_index = -1
            while not self._stop.is_set():
                # Frames are stamped by the wall clock: when the machine is busy the recording
                # drops frames but keeps its length and stays in step with the audio.
                index = int((time.monotonic() - t0) * FPS)
                if index <= last_index:
                    self._stop.wait(t0 + (last_index + 1) * period - time.monotonic())
                    continue
                last_index = index
                cells = []
                for party in self.parties:
                    frame = self._video.get(party)
                    cells.append(_video_to_bgr(frame) if frame is not None else None)
                img = mosaic(cells, cols, rows, self.labels)
                yuv = np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420), dtype=np.uint8)
                vframe = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                vframe.pts = index
                vframe.time_base = fractions.Fraction(1, FPS)
                for packet in vstream.encode(vframe):
                    container.mux(packet)
                self.frames += 1
                self.seconds = (index + 1) / FPS
                due = int((time.monotonic() - t0) * RATE)
                while written_samples + CHUNK <= due:
                    mixed = self._mix()
                    aframe = av.AudioFrame.from_ndarray(
                        mixed.reshape(1, -1), format="s16", layout="mono"
                    )
                    aframe.sample_rate = RATE
                    aframe.pts = written_samples
                    aframe.time_base = fractions.Fraction(1, RATE)
                    for packet in astream.encode(aframe):
                        container.mux(packet)
                    written_samples += CHUNK
            for packet in vstream.encode(None):
                container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
        except Exception as err:
            self.error = f"{type(err).__name__}: {err}"
            logger.exception("recording %s failed", self.path.name)
        finally:
            container.close()
