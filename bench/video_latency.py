"""Glass-to-glass latency on loopback: a timestamp drawn into the pixels, read back on receipt.

Two runs in one process, 640x480 at 25 fps: a raw aiortc sender/receiver pair (the sender
encodes its own track), then the streams engine (shared encoder, packets passed through).
The sender side runs on a loop thread of its own in both cases, the receiver on the main loop.

    python -m bench.video_latency [--seconds 15]

Target (DESIGN.md): p95 <= 100 ms. Bounded: about 2 x (seconds + 3) s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc import RTCPeerConnection

from bench.video_common import LoopThread, Receiver, bench_camera, percentile, raw_answer
from streams.engine import StreamEngine
from streams.registry import CameraRegistry
from streams.sources import SyntheticSource
from streams.stamp import elapsed_ms, read_stamp
from streams.tracks import SourceTrack

WARMUP = 2.0


async def run_raw(seconds: float) -> tuple[list[float], int, int]:
    sender = LoopThread("raw-sender")
    pcs: list[RTCPeerConnection] = []
    samples: list[float] = []
    unread = [0]
    receiver = Receiver(_make_hook(samples, unread))
    source = SyntheticSource("raw", "raw", stamp=True)
    source.start()
    offer = await receiver.offer()
    answer = await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(raw_answer(SourceTrack(source), offer, pcs), sender.loop)
    )
    await receiver.accept(answer)
    await asyncio.sleep(seconds + WARMUP)
    frames = receiver.frames
    await receiver.close()
    for pc in pcs:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(pc.close(), sender.loop))
    sender.stop()
    return samples, unread[0], frames


def _make_hook(samples: list[float], unread: list[int]) -> Callable[[av.VideoFrame], None]:
    """Reads the stamp of each frame after the warm-up into ``samples`` (ms)."""
    started = time.monotonic()

    def on_frame(frame: av.VideoFrame) -> None:
        now_ms = int(time.time() * 1000)
        if time.monotonic() - started < WARMUP:
            return
        luma = np.asarray(frame.to_ndarray(), dtype=np.uint8)[: frame.height]
        stamp = read_stamp(luma)
        if stamp is None:
            unread[0] += 1
        else:
            samples.append(float(elapsed_ms(stamp, now_ms)))

    return on_frame


async def run_engine(seconds: float) -> tuple[list[float], int, int, int]:
    camera = bench_camera("lat", "延迟", "Latency")
    engine = StreamEngine(
        CameraRegistry([camera]),
        source_factory=lambda c: SyntheticSource(c.id, c.name_en, stamp=True),
    ).start()
    samples: list[float] = []
    unread = [0]
    receiver = Receiver(_make_hook(samples, unread))
    offer = await receiver.offer()
    answer = await asyncio.wrap_future(engine.submit(engine.view("lat", offer, "offer", "full")))
    await receiver.accept(answer["sdp"])
    await asyncio.sleep(seconds + WARMUP)
    frames = receiver.frames
    encodes = engine.stats()["encoders"][0]["encode_calls"]
    await receiver.close()
    engine.stop()
    return samples, unread[0], frames, encodes


def line(name: str, samples: list[float], unread: int, frames: int, seconds: float) -> str:
    return (
        f"{name:<28} frames={frames:5d} fps={frames / (seconds + WARMUP):5.1f} "
        f"read={len(samples):5d} unread={unread:3d} "
        f"p50={percentile(samples, 50):6.1f} ms  p95={percentile(samples, 95):6.1f} ms  "
        f"p99={percentile(samples, 99):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    args, _ = parser.parse_known_args()  # bench/run.sh passes every benchmark its arguments
    seconds = min(args.seconds, 25.0)  # keeps the whole run under 60 s
    raw, raw_unread, raw_frames = asyncio.run(run_raw(seconds))
    ours, our_unread, our_frames, _ = asyncio.run(run_engine(seconds))
    print("glass-to-glass latency, loopback, 640x480 @ 25 fps, VP8")
    print(line("raw aiortc pair", raw, raw_unread, raw_frames, seconds))
    print(line("streams engine (shared enc)", ours, our_unread, our_frames, seconds))
    p95 = percentile(ours, 95)
    ratio = p95 / percentile(raw, 95)
    verdict = "PASS" if p95 <= 100 else "FAIL"
    print(f"engine p95 {p95:.1f} ms (target <= 100 ms: {verdict}); ratio to raw p95: {ratio:.2f}")


if __name__ == "__main__":
    main()
