"""SDP offer checks: what is refused, and that a real aiortc offer passes."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from streams.errors import InvalidSdp, PayloadTooLarge
from streams.sdp import MAX_SDP_BYTES, validate_offer


def real_offer(kinds: tuple[str, ...] = ("video",)) -> str:
    async def make() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for kind in kinds:
            pc.addTransceiver(kind, direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def test_a_real_offer_passes() -> None:
    parsed = validate_offer(real_offer())
    assert [m.kind for m in parsed.media] == ["video"]


@pytest.mark.parametrize(
    ("sdp", "kind", "reason"),
    [
        (None, "offer", "non-empty"),
        ("", "offer", "non-empty"),
        ("hello", "offer", "v=0"),
        ("v=0\r\n", "answer", "type"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "offer", "no audio or video"),
    ],
)
def test_refused(sdp: object, kind: str, reason: str) -> None:
    with pytest.raises(InvalidSdp, match=reason):
        validate_offer(sdp, kind)


def test_audio_only_offer_needs_video_for_a_camera() -> None:
    sdp = real_offer(("audio",))
    with pytest.raises(InvalidSdp, match="no video"):
        validate_offer(sdp)
    validate_offer(sdp, need_video=False)


def test_missing_fingerprint_and_credentials() -> None:
    sdp = real_offer()
    no_fp = "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("a=fingerprint"))
    with pytest.raises(InvalidSdp, match="fingerprint"):
        validate_offer(no_fp)
    no_pwd = "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("a=ice-pwd"))
    with pytest.raises(InvalidSdp, match="ICE"):
        validate_offer(no_pwd)


def test_no_vp8_is_refused() -> None:
    sdp = real_offer()
    lines = [ln for ln in sdp.split("\r\n") if "VP8" not in ln]
    with pytest.raises(InvalidSdp, match="VP8"):
        validate_offer("\r\n".join(lines))


def test_oversized() -> None:
    with pytest.raises(PayloadTooLarge):
        validate_offer("v=0\r\n" + "a=x\r\n" * (MAX_SDP_BYTES // 5 + 1))
