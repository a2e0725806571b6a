"""Keep the regions table in step with the configured region tree (idempotent, at start-up)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.db.models import Region
from dispatch.domain.codes import Level
from dispatch.domain.jurisdiction import RegionPath


class RegionLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def level(self) -> Level: ...
    @property
    def parent(self) -> str | None: ...
    @property
    def centroid(self) -> tuple[float, float]: ...


def sync_regions(session: Session, regions: Iterable[RegionLike], path_of: object) -> int:
    """Insert or update every configured region; returns how many rows changed.

    Regions are reference data: the configuration is the source of truth, the table exists so
    that foreign keys (users, departments, teams) are checked by the database.
    """
    assert callable(path_of)
    existing = {r.code: r for r in session.scalars(select(Region)).all()}
    changed = 0
    for region in regions:
        path: RegionPath = path_of(region.code)
        values = {
            "name_zh": region.name_zh,
            "name_en": region.name_en,
            "level": region.level.value,
            "parent_code": region.parent,
            "city_code": path.city,
            "county_code": path.county,
            "township_code": path.township,
            "lon": region.centroid[0],
            "lat": region.centroid[1],
        }
        row = existing.get(region.code)
        if row is None:
            session.add(Region(code=region.code, **values))
            changed += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            changed += 1
    return changed
