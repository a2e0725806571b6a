"""Integration fixtures: Socket.IO clients over real websockets against ``live_server``, and the
hall tests' reference data and users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import socketio
from flask import Flask

from dispatch.services import seed
from tests.integration.api.helpers import CITY, TOWN_A, add_user

CONNECT_TIMEOUT = 10
CLOSE_TIMEOUT = 0.2


@pytest.fixture
def people(app: Flask) -> None:
    """Reference data, a city duty officer ``duty`` and a township mediator ``towny``."""
    rt = app.extensions["cc"]
    with rt.session_factory.begin() as db:
        seed.seed_reference(db, rt.regions, rt.reference)
    add_user(app, "duty", "duty_officer", CITY)
    add_user(app, "towny", "mediator", TOWN_A)


@pytest.fixture
def sio_client_factory(live_server: str) -> Iterator[Callable[..., socketio.Client]]:
    """Connect python-socketio clients to the live server; all are disconnected at the end.

    ``sio_client_factory(namespaces=["/hall"], auth={"token": ...})`` returns a connected
    ``socketio.Client`` (websocket transport, no reconnection). Register handlers before
    connecting by passing ``handlers={("/hall", "event_name"): callback}``.
    """
    clients: list[socketio.Client] = []

    def connect(
        namespaces: list[str] | None = None,
        auth: dict[str, Any] | None = None,
        handlers: dict[tuple[str, str], Callable[..., Any]] | None = None,
        transports: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> socketio.Client:
        client = socketio.Client(reconnection=False)
        for (namespace, event), handler in (handlers or {}).items():
            client.on(event, handler, namespace=namespace)
        clients.append(client)
        client.connect(
            live_server,
            namespaces=namespaces or ["/"],
            auth=auth,
            headers=headers or {},
            transports=transports or ["websocket"],
            wait_timeout=CONNECT_TIMEOUT,
        )
        return client

    yield connect
    for client in clients:
        _shorten_close_handshake(client)
        # Disconnects and stops any reconnection attempt before the server goes away.
        client.shutdown()


def _shorten_close_handshake(client: socketio.Client) -> None:
    """Cap the wait for the server's websocket close frame at ``CLOSE_TIMEOUT``.

    Werkzeug's threaded server (the embedded default) ends the websocket when engine.io's close
    packet arrives and never answers the client's close frame, so websocket-client's
    ``close()`` waits its full default of 3 s: 3 s per client per test, for nothing.
    """
    ws = getattr(client.eio, "ws", None)
    if ws is None:
        return
    close = ws.close

    def quick_close(*args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = min(float(kwargs.get("timeout", CLOSE_TIMEOUT)), CLOSE_TIMEOUT)
        return close(*args, **kwargs)

    ws.close = quick_close
