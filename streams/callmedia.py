"""Media of video calls: per-party peer connections and hubs, recorders, and where they run.

``LocalMedia`` runs them on this process's engine loop; ``RemoteMedia`` asks the streams
process (``python -m streams serve``) to do the same over signed HTTP, so calls work when the
web process must not run aiortc (a gevent worker). ``CallService`` only sees ``MediaBackend``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from itsdangerous import BadSignature, URLSafeTimedSerializer

from streams.engine import StreamEngine, prefer_vp8, rtc_configuration
from streams.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidSdp,
    NotFound,
    PayloadTooLarge,
    StreamError,
    Unavailable,
)
from streams.recording import CallRecorder
from streams.sdp import validate_offer

logger = logging.getLogger(__name__)

COMMANDER = "commander"

MediaFrame = av.VideoFrame | av.AudioFrame
Tap = Callable[[str, str, MediaFrame], None]


class HubTrack(MediaStreamTrack):
    """What one party receives of another: the newest frames of a hub."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.kind = hub.kind
        self._hub = hub
        self._queue: asyncio.Queue[MediaFrame | None] = asyncio.Queue()

    def put(self, frame: MediaFrame) -> None:
        if self._queue.qsize() >= self._hub.max_queue:
            self._queue.get_nowait()  # late: drop the oldest rather than grow
        self._queue.put_nowait(frame)

    async def recv(self) -> MediaFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            self._hub.tracks.discard(self)
            self._queue.put_nowait(None)
        super().stop()


class Hub:
    """One party's incoming media of one kind, fanned out to the parties that receive it."""

    def __init__(self, party: str, kind: str) -> None:
        self.party = party
        self.kind = kind
        self.max_queue = 2 if kind == "video" else 25
        self.tracks: set[HubTrack] = set()
        self.taps: list[Tap] = []
        self.frames = 0
        self._pump: asyncio.Task[None] | None = None

    def subscribe(self) -> HubTrack:
        track = HubTrack(self)
        self.tracks.add(track)
        return track

    def attach(self, source: MediaStreamTrack) -> None:
        """Start forwarding ``source`` (the party's published track); replaces an older one."""
        if self._pump is not None:
            self._pump.cancel()
        self._pump = asyncio.ensure_future(self._run(source))

    async def _run(self, source: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await source.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.VideoFrame | av.AudioFrame)
            self.frames += 1
            for track in list(self.tracks):
                track.put(frame)
            for tap in list(self.taps):
                tap(self.party, self.kind, frame)

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        for track in list(self.tracks):
            track.stop()


class CallMedia:
    """The peer connections and hubs of one call (lives on the engine loop)."""

    def __init__(self, call_id: str, stations: list[str]) -> None:
        self.call_id = call_id
        self.stations = stations
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.hubs: dict[tuple[str, str], Hub] = {}

    def hub(self, party: str, kind: str) -> Hub:
        key = (party, kind)
        if key not in self.hubs:
            self.hubs[key] = Hub(party, kind)
        return self.hubs[key]

    def counterparts(self, party: str) -> list[str]:
        return list(self.stations) if party == COMMANDER else [COMMANDER]

    async def connect(self, party: str, sdp: object) -> str:
        """Answer ``party``'s offer; its m-lines of each kind are filled with the media of its
        counterparts in order (for the commander: station 1, station 2, ...)."""
        parsed = validate_offer(sdp, "offer", need_video=False, need_vp8=False)
        assert isinstance(sdp, str)
        old = self.pcs.pop(party, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(rtc_configuration())
        self.pcs[party] = pc
        slots = {"audio": 0, "video": 0}
        others = self.counterparts(party)
        for media in parsed.media:
            if media.kind not in slots:
                continue
            index = slots[media.kind]
            slots[media.kind] += 1
            if index < len(others):
                track: MediaStreamTrack | str = self.hub(others[index], media.kind).subscribe()
            else:
                track = media.kind
            transceiver = pc.addTransceiver(track, direction="sendrecv")
            if media.kind == "video":
                prefer_vp8(transceiver)
        published: set[str] = set()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            # Only the first track of each kind is the party's own camera/microphone.
            if track.kind not in published:
                published.add(track.kind)
                self.hub(party, track.kind).attach(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "failed":
                await pc.close()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def drop(self, party: str) -> None:
        pc = self.pcs.pop(party, None)
        if pc is not None:
            await pc.close()
        for kind in ("audio", "video"):
            hub = self.hubs.pop((party, kind), None)
            if hub is not None:
                hub.close()

    async def close(self) -> None:
        for pc in list(self.pcs.values()):
            await pc.close()
        self.pcs.clear()
        for hub in self.hubs.values():
            hub.close()
        self.hubs.clear()


class MediaBackend(Protocol):
    """Where a call's media runs. Every method is called from ordinary threads."""

    def connect(self, call_id: str, stations: list[str], party: str, sdp: object) -> str: ...

    def drop(self, call_id: str, party: str) -> None: ...

    def close(self, call_id: str) -> None: ...

    def start_recording(
        self, call_id: str, parties: list[str], labels: list[str], delay: float
    ) -> str: ...

    def stop_recording(self, call_id: str) -> dict[str, Any] | None: ...

    async def close_all(self) -> None: ...


class LocalMedia:
    """Call media on this process's engine loop; recorders on threads of their own."""

    def __init__(self, engine: StreamEngine, recordings_dir: Path) -> None:
        self.engine = engine
        self.recordings_dir = recordings_dir
        self._media: dict[str, CallMedia] = {}
        self._recorders: dict[str, CallRecorder] = {}

    def _get(self, call_id: str, stations: list[str] | None = None) -> CallMedia:
        media = self._media.get(call_id)
        if media is None:
            if stations is None:
                raise Conflict("the call has no media", call_id=call_id)
            media = self._media[call_id] = CallMedia(call_id, list(stations))
        return media

    def connect(self, call_id: str, stations: list[str], party: str, sdp: object) -> str:
        return self.engine.call(self._get(call_id, stations).connect(party, sdp))

    def drop(self, call_id: str, party: str) -> None:
        media = self._media.get(call_id)
        if media is not None:
            self.engine.submit(media.drop(party))

    def close(self, call_id: str) -> None:
        self.stop_recording(call_id)
        media = self._media.pop(call_id, None)
        if media is not None:
            self.engine.submit(media.close())

    def start_recording(
        self, call_id: str, parties: list[str], labels: list[str], delay: float
    ) -> str:
        media = self._get(call_id, parties[1:])
        recorder = CallRecorder(
            self.recordings_dir, call_id, parties, start_delay=delay, labels=labels
        )
        self._recorders[call_id] = recorder

        async def attach() -> None:
            for party in parties:
                for kind in ("audio", "video"):
                    media.hub(party, kind).taps.append(recorder.feed)

        self.engine.call(attach())
        recorder.start()
        return recorder.path.name

    def stop_recording(self, call_id: str) -> dict[str, Any] | None:
        recorder = self._recorders.pop(call_id, None)
        if recorder is None:
            return None
        media = self._media.get(call_id)
        if media is not None:

            async def detach() -> None:
                for hub in media.hubs.values():
                    if recorder.feed in hub.taps:
                        hub.taps.remove(recorder.feed)

            self.engine.submit(detach())
        return recorder.stop()

    async def close_all(self) -> None:
        for call_id in list(self._recorders):
            recorder = self._recorders.pop(call_id)
            await asyncio.to_thread(recorder.stop)
        for media in list(self._media.values()):
            await media.close()
        self._media.clear()


CONTROL_SALT = "cc-video-control"
#: Errors the streams process answers, back to the same exception in the web process.
_ERRORS: dict[str, type[StreamError]] = {
    cls.code: cls
    for cls in (BadRequest, Conflict, Forbidden, InvalidSdp, NotFound, PayloadTooLarge, Unavailable)
}


def sign_control(secret: str, payload: dict[str, Any]) -> str:
    return URLSafeTimedSerializer(secret, salt=CONTROL_SALT).dumps(payload)


def read_control(secret: str, signed: object, max_age: int = 60) -> dict[str, Any]:
    if not isinstance(signed, str):
        raise Forbidden("a signed control message is required")
    try:
        data = URLSafeTimedSerializer(secret, salt=CONTROL_SALT).loads(signed, max_age=max_age)
    except BadSignature as err:
        raise Forbidden("the control message is not valid") from err
    if not isinstance(data, dict):
        raise Forbidden("the control message is not valid")
    return data


class RemoteMedia:
    """Call media in the streams process, driven over HTTP with signed messages."""

    def __init__(self, base_url: str, secret: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = timeout

    def _post(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"signed": sign_control(self._secret, {"op": op, **payload})}).encode()
        req = urllib.request.Request(
            f"{self.base_url}/streams/api/v1/control/{op}",
            body,
            {"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                data = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            with err:
                try:
                    error = json.loads(err.read())["error"]
                except (ValueError, KeyError, TypeError):
                    raise Unavailable(f"streams process answered {err.code}") from err
            cls = _ERRORS.get(error.get("code"), StreamError)
            raise cls(error.get("message", "streams process error")) from err
        except (urllib.error.URLError, OSError) as err:
            raise Unavailable("the streams process does not answer") from err
        return data if isinstance(data, dict) else {}

    def connect(self, call_id: str, stations: list[str], party: str, sdp: object) -> str:
        answer = self._post(
            "connect", {"call_id": call_id, "stations": stations, "party": party, "sdp": sdp}
        )
        return str(answer["sdp"])

    def drop(self, call_id: str, party: str) -> None:
        self._quiet("drop", {"call_id": call_id, "party": party})

    def close(self, call_id: str) -> None:
        self._quiet("close", {"call_id": call_id})

    def start_recording(
        self, call_id: str, parties: list[str], labels: list[str], delay: float
    ) -> str:
        data = self._post(
            "record_start",
            {"call_id": call_id, "parties": parties, "labels": labels, "delay": delay},
        )
        return str(data["name"])

    def stop_recording(self, call_id: str) -> dict[str, Any] | None:
        data = self._post("record_stop", {"call_id": call_id})
        info = data.get("recording")
        return info if isinstance(info, dict) else None

    def _quiet(self, op: str, payload: dict[str, Any]) -> None:
        try:
            self._post(op, payload)
        except StreamError:
            logger.warning("streams process: %s failed for call %s", op, payload.get("call_id"))

    async def close_all(self) -> None:
        """The streams process owns its media; nothing to close here."""


def control(media: LocalMedia, op: str, msg: dict[str, Any]) -> dict[str, Any]:
    """What the streams process does for one control message (see ``RemoteMedia``)."""
    call_id = str(msg.get("call_id", ""))
    if not call_id:
        raise BadRequest("call_id is required")

    def drop() -> dict[str, Any]:
        media.drop(call_id, str(msg.get("party")))
        return {}

    def close() -> dict[str, Any]:
        media.close(call_id)
        return {}

    handlers: dict[str, Callable[[], dict[str, Any]]] = {
        "connect": lambda: {
            "sdp": media.connect(
                call_id, list(msg.get("stations", [])), str(msg.get("party")), msg.get("sdp")
            )
        },
        "drop": drop,
        "close": close,
        "record_start": lambda: {
            "name": media.start_recording(
                call_id,
                list(msg.get("parties", [])),
                list(msg.get("labels", [])),
                float(msg.get("delay", 3.0)),
            )
        },
        "record_stop": lambda: {"recording": media.stop_recording(call_id)},
    }
    handler = handlers.get(op)
    if handler is None:
        raise BadRequest(f"unknown operation {op!r}")
    return handler()
