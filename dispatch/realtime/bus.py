"""The event bus: publish/subscribe between components, in-process or through Redis.

Switching from one to the other is configuration (``CC_REDIS_URL``), not code. The bus carries
notifications only: anything that must not be lost is written to the database first (outbox)
and can be re-read from there, so a subscriber that misses a message re-syncs, it never loses
data.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


class EventBus(Protocol):
    """What every bus offers. Handlers run on a bus thread: keep them short."""

    def publish(self, channel: str, payload: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str, handler: Handler) -> None: ...

    def stop(self) -> None: ...


class InProcessBus:
    """Synchronous fan-out inside one process (the embedded default)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def publish(self, channel: str, payload: dict[str, Any]) -> None:
        with self._lock:
            handlers = list(self._handlers.get(channel, ()))
        for handler in handlers:
            try:
                handler(channel, payload)
            except Exception:  # one broken subscriber must not stop the others
                logger.exception("bus handler failed on channel %s", channel)

    def subscribe(self, channel: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[channel].append(handler)

    def stop(self) -> None:
        with self._lock:
            self._handlers.clear()


class RedisBus:
    """Redis pub/sub; a listener thread reconnects with backoff when Redis goes away."""

    def __init__(self, url: str, prefix: str = "cc:") -> None:
        import redis  # imported here so the embedded default needs no Redis client at all

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._local = InProcessBus()
        self._channels: set[str] = set()
        self._stop = threading.Event()
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def publish(self, channel: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, default=str, ensure_ascii=False)
        try:
            self._redis.publish(self._prefix + channel, data)
        except Exception:
            # Subscribers re-sync from the database; the outbox keeps what must not be lost.
            logger.warning("redis publish on %s failed; subscribers will re-sync", channel)

    def subscribe(self, channel: str, handler: Handler) -> None:
        self._local.subscribe(channel, handler)
        with self._lock:
            self._channels.add(channel)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="redis-bus", daemon=True)
                self._thread.start()
            elif self._pubsub is not None:
                try:
                    self._pubsub.subscribe(self._prefix + channel)
                except Exception:
                    logger.warning("redis subscribe to %s deferred to reconnect", channel)

    def _listen(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                with self._lock:
                    pubsub.subscribe(*[self._prefix + c for c in self._channels])
                    self._pubsub = pubsub
                backoff = 0.2
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    channel = message["channel"].decode()[len(self._prefix) :]
                    self._local.publish(channel, json.loads(message["data"]))
            except Exception:
                if self._stop.is_set():
                    break
                logger.warning("redis bus connection lost; retrying in %.1fs", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._local.stop()


def make_bus(redis_url: str | None) -> EventBus:
    """The bus for a configuration: Redis when a URL is set, in-process otherwise."""
    return RedisBus(redis_url) if redis_url else InProcessBus()
