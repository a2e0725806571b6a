"""A Python field client for ``/field``: tests, the demo simulator and benchmarks use it.

``FieldClient`` is one phone: it connects with its token and the last sequence number it holds
(so a reconnect replays what it missed), drops repeated deliveries by ``seq``, acknowledges in
small batches, and sends actions with idempotency keys (a retried action applies once).
``FieldSwarm`` runs many of them in one process to simulate many teams.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import socketio

logger = logging.getLogger(__name__)

NAMESPACE = "/field"

OnAssignment = Callable[["FieldClient", dict[str, Any]], None]


def fetch_token(base_url: str, username: str, password: str, timeout: float = 10) -> str:
    """A bearer token from ``POST /api/v1/auth/token``."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/token",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        token: str = json.load(response)["token"]
    return token


class ActionFailed(Exception):
    """The server refused a field action; ``error`` is its ``{code, message, details}``."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error


class FieldClient:
    """One field user's connection: replay on reconnect, dedup by seq, batched acknowledgements."""

    def __init__(
        self,
        base_url: str,
        token: str,
        on_assignment: OnAssignment | None = None,
        lang: str = "zh-CN",
        ack_interval: float = 0.25,
        reconnection: bool = True,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.lang = lang
        self.on_assignment = on_assignment
        self._ack_interval = ack_interval
        self._lock = threading.Lock()
        self._seen: set[int] = set()
        self._high = 0  # every seq up to here has been received
        self._pending_acks: list[int] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []
        self.received_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._acker: threading.Thread | None = None
        self.sio = socketio.Client(
            reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=2
        )
        self.sio.on("assignment", self._on_assignment, namespace=NAMESPACE)
        self.sio.on("error", self._on_error, namespace=NAMESPACE)

    # -- connection ----------------------------------------------------------------------
    def _auth(self) -> dict[str, Any]:
        # Called on every (re)connect, so a reconnect asks for what came after what we hold.
        return {"token": self.token, "last_seq": self.last_seq, "lang": self.lang}

    def connect(self, timeout: float = 10) -> FieldClient:
        self.sio.connect(
            self.base_url,
            namespaces=[NAMESPACE],
            auth=self._auth,
            transports=["websocket"],
            wait_timeout=timeout,
        )
        if self._acker is None:
            self._acker = threading.Thread(
                target=self._ack_loop, name="field-client-ack", daemon=True
            )
            self._acker.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._flush_acks()
        self.sio.shutdown()
        if self._acker is not None:
            self._acker.join(timeout=2)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._high

    # -- receiving -----------------------------------------------------------------------
    def _on_assignment(self, message: dict[str, Any]) -> None:
        seq = message.get("seq")
        if not isinstance(seq, int):
            return
        with self._lock:
            self._pending_acks.append(seq)  # acknowledge repeats too: they stop the re-sends
            new = seq not in self._seen
            if new:
                self._seen.add(seq)
                self.messages[seq] = message
                self.received_at[seq] = time.time()
                while self._high + 1 in self._seen:
                    self._high += 1
        if new and self.on_assignment is not None:
            try:
                self.on_assignment(self, message)
            except Exception:
                logger.exception("field client handler failed on seq %s", seq)

    def _on_error(self, error: dict[str, Any]) -> None:
        with self._lock:
            self.errors.append(error)

    def _ack_loop(self) -> None:
        while not self._stop.wait(self._ack_interval):
            self._flush_acks()

    def _flush_acks(self) -> None:
        with self._lock:
            seqs, self._pending_acks = self._pending_acks, []
        if not seqs or not self.sio.connected:
            with self._lock:
                self._pending_acks[:0] = seqs
            return
        try:
            self.sio.emit("ack", {"seqs": sorted(set(seqs))}, namespace=NAMESPACE)
        except Exception:  # disconnected between the check and the emit: resend later
            with self._lock:
                self._pending_acks[:0] = seqs

    def wait_for(self, check: Callable[[FieldClient], bool], timeout: float = 10) -> bool:
        """Poll ``check(self)`` until true or ``timeout``; returns the last result."""
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # -- acting --------------------------------------------------------------------------
    def act(
        self,
        action: str,
        assignment_id: int,
        idempotency_key: str | None = None,
        timeout: float = 10,
        **fields: Any,
    ) -> dict[str, Any]:
        """Send ``accept``/``refuse``/``report``/``finish``; returns the server's answer.

        Raises:
            ActionFailed: the server refused the action (the error names why).
        """
        payload = {
            "assignment_id": assignment_id,
            "idempotency_key": idempotency_key or uuid.uuid4().hex,
            **fields,
        }
        reply: dict[str, Any] = self.sio.call(action, payload, namespace=NAMESPACE, timeout=timeout)
        if not reply.get("ok"):
            raise ActionFailed(reply.get("error") or {})
        return reply

    def location(self, lat: float, lon: float) -> None:
        self.sio.emit("location", {"lat": lat, "lon": lon}, namespace=NAMESPACE)


class FieldSwarm:
    """Many field clients in one process (simulated teams); each accepts what it is offered.

    ``accept`` False only acknowledges, which is what a phone does before anyone looks at it.
    """

    def __init__(
        self, base_url: str, tokens: Iterable[str], accept: bool = False, lang: str = "zh-CN"
    ) -> None:
        self.clients = [
            FieldClient(base_url, token, on_assignment=self._accept if accept else None, lang=lang)
            for token in tokens
        ]
        self.accepted: set[int] = set()
        self._lock = threading.Lock()

    def _accept(self, client: FieldClient, message: dict[str, Any]) -> None:
        if message.get("kind") != "offered":
            return
        assignment_id = int(message["assignment"]["id"])
        with self._lock:
            if assignment_id in self.accepted:
                return  # a teammate has it
            self.accepted.add(assignment_id)
        # Off the receive thread: a blocking call there would stall this socket's events.
        threading.Thread(target=self._accept_now, args=(client, assignment_id), daemon=True).start()

    @staticmethod
    def _accept_now(client: FieldClient, assignment_id: int) -> None:
        try:
            client.act("accept", assignment_id)
        except Exception as err:
            logger.info("simulated accept of %s failed: %s", assignment_id, err)

    def connect(self) -> FieldSwarm:
        for client in self.clients:
            client.connect()
        return self

    def close(self) -> None:
        # In parallel: each disconnect waits for the server's answer.
        threads = [threading.Thread(target=c.close, daemon=True) for c in self.clients]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=10)
