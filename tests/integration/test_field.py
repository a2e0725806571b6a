"""The /field namespace over real websockets: delivery, acknowledgement, actions, replay, refusals."""

from __future__ import annotations

import functools
import io
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import socketio
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from config.settings import Settings
from dispatch.db.models import ActionReceipt, Assignment, AssignmentReport, Delivery, FieldPresence
from dispatch.realtime import channels
from tests.integration.test_field_support import (  # noqa: F401  (fixtures: app, world)
    World,
    dispatcher_app,
    dispatcher_world,
    wait_for,
)

NS = "/field"


class Inbox:
    """Records what one field socket receives."""

    def __init__(self) -> None:
        self.assignments: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def on_assignment(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.assignments.append(data)

    def on_error(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.errors.append(data)

    def handlers(self) -> dict[tuple[str, str], Callable[..., Any]]:
        return {(NS, "assignment"): self.on_assignment, (NS, "error"): self.on_error}

    def seqs(self) -> list[int]:
        with self.lock:
            return [m["seq"] for m in self.assignments]

    def of(self, assignment_id: int, kind: str = "offered") -> dict[str, Any] | None:
        with self.lock:
            for m in self.assignments:
                if m["assignment"]["id"] == assignment_id and m["kind"] == kind:
                    return m
        return None


Connect = Callable[..., tuple[socketio.Client, Inbox]]


@pytest.fixture
def field(sio_client_factory: Callable[..., socketio.Client], world: World) -> Connect:
    def connect(user: str, last_seq: int = 0, lang: str = "en") -> tuple[socketio.Client, Inbox]:
        inbox = Inbox()
        client = sio_client_factory(
            namespaces=[NS],
            auth={"token": world.tokens[user], "last_seq": last_seq, "lang": lang},
            handlers=inbox.handlers(),
        )
        return client, inbox

    return connect


def call(client: socketio.Client, event: str, data: Any) -> Any:
    return client.call(event, data, namespace=NS, timeout=10)


def key() -> str:
    return uuid.uuid4().hex


def test_offer_reaches_every_team_member_and_acks_are_recorded(
    world: World, field: Connect
) -> None:
    c1, in1 = field("member1")
    _c2, in2 = field("member2")
    _, outsider = field("outsider")
    assignment_id = world.offer_team()

    for inbox in (in1, in2):
        message = wait_for(functools.partial(inbox.of, assignment_id), what="delivery")
        assert message["seq"] == 1
        assert message["assignment"]["state"] == "offered"
        assert message["case"]["id"] == world_case(world, assignment_id)
    assert outsider.assignments == []

    assert call(c1, "ack", {"seq": 1}) == {"ok": True, "acked": 1}
    assert call(c1, "ack", {"seq": 1})["ok"] is True  # a repeated ack changes nothing

    def acked() -> bool:
        with world.runtime.session_factory() as db:
            row = db.scalars(
                select(Delivery).where(Delivery.recipient_id == world.ids["member1"])
            ).one()
            return row.acked_at is not None and row.next_attempt_at is None

    wait_for(acked, what="ack written")
    with world.runtime.session_factory() as db:
        other = db.scalars(
            select(Delivery).where(Delivery.recipient_id == world.ids["member2"])
        ).one()
        assert other.acked_at is None  # member2 has not acknowledged yet
        assert other.delivered_at is None and other.attempts == 1


def world_case(world: World, assignment_id: int) -> int:
    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        assert a is not None
        return a.case_id


def test_department_offer_reaches_its_staff(world: World, field: Connect) -> None:
    _, inbox = field("staff")
    case_id = world.new_case()
    [assignment_id] = world.summon(case_id, [{"kind": "department", "id": world.department_id}])
    wait_for(lambda: inbox.of(assignment_id), what="department delivery")


def test_accept_report_finish_over_the_socket(world: World, field: Connect) -> None:
    client, _ = field("member1")
    assignment_id = world.offer_team()

    accepted = call(client, "accept", {"assignment_id": assignment_id, "idempotency_key": key()})
    assert accepted["ok"] is True
    assert accepted["assignment"]["state"] == "accepted"
    reported = call(
        client,
        "report",
        {
            "assignment_id": assignment_id,
            "idempotency_key": key(),
            "text": "已到现场，双方情绪稳定",
            "lat": 30.1,
            "lon": 120.2,
            "photos": ["uploads/1-abc.jpg"],
        },
    )
    assert reported["ok"] is True
    finished = call(
        client,
        "finish",
        {"assignment_id": assignment_id, "idempotency_key": key(), "outcome": "success"},
    )
    assert finished["assignment"]["state"] == "done"
    with world.runtime.session_factory() as db:
        report = db.scalars(select(AssignmentReport)).one()
        assert report.text.startswith("已到现场") and report.lat == 30.1
        assert report.photos == ["uploads/1-abc.jpg"]


def test_teammates_hear_about_the_accept(world: World, field: Connect) -> None:
    c1, _ = field("member1")
    _, in2 = field("member2")
    assignment_id = world.offer_team()
    call(c1, "accept", {"assignment_id": assignment_id, "idempotency_key": key()})
    update = wait_for(lambda: in2.of(assignment_id, "accepted"), what="accepted update")
    assert update["seq"] == 2


def test_refuse_needs_a_reason_and_returns_the_case(world: World, field: Connect) -> None:
    client, inbox = field("member1")
    assignment_id = world.offer_team()
    bad = call(client, "refuse", {"assignment_id": assignment_id, "idempotency_key": key()})
    assert bad["ok"] is False
    assert bad["error"]["code"] == "validation_failed"
    assert "reason" in bad["error"]["details"]["fields"]
    wait_for(lambda: inbox.errors, what="error event")
    ok = call(
        client,
        "refuse",
        {"assignment_id": assignment_id, "idempotency_key": key(), "reason": "不在辖区"},
    )
    assert ok["assignment"]["state"] == "refused"


def test_repeated_action_with_the_same_key_applies_once(world: World, field: Connect) -> None:
    client, _ = field("member1")
    assignment_id = world.offer_team()
    k = key()
    first = call(client, "accept", {"assignment_id": assignment_id, "idempotency_key": k})
    again = call(client, "accept", {"assignment_id": assignment_id, "idempotency_key": k})
    assert first == again
    with world.runtime.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(ActionReceipt)) == 1
        a = db.get(Assignment, assignment_id)
        assert a is not None and a.version == 2


def test_concurrent_duplicates_apply_once(world: World, field: Connect) -> None:
    c1, _ = field("member1")
    c1b, _ = field("member1")
    assignment_id = world.offer_team()
    k = key()
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda c=c: results.append(
                call(c, "accept", {"assignment_id": assignment_id, "idempotency_key": k})
            )
        )
        for c in (c1, c1b)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [r["ok"] for r in results] == [True, True]
    assert results[0]["assignment"] == results[1]["assignment"]
    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        assert a is not None and a.state == "accepted" and a.version == 2


def test_reconnect_replays_what_was_missed(world: World, field: Connect) -> None:
    client, inbox = field("member1")
    first = world.offer_team()
    wait_for(lambda: inbox.of(first), what="first delivery")
    client.disconnect()
    missed = [world.offer_team() for _ in range(3)]
    client2, inbox2 = field("member1", last_seq=1)
    wait_for(lambda: len(inbox2.assignments) >= 3, what="replay")
    assert inbox2.seqs()[:3] == [2, 3, 4]
    assert [m["assignment"]["id"] for m in inbox2.assignments[:3]] == missed
    # Asking again replays again (the client drops repeats by seq).
    assert call(client2, "sync", {"last_seq": 3}) == {"ok": True, "replayed": 1, "last_seq": 4}


def test_unacknowledged_deliveries_are_resent(world: World, field: Connect) -> None:
    _, inbox = field("member1")
    assignment_id = world.offer_team()
    wait_for(lambda: inbox.of(assignment_id), what="first send")
    with world.runtime.session_factory.begin() as db:
        row = db.scalars(
            select(Delivery).where(Delivery.recipient_id == world.ids["member1"])
        ).one()
        row.next_attempt_at = world.runtime.deps.now()  # due now instead of in a few seconds
    wait_for(lambda: len(inbox.assignments) >= 2, timeout=5, what="re-send")
    assert inbox.seqs()[:2] == [1, 1]

    def attempts() -> int:
        with world.runtime.session_factory() as db:
            mine = select(Delivery).where(Delivery.recipient_id == world.ids["member1"])
            return db.scalars(mine).one().attempts

    wait_for(lambda: attempts() >= 2, what="re-send counted")


def _make_due(world: World, user: str, seq: int) -> None:
    with world.runtime.session_factory.begin() as db:
        row = db.scalars(
            select(Delivery).where(Delivery.recipient_id == world.ids[user], Delivery.seq == seq)
        ).one()
        row.next_attempt_at = world.runtime.deps.now()


def _delivery(world: World, user: str, seq: int) -> Delivery:
    with world.runtime.session_factory() as db:
        return db.scalars(
            select(Delivery).where(Delivery.recipient_id == world.ids[user], Delivery.seq == seq)
        ).one()


def test_resend_waits_while_the_phone_is_acknowledging_earlier_ones(
    world: World, field: Connect
) -> None:
    """Due but beyond what a live phone has acknowledged: still in flight, put off."""
    client, inbox = field("member1")
    first, second = world.offer_team(), world.offer_team()
    wait_for(lambda: inbox.of(first) and inbox.of(second), what="both sent")
    assert call(client, "ack", {"seq": 1})["ok"]  # the phone is alive, at seq 1
    _make_due(world, "member1", 2)
    hub = world.runtime.extras["field_hub"]
    wait_for(lambda: hub.deferred_total >= 1, what="re-send put off")
    row = _delivery(world, "member1", 2)
    assert row.attempts == 1 and row.acked_at is None
    assert row.next_attempt_at is not None and row.next_attempt_at > world.runtime.deps.now()
    assert inbox.seqs().count(2) == 1


def test_resend_goes_when_a_later_delivery_was_acknowledged(world: World, field: Connect) -> None:
    """Seq 1 not acknowledged while seq 2 was: seq 1 was lost, it is re-sent at once."""
    client, inbox = field("member1")
    first, second = world.offer_team(), world.offer_team()
    wait_for(lambda: inbox.of(first) and inbox.of(second), what="both sent")
    assert call(client, "ack", {"seq": 2})["ok"]
    _make_due(world, "member1", 1)
    wait_for(lambda: inbox.seqs().count(1) >= 2, timeout=5, what="re-send of the lost one")
    wait_for(lambda: _delivery(world, "member1", 1).attempts >= 2, what="re-send counted")


def test_forged_and_missing_tokens_are_refused(
    world: World, sio_client_factory: Callable[..., socketio.Client]
) -> None:
    for auth in ({"token": world.tokens["member1"] + "x"}, {}, {"token": "abc.def.ghi"}):
        with pytest.raises(socketio.exceptions.ConnectionError):
            sio_client_factory(namespaces=[NS], auth=auth)


def test_revoked_token_is_refused_with_a_reason(
    world: World, sio_client_factory: Callable[..., socketio.Client]
) -> None:
    from dispatch.db.models import User

    with world.runtime.session_factory.begin() as db:
        user = db.get(User, world.ids["member1"])
        assert user is not None
        user.token_generation += 1
    reasons: list[Any] = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio_client_factory(
            namespaces=[NS],
            auth={"token": world.tokens["member1"], "lang": "en"},
            handlers={(NS, "connect_error"): reasons.append},
        )
    assert reasons and reasons[0]["data"] == {"code": "token_revoked"}
    assert "revoked" in reasons[0]["message"]


@pytest.mark.parametrize("revoke", ["new_generation", "deactivated"])
def test_token_revoked_after_connecting_stops_actions_and_the_socket(
    world: World, field: Connect, revoke: str
) -> None:
    from dispatch.db.models import User

    client, inbox = field("member1")
    assignment_id = world.offer_team()
    wait_for(functools.partial(inbox.of, assignment_id), what="delivery")
    with world.runtime.session_factory.begin() as db:
        user = db.get(User, world.ids["member1"])
        assert user is not None
        if revoke == "new_generation":
            user.token_generation += 1
        else:
            user.active = False

    reply = call(client, "accept", {"assignment_id": assignment_id, "idempotency_key": key()})
    assert reply["ok"] is False
    assert reply["error"]["code"] == "token_revoked"
    assert reply["error"]["event"] == "accept"
    with world.runtime.session_factory() as db:
        assignment = db.get(Assignment, assignment_id)
        assert assignment is not None and assignment.state == "offered"
        assert db.scalar(select(func.count()).select_from(ActionReceipt)) == 0
    # The server closes the socket, and it hears nothing more: not even new offers.
    wait_for(lambda: NS not in client.namespaces, what="socket closed by the server")
    before = len(inbox.assignments)
    world.offer_team()
    _, teammate = field("member2")
    wait_for(lambda: len(teammate.assignments) >= 2, what="teammate still served")
    assert len(inbox.assignments) == before


def test_acks_skip_the_token_check_but_actions_do_not(world: World, field: Connect) -> None:
    client, inbox = field("member1")
    assignment_id = world.offer_team()
    wait_for(functools.partial(inbox.of, assignment_id), what="delivery")
    namespace = world.runtime.extras["field_namespace"]
    checks: list[str] = []
    original = namespace._check_token

    def counting(sid: str, socket: Any) -> None:
        checks.append(sid)
        original(sid, socket)

    namespace._check_token = counting
    assert call(client, "ack", {"seq": 1})["ok"] is True
    assert checks == []
    reply = call(client, "accept", {"assignment_id": assignment_id, "idempotency_key": key()})
    assert reply["ok"] is True
    assert len(checks) == 1


def test_acting_on_someone_elses_assignment_is_refused(world: World, field: Connect) -> None:
    client, _ = field("outsider")
    assignment_id = world.offer_team()
    reply = call(client, "accept", {"assignment_id": assignment_id, "idempotency_key": key()})
    assert reply["ok"] is False
    assert reply["error"]["code"] in ("forbidden", "not_found")
    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        assert a is not None and a.state == "offered"


@pytest.mark.parametrize(
    ("event", "data", "code"),
    [
        ("launch_rocket", {}, "unknown_event"),
        ("accept", "not a dict", "validation_failed"),
        ("accept", {"idempotency_key": "k" * 10}, "validation_failed"),
        ("accept", {"assignment_id": "1"}, "validation_failed"),
        ("accept", {"assignment_id": 1, "surprise": True}, "validation_failed"),
        ("finish", {"assignment_id": 1, "outcome": "maybe"}, "illegal_transition"),
        ("ack", {"seq": -1}, "validation_failed"),
        ("ack", {"seqs": "1,2"}, "validation_failed"),
        ("location", {"lat": 200, "lon": 0}, "validation_failed"),
    ],
)
def test_bad_events_get_a_clear_error_and_change_nothing(
    world: World, field: Connect, event: str, data: Any, code: str
) -> None:
    client, inbox = field("member1")
    assignment_id = world.offer_team()
    wait_for(lambda: inbox.of(assignment_id), what="delivery")
    if isinstance(data, dict) and data.get("assignment_id") == 1:
        data = {**data, "assignment_id": assignment_id}
    reply = call(client, event, data)
    assert reply["ok"] is False
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]
    assert reply["error"]["event"] == event
    wait_for(lambda: inbox.errors, what="error event")
    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        assert a is not None and a.state == "offered" and a.version == 1


def test_error_messages_follow_the_users_language(world: World, field: Connect) -> None:
    client, _ = field("member1", lang="zh-CN")
    reply = call(client, "launch_rocket", {})
    assert "未知的事件" in reply["error"]["message"]


def test_presence_and_location(world: World, field: Connect) -> None:
    heard: list[dict[str, Any]] = []
    world.runtime.bus.subscribe(channels.PRESENCE, lambda _c, p: heard.append(p))
    client, _ = field("member1")
    wait_for(lambda: any(p["online"] for p in heard), what="online presence")
    assert call(client, "location", {"lat": 30.25, "lon": 120.15}) == {"ok": True}
    client.disconnect()
    wait_for(lambda: heard and not heard[-1]["online"], what="offline presence")

    def written() -> FieldPresence | None:
        with world.runtime.session_factory() as db:
            row = db.get(FieldPresence, world.ids["member1"])
            return row if row is not None and row.online is False else None

    row = wait_for(written, what="presence written")
    assert (row.lat, row.lon) == (30.25, 120.15)
    assert heard[1]["lat"] == 30.25 and heard[1]["team_id"] == world.team_id


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 100


@pytest.mark.parametrize(
    ("content", "status", "suffix"),
    [
        (JPEG, 201, ".jpg"),
        (PNG, 201, ".png"),
        (WEBP, 201, ".webp"),
        (b"GIF89a" + b"\x00" * 100, 415, None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, None),
        (JPEG + b"\x00" * (5 * 1024 * 1024), 413, None),
    ],
    ids=["jpeg", "png", "webp", "gif", "svg", "too-large"],
)
def test_photo_upload_checks_type_and_size(
    world: World,
    client: FlaskClient,
    settings: Settings,
    content: bytes,
    status: int,
    suffix: str | None,
) -> None:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path="/api/v1/field/photos",
        method="POST",
        data={"photo": (io.BytesIO(content), "photo.jpg", "image/jpeg")},
        headers=[
            ("Authorization", f"Bearer {world.tokens['member1']}"),
            ("Accept-Language", "en"),
        ],
    )
    environ = builder.get_environ()
    try:  # werkzeug spools a large body to a temporary file that nobody else closes
        response = client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    uploads = settings.data_dir / "uploads"
    if suffix is None:
        assert body["error"]["message"]
        assert not uploads.exists() or not any(uploads.iterdir())
    else:
        assert body["path"].endswith(suffix)
        assert (settings.data_dir / body["path"]).read_bytes() == content


def test_photo_upload_needs_a_token(world: World, client: FlaskClient) -> None:
    response = client.post("/api/v1/field/photos", data={"photo": (io.BytesIO(JPEG), "a.jpg")})
    assert response.status_code == 401


def test_field_page_and_its_messages_are_served(world: World, client: FlaskClient) -> None:
    with client.get("/field") as page:
        assert page.status_code == 200 and b"field.js" in page.data
    for path, status in (
        ("/field/assets/field.js", 200),
        ("/field/vendor/socket.io.min.js", 200),
        ("/field/vendor/../../config/settings.py", 404),
        ("/field/assets/../../config/settings.py", 404),
    ):
        with client.get(path) as response:
            assert response.status_code == status, path
    messages = client.get("/field/messages.json?lang=en").get_json()
    assert messages["field.accept"] == "Accept"
    assert all(k.startswith("field.") for k in messages)


def test_connected_users_are_touched_so_a_dead_process_shows(world: World, field: Connect) -> None:
    from dispatch.realtime.delivery import DeliveryHub

    field("member1")
    hub: DeliveryHub = world.runtime.extras["field_hub"]
    wait_for(lambda: hub.is_local(world.ids["member1"]), what="socket attached")
    hub.flush()
    with world.runtime.session_factory() as db:
        first = db.get(FieldPresence, world.ids["member1"])
        assert first is not None and first.online
        seen = first.last_seen
    hub.touch_local()
    hub.flush()
    with world.runtime.session_factory() as db:
        again = db.get(FieldPresence, world.ids["member1"])
        assert again is not None and again.online and again.last_seen >= seen


def test_presence_list_for_team_lists(world: World, field: Connect, client: FlaskClient) -> None:
    field("member1")
    hub = world.runtime.extras["field_hub"]
    wait_for(lambda: hub.is_local(world.ids["member1"]), what="socket attached")
    hub.flush()
    auth = {"Authorization": f"Bearer {world.tokens['commander']}"}
    items = client.get(f"/api/v1/field/presence?team_id={world.team_id}", headers=auth).get_json()[
        "items"
    ]
    by_name = {i["name"]: i for i in items}
    assert set(by_name) == {"member1", "member2"}
    assert by_name["member1"]["online"] is True
    assert by_name["member2"]["online"] is False and by_name["member2"]["last_seen"] is None
    assert client.get("/api/v1/field/presence").status_code == 401


def test_python_client_swarm_accepts_once_per_assignment(world: World, live_server: str) -> None:
    from dispatch.realtime.client import FieldSwarm

    swarm = FieldSwarm(
        live_server, [world.tokens["member1"], world.tokens["member2"]], accept=True
    ).connect()
    try:
        made = [world.offer_team() for _ in range(3)]

        def all_accepted() -> bool:
            with world.runtime.session_factory() as db:
                states = [db.get(Assignment, i) for i in made]
                return all(a is not None and a.state == "accepted" for a in states)

        wait_for(all_accepted, what="swarm accepts")
        with world.runtime.session_factory() as db:
            assert all(db.get(Assignment, i).version == 2 for i in made)  # type: ignore[union-attr]
        # Both phones heard the offers and the accepts; every delivery gets acknowledged.
        for client in swarm.clients:
            assert client.wait_for(lambda c: c.last_seq >= 6, timeout=10)
            assert client.errors == []
    finally:
        swarm.close()


def test_field_page_stays_public_behind_a_session_guard(world: World, app: Flask) -> None:
    """The Dash shell redirects browsers without a session to /login; the field page signs in
    with its own token form and must not be caught by that."""
    from flask import redirect

    app.before_request(lambda: redirect("/login"))  # registered later, like the shell's guard
    client = app.test_client()
    for path in ("/field", "/field/assets/field.js", "/field/messages.json"):
        with client.get(path) as response:
            assert response.status_code == 200, path
    with client.get("/somewhere-else") as response:
        assert response.status_code == 302
