"""The /hall namespace over real websockets: session required, rooms per scope, numbered
batches with consecutive sequence numbers, no personal data, overflow forces a re-sync."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import socketio
from flask import Flask
from flask.testing import FlaskClient

from config.regions import load_regions
from dispatch.realtime import channels
from dispatch.realtime.hall import BATCH_EVENT, HELLO_EVENT, NAMESPACE, ROOM_BACKLOG, HallHub
from dispatch.services import seed
from tests.integration.api.helpers import (
    CITY,
    PASSWORD,
    TOWN_A,
    TOWN_B,
    add_user,
    case_payload,
    token,
)

SQLITE_ONLY = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


class Inbox:
    """Collects hello and batch messages of one display."""

    def __init__(self) -> None:
        self.hello: dict[str, Any] | None = None
        self.batches: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def on_hello(self, data: dict[str, Any]) -> None:
        self.hello = data

    def on_batch(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.batches.append(data)

    def case_ids(self) -> set[int]:
        with self.lock:
            return {e["case"]["id"] for b in self.batches for e in b["events"] if e.get("case")}

    def wait_for(self, case_id: int, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if case_id in self.case_ids():
                return True
            time.sleep(0.02)
        return False


def session_cookie(app: Flask, username: str) -> str:
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    return f"session={cookie.value}"


def display(factory: Any, cookie: str) -> Inbox:
    inbox = Inbox()
    factory(
        namespaces=[NAMESPACE],
        headers={"Cookie": cookie},
        handlers={
            (NAMESPACE, HELLO_EVENT): inbox.on_hello,
            (NAMESPACE, BATCH_EVENT): inbox.on_batch,
        },
    )
    end = time.monotonic() + 5
    while inbox.hello is None and time.monotonic() < end:
        time.sleep(0.02)
    assert inbox.hello is not None
    return inbox


@SQLITE_ONLY
def test_display_without_a_session_is_refused(live_server: str) -> None:
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            live_server, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=5
        )
    client.shutdown()


@SQLITE_ONLY
def test_batches_are_numbered_scoped_and_masked(
    app: Flask, client: FlaskClient, people: None, sio_client_factory: Any
) -> None:
    city = display(sio_client_factory, session_cookie(app, "duty"))
    town = display(sio_client_factory, session_cookie(app, "towny"))
    assert city.hello is not None and city.hello["room"] == f"city:{CITY}"
    assert town.hello is not None and town.hello["room"] == f"township:{TOWN_A}"
    headers = token(client, "duty")
    here = client.post("/api/v1/cases", json=case_payload(TOWN_A), headers=headers).get_json()
    there = client.post("/api/v1/cases", json=case_payload(TOWN_B), headers=headers).get_json()
    assert city.wait_for(here["id"]) and city.wait_for(there["id"])
    assert town.wait_for(here["id"])
    time.sleep(0.5)
    assert there["id"] not in town.case_ids()
    for inbox in (city, town):
        assert inbox.hello is not None
        seqs = [b["seq"] for b in inbox.batches]
        assert seqs == list(range(inbox.hello["seq"] + 1, inbox.hello["seq"] + 1 + len(seqs)))
        text = str(inbox.batches)
        assert "parties" not in text and "id_number" not in text and "phone" not in text
    kinds = {e["channel"] for b in city.batches for e in b["events"]}
    assert {channels.CASES, channels.KPI} <= kinds


@SQLITE_ONLY
def test_a_room_nobody_watches_is_numbered_but_not_sent(
    app: Flask, client: FlaskClient, people: None, sio_client_factory: Any
) -> None:
    from dispatch.realtime.hall import hub_of

    hub = hub_of(app.extensions["cc"])
    assert hub is not None
    city = display(sio_client_factory, session_cookie(app, "duty"))
    room = f"township:{TOWN_A}"
    before = hub.seq(room)
    sent_before = hub.emitted_batches
    case = client.post(
        "/api/v1/cases", json=case_payload(TOWN_A), headers=token(client, "duty")
    ).get_json()
    assert city.wait_for(case["id"])
    time.sleep(0.2)
    # The township room moved on although nobody watched it; only the city's batches (case
    # and figures) were sent, not the county's or the township's.
    assert hub.seq(room) > before
    sent = hub.emitted_batches - sent_before
    assert 1 <= sent <= len(city.batches)
    # A township display that read its snapshot before that case now sees a newer number in
    # its hello than in its snapshot, and re-syncs.
    town = display(sio_client_factory, session_cookie(app, "towny"))
    assert town.hello is not None and town.hello["seq"] == hub.seq(room) > before


class _Sio:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    def emit(self, event: str, data: dict[str, Any], to: str, namespace: str) -> None:
        self.sent.append((event, data, to))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Runtime:
    def __init__(self) -> None:
        from config.settings import DEFAULT_CONFIG_DIR

        self.socketio = _Sio()
        self.regions = load_regions(DEFAULT_CONFIG_DIR)


def test_events_route_to_every_level_and_overflow_skips_a_number() -> None:
    rt = _Runtime()
    hub = HallHub(rt)  # type: ignore[arg-type]
    case = {
        "id": 1,
        "city_code": CITY,
        "county_code": "990102",
        "township_code": TOWN_A,
        "status": "open",
    }
    hub.on_event(channels.CASES, {"type": "case_created", "case": case})
    assert hub.flush() == 3
    rooms = sorted(to for _, _, to in rt.socketio.sent)
    assert rooms == sorted([f"city:{CITY}", "county:990102", f"township:{TOWN_A}"])
    assert all(data["seq"] == 1 for _, data, _ in rt.socketio.sent)
    for _ in range(ROOM_BACKLOG + 1):
        hub.on_event(channels.CASES, {"type": "case_changed", "case": case})
    rt.socketio.sent.clear()
    hub.flush()
    seqs = {to: data["seq"] for _, data, to in rt.socketio.sent}
    assert seqs[f"city:{CITY}"] == 3  # 2 was skipped: displays see the gap and re-sync


def test_alert_acknowledge_is_scoped() -> None:
    from dispatch.domain.codes import Level
    from dispatch.domain.jurisdiction import Scope

    rt = _Runtime()
    hub = HallHub(rt)  # type: ignore[arg-type]
    hub.on_event(
        channels.ALERTS,
        {"type": "alert_raised", "alert": {"id": "a1", "level": "purple", "region_code": TOWN_B}},
    )
    assert hub.alerts(Scope(Level.CITY, CITY))[0]["level"] == "blue"  # unknown level: lowest
    assert hub.alerts(Scope(Level.TOWNSHIP, TOWN_A)) == []
    assert [a["id"] for a in hub.alerts(Scope(Level.TOWNSHIP, TOWN_B))] == ["a1"]


@SQLITE_ONLY
def test_two_web_processes_on_redis_deliver_each_batch_once(
    app_factory: Any, redis_url: str, sio_client_factory: Any
) -> None:
    """Scaled out: two apps share the Redis bus and Socket.IO queue; each display gets every
    event once, in consecutive batches, whichever process it is connected to."""
    import socketio as sio_lib
    from werkzeug.serving import make_server

    from tests.conftest import free_port

    first = app_factory(redis_url=redis_url)
    second = app_factory(redis_url=redis_url)
    rt = first.extensions["cc"]
    with rt.session_factory.begin() as db:
        seed.seed_reference(db, rt.regions, rt.reference)
    add_user(first, "duty", "duty_officer", CITY)
    servers = []
    inboxes = []
    clients = []
    try:
        for app in (first, second):
            port = free_port()
            server = make_server("127.0.0.1", port, app, threaded=True)
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            ).start()
            servers.append(server)
            inbox = Inbox()
            client = sio_lib.Client(reconnection=False)
            client.on(HELLO_EVENT, inbox.on_hello, namespace=NAMESPACE)
            client.on(BATCH_EVENT, inbox.on_batch, namespace=NAMESPACE)
            client.connect(f"http://127.0.0.1:{port}", namespaces=[NAMESPACE], transports=["websocket"],
                           headers={"Cookie": session_cookie(app, "duty")}, wait_timeout=10)  # fmt: skip
            clients.append(client)
            inboxes.append(inbox)
        time.sleep(0.5)
        api = first.test_client()
        headers = token(api, "duty")
        made = [
            api.post("/api/v1/cases", json=case_payload(TOWN_A), headers=headers).get_json()["id"]
            for _ in range(3)
        ]
        for inbox in inboxes:
            assert all(inbox.wait_for(case_id) for case_id in made)
        time.sleep(0.5)
        for inbox in inboxes:
            created = [
                e["case"]["id"]
                for b in inbox.batches
                for e in b["events"]
                if e.get("type") == "case_created"
            ]
            assert sorted(created) == sorted(made)  # once each, not once per process
            seqs = [b["seq"] for b in inbox.batches]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        for client in clients:
            client.shutdown()
        for server in servers:
            server.shutdown()
            server.server_close()


@SQLITE_ONLY
def test_presence_reaches_its_regions_rooms_with_the_name_only(
    app: Flask, people: None, sio_client_factory: Any
) -> None:
    add_user(app, "townb", "mediator", TOWN_B)
    city = display(sio_client_factory, session_cookie(app, "duty"))
    here = display(sio_client_factory, session_cookie(app, "towny"))
    there = display(sio_client_factory, session_cookie(app, "townb"))
    rt = app.extensions["cc"]
    rt.bus.publish(
        channels.PRESENCE,
        {"type": "presence", "user_id": 41, "name": "王网格", "team_id": 3, "department_id": 5,
         "region_code": TOWN_A, "online": True, "last_seen": "2026-01-01T00:00:00+00:00",
         "lat": 30.1, "lon": 106.2},
    )  # fmt: skip

    def presence(inbox: Inbox) -> list[dict[str, Any]]:
        with inbox.lock:
            return [e for b in inbox.batches for e in b["events"] if e["channel"] == "presence"]

    end = time.monotonic() + 5
    while time.monotonic() < end and not (presence(city) and presence(here)):
        time.sleep(0.02)
    time.sleep(0.3)
    [event] = presence(here)
    assert presence(city) == [event]
    assert presence(there) == []
    assert event == {
        "channel": "presence", "user_id": 41, "name": "王网格", "region_code": TOWN_A,
        "online": True, "last_seen": "2026-01-01T00:00:00+00:00", "lat": 30.1, "lon": 106.2,
    }  # fmt: skip


@SQLITE_ONLY
def test_online_field_staff_are_scoped_and_fresh(app: Flask, people: None) -> None:
    from datetime import timedelta

    from dispatch.domain.codes import Level
    from dispatch.domain.jurisdiction import Scope
    from dispatch.services import delivery, presence

    ids = {
        "grid_a": add_user(app, "grid_a", "grid_worker", TOWN_A),
        "grid_b": add_user(app, "grid_b", "grid_worker", TOWN_B),
        "grid_old": add_user(app, "grid_old", "grid_worker", TOWN_A),
    }
    rt = app.extensions["cc"]
    now = rt.deps.now()
    with rt.session_factory.begin() as db:
        delivery.update_presence(db, ids["grid_a"], now, True, 30.1, 106.2)
        delivery.update_presence(db, ids["grid_b"], now, True)
        delivery.update_presence(db, ids["grid_old"], now - timedelta(minutes=10), True)
    with rt.session_factory() as db:
        town = presence.online_in_area(db, rt.regions, Scope(Level.TOWNSHIP, TOWN_A), now)
        city = presence.online_in_area(db, rt.regions, Scope(Level.CITY, CITY), now)
    assert [p["user_id"] for p in town] == [ids["grid_a"]]
    assert town[0]["lat"] == 30.1 and set(town[0]) == {
        "user_id", "name", "region_code", "online", "last_seen", "lat", "lon",
    }  # fmt: skip
    assert {p["user_id"] for p in city} == {ids["grid_a"], ids["grid_b"]}
