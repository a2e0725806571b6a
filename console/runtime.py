"""The collaborators of one running app, kept on ``app.extensions["cc"]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dispatch.realtime.bus import EventBus
from dispatch.services.deps import Deps

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from config.reference import Reference
    from config.regions import RegionTree
    from config.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    bus: EventBus
    deps: Deps
    reference: Reference
    regions: RegionTree
    socketio: SocketIO
    #: Callables run on shutdown (workers, streams engine), last started first stopped.
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # shutting down: keep stopping the rest
                import logging

                logging.getLogger(__name__).exception("stopping %s failed", stop)
        self.stoppers.clear()
        self.bus.stop()
        self.engine.dispose()


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["cc"]
    return runtime
