"""The ``/field`` Socket.IO namespace: teams, departments and grid workers on their phones.

Connect with ``auth={"token": <bearer token>, "last_seq": n, "lang": "zh-CN"|"en"}``. A missing,
forged, expired or revoked token is refused at connect. The socket joins the rooms
``user:<id>``, ``team:<id>``, ``dept:<id>`` and ``region:<code>``, and is sent every delivery
after ``last_seq`` (replay), then each new one as it commits.

Server → client events:
  ``assignment`` ``{seq, kind, assignment, case}``  acknowledge with ``ack``;
  ``error`` ``{code, message, details, event}``  a refused event (also the event's ack value).
Client → server events (each answers through its Socket.IO ack):
  ``ack`` ``{seq}`` or ``{seqs: [..]}``; ``sync`` ``{last_seq}`` (replay again);
  ``accept`` / ``refuse`` / ``report`` / ``finish``
  ``{assignment_id, idempotency_key, reason?, text?, outcome?, lat?, lon?, photos?}``
  → ``{"ok": true, "assignment": {...}}`` or ``{"ok": false, "error": {...}}``;
  ``location`` ``{lat, lon}``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, request
from flask_socketio import Namespace, join_room
from socketio.exceptions import ConnectionRefusedError as SioRefused

from console.i18n import negotiate, t
from console.runtime import Runtime
from dispatch.domain.errors import DispatchError, ValidationFailed
from dispatch.realtime import channels
from dispatch.realtime.delivery import NAMESPACE, DeliveryHub, user_room
from dispatch.services import assignments as assignment_service
from dispatch.services import delivery as delivery_service
from dispatch.services.context import Actor

logger = logging.getLogger(__name__)

FIELD_ACTIONS = ("accept", "refuse", "report", "finish")
MAX_ACKS_PER_EVENT = 1000
#: Events that do not re-check the token. An acknowledgement only stops re-sends of what this
#: socket was already sent, and it is the hot path (one a quarter second per phone): checking
#: it would cost a query per ack event for nothing a revoked user could gain.
UNCHECKED_EVENTS = frozenset({"ack"})
#: Seconds between refusing an event for a revoked token and closing the socket, so that the
#: refusal (the event's ack value) reaches the phone first.
DROP_DELAY = 0.2


@dataclass(frozen=True)
class FieldSocket:
    """Who is behind one connected socket."""

    user_id: int
    actor: Actor
    team_id: int | None
    department_id: int | None
    region_code: str
    display_name: str
    #: The bearer token the socket connected with, re-checked on every action (see
    #: ``_guarded``): revoking it (or deactivating the user) must stop a phone that is
    #: already connected, not only the next connection.
    token: str = ""


class SocketError(Exception):
    """A refused event that is not a domain error: unknown event, malformed payload."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def _error_reply(err: Exception, lang: str, event: str) -> dict[str, Any]:
    from console.errors import error_body

    if isinstance(err, DispatchError):
        body = error_body(err, lang)["error"]
    elif isinstance(err, SocketError):
        body = {
            "code": err.code,
            "message": t(f"field.errors.{err.code}", lang, event=event, **err.params),
            "details": dict(err.params),
        }
    else:
        body = {"code": "internal", "message": t("errors.internal", lang), "details": {}}
    return {"ok": False, "error": {**body, "event": event}}


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(fields={name: "not_a_number"})
    if value < 0 or value > 2**53:
        raise ValidationFailed(fields={name: "out_of_range"})
    return value


def _object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed(fields={"_": "not_an_object"})
    return data


Handler = Callable[["FieldNamespace", str, FieldSocket, Any], dict[str, Any]]


def _guarded(event: str) -> Callable[[Handler], Callable[..., dict[str, Any]]]:
    """Turn every failure of a handler into an error reply (ack value and ``error`` event)."""

    def wrap(handler: Handler) -> Callable[..., dict[str, Any]]:
        @functools.wraps(handler)
        def run(self: FieldNamespace, data: Any = None) -> dict[str, Any]:
            sid: str = request.sid  # type: ignore[attr-defined]
            client = self.clients.get(sid)
            if client is None:  # a late event from a socket being torn down
                from console.auth import Unauthorized

                return _error_reply(Unauthorized(), self.runtime.settings.lang, event)
            try:
                if event not in UNCHECKED_EVENTS:
                    self._check_token(sid, client)
                return handler(self, sid, client, data)
            except (DispatchError, SocketError) as err:
                reply = _error_reply(err, client.actor.lang, event)
            except Exception as err:
                logger.exception("field event %s failed", event)
                reply = _error_reply(err, client.actor.lang, event)
            self.socketio.emit("error", reply["error"], to=sid, namespace=NAMESPACE)
            return reply

        return run

    return wrap


class FieldNamespace(Namespace):
    """Validates field events and hands them to the services; no business rules here."""

    def __init__(self, runtime: Runtime, hub: DeliveryHub) -> None:
        super().__init__(NAMESPACE)
        self.runtime = runtime
        self.hub = hub
        self.clients: dict[str, FieldSocket] = {}
        self._lock = threading.Lock()

    # -- routing -------------------------------------------------------------------------
    def trigger_event(self, event: str, *args: Any) -> Any:
        if event not in ("connect", "disconnect") and not hasattr(self, f"on_{event}"):
            sid = args[0] if args else ""
            client = self.clients.get(sid)
            lang = client.actor.lang if client else self.runtime.settings.lang
            reply = _error_reply(SocketError("unknown_event"), lang, event)
            self.socketio.emit("error", reply["error"], to=sid, namespace=NAMESPACE)
            return reply
        return super().trigger_event(event, *args)

    # -- connection ----------------------------------------------------------------------
    def on_connect(self, auth: Any = None) -> None:
        from console.auth import Unauthorized, user_from_token
        from dispatch.services.users import actor_for

        sid: str = request.sid  # type: ignore[attr-defined]
        auth = auth if isinstance(auth, dict) else {}
        lang = negotiate(request.headers.get("Accept-Language"), auth.get("lang") or None)
        token = auth.get("token")
        raw_seq = auth.get("last_seq", 0)
        if isinstance(raw_seq, bool) or not isinstance(raw_seq, int) or raw_seq < 0:
            raise SioRefused(t("field.errors.bad_last_seq", lang), {"code": "bad_last_seq"})
        if not isinstance(token, str) or not token:
            raise SioRefused(t("errors.unauthorized", lang), {"code": "unauthorized"})
        runtime = self.runtime
        try:
            with runtime.session_factory() as db:
                user = user_from_token(runtime, db, token)
                actor = actor_for(user, runtime.deps, lang)
                client = FieldSocket(
                    user_id=user.id,
                    actor=actor,
                    team_id=user.team_id,
                    department_id=user.department_id,
                    region_code=user.region_code,
                    display_name=user.display_name,
                    token=token,
                )
        except Unauthorized as err:
            raise SioRefused(t(f"errors.{err.code}", lang), {"code": err.code}) from err
        join_room(user_room(client.user_id))
        if client.team_id:
            join_room(f"team:{client.team_id}")
        if client.department_id:
            join_room(f"dept:{client.department_id}")
        join_room(f"region:{client.region_code}")
        with self._lock:
            self.clients[sid] = client
        self.hub.attach(client.user_id, sid)
        self._presence(client, online=True)
        self.socketio.start_background_task(self._replay_when_connected, sid, client, raw_seq)

    def _check_token(self, sid: str, client: FieldSocket) -> None:
        """Refuse the event, and close the socket, when its token no longer holds.

        Raises:
            Unauthorized: the token expired, or was revoked (token generation bumped, user
                deactivated) after the socket connected.
        """
        from console.auth import Unauthorized, check_token

        try:
            check_token(self.runtime, client.token)
        except Unauthorized:
            logger.info("field user %s: token no longer valid; closing its socket", client.user_id)
            # Forget it at once (no more events, pushes, re-sends or replays), close it a moment
            # later.
            with self._lock:
                self.clients.pop(sid, None)
            server = self.socketio.server
            for room in server.rooms(sid, namespace=NAMESPACE):
                if room != sid:
                    server.leave_room(sid, room, namespace=NAMESPACE)
            if self.hub.detach(client.user_id, sid):
                self._presence(client, online=False)
            self.socketio.start_background_task(self._drop, sid)
            raise

    def _drop(self, sid: str) -> None:
        self.socketio.sleep(DROP_DELAY)
        self.socketio.server.disconnect(sid, namespace=NAMESPACE)

    def _replay_when_connected(self, sid: str, client: FieldSocket, last_seq: int) -> None:
        # Events emitted before the CONNECT packet would be dropped by the client, and the
        # server sends that packet only after on_connect returns: wait until it has.
        manager = self.socketio.server.manager
        for _ in range(400):
            if manager.is_connected(sid, NAMESPACE):
                break
            self.socketio.sleep(0.005)
        else:
            return
        try:
            self.hub.replay(sid, client.user_id, last_seq)
        except Exception:
            logger.exception(
                "replay to user %s failed; the retry loop will re-send", client.user_id
            )

    def on_disconnect(self, reason: Any = None) -> None:
        sid: str = request.sid  # type: ignore[attr-defined]
        with self._lock:
            client = self.clients.pop(sid, None)
        if client is not None and self.hub.detach(client.user_id, sid):
            self._presence(client, online=False)

    def _presence(
        self, client: FieldSocket, online: bool, lat: float | None = None, lon: float | None = None
    ) -> None:
        # Told to the hall at once; written to the database by the hub within its flush
        # interval, in one transaction with the acknowledgements (a connect costs no commit).
        now = self.runtime.deps.now()
        self.hub.note_presence(client.user_id, online, now, lat, lon)
        self.runtime.bus.publish(
            channels.PRESENCE,
            {
                "type": "presence",
                "user_id": client.user_id,
                "name": client.display_name,
                "team_id": client.team_id,
                "department_id": client.department_id,
                "region_code": client.region_code,
                "online": online,
                "last_seen": now.isoformat(),
                "lat": lat,
                "lon": lon,
            },
        )

    # -- events --------------------------------------------------------------------------
    @_guarded("ack")
    def on_ack(self, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        data = _object(data)
        if "seqs" in data:
            raw = data["seqs"]
            if not isinstance(raw, list) or len(raw) > MAX_ACKS_PER_EVENT:
                raise ValidationFailed(fields={"seqs": "not_a_list"})
            seqs = [_positive_int(v, "seqs") for v in raw]
        elif "seq" in data:
            seqs = [_positive_int(data["seq"], "seq")]
        else:
            raise ValidationFailed(fields={"seq": "required"})
        self.hub.acknowledge(client.user_id, seqs)
        return {"ok": True, "acked": len(seqs)}

    @_guarded("sync")
    def on_sync(self, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        last_seq = _positive_int(_object(data).get("last_seq", 0), "last_seq")
        with self.runtime.session_factory() as db:
            latest = delivery_service.last_seq(db, client.user_id)
        sent = self.hub.replay(sid, client.user_id, last_seq)
        return {"ok": True, "replayed": sent, "last_seq": latest}

    @_guarded("location")
    def on_location(self, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        data = _object(data)
        lat, lon = data.get("lat"), data.get("lon")
        problems = {}
        for name, value, bound in (("lat", lat, 90), ("lon", lon, 180)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems[name] = "not_a_number"
            elif not -bound <= value <= bound:
                problems[name] = "out_of_range"
        if problems or set(data) - {"lat", "lon"}:
            problems.update({k: "unknown_field" for k in set(data) - {"lat", "lon"}})
            raise ValidationFailed(fields=problems)
        self._presence(client, online=True, lat=float(lat), lon=float(lon))
        return {"ok": True}

    def _act(self, action: str, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        data = dict(_object(data))
        if "action" in data:
            raise ValidationFailed(fields={"action": "unknown_field"})
        if "assignment_id" not in data:
            raise ValidationFailed(fields={"assignment_id": "required"})
        assignment_id = _positive_int(data.pop("assignment_id"), "assignment_id")
        payload = {**data, "action": action}
        runtime = self.runtime
        try:
            with runtime.session_factory.begin() as db:
                result = assignment_service.act(
                    db, runtime.deps, client.actor, assignment_id, payload
                )
        except Exception:
            # The same action sent twice at once (offline queue flushing while the first is in
            # flight): the loser fails on the state or the receipt; answer with the winner's.
            earlier = self._receipt(client, payload.get("idempotency_key"))
            if earlier is None:
                raise
            result = earlier
        return {"ok": True, **result}

    def _receipt(self, client: FieldSocket, key: object) -> dict[str, Any] | None:
        from dispatch.db.models import ActionReceipt

        if not isinstance(key, str):
            return None
        with self.runtime.session_factory() as db:
            receipt = db.get(ActionReceipt, key)
            if receipt is None or receipt.user_id != client.user_id:
                return None
            return dict(receipt.result)

    @_guarded("accept")
    def on_accept(self, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        return self._act("accept", sid, client, data)

    @_guarded("refuse")
    def on_refuse(self, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        return self._act("refuse", sid, client, data)

    @_guarded("report")
    def on_report(self, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        return self._act("report", sid, client, data)

    @_guarded("finish")
    def on_finish(self, sid: str, client: FieldSocket, data: Any) -> dict[str, Any]:
        return self._act("finish", sid, client, data)


def init_app(app: Flask, runtime: Runtime) -> None:
    """Install the delivery outbox hook, the /field namespace, its worker and the field page."""
    hub = DeliveryHub(runtime.session_factory, runtime.socketio.emit, runtime.deps.now)
    delivery_service.install(runtime.session_factory, runtime.deps.now, hub.push)
    namespace = FieldNamespace(runtime, hub)
    runtime.socketio.on_namespace(namespace)
    hub.start()
    runtime.stoppers.append(hub.stop)
    runtime.extras["field_hub"] = hub
    runtime.extras["field_namespace"] = namespace

    from console.field_page import register_field_page

    register_field_page(app, runtime)
