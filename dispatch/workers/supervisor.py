"""The supervision clock as a worker: ``supervision.tick`` every few seconds on a daemon thread.

Runs inside the web process by default; as its own process it needs only a session factory and
the bus (its Socket.IO pushes go through the Redis message queue).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from console.runtime import Runtime
from dispatch.services import supervision
from dispatch.services.deps import Deps

logger = logging.getLogger(__name__)

#: Seconds between ticks; a yellow card is then at most this late.
INTERVAL = 5.0


class Supervisor:
    """Calls ``supervision.tick(session, deps, deps.now())`` every ``interval`` seconds."""

    def __init__(
        self, factory: sessionmaker[Session], deps: Deps, interval: float = INTERVAL
    ) -> None:
        self._factory = factory
        self._deps = deps
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[supervision.TakenStep]:
        with self._factory.begin() as db:
            return supervision.tick(db, self._deps, self._deps.now())

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                taken = self.run_once()
            except Exception:  # a database hiccup must not end supervision: next tick retries
                logger.exception("supervision tick failed")
                continue
            if taken:
                logger.info("supervision took %d steps", len(taken))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def init_app(app: Flask, runtime: Runtime) -> None:
    """Start the supervision clock in this process; stopped with the runtime.

    In a web process the /field extension has already installed the delivery outbox hook. In a
    worker-only process it is installed here, pushing through Socket.IO (with a Redis message
    queue the web processes holding the sockets deliver; without one, their re-send loops do).
    """
    from dispatch.realtime.delivery import EVENT, NAMESPACE, user_room
    from dispatch.services import delivery

    def push(items: Sequence[delivery.Pushed]) -> None:
        for item in items:
            runtime.socketio.emit(
                EVENT, item.message(), to=user_room(item.recipient_id), namespace=NAMESPACE
            )

    delivery.install(runtime.session_factory, runtime.deps.now, push)
    worker = Supervisor(runtime.session_factory, runtime.deps)
    worker.start()
    runtime.stoppers.append(worker.stop)
    runtime.extras["supervisor"] = worker
