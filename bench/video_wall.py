"""A 16-tile video wall: frames per second per tile, and the sender's CPU.

Sixteen synthetic cameras, one viewer each, receivers in a child process. In one run:
  raw aiortc pair:   one camera, 640x480, a plain aiortc sender (the per-pair reference);
  raw aiortc wall:   16 plain senders at full size 640x480 (what a naive wall costs);
  engine wall:       16 cameras through the streams engine at tile size 320x240.

    python -m bench.video_wall [--seconds 8]

Target (DESIGN.md): >= 15 fps on every tile on 2 cores. Bounded: 3 x (seconds + ~5) s.
"""

from __future__ import annotations

import argparse
import statistics

from aiortc import RTCPeerConnection

from bench.video_common import LoopThread, ViewerProcess, bench_camera, close_all, raw_answer
from streams.engine import StreamEngine
from streams.registry import CameraRegistry
from streams.sources import SyntheticSource
from streams.tracks import SourceTrack

WARMUP = 3.0
TILES = 16


def run(kind: str, n: int, seconds: float) -> tuple[float, list[float]]:
    viewers = ViewerProcess(n)
    offers = viewers.offers
    engine: StreamEngine | None = None
    sender: LoopThread | None = None
    pcs: list[RTCPeerConnection] = []
    try:
        if kind == "engine":
            cameras = [bench_camera(f"w{i:02d}", f"墙{i}", f"Wall {i}") for i in range(n)]
            engine = StreamEngine(CameraRegistry(cameras)).start()
            answers = [
                engine.call(engine.view(c.id, offer, "offer", "tile"))["sdp"]
                for c, offer in zip(cameras, offers, strict=True)
            ]
        else:
            sender = LoopThread("raw-sender")

            async def answer_all() -> list[str]:
                out = []
                for i, offer in enumerate(offers):
                    source = SyntheticSource(f"r{i}", f"Raw {i}", seed=i)
                    source.start()
                    out.append(await raw_answer(SourceTrack(source), offer, pcs))
                return out

            answers = sender.run(answer_all())
        viewers.answer(answers)
        return viewers.measure(WARMUP, seconds)
    finally:
        viewers.stop()
        if engine is not None:
            engine.stop()
        if sender is not None:
            sender.run(close_all(pcs))
            sender.stop()


def line(name: str, cpu: float, fps: list[float]) -> str:
    return (
        f"{name:<32} tiles={len(fps):2d} fps min={min(fps):5.1f} median={statistics.median(fps):5.1f}"
        f"  sender cpu={cpu * 100:6.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    args, _ = parser.parse_known_args()  # bench/run.sh passes every benchmark its arguments
    seconds = min(args.seconds, 10.0)
    print("video wall, synthetic cameras @ 25 fps, VP8, receivers in a child process")
    cpu, fps = run("raw", 1, seconds)
    print(line("raw aiortc pair (640x480)", cpu, fps))
    cpu, fps = run("raw", TILES, seconds)
    print(line("raw aiortc wall (16 x 640x480)", cpu, fps))
    cpu, fps = run("engine", TILES, seconds)
    print(line("engine wall (16 x 320x240)", cpu, fps))
    verdict = "PASS" if min(fps) >= 15 else "FAIL"
    print(f"engine wall slowest tile {min(fps):.1f} fps (target >= 15 fps: {verdict})")


if __name__ == "__main__":
    main()
