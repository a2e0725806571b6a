"""Publish bus events only after the transaction that caused them commits.

Services call ``emit(session, channel, payload)``; the events wait in ``session.info`` and go to
the bus from an ``after_commit`` hook, so a display never hears of a case that a rollback
removed, and a crash between commit and publish loses only a notification (displays re-sync
from the database).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from dispatch.realtime.bus import EventBus

logger = logging.getLogger(__name__)
_KEY = "cc_pending_events"


def emit(session: Session, channel: str, payload: dict[str, Any]) -> None:
    session.info.setdefault(_KEY, []).append((channel, payload))


def install_publisher(factory: sessionmaker[Session], bus: EventBus) -> None:
    """Wire the session factory so committed sessions publish their pending events."""

    @event.listens_for(factory, "after_commit")
    def _publish(session: Session) -> None:
        pending = session.info.pop(_KEY, [])
        for channel, payload in pending:
            bus.publish(channel, payload)

    @event.listens_for(factory, "after_rollback")
    def _discard(session: Session) -> None:
        session.info.pop(_KEY, None)
