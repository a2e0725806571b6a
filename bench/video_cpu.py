"""CPU of the sending side for one camera watched by 1 and by 8 viewers, 640x480 @ 25 fps.

Receivers live in a child process, so the figure is the sender process alone (source drawing,
encoding, RTP). Two sides in the same run:
  raw aiortc: one source track shared with ``MediaRelay`` (yuv420p, unbuffered); every sender
              encodes it again (what plain aiortc does);
  engine:     the streams engine, one shared encoder whose packets every viewer passes on.

    python -m bench.video_cpu [--seconds 8]

Target (DESIGN.md): engine CPU with 8 viewers <= 3 x with 1. Bounded: 4 x (seconds + ~4) s.
"""

from __future__ import annotations

import argparse

from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaRelay

from bench.video_common import LoopThread, ViewerProcess, bench_camera, close_all, raw_answer
from streams.engine import StreamEngine
from streams.registry import CameraRegistry
from streams.sources import SyntheticSource
from streams.tracks import SourceTrack

WARMUP = 3.0


def measure(kind: str, n: int, seconds: float) -> tuple[float, list[int]]:
    """CPU share of one core used by this process while ``n`` viewers watch one camera."""
    viewers = ViewerProcess(n)
    offers = viewers.offers
    engine: StreamEngine | None = None
    sender: LoopThread | None = None
    pcs: list[RTCPeerConnection] = []
    try:
        if kind == "engine":
            camera = bench_camera("cpu", "CPU", "CPU")
            engine = StreamEngine(CameraRegistry([camera])).start()
            answers = [
                engine.call(engine.view("cpu", offer, "offer", "full"))["sdp"] for offer in offers
            ]
        else:
            sender = LoopThread("raw-sender")
            source = SyntheticSource("raw", "raw")
            source.start()
            relay = MediaRelay()
            track = SourceTrack(source)

            async def answer_all() -> list[str]:
                return [
                    await raw_answer(relay.subscribe(track, buffered=False), offer, pcs)
                    for offer in offers
                ]

            answers = sender.run(answer_all())
        viewers.answer(answers)
        share, fps = viewers.measure(WARMUP, seconds)
        encodes = 0
        if engine is not None:
            encodes = sum(e["encode_calls"] for e in engine.stats()["encoders"])
        return share, [round(f) for f in fps] + ([encodes] if engine is not None else [])
    finally:
        viewers.stop()
        if engine is not None:
            engine.stop()
        if sender is not None:
            sender.run(close_all(pcs))
            sender.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    args, _ = parser.parse_known_args()  # bench/run.sh passes every benchmark its arguments
    seconds = min(args.seconds, 10.0)  # keeps the whole run under 60 s
    results: dict[tuple[str, int], float] = {}
    print("sender CPU (share of one core), one camera 640x480 @ 25 fps, VP8")
    for kind in ("raw", "engine"):
        for n in (1, 8):
            share, extra = measure(kind, n, seconds)
            results[kind, n] = share
            fps = extra[:n]
            note = f" encodes={extra[n]}" if kind == "engine" else ""
            print(
                f"{kind:<7} viewers={n}  cpu={share * 100:6.1f}%  "
                f"viewer fps min/max={min(fps)}/{max(fps)}{note}"
            )
    raw_ratio = results["raw", 8] / results["raw", 1]
    our_ratio = results["engine", 8] / results["engine", 1]
    verdict = "PASS" if our_ratio <= 3 else "FAIL"
    print(
        f"8-viewer / 1-viewer CPU: raw aiortc {raw_ratio:.2f}x, engine {our_ratio:.2f}x "
        f"(target <= 3x: {verdict}); engine 8 viewers vs raw 8: "
        f"{results['engine', 8] / results['raw', 8]:.2f}x"
    )


if __name__ == "__main__":
    main()
