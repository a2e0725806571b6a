"""The audit trail: every state change, assignment and login writes who, when, what, before, after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dispatch.db.models import AuditEntry
from dispatch.services.context import Actor


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: object,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=at,
            actor_id=actor.user_id if actor else None,
            actor_name=actor.username if actor else "anonymous",
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            before=before,
            after=after,
        )
    )
