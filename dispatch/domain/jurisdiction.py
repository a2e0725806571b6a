"""Jurisdiction scoping: a user sees and acts on their own region and everything below it.

Every case carries the codes of its city, county, township and (optionally) grid, so a scope is
one equality on the column of the scope's level. There is deliberately no "no scope" value:
callers must always pass one (tests check that every query path is scoped).
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.domain.codes import Level


@dataclass(frozen=True)
class RegionPath:
    """Where a case, camera or person is: the chain of region codes from the city down."""

    city: str
    county: str | None = None
    township: str | None = None
    grid: str | None = None

    def code_at(self, level: Level) -> str | None:
        return {
            Level.CITY: self.city,
            Level.COUNTY: self.county,
            Level.TOWNSHIP: self.township,
            Level.GRID: self.grid,
        }[level]

    @property
    def deepest(self) -> tuple[Level, str]:
        for level in (Level.GRID, Level.TOWNSHIP, Level.COUNTY):
            code = self.code_at(level)
            if code:
                return level, code
        return Level.CITY, self.city


@dataclass(frozen=True)
class Scope:
    """A user's area: the level of their region and its code."""

    level: Level
    code: str

    def covers(self, path: RegionPath) -> bool:
        """True when ``path`` lies in this scope (the region itself or below it)."""
        return path.code_at(self.level) == self.code

    @property
    def column(self) -> str:
        """The name of the case column that holds codes of this scope's level."""
        return SCOPE_COLUMNS[self.level]


#: Column (on cases, cameras, rollups, ...) that holds the code of each level.
SCOPE_COLUMNS: dict[Level, str] = {
    Level.CITY: "city_code",
    Level.COUNTY: "county_code",
    Level.TOWNSHIP: "township_code",
    Level.GRID: "grid_code",
}


def narrowest(a: Scope, b: Scope, path_of_b: RegionPath) -> Scope | None:
    """The intersection of scope ``a`` with region ``b`` (whose full path is given).

    Returns ``b`` when it lies inside ``a``, ``None`` when it lies outside (a request for
    another area's figures must not leak them).
    """
    return b if a.covers(path_of_b) else None
