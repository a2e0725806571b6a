"""Field presence for the hall: who of the field staff is online in an area, and where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.regions import RegionTree
from dispatch.db.models import FieldPresence, User
from dispatch.domain.jurisdiction import Scope
from dispatch.services.delivery import STALE_AFTER

#: At most this many people on a display (keeps the hall's payload bounded).
PRESENCE_LIMIT = 2000


def presence_point(
    user_id: int,
    name: str,
    region_code: str | None,
    online: bool,
    last_seen: str | None,
    lat: float | None,
    lon: float | None,
) -> dict[str, Any]:
    """What a display may know of one field user: the display name and no other personal data."""
    return {
        "user_id": user_id,
        "name": name,
        "region_code": region_code,
        "online": online,
        "last_seen": last_seen,
        "lat": lat,
        "lon": lon,
    }


def online_in_area(
    session: Session,
    regions: RegionTree,
    scope: Scope,
    now: datetime,
    limit: int = PRESENCE_LIMIT,
) -> list[dict[str, Any]]:
    """Online field users whose region lies in ``scope``, most recently seen first.

    A row marked online whose ``last_seen`` is older than :data:`STALE_AFTER` is left out
    (its web process died without marking it offline). Users without a known location are
    included (they count as online) with ``lat``/``lon`` ``None``.

    Args:
        session: An open session.
        regions: The region tree, to place each user's region in the scope.
        scope: The display's area.
        now: The current time.
        limit: The most rows read.
    """
    rows = session.execute(
        select(
            User.id,
            User.display_name,
            User.region_code,
            FieldPresence.last_seen,
            FieldPresence.lat,
            FieldPresence.lon,
        )
        .join(FieldPresence, FieldPresence.user_id == User.id)
        .where(
            FieldPresence.online.is_(True),
            FieldPresence.last_seen >= now - STALE_AFTER,
            User.active.is_(True),
        )
        .order_by(FieldPresence.last_seen.desc(), User.id)
        .limit(limit)
    ).all()
    return [
        presence_point(int(uid), str(name), region, True, seen.isoformat(), lat, lon)
        for uid, name, region, seen, lat, lon in rows
        if region in regions and regions.is_within(str(region), scope.code)
    ]
