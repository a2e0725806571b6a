"""Video dispatch calls: a commander and township stations, media relayed through the server.

Each party (the commander, each station) has ONE peer connection with the server, publishing
its camera and microphone. The server forwards what it receives through ``Hub``s: the commander
receives every station (one receive slot per station, in the order of the call's stations, so
the conference needs no renegotiation), each station receives the commander. Relaying through
the server (rather than browser to browser) means one ICE path per browser, the same
``iceServers=[]`` policy as the cameras, and a recorder that can tap every party.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dispatch.domain.codes import Role
from dispatch.services.context import Actor
from streams import callstate
from streams.callmedia import COMMANDER, LocalMedia, MediaBackend
from streams.callstate import Call, CallState, LegState
from streams.caselink import CaseLink
from streams.engine import StreamEngine
from streams.errors import Conflict, Forbidden, NotFound
from streams.registry import CameraKind, CameraRegistry

logger = logging.getLogger(__name__)

__all__ = ["COMMANDER", "CallService"]
#: Roles that may place calls.
CALLER_ROLES = frozenset({Role.COMMANDER, Role.DUTY_OFFICER, Role.LEADER, Role.ADMIN})
MAX_STATIONS = 8
#: Ended calls stay queryable this long.
KEEP_ENDED = timedelta(hours=1)

#: (event, payload, rooms): how the service tells browsers (Socket.IO) and the hall (bus).
Notifier = Callable[[str, dict[str, Any], list[str]], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CallService:
    """Places, answers and ends calls; thread-safe, called from Flask and Socket.IO handlers."""

    def __init__(
        self,
        engine: StreamEngine,
        registry: CameraRegistry,
        notify: Notifier,
        case_link: CaseLink,
        recordings_dir: Path,
        *,
        clock: Callable[[], datetime] = _utcnow,
        announce_delay: float = 3.0,
        ring_timeout: timedelta = callstate.RING_TIMEOUT,
        media: MediaBackend | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self._notify = notify
        self._case_link = case_link
        self.recordings_dir = recordings_dir
        self._clock = clock
        self.announce_delay = announce_delay
        self.ring_timeout = ring_timeout
        self._lock = threading.RLock()
        self.calls: dict[str, Call] = {}
        #: Where the media runs: this process's engine, or the streams process.
        self.media: MediaBackend = media or LocalMedia(engine, recordings_dir)
        self._recording: set[str] = set()
        self._timers: dict[str, threading.Timer] = {}
        #: The caller of each call: recordings are attached to the case in their name.
        self._callers: dict[str, Actor] = {}
        #: Finished recordings (with a JSON sidecar beside each file, reloaded at start-up).
        self.recordings: list[dict[str, Any]] = self._load_recordings()
        engine.add_closer(self._close_all)

    # ------------------------------------------------------------------ queries
    def get(self, actor: Actor, call_id: str) -> Call:
        with self._lock:
            call = self.calls.get(call_id)
        if call is None or not self._is_party(actor, call):
            raise NotFound(f"unknown call {call_id!r}", call_id=call_id)
        return call

    def active_for(self, actor: Actor) -> list[Call]:
        with self._lock:
            calls = list(self.calls.values())
        return [c for c in calls if c.state is not CallState.ENDED and self._is_party(actor, c)]

    def _is_party(self, actor: Actor, call: Call) -> bool:
        if actor.user_id == call.commander_id:
            return True
        return any(self._may_answer(actor, leg.station_id) for leg in call.legs)

    def _may_answer(self, actor: Actor, station_id: str) -> bool:
        try:
            self.registry.get_visible(station_id, actor.scope)
        except NotFound:
            return False
        return True

    # ------------------------------------------------------------------ commands
    def create(self, actor: Actor, stations: list[str], case_id: int | None = None) -> Call:
        if actor.role not in CALLER_ROLES:
            raise Forbidden("this role cannot place video calls", role=str(actor.role))
        if not 1 <= len(stations) <= MAX_STATIONS:
            raise Conflict(f"call 1 to {MAX_STATIONS} stations", count=len(stations))
        for station_id in stations:
            camera = self.registry.get_visible(station_id, actor.scope)
            if camera.kind is not CameraKind.TOWNSHIP_STATION:
                raise Conflict(f"{station_id!r} is not a township station", station_id=station_id)
        self._prune()
        call = callstate.new_call(
            uuid.uuid4().hex[:16], actor.user_id, actor.username, stations, self._clock(), case_id
        )
        # Logged first: a case the caller may not see refuses the call before anything rings.
        self._log(actor, call, "video_call_started", {"stations": stations}, strict=True)
        with self._lock:
            self.calls[call.id] = call
            self._callers[call.id] = actor
        timer = threading.Timer(self.ring_timeout.total_seconds() + 0.05, self._expire, [call.id])
        timer.daemon = True
        timer.start()
        self._timers[call.id] = timer
        payload = {"call": call.as_dict()}
        self._notify("call_ring", payload, [f"station:{s}" for s in stations])
        self._notify("call_state", payload, [f"user:{actor.user_id}"])
        return call

    def _prune(self) -> None:
        """Forget calls that ended over an hour ago (their log is on the case, their
        recordings beside their sidecars)."""
        horizon = self._clock() - KEEP_ENDED
        with self._lock:
            for call_id in [
                c.id for c in self.calls.values() if c.ended_at is not None and c.ended_at < horizon
            ]:
                self.calls.pop(call_id, None)
                self._callers.pop(call_id, None)

    def _update(self, call_id: str, change: Callable[[Call], Call]) -> Call:
        with self._lock:
            call = self.calls.get(call_id)
            if call is None:
                raise NotFound(f"unknown call {call_id!r}", call_id=call_id)
            new = change(call)
            self.calls[call_id] = new
        self._notify("call_state", {"call": new.as_dict()}, self.rooms(new))
        return new

    def rooms(self, call: Call) -> list[str]:
        return [f"call:{call.id}", f"user:{call.commander_id}"] + [
            f"station:{leg.station_id}" for leg in call.legs
        ]

    def answer(self, actor: Actor, call_id: str, station_id: str, accept: bool) -> Call:
        if not self._may_answer(actor, station_id):
            raise NotFound(f"unknown station {station_id!r}", station_id=station_id)
        event = "accept" if accept else "decline"
        call = self._update(
            call_id, lambda c: callstate.leg_event(c, station_id, event, self._clock())
        )
        self._after_change(actor, call)
        return call

    def hang_up(self, actor: Actor, call_id: str, station_id: str | None = None) -> Call:
        """The commander ends the call; a station leaves it (the others stay)."""
        call = self.get(actor, call_id)
        if station_id is None and actor.user_id == call.commander_id:
            call = self._update(call_id, lambda c: callstate.hang_up(c, self._clock()))
        else:
            sid = station_id or next(
                (leg.station_id for leg in call.legs if self._may_answer(actor, leg.station_id)),
                "",
            )
            if not self._may_answer(actor, sid):
                raise Forbidden("only a party can leave a call")
            leg = call.leg(sid)
            event = "hangup" if leg.state is LegState.ACCEPTED else "cancel"
            call = self._update(
                call_id, lambda c: callstate.leg_event(c, sid, event, self._clock())
            )
            self._drop_media(call_id, sid)
        self._after_change(actor, call)
        return call

    def _expire(self, call_id: str) -> None:
        try:
            call = self._update(
                call_id, lambda c: callstate.expire(c, self._clock(), self.ring_timeout)
            )
        except Exception:
            return  # already ended or answered in the meantime
        caller = self._callers.get(call_id)
        if call.state is CallState.ENDED and caller is not None:
            self._after_change(caller, call)

    def _after_change(self, actor: Actor, call: Call) -> None:
        if call.state is CallState.ENDED:
            self._log(actor, call, "video_call_ended", {"legs": call.as_dict()["legs"]})
            self._end(call)

    def _end(self, call: Call) -> None:
        timer = self._timers.pop(call.id, None)
        if timer is not None:
            timer.cancel()
        self._stop_recorder(call)
        self.media.close(call.id)

    def _drop_media(self, call_id: str, party: str) -> None:
        self.media.drop(call_id, party)

    def connect_media(
        self, actor: Actor, call_id: str, station_id: str | None, sdp: object
    ) -> dict[str, str]:
        """Answer the offer of the commander (``station_id`` None) or of an accepted station."""
        call = self.get(actor, call_id)
        if call.state is CallState.ENDED:
            raise Conflict("the call has ended", call_id=call_id)
        if station_id is None:
            if actor.user_id != call.commander_id:
                raise Forbidden("only the caller publishes as commander")
            party = COMMANDER
        else:
            if not self._may_answer(actor, station_id):
                raise NotFound(f"unknown station {station_id!r}", station_id=station_id)
            if call.leg(station_id).state is not LegState.ACCEPTED:
                raise Conflict("accept the call before publishing media")
            party = station_id
        stations = [leg.station_id for leg in call.legs]
        answer = self.media.connect(call_id, stations, party, sdp)
        return {"sdp": answer, "type": "answer", "party": party}

    # ------------------------------------------------------------------ recording
    def start_recording(self, actor: Actor, call_id: str) -> Call:
        """Announce to every party, then record after ``announce_delay`` seconds."""
        call = self.get(actor, call_id)
        if actor.user_id != call.commander_id:
            raise Forbidden("only the caller can record a call")
        if call.state is CallState.ENDED:
            raise Conflict("the call has ended")
        if call.recording:
            return call
        self._notify(
            "recording_notice",
            {"call_id": call_id, "starts_in": self.announce_delay},
            self.rooms(call),
        )
        call = self._update(call_id, lambda c: replace(c, recording=True))
        parties = [COMMANDER] + [leg.station_id for leg in call.legs]
        labels = [f"Commander {call.commander_name}"] + [
            self.registry.get(leg.station_id).name_en for leg in call.legs
        ]
        name = self.media.start_recording(call_id, parties, labels, self.announce_delay)
        self._recording.add(call_id)
        self._log(actor, call, "video_call_recording_started", {"file": name})
        return call

    def stop_recording(self, actor: Actor, call_id: str) -> Call:
        call = self.get(actor, call_id)
        if actor.user_id != call.commander_id:
            raise Forbidden("only the caller can stop a recording")
        call = self._update(call_id, lambda c: replace(c, recording=False))
        self._stop_recorder(call)
        return call

    def _stop_recorder(self, call: Call) -> None:
        if call.id not in self._recording:
            return
        self._recording.discard(call.id)
        info = self.media.stop_recording(call.id)
        if info is None:
            return
        info.update(
            {
                "call_id": call.id,
                "case_id": call.case_id,
                "commander_id": call.commander_id,
                "stations": [leg.station_id for leg in call.legs],
            }
        )
        self.recordings.append(info)
        try:
            Path(info["path"]).with_suffix(".json").write_text(json.dumps(info), encoding="utf-8")
        except OSError:
            logger.exception("cannot write the sidecar of %s", info["name"])
        self._notify("recording_state", {"call_id": call.id, "on": False, **info}, self.rooms(call))
        actor = self._callers.get(call.id)
        if call.case_id is not None and actor is not None:
            try:
                self._case_link.attach(
                    actor, call.case_id, "recording", info["path"], "video/webm", info
                )
            except Exception:
                logger.exception("call %s: attaching the recording failed", call.id)

    def _load_recordings(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for sidecar in sorted(self.recordings_dir.glob("call-*.json")):
            try:
                info = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                logger.warning("unreadable recording sidecar %s", sidecar.name)
                continue
            if isinstance(info, dict) and sidecar.with_suffix(".webm").exists():
                info["path"] = str(sidecar.with_suffix(".webm"))
                out.append(info)
        return out

    def recordings_for(self, actor: Actor, case_id: int | None = None) -> list[dict[str, Any]]:
        """Recordings of calls the actor placed, or in which a station of their area took part."""
        return [
            rec
            for rec in list(self.recordings)
            if (case_id is None or rec.get("case_id") == case_id)
            and (
                rec.get("commander_id") == actor.user_id
                or any(self._may_answer(actor, s) for s in rec.get("stations", ()))
            )
        ]

    def _log(
        self, actor: Actor, call: Call, kind: str, data: dict[str, Any], strict: bool = False
    ) -> None:
        """The call log on the case. Only the first entry may refuse the call; later ones
        must not stop a hang-up, so their failures are logged and the call goes on."""
        if call.case_id is None:
            return
        try:
            self._case_link.event(actor, call.case_id, kind, {"call_id": call.id, **data})
        except Exception:
            if strict:
                raise
            logger.exception("call %s: case log %s failed", call.id, kind)

    async def _close_all(self) -> None:
        await self.media.close_all()
        for timer in self._timers.values():
            timer.cancel()
