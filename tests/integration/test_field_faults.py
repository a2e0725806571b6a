"""Fault test: SIGKILL the web process in the middle of a stream of assignments, restart it.

Every assignment that exists in the database afterwards must have reached the field phone and
have been accepted exactly once (one ``assignment_accept`` event each), however the kill fell
between the commit, the push, the acknowledgement and the action.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from config.settings import Settings
from dispatch.db.models import Assignment, CaseEvent, Delivery
from dispatch.realtime.client import ActionFailed, FieldClient
from tests.conftest import REPO_ROOT, TEST_SECRET_KEY, free_port
from tests.integration.test_field_support import World, field_app, seed_world

pytestmark = [
    pytest.mark.slow,
    # websocket-client 1.9 leaves the socket of a connection whose server was SIGKILLed for the
    # garbage collector; that is the library's clean-up, not a leak of ours.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

# The same as `python -m console run`, with only the dispatcher's extensions: this test is about
# the dispatcher surviving a kill, not about every page of the product starting.
SERVER = """
import sys
from config.settings import load_settings
from console.app import create_app
from tests.integration.test_field_support import FIELD_EXTENSIONS
settings = load_settings()
app = create_app(settings, extensions=FIELD_EXTENSIONS)
app.extensions["socketio"].run(app, host="127.0.0.1", port=settings.port,
                               allow_unsafe_werkzeug=True, use_reloader=False, log_output=False)
"""


class Server:
    """The web process, started and killed like an operator (or the OOM killer) would."""

    def __init__(
        self, database_url: str, data_dir: Path, port: int, redis_url: str | None = None
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CC_")},
            "CC_DATABASE_URL": database_url,
            "CC_DATA_DIR": str(data_dir),
            "CC_SECRET_KEY": TEST_SECRET_KEY,
            "CC_SIMULATOR": "false",
            "CC_STREAMS_ENABLED": "false",
            "CC_PORT": str(port),
            "PYTHONPATH": str(REPO_ROOT),
            **({"CC_REDIS_URL": redis_url} if redis_url else {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def post(url: str, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.load(response)
        return result


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    yield from field_app(settings)


def test_sigkill_mid_stream_loses_nothing_and_applies_once(
    app: Flask, settings: Settings, tmp_path: Path
) -> None:
    world: World = seed_world(app)
    township = next(r for r in world.runtime.regions if r.level.value == "township").code
    server = Server(settings.database_url, tmp_path / "server-data", free_port())
    server.start()
    stop_producing = threading.Event()
    accepted: dict[int, dict[str, Any]] = {}
    refused: list[Any] = []

    def accept(client: FieldClient, message: dict[str, Any]) -> None:
        if message["kind"] != "offered":
            return
        assignment_id = message["assignment"]["id"]
        # A key per assignment, kept across retries: the retry after a kill applies once.
        key = f"fault-{assignment_id}-{uuid.uuid4().hex[:8]}"

        def run() -> None:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                try:
                    accepted[assignment_id] = client.act("accept", assignment_id, key, timeout=3)
                    return
                except ActionFailed as err:
                    refused.append(err.error)
                    return
                except Exception:  # disconnected or timed out: the server is away; try again
                    time.sleep(0.2)

        threading.Thread(target=run, daemon=True).start()

    phone = FieldClient(server.url, world.tokens["member1"], on_assignment=accept, lang="en")
    phone.connect()

    def produce() -> None:
        while not stop_producing.is_set():
            try:
                case = post(
                    server.url,
                    world.tokens["commander"],
                    "/api/v1/cases",
                    {
                        "title": "断电纠纷",
                        "category": "neighbour",
                        "source": "hotline",
                        "region_code": township,
                        "level": "township",
                        "route_to": "triage",
                    },
                )
                post(
                    server.url,
                    world.tokens["commander"],
                    f"/api/v1/cases/{case['id']}/assignments",
                    {"targets": [{"kind": "team", "id": world.team_id}]},
                )
            except Exception:  # the server is down; keep trying like a dispatcher would
                time.sleep(0.1)

    producer = threading.Thread(target=produce, daemon=True)
    try:
        producer.start()
        time.sleep(2.5)
        server.kill()
        time.sleep(0.5)
        server.start()
        time.sleep(2.0)
        stop_producing.set()
        producer.join(timeout=10)

        with world.runtime.session_factory() as db:
            made = set(db.scalars(select(Assignment.id)))
        assert len(made) >= 5, "the stream was too short to mean anything"

        def all_done(_c: FieldClient) -> bool:
            got = {m["assignment"]["id"] for m in phone.messages.values() if m["kind"] == "offered"}
            return made <= got and made <= set(accepted)

        assert phone.wait_for(all_done, timeout=45), (
            f"missing deliveries {sorted(made - {m['assignment']['id'] for m in phone.messages.values()})}"
            f", missing accepts {sorted(made - set(accepted))}"
        )
        assert refused == []
        with world.runtime.session_factory() as db:
            states = {
                row.id: row.state for row in db.execute(select(Assignment.id, Assignment.state))
            }
            assert set(states.values()) == {"accepted"}
            accepts = db.scalars(
                select(CaseEvent.data).where(CaseEvent.kind == "assignment_accept")
            ).all()
            counts = Counter(int(data["assignment_id"]) for data in accepts)
            assert set(counts) == made
            assert set(counts.values()) == {1}
            # Sequence numbers stayed gap-free across the kill.
            seqs = sorted(
                db.scalars(
                    select(Delivery.seq).where(Delivery.recipient_id == world.ids["member1"])
                )
            )
            assert seqs == list(range(1, len(seqs) + 1))
        assert phone.last_seq == seqs[-1] or phone.wait_for(
            lambda c: c.last_seq == seqs[-1], timeout=10
        )
    finally:
        stop_producing.set()
        phone.close()
        server.stop()


class PrivateRedis:
    """A Redis server of this test's own (stopping the shared one would disturb others)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def test_redis_restart_with_two_web_processes_loses_nothing(
    app: Flask, settings: Settings, tmp_path: Path
) -> None:
    """Phone on process A, dispatcher on process B; Redis dies and comes back mid-stream."""
    world: World = seed_world(app)
    township = next(r for r in world.runtime.regions if r.level.value == "township").code
    redis_server = PrivateRedis(free_port(), tmp_path / "redis")
    redis_server.start()
    a = Server(settings.database_url, tmp_path / "a", free_port(), redis_server.url)
    b = Server(settings.database_url, tmp_path / "b", free_port(), redis_server.url)
    phone = FieldClient(a.url, world.tokens["member1"], lang="en")
    made: list[int] = []

    def offer_through_b() -> None:
        case = post(
            b.url,
            world.tokens["commander"],
            "/api/v1/cases",
            {
                "title": "停电纠纷",
                "category": "neighbour",
                "source": "hotline",
                "region_code": township,
                "level": "township",
                "route_to": "triage",
            },
        )
        items = post(
            b.url,
            world.tokens["commander"],
            f"/api/v1/cases/{case['id']}/assignments",
            {"targets": [{"kind": "team", "id": world.team_id}]},
        )
        made.append(items["items"][0]["id"])

    def offered() -> set[int]:
        return {m["assignment"]["id"] for m in phone.messages.values() if m["kind"] == "offered"}

    try:
        a.start()
        b.start()
        phone.connect()
        for _ in range(3):
            offer_through_b()
        # Through Redis: committed on B, pushed to the phone's socket on A.
        # Under the 3 s of the first re-send: this is the push, not the retry loop.
        assert phone.wait_for(lambda _c: set(made) <= offered(), timeout=2.5), "before the outage"
        redis_server.kill()
        for _ in range(3):
            offer_through_b()  # committed; the push has no message queue to go through
        redis_server.start()
        # A's re-send loop (first re-send 3 s after the write) delivers what the push lost.
        assert phone.wait_for(lambda _c: set(made) <= offered(), timeout=30), (
            f"missing after Redis came back: {sorted(set(made) - offered())}"
        )
        assert len(made) == 6
        with world.runtime.session_factory() as db:
            seqs = sorted(
                db.scalars(
                    select(Delivery.seq).where(Delivery.recipient_id == world.ids["member1"])
                )
            )
        assert seqs == list(range(1, 7))
        assert phone.wait_for(lambda c: c.last_seq == 6, timeout=5)
    finally:
        phone.close()
        a.stop()
        b.stop()
        redis_server.kill()
