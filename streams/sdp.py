"""Checks on SDP offers before they reach aiortc: size, shape, media and codecs."""

from __future__ import annotations

from aiortc import sdp as aiortc_sdp

from streams.errors import InvalidSdp, PayloadTooLarge

#: A browser offer with audio, video and a data channel is 4-8 KB; anything near this is abuse.
MAX_SDP_BYTES = 32 * 1024


def validate_offer(
    sdp: object, kind: object = "offer", need_video: bool = True, need_vp8: bool = True
) -> aiortc_sdp.SessionDescription:
    """Parse and check an offer; raise ``InvalidSdp`` / ``PayloadTooLarge`` with the reason."""
    if isinstance(sdp, str) and len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise PayloadTooLarge("sdp is too large", limit=MAX_SDP_BYTES)
    if kind != "offer":
        raise InvalidSdp("type must be 'offer'", field="type")
    if not isinstance(sdp, str) or not sdp.strip():
        raise InvalidSdp("sdp must be a non-empty string", field="sdp")
    if not sdp.lstrip().startswith("v=0"):
        raise InvalidSdp("sdp must start with v=0", field="sdp")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as err:  # the parser raises assorted errors on garbage
        raise InvalidSdp(f"sdp does not parse: {type(err).__name__}", field="sdp") from err
    media = [m for m in parsed.media if m.kind in ("audio", "video")]
    if not media:
        raise InvalidSdp("offer has no audio or video section", field="sdp")
    for m in media:
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise InvalidSdp("offer has no ICE credentials", field="sdp")
        if not m.dtls or not m.dtls.fingerprints:
            raise InvalidSdp("offer has no DTLS fingerprint", field="sdp")
    video = [m for m in media if m.kind == "video"]
    if need_video and not video:
        raise InvalidSdp("offer has no video section", field="sdp")
    if need_vp8:
        for m in video:
            if not any(c.mimeType.lower() == "video/vp8" for c in m.rtp.codecs):
                raise InvalidSdp("offer does not accept VP8 video", field="sdp")
    return parsed
