"""Real aiortc viewers against the engine: frames arrive, and 8 viewers share one encoder."""

from __future__ import annotations

import asyncio

import pytest

from streams.engine import StreamEngine
from tests.integration.streams.conftest import PyViewer, on_engine, wait_for


async def _connect(engine: StreamEngine, camera_id: str, size: str = "tile") -> PyViewer:
    viewer = PyViewer()
    answer = await on_engine(engine, engine.view(camera_id, await viewer.offer(), "offer", size))
    await viewer.accept(answer)
    viewer.viewer_id = answer["viewer_id"]
    return viewer


def test_viewer_receives_frames_of_the_right_size(engine: StreamEngine) -> None:
    async def main() -> None:
        viewer = await _connect(engine, "cam-0", "full")
        await wait_for(lambda: viewer.count >= 10)
        assert (viewer.frames[-1].width, viewer.frames[-1].height) == (640, 480)
        await viewer.close()

    asyncio.run(main())


def test_eight_viewers_share_one_encoder(engine: StreamEngine) -> None:
    async def main() -> None:
        viewers = [await _connect(engine, "cam-1") for _ in range(8)]
        await wait_for(lambda: all(v.count >= 25 for v in viewers), within=20)
        stats = engine.stats()
        encoders = [e for e in stats["encoders"] if e["camera_id"] == "cam-1"]
        assert len(encoders) == 1
        assert encoders[0]["subscribers"] == 8
        received = min(v.count for v in viewers)
        # Each frame was encoded once for all: encode calls track what one viewer received,
        # not eight times that.
        assert encoders[0]["encode_calls"] < 2 * received + 30
        for v in viewers:
            await v.close()
            await on_engine(engine, engine.close_viewer(v.viewer_id))
        assert engine.stats()["viewers"] == 0
        assert all(e["subscribers"] == 0 for e in engine.stats()["encoders"])

    asyncio.run(main())


def test_viewer_closing_its_peer_is_freed(engine: StreamEngine) -> None:
    async def main() -> None:
        viewer = await _connect(engine, "cam-2")
        await wait_for(lambda: viewer.count >= 3)
        await viewer.close()
        # aiortc sees the DTLS close and the engine drops the viewer on its own.
        await wait_for(lambda: engine.stats()["viewers"] == 0, within=40)

    asyncio.run(main())


@pytest.mark.parametrize("sdp", ["", "hello", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"])
def test_bad_offers_are_refused_and_streams_keep_running(engine: StreamEngine, sdp: str) -> None:
    from streams.errors import InvalidSdp

    async def main() -> None:
        viewer = await _connect(engine, "cam-3")
        with pytest.raises(InvalidSdp):
            await on_engine(engine, engine.view("cam-3", sdp))
        before = viewer.count
        await wait_for(lambda: viewer.count > before + 5)
        await viewer.close()

    asyncio.run(main())


def test_viewer_limit_is_a_clear_503() -> None:
    from streams.errors import Unavailable
    from streams.registry import CameraRegistry
    from tests.integration.streams.conftest import demo_cameras

    engine = StreamEngine(CameraRegistry(demo_cameras()), max_viewers=1).start()

    async def main() -> None:
        first = await _connect(engine, "cam-0")
        second = PyViewer()
        with pytest.raises(Unavailable) as info:
            await on_engine(engine, engine.view("cam-0", await second.offer()))
        assert info.value.status == 503
        await second.close()
        await wait_for(lambda: first.count >= 3)
        await first.close()

    try:
        asyncio.run(main())
    finally:
        engine.stop()


def test_a_stopped_engine_is_unavailable() -> None:
    from streams.errors import Unavailable
    from streams.registry import CameraRegistry
    from tests.integration.streams.conftest import demo_cameras

    engine = StreamEngine(CameraRegistry(demo_cameras()))
    try:
        with pytest.raises(Unavailable):
            engine.call(engine.close_viewer("x"))
    finally:
        engine.stop()


def test_encoder_resumes_after_all_viewers_left(engine: StreamEngine) -> None:
    """Regression: the codec outlives a pause, so its timestamps must keep increasing."""

    async def main() -> None:
        first = await _connect(engine, "cam-0")
        await wait_for(lambda: first.count >= 5)
        await first.close()
        await on_engine(engine, engine.close_viewer(first.viewer_id))
        await asyncio.sleep(0.3)
        second = await _connect(engine, "cam-0")
        await wait_for(lambda: second.count >= 5)
        await second.close()

    asyncio.run(main())
    encoder = engine.encoder("cam-0", "tile")
    assert encoder.errors == 0
