"""The ``/hall`` Socket.IO namespace: batched, numbered live events for wall displays.

Bus subscribers put each event into the room of every region it belongs to (city, county,
township, grid); a background task flushes every room's pending events every 50 ms as one
``batch`` message ``{"seq": n, "events": [...]}`` with ``n`` increasing by one per room. A
display that sees a gap in ``seq`` or reconnects re-syncs from the services (the bus is for
notification only, the database is the truth). A room whose backlog overflows skips a number on
purpose, so its displays re-sync instead of silently missing events.

Contract (for the README): connect to namespace ``/hall`` with the browser's session cookie
(refused with ``unauthorized`` otherwise). Server → display events:

- ``hello`` ``{"seq": n, "room": "<level>:<code>"}`` on connect: the room's current number;
- ``batch`` ``{"seq": n, "events": [...]}`` every 50 ms while something happened, where each
  event is one of ``{"channel": "cases", "type": "case_created"|"case_changed"|"case_event",
  "case": {...}}``, ``{"channel": "assignments", "type": "assignment_<action>", "case": {...},
  "assignment": {"id", "state", "card", "target_name", "accept_by", "finish_by"}}``,
  ``{"channel": "alerts", "type": ..., "alert": {"id", "level", "title", "region_code", ...}}``,
  ``{"channel": "kpi"}`` (figures changed: re-read them), ``{"channel": "mode", ...}`` and
  ``{"channel": "presence", "user_id", "name", "region_code", "online", "last_seen", "lat",
  "lon"}`` (a field user came online, moved or went offline; ``lat``/``lon`` ``None`` means
  "location unchanged").
  Cases carry the masked summary fields only (no parties, ID numbers or phones).

Alerts: the early-warning issue will own alerts in the database. Until then the hub keeps the
newest alerts seen on the ALERTS channel in memory (lost on restart) so the feed and the
acknowledge action work on whatever alert objects arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from flask import Flask
from flask_socketio import Namespace, emit, join_room

from console.runtime import Runtime
from dispatch.domain.codes import Level
from dispatch.domain.jurisdiction import Scope
from dispatch.realtime import channels
from dispatch.services.context import Actor

logger = logging.getLogger(__name__)

NAMESPACE = "/hall"
#: Socket.IO events sent to displays.
BATCH_EVENT = "batch"
HELLO_EVENT = "hello"
#: How long an event may wait to share a batch. Each batch costs every display a message and
#: a frame, so shorter is dearer; 50 ms keeps event -> visible p95 under 150 ms on a wall
#: (bench/hall_push.py) now that a batch costs the browser a keyed DOM update, not a re-render.
FLUSH_SECONDS = 0.05
#: Pending events per room before the room is marked for re-sync instead.
ROOM_BACKLOG = 2000
ALERTS_KEPT = 200
_EXTRA_KEY = "hall_hub"


def room_of(scope: Scope) -> str:
    """The Socket.IO room of a display scoped to ``scope``."""
    return f"{scope.level.value}:{scope.code}"


def _case_rooms(case: dict[str, Any]) -> list[str]:
    rooms = []
    for level, key in (
        (Level.CITY, "city_code"),
        (Level.COUNTY, "county_code"),
        (Level.TOWNSHIP, "township_code"),
        (Level.GRID, "grid_code"),
    ):
        code = case.get(key)
        if code:
            rooms.append(f"{level.value}:{code}")
    return rooms


_CASE_KEYS = (
    "id", "code", "title", "category", "severity", "state", "status", "township_code",
    "county_code", "lat", "lon", "received_at", "finish_by", "card", "escalations", "level",
)  # fmt: skip


def slim_case(case: dict[str, Any]) -> dict[str, Any]:
    """The fields of a case summary a display draws (no personal data)."""
    out = {k: case.get(k) for k in _CASE_KEYS}
    out["status"] = "closed" if case.get("status") == "closed" else "open"
    return out


class HallHub:
    """Collects bus events per room and flushes them as numbered batches."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._seq: dict[str, int] = {}
        self._known_rooms: set[str] = set()
        self._alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._stop = threading.Event()
        #: Batches encoded and sent (rooms no display here watches are numbered, not sent).
        self.emitted_batches = 0

    # -- routing ------------------------------------------------------------------------------
    def _rooms_for_region(self, code: str | None) -> list[str]:
        regions = self.runtime.regions
        if not code or code not in regions:
            return [f"{Level.CITY.value}:{regions.city.code}"]
        path = regions.path(code)
        return _case_rooms(
            {
                "city_code": path.city,
                "county_code": path.county,
                "township_code": path.township,
                "grid_code": path.grid,
            }
        )

    def on_event(self, channel: str, payload: dict[str, Any]) -> None:
        """Bus handler: turn a bus message into display events for the rooms it concerns."""
        handler = _HANDLERS.get(channel)
        if handler is None:
            return
        routed = handler(self, payload)
        if routed is None:
            return
        rooms, event = routed
        self._queue(rooms, event)

    def _queue(self, rooms: list[str] | None, event: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._known_rooms) if rooms is None else rooms
            for room in targets:
                pending = self._pending.setdefault(room, [])
                if len(pending) >= ROOM_BACKLOG:
                    # Too far behind: drop the backlog and skip a number so displays re-sync.
                    pending.clear()
                    self._seq[room] = self._seq.get(room, 0) + 1
                pending.append(event)

    # -- flushing -----------------------------------------------------------------------------
    def flush(self) -> int:
        """Emit one batch per room with pending events; returns the number of batches."""
        with self._lock:
            pending, self._pending = self._pending, {}
            batches = []
            for room, events in pending.items():
                if not events:
                    continue
                seq = self._seq.get(room, 0) + 1
                self._seq[room] = seq
                batches.append((room, {"seq": seq, "events": events}))
        for room, batch in batches:
            # The number moves on even for a room nobody here watches: a display that read
            # its snapshot before these events and connects now sees a newer ``hello`` and
            # re-syncs. Only the encoding and sending are skipped.
            if self._watched(room):
                self._send(room, batch)
                self.emitted_batches += 1
        return len(batches)

    def _send(self, room: str, batch: dict[str, Any]) -> None:
        """Deliver to this process's displays only.

        Every web process's hub hears every bus event (Redis bus when scaled out), so each one
        serves its own connections; going through the Socket.IO message queue as well would
        deliver each batch once per process, with clashing sequence numbers.
        """
        socketio = self.runtime.socketio
        server = getattr(socketio, "server", None)
        manager = getattr(server, "manager", None)
        if manager is None:
            socketio.emit(BATCH_EVENT, batch, to=room, namespace=NAMESPACE)
            return
        from socketio.manager import Manager

        Manager.emit(manager, BATCH_EVENT, batch, NAMESPACE, to=room)

    def _watched(self, room: str) -> bool:
        """False when no display on this process is in ``room`` (True if unknown)."""
        server = getattr(self.runtime.socketio, "server", None)
        rooms = getattr(getattr(server, "manager", None), "rooms", None)
        if not isinstance(rooms, dict):
            return True
        return bool(rooms.get(NAMESPACE, {}).get(room))

    def run(self) -> None:
        # A fixed cadence (the flush's own time is not added to the wait), so an event waits
        # at most ``FLUSH_SECONDS`` plus one flush.
        deadline = time.monotonic()
        while not self._stop.is_set():
            deadline = max(deadline + FLUSH_SECONDS, time.monotonic())
            self.runtime.socketio.sleep(max(0.0, deadline - time.monotonic()))
            try:
                self.flush()
            except Exception:  # a failed emit must not end the loop of every display
                logger.exception("hall flush failed")

    def stop(self) -> None:
        self._stop.set()

    def seq(self, room: str) -> int:
        with self._lock:
            self._known_rooms.add(room)
            return self._seq.get(room, 0)

    # -- alerts (in memory until the early-warning issue stores them) --------------------------
    def remember_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            alert_id = str(alert.get("id") or f"a{len(self._alerts) + 1}")
            merged = {**self._alerts.get(alert_id, {}), **alert, "id": alert_id}
            self._alerts[alert_id] = merged
            self._alerts.move_to_end(alert_id)
            while len(self._alerts) > ALERTS_KEPT:
                self._alerts.popitem(last=False)
            return dict(merged)

    def alerts(self, scope: Scope) -> list[dict[str, Any]]:
        regions = self.runtime.regions
        with self._lock:
            items = list(self._alerts.values())
        visible = [
            a
            for a in items
            if not a.get("region_code")
            or a["region_code"] not in regions
            or regions.is_within(str(a["region_code"]), scope.code)
        ]
        if scope.level is not Level.CITY:
            visible = [a for a in visible if a.get("region_code") in regions]
        return list(reversed(visible))

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._alerts.get(alert_id)
            return dict(found) if found else None


def _normalise_alert(payload: dict[str, Any]) -> dict[str, Any]:
    alert = payload.get("alert")
    data = dict(alert) if isinstance(alert, dict) else dict(payload)
    data.pop("type", None)
    level = str(data.get("level") or "blue")
    data["level"] = level if level in ("blue", "yellow", "orange", "red") else "blue"
    return data


def _on_case(hub: HallHub, payload: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
    case = payload.get("case")
    if not isinstance(case, dict):
        return None
    event = {"channel": channels.CASES, "type": payload.get("type"), "case": slim_case(case)}
    if payload.get("action"):
        event["action"] = payload["action"]
    return _case_rooms(case), event


def _on_assignment(
    hub: HallHub, payload: dict[str, Any]
) -> tuple[list[str], dict[str, Any]] | None:
    case = payload.get("case")
    assignment = payload.get("assignment") or {}
    if not isinstance(case, dict):
        return None
    event = {
        "channel": channels.ASSIGNMENTS,
        "type": payload.get("type"),
        "case": slim_case(case),
        "assignment": {
            k: assignment.get(k)
            for k in ("id", "state", "card", "target_name", "accept_by", "finish_by")
        },
    }
    return _case_rooms(case), event


def _on_alert(hub: HallHub, payload: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
    alert = hub.remember_alert(_normalise_alert(payload))
    event = {"channel": channels.ALERTS, "type": payload.get("type") or "alert", "alert": alert}
    return hub._rooms_for_region(alert.get("region_code")), event


def _on_kpi(hub: HallHub, payload: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
    return hub._rooms_for_region(payload.get("township_code")), {"channel": channels.KPI}


def _on_presence(hub: HallHub, payload: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
    from dispatch.services.presence import presence_point

    user_id = payload.get("user_id")
    if not isinstance(user_id, int):
        return None
    region = payload.get("region_code")
    region = str(region) if region else None
    # Only the display name: no team, department, phone or account of the person.
    point = presence_point(
        user_id,
        str(payload.get("name") or ""),
        region,
        bool(payload.get("online")),
        payload.get("last_seen"),
        payload.get("lat"),
        payload.get("lon"),
    )
    if region is None or region not in hub.runtime.regions:
        return None  # no known area: no display can scope them, so none is told
    return hub._rooms_for_region(region), {"channel": channels.PRESENCE, **point}


def _on_mode(hub: HallHub, payload: dict[str, Any]) -> tuple[list[str] | None, dict[str, Any]]:
    return None, {"channel": channels.MODE, **{k: v for k, v in payload.items() if k != "channel"}}


_HANDLERS: dict[str, Any] = {
    channels.CASES: _on_case,
    channels.ASSIGNMENTS: _on_assignment,
    channels.ALERTS: _on_alert,
    channels.KPI: _on_kpi,
    channels.MODE: _on_mode,
    channels.PRESENCE: _on_presence,
}


class HallNamespace(Namespace):
    """Displays connect with their browser session; each joins the room of its scope."""

    def __init__(self, hub: HallHub) -> None:
        super().__init__(NAMESPACE)
        self.hub = hub

    def on_connect(self, auth: Any = None) -> None:
        from console.auth import current_actor

        try:
            actor = current_actor(optional=True)
        except Exception:  # a stale or broken session: refuse, the page sends it to login
            actor = None
        if actor is None:
            raise ConnectionRefusedError("unauthorized")
        room = room_of(actor.scope)
        join_room(room)
        emit(HELLO_EVENT, {"seq": self.hub.seq(room), "room": room})

    def on_disconnect(self, reason: Any = None) -> None:
        return None


# ----------------------------------------------------------------------------------------------
# Wiring and accessors used by the hall page
# ----------------------------------------------------------------------------------------------
def hub_of(runtime: Runtime) -> HallHub | None:
    hub = runtime.extras.get(_EXTRA_KEY)
    return hub if isinstance(hub, HallHub) else None


def current_seq(runtime: Runtime, scope: Scope) -> int:
    hub = hub_of(runtime)
    return hub.seq(room_of(scope)) if hub else 0


def alerts_for(runtime: Runtime, scope: Scope) -> list[dict[str, Any]]:
    hub = hub_of(runtime)
    return hub.alerts(scope) if hub else []


def acknowledge(runtime: Runtime, actor: Actor, alert_id: str) -> dict[str, Any] | None:
    """Mark an alert acknowledged by ``actor`` (when it lies in their scope) and announce it."""
    hub = hub_of(runtime)
    if hub is None:
        return None
    alert = hub.alert(alert_id)
    if alert is None:
        return None
    region = alert.get("region_code")
    if (
        region
        and region in runtime.regions
        and not runtime.regions.is_within(str(region), actor.scope.code)
    ):
        return None
    if alert.get("acknowledged_at"):
        return alert
    update = {
        **alert,
        "state": "acknowledged",
        "acknowledged_by": actor.username,
        "acknowledged_at": runtime.deps.now().isoformat(),
    }
    runtime.bus.publish(channels.ALERTS, {"type": "alert_acknowledged", "alert": update})
    return hub.alert(alert_id) or update


def init_app(app: Flask, runtime: Runtime) -> None:
    """Register the ``/hall`` namespace, subscribe to the bus and start the flusher."""
    hub = HallHub(runtime)
    runtime.extras[_EXTRA_KEY] = hub
    runtime.socketio.on_namespace(HallNamespace(hub))
    for channel in _HANDLERS:
        runtime.bus.subscribe(channel, hub.on_event)
    runtime.socketio.start_background_task(hub.run)
    runtime.stoppers.append(hub.stop)
