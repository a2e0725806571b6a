"""A call between a commander and a station, both Python aiortc peers, through the API and
the /video namespace; recording during the call is decodable."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack
from flask import Flask

from streams import web
from streams.sources import SyntheticSource
from streams.tracks import SourceTrack
from tests.integration.streams.apptools import make_app
from tests.integration.streams.conftest import wait_for

STATION = "st-990101001"


class Party:
    """A browser stand-in: publishes a synthetic camera and silence, counts what it gets."""

    def __init__(self, label: str, receive_slots: int = 1) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        source = SyntheticSource(label, label)
        source.start()
        self.pc.addTransceiver(SourceTrack(source, 320, 240), direction="sendrecv")
        self.pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
        for _ in range(receive_slots - 1):
            self.pc.addTransceiver("video", direction="recvonly")
            self.pc.addTransceiver("audio", direction="recvonly")
        self.video = 0
        self.audio = 0
        self.sizes: set[tuple[int, int]] = set()
        self.per_track: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if isinstance(frame, av.VideoFrame):
                self.video += 1
                self.per_track[track.id] = self.per_track.get(track.id, 0) + 1
                self.sizes.add((frame.width, frame.height))
            else:
                self.audio += 1

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()


def _post(app: Flask, user: str, url: str, body: dict[str, Any]) -> Any:
    c = app.test_client()
    c.environ_base["HTTP_X_TEST_USER"] = user
    r = c.post(url, json=body)
    return r.status_code, r.get_json()


async def join_media(app: Flask, call_id: int) -> tuple[Party, Party]:
    """The commander and the station each post their offer to the call's media endpoint."""
    commander, station = Party("commander"), Party("station")
    for party, user, sid in ((commander, "commander", None), (station, "station", STATION)):
        sdp = await party.offer()
        status, answer = await asyncio.to_thread(
            _post, app, user, f"/api/v1/calls/{call_id}/media", {"station_id": sid, "sdp": sdp}
        )
        assert status == 200, answer
        await party.accept(answer)
    return commander, station


def test_commander_calls_a_station_and_records(tmp_path: Path) -> None:
    app, socketio, link, _ = make_app(tmp_path)
    try:
        station_sock = socketio.test_client(
            app, namespace="/video", headers={"X-Test-User": "station"}
        )
        ack = station_sock.emit(
            "station_register", {"station_id": STATION}, namespace="/video", callback=True
        )
        assert ack["ok"], ack
        # Another township's user cannot register this station.
        other = socketio.test_client(app, namespace="/video", headers={"X-Test-User": "station2"})
        bad = other.emit(
            "station_register", {"station_id": STATION}, namespace="/video", callback=True
        )
        assert not bad["ok"] and bad["error"]["code"] == "unknown_camera"

        status, call = _post(
            app, "commander", "/api/v1/calls", {"stations": [STATION], "case_id": 5}
        )
        assert status == 201 and call["state"] == "ringing"
        rings = [m for m in station_sock.get_received("/video") if m["name"] == "call_ring"]
        assert rings and rings[0]["args"][0]["call"]["id"] == call["id"]

        # A station may not publish before accepting.
        status, _body = _post(
            app,
            "station",
            f"/api/v1/calls/{call['id']}/media",
            {"station_id": STATION, "sdp": "v=0"},
        )
        assert status == 409

        ack = station_sock.emit(
            "call_accept",
            {"call_id": call["id"], "station_id": STATION},
            namespace="/video",
            callback=True,
        )
        assert ack["ok"] and ack["call"]["state"] == "active", ack

        async def media() -> dict[str, Any]:
            commander, station = await join_media(app, call["id"])
            await wait_for(lambda: commander.video >= 10 and station.video >= 10, within=20)
            await wait_for(lambda: commander.audio >= 10 and station.audio >= 10, within=10)
            status, rec = await asyncio.to_thread(
                _post, app, "commander", f"/api/v1/calls/{call['id']}/recording", {"on": True}
            )
            assert status == 200 and rec["recording"], rec
            await asyncio.sleep(2.5)
            status, rec = await asyncio.to_thread(
                _post, app, "commander", f"/api/v1/calls/{call['id']}/recording", {"on": False}
            )
            assert status == 200
            result = {"commander": commander.video, "station": station.video}
            await commander.close()
            await station.close()
            return result

        counts = asyncio.run(media())
        assert counts["commander"] >= 10 and counts["station"] >= 10

        notices = [m["name"] for m in station_sock.get_received("/video")]
        assert "recording_notice" in notices  # announced to the station before it started

        c = app.test_client()
        c.environ_base["HTTP_X_TEST_USER"] = "commander"
        recs = c.get("/api/v1/recordings?case_id=5").get_json()["recordings"]
        assert len(recs) == 1
        path = tmp_path / "data" / "recordings" / recs[0]["name"]
        with av.open(str(path)) as container:
            kinds = {s.type for s in container.streams}
            frames = sum(1 for _ in container.decode(video=0))
        assert kinds == {"video", "audio"}
        assert frames >= 5  # up to ~34 (2.3 s at 15 fps); fewer when the machine is busy
        with c.get(recs[0]["url"], headers={"Range": "bytes=0-99"}) as r:
            assert r.status_code == 206

        status, ended = _post(app, "commander", f"/api/v1/calls/{call['id']}/hangup", {})
        assert status == 200 and ended["state"] == "ended"
        kinds_logged = [k for _, k, _ in link.events]
        assert kinds_logged[0] == "video_call_started"
        assert "video_call_recording_started" in kinds_logged
        assert kinds_logged[-1] == "video_call_ended"
        assert [a[1] for a in link.attachments] == ["recording"]
        station_sock.disconnect(namespace="/video")
        other.disconnect(namespace="/video")
    finally:
        web.shutdown(app)
        time.sleep(0.1)
    # After a restart the recording is still listed, to the parties only.
    again, _, _, _ = make_app(tmp_path)
    try:
        for user, expected in (("commander", 1), ("station", 1), ("station2", 0)):
            c = again.test_client()
            c.environ_base["HTTP_X_TEST_USER"] = user
            assert len(c.get("/api/v1/recordings").get_json()["recordings"]) == expected, user
    finally:
        web.shutdown(again)


def test_station_declines(tmp_path: Path) -> None:
    app, socketio, _, _ = make_app(tmp_path)
    try:
        status, call = _post(app, "commander", "/api/v1/calls", {"stations": [STATION]})
        assert status == 201
        status, body = _post(
            app, "station", f"/api/v1/calls/{call['id']}/decline", {"station_id": STATION}
        )
        assert status == 200 and body["state"] == "ended"
        assert body["legs"][0]["state"] == "declined"
        status, body = _post(
            app, "station", f"/api/v1/calls/{call['id']}/accept", {"station_id": STATION}
        )
        assert status == 409
        # A second call: accepted, then the station leaves over Socket.IO, which ends it.
        sock = socketio.test_client(app, namespace="/video", headers={"X-Test-User": "station"})
        status, call = _post(app, "commander", "/api/v1/calls", {"stations": [STATION]})
        ack = sock.emit(
            "call_accept",
            {"call_id": call["id"], "station_id": STATION},
            namespace="/video",
            callback=True,
        )
        assert ack["ok"]
        ack = sock.emit(
            "call_hangup",
            {"call_id": call["id"], "station_id": STATION},
            namespace="/video",
            callback=True,
        )
        assert ack["ok"] and ack["call"]["state"] == "ended", ack
        assert ack["call"]["legs"][0]["state"] == "ended"
        bad = sock.emit("call_accept", {"call_id": "nope"}, namespace="/video", callback=True)
        assert not bad["ok"] and bad["error"]["code"] == "bad_request"
        sock.disconnect(namespace="/video")
    finally:
        web.shutdown(app)


def test_only_callers_call_and_only_stations_in_scope(tmp_path: Path) -> None:
    app, _, _, _ = make_app(tmp_path)
    try:
        assert _post(app, "station", "/api/v1/calls", {"stations": [STATION]})[0] == 403
        assert _post(app, "county2", "/api/v1/calls", {"stations": [STATION]})[0] == 404
        assert _post(app, "commander", "/api/v1/calls", {"stations": ["ks-001"]})[0] == 409
        assert _post(app, "commander", "/api/v1/calls", {"stations": "x"})[0] == 400
    finally:
        web.shutdown(app)


def test_conference_of_two_stations_recorded_until_hang_up(tmp_path: Path) -> None:
    app, _, link, _ = make_app(tmp_path)
    stations = [STATION, "st-990101002"]
    users = {STATION: "station", "st-990101002": "station2"}
    try:
        status, call = _post(
            app, "commander", "/api/v1/calls", {"stations": stations, "case_id": 9}
        )
        assert status == 201
        for sid in stations:
            status, _ = _post(
                app, users[sid], f"/api/v1/calls/{call['id']}/accept", {"station_id": sid}
            )
            assert status == 200

        async def media() -> tuple[Party, dict[str, Party]]:
            commander = Party("commander", receive_slots=2)
            parties = {sid: Party(sid) for sid in stations}
            for party, user, sid in [(commander, "commander", None)] + [
                (parties[s], users[s], s) for s in stations
            ]:
                sdp = await party.offer()
                status, answer = await asyncio.to_thread(
                    _post,
                    app,
                    user,
                    f"/api/v1/calls/{call['id']}/media",
                    {"station_id": sid, "sdp": sdp},
                )
                assert status == 200, answer
                await party.accept(answer)
            return commander, parties

        async def run() -> dict[str, int]:
            commander, parties = await media()
            # The commander receives both stations (two video slots), each station the commander.
            await wait_for(
                lambda: (
                    len(commander.per_track) == 2
                    and min(commander.per_track.values()) >= 10
                    and all(p.video >= 10 for p in parties.values())
                ),
                within=20,
            )
            status, _ = await asyncio.to_thread(
                _post, app, "commander", f"/api/v1/calls/{call['id']}/recording", {"on": True}
            )
            assert status == 200
            await asyncio.sleep(1.5)
            status, ended = await asyncio.to_thread(
                _post, app, "commander", f"/api/v1/calls/{call['id']}/hangup", {}
            )
            assert ended["state"] == "ended"
            counts = {"commander": commander.video, **{s: p.video for s, p in parties.items()}}
            for p in [commander, *parties.values()]:
                await p.close()
            return counts

        counts = asyncio.run(run())
        assert all(n >= 10 for n in counts.values()), counts
        assert [a[1] for a in link.attachments] == ["recording"]
        assert link.attachments[0][0] == 9
        with av.open(link.attachments[0][2]) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (640, 480)
            frames = list(container.decode(video=0))
        # Wall-clock stamps: however busy the machine, the video lasts about as long as the
        # recording ran (1.5 s less the 0.2 s announcement), even with frames dropped.
        assert len(frames) >= 2
        assert 0.6 <= float(frames[-1].time) <= 2.0
    finally:
        web.shutdown(app)


def test_an_unanswered_ring_is_missed(tmp_path: Path) -> None:
    from datetime import timedelta

    from streams.calls import CallService
    from streams.caselink import MemoryCaseLink
    from streams.engine import StreamEngine
    from streams.registry import Camera, CameraRegistry
    from tests.integration.streams.apptools import ACTORS, CAMERAS

    registry = CameraRegistry([Camera.model_validate(c) for c in CAMERAS])
    engine = StreamEngine(registry).start()
    sent: list[tuple[str, dict[str, Any], list[str]]] = []
    link = MemoryCaseLink()
    service = CallService(
        engine,
        registry,
        lambda e, p, r: sent.append((e, p, r)),
        link,
        tmp_path,
        ring_timeout=timedelta(seconds=0.2),
    )
    try:
        call = service.create(ACTORS["commander"], [STATION], case_id=4)
        deadline = time.monotonic() + 5
        while service.calls[call.id].state.value != "ended" and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = service.calls[call.id]
        assert ended.state.value == "ended" and ended.legs[0].state.value == "missed"
        assert sent[-1][0] == "call_state" and f"station:{STATION}" in sent[-1][2]
        assert [k for _, k, _ in link.events] == ["video_call_started", "video_call_ended"]
    finally:
        engine.stop()


def test_ended_calls_are_forgotten_after_an_hour(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from streams.calls import CallService
    from streams.caselink import MemoryCaseLink
    from streams.engine import StreamEngine
    from streams.registry import Camera, CameraRegistry
    from tests.integration.streams.apptools import ACTORS, CAMERAS

    now = [datetime(2026, 1, 1, 8, tzinfo=UTC)]
    registry = CameraRegistry([Camera.model_validate(c) for c in CAMERAS])
    engine = StreamEngine(registry).start()
    service = CallService(
        engine, registry, lambda e, p, r: None, MemoryCaseLink(), tmp_path, clock=lambda: now[0]
    )
    commander = ACTORS["commander"]
    try:
        first = service.create(commander, [STATION])
        service.hang_up(commander, first.id)
        now[0] += timedelta(minutes=59)
        service.create(commander, [STATION])
        assert first.id in service.calls
        now[0] += timedelta(minutes=2)
        service.create(commander, [STATION])
        assert first.id not in service.calls
    finally:
        engine.stop()
