"""The region tree (city → counties → townships → grids) read from ``config/regions/*.geojson``."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.errors import ConfigError
from dispatch.domain.codes import LEVEL_ORDER, Level
from dispatch.domain.jurisdiction import RegionPath

REGIONS_DIR = "regions"

LonLat = tuple[float, float]
Ring = tuple[LonLat, ...]
#: One polygon: its exterior ring, then its holes.
PolygonRings = tuple[Ring, ...]
BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

#: Administrative-style code shapes: 6 digits for city and county, 9 for townships, 12 for grids.
CODE_PATTERNS: dict[Level, re.Pattern[str]] = {
    Level.CITY: re.compile(r"^\d{4}00$"),
    Level.COUNTY: re.compile(r"^\d{6}$"),
    Level.TOWNSHIP: re.compile(r"^\d{9}$"),
    Level.GRID: re.compile(r"^\d{12}$"),
}


@dataclass(frozen=True)
class Region:
    """One area of the tree, with its outline for maps and point location."""

    code: str
    name_zh: str
    name_en: str
    level: Level
    parent: str | None
    centroid: LonLat
    bbox: BBox
    population: int
    polygons: tuple[PolygonRings, ...] = field(repr=False, compare=False)

    def name(self, lang: str = "zh-CN") -> str:
        return self.name_en if lang.lower().startswith("en") else self.name_zh

    def contains(self, lon: float, lat: float) -> bool:
        """True when the point lies inside the outline (holes excluded)."""
        min_lon, min_lat, max_lon, max_lat = self.bbox
        if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            return False
        return any(_in_polygon(poly, lon, lat) for poly in self.polygons)

    def geometry(self) -> dict[str, Any]:
        """The outline as a GeoJSON geometry."""
        coords = [[[list(p) for p in ring] for ring in poly] for poly in self.polygons]
        if len(coords) == 1:
            return {"type": "Polygon", "coordinates": coords[0]}
        return {"type": "MultiPolygon", "coordinates": coords}


class _Properties(BaseModel):
    # Extra properties are ignored on purpose: GIS exports of a real city carry many.
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str = Field(min_length=6, max_length=12, description="Administrative-style code.")
    name_zh: str = Field(min_length=1, max_length=60, description="Chinese name.")
    name_en: str = Field(min_length=1, max_length=120, description="English name.")
    level: Level = Field(description="city, county, township or grid.")
    parent: str | None = Field(default=None, description="Code of the parent; null for the city.")
    centroid: tuple[float, float] | None = Field(
        default=None, description="[lon, lat] label point; computed from the outline if absent."
    )
    population: int = Field(default=0, ge=0, le=100_000_000, description="Residents.")


class RegionTree:
    """All regions of one city, indexed by code; build it with :func:`load_regions`."""

    def __init__(self, regions: list[Region], source: Path, title: str = "", demo: bool = False):
        self.source = source
        self.title = title
        self.demo = demo
        self._by_code: dict[str, Region] = {r.code: r for r in regions}
        self._children: dict[str, list[Region]] = {r.code: [] for r in regions}
        for r in sorted(regions, key=lambda r: r.code):
            if r.parent is not None:
                self._children[r.parent].append(r)
        self._city = next(r for r in regions if r.level is Level.CITY)
        self._collections: dict[tuple[Level, str | None], dict[str, Any]] = {}

    # --- lookup -------------------------------------------------------------------------

    @property
    def city(self) -> Region:
        return self._city

    def get(self, code: str) -> Region:
        """The region with ``code``.

        Raises:
            KeyError: no such region.
        """
        return self._by_code[code]

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Region]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def at_level(self, level: Level | str) -> list[Region]:
        """Every region of one level, ordered by code."""
        wanted = Level(level)
        return sorted((r for r in self._by_code.values() if r.level is wanted), key=_code)

    def children(self, code: str) -> list[Region]:
        """The regions directly below ``code``, ordered by code."""
        self.get(code)
        return list(self._children[code])

    def descendants(self, code: str, level: Level | str | None = None) -> list[Region]:
        """Every region below ``code`` (not itself), optionally only those of ``level``."""
        level = None if level is None else Level(level)
        out: list[Region] = []
        stack = list(reversed(self.children(code)))
        while stack:
            region = stack.pop()
            if level is None or region.level is level:
                out.append(region)
            stack.extend(reversed(self._children[region.code]))
        return out

    def ancestors(self, code: str) -> list[Region]:
        """``code`` and the regions above it, from the city down."""
        chain = [self.get(code)]
        while chain[-1].parent is not None:
            chain.append(self.get(chain[-1].parent))
        return chain[::-1]

    def path(self, code: str) -> RegionPath:
        """The chain of codes from the city down to ``code``."""
        codes = {r.level: r.code for r in self.ancestors(code)}
        return RegionPath(
            city=codes[Level.CITY],
            county=codes.get(Level.COUNTY),
            township=codes.get(Level.TOWNSHIP),
            grid=codes.get(Level.GRID),
        )

    def name(self, code: str, lang: str = "zh-CN") -> str:
        """Display name of ``code``; an unknown code returns itself (visible, not fatal)."""
        region = self._by_code.get(code)
        return region.name(lang) if region is not None else code

    def is_within(self, code: str, ancestor: str) -> bool:
        """True when ``code`` is ``ancestor`` or lies below it."""
        return any(r.code == ancestor for r in self.ancestors(code))

    # --- maps ---------------------------------------------------------------------------

    def feature_collection(self, level: Level | str, within: str | None = None) -> dict[str, Any]:
        """GeoJSON of every region of ``level`` (below ``within`` if given) for plotly.

        Each feature's ``id`` is the region code, so ``locations=codes`` with
        ``featureidkey="id"`` (plotly's default) joins figures to outlines. The result is cached
        and shared: treat it as read-only.
        """
        level = Level(level)
        key = (level, within)
        cached = self._collections.get(key)
        if cached is not None:
            return cached
        regions = (
            self.at_level(level)
            if within is None
            else [r for r in [self.get(within), *self.descendants(within)] if r.level is level]
        )
        collection = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": r.code,
                    "properties": {
                        "code": r.code,
                        "name_zh": r.name_zh,
                        "name_en": r.name_en,
                        "level": r.level.value,
                        "parent": r.parent,
                        "population": r.population,
                    },
                    "geometry": r.geometry(),
                }
                for r in regions
            ],
        }
        self._collections[key] = collection
        return collection

    # --- geometry -----------------------------------------------------------------------

    def locate(self, lon: float, lat: float, level: Level | str | None = None) -> Region | None:
        """The deepest region containing the point (or the one at ``level``); None outside.

        Descends from the city, so each step tests only the children of the last match.
        """
        level = None if level is None else Level(level)
        if not self._city.contains(lon, lat):
            return None
        found = self._city
        while level is None or found.level is not level:
            nxt = next((c for c in self._children[found.code] if c.contains(lon, lat)), None)
            if nxt is None:
                # On a shared edge, rounding can leave a point in no child: keep the parent
                # unless a specific deeper level was asked for.
                return found if level is None else None
            found = nxt
        return found

    def random_point(self, code: str, rng: random.Random) -> LonLat:
        """A uniformly random point inside ``code`` (rejection sampling in its bounding box)."""
        region = self.get(code)
        min_lon, min_lat, max_lon, max_lat = region.bbox
        for _ in range(10_000):
            lon, lat = rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)
            if region.contains(lon, lat):
                return (round(lon, 6), round(lat, 6))
        # A sliver the sampler keeps missing: the label point is a safe answer.
        return region.centroid

    def nearest(self, lon: float, lat: float, level: Level | str) -> Region:
        """The region of ``level`` whose centroid is nearest to the point."""
        candidates = self.at_level(level)
        if not candidates:
            raise KeyError(f"no regions at level {level}")
        return min(candidates, key=lambda r: _distance_km((lon, lat), r.centroid))


def load_regions(config_dir: Path | str) -> RegionTree:
    """Read and validate the one GeoJSON file in ``<config_dir>/regions/`` (cached per file).

    Raises:
        ConfigError: no file or several, bad JSON, duplicate code, missing parent, level
            mismatch, a code not prefixed by its parent's, a bad outline.
    """
    folder = Path(config_dir) / REGIONS_DIR
    files = sorted(folder.glob("*.geojson"))
    if not files:
        raise ConfigError(folder, "", "no *.geojson region file found")
    if len(files) > 1:
        names = ", ".join(f.name for f in files)
        raise ConfigError(folder, "", f"expected one region file, found several: {names}")
    path = files[0].resolve()
    return _load(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load(path: Path, stamp: int) -> RegionTree:
    del stamp  # cache key only: an edited file is read again
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(path, "", f"cannot read: {err}") from err
    except json.JSONDecodeError as err:
        raise ConfigError(path, "", f"not valid JSON: {err}") from err
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ConfigError(path, "type", "must be a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise ConfigError(path, "features", "must be a non-empty list")
    regions = [_region(path, i, f) for i, f in enumerate(features)]
    _check_tree(path, regions)
    return RegionTree(regions, path, str(data.get("name", "")), bool(data.get("demo", False)))


def _region(path: Path, i: int, feature: Any) -> Region:
    key = f"features.{i}"
    if not isinstance(feature, dict):
        raise ConfigError(path, key, "must be a GeoJSON Feature")
    try:
        props = _Properties.model_validate(feature.get("properties"))
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        sub = ".".join(str(p) for p in first["loc"])
        raise ConfigError(path, f"{key}.properties.{sub}".rstrip("."), first["msg"]) from err
    where = f"{key} ({props.code})"
    if not CODE_PATTERNS[props.level].match(props.code):
        raise ConfigError(path, f"{where}.properties.code", f"not a valid {props.level.value} code")
    polygons = _polygons(path, f"{where}.geometry", feature.get("geometry"))
    points = [p for poly in polygons for p in poly[0]]
    bbox = (
        min(p[0] for p in points),
        min(p[1] for p in points),
        max(p[0] for p in points),
        max(p[1] for p in points),
    )
    centroid = props.centroid or _centroid(polygons)
    return Region(
        code=props.code,
        name_zh=props.name_zh,
        name_en=props.name_en,
        level=props.level,
        parent=props.parent,
        centroid=(float(centroid[0]), float(centroid[1])),
        bbox=bbox,
        population=props.population,
        polygons=polygons,
    )


def _polygons(path: Path, key: str, geometry: Any) -> tuple[PolygonRings, ...]:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ConfigError(path, key, "must be a Polygon or MultiPolygon")
    coords = geometry.get("coordinates")
    if not isinstance(coords, list):
        raise ConfigError(path, f"{key}.coordinates", "must be a list")
    raw: list[Any] = [coords] if geometry["type"] == "Polygon" else coords
    try:
        polygons = tuple(
            tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in poly) for poly in raw
        )
    except (TypeError, ValueError, IndexError) as err:
        raise ConfigError(path, f"{key}.coordinates", "must be lists of [lon, lat]") from err
    for poly in polygons:
        if not poly:
            raise ConfigError(path, f"{key}.coordinates", "empty polygon")
        for ring in poly:
            if len(ring) < 4 or ring[0] != ring[-1]:
                raise ConfigError(
                    path, f"{key}.coordinates", "rings need 4+ positions, first equal to last"
                )
            if any(not (-180 <= x <= 180 and -90 <= y <= 90) for x, y in ring):
                raise ConfigError(path, f"{key}.coordinates", "position out of lon/lat range")
    if not polygons:
        raise ConfigError(path, f"{key}.coordinates", "no polygons")
    return polygons


def _check_tree(path: Path, regions: list[Region]) -> None:
    by_code: dict[str, Region] = {}
    for r in regions:
        if r.code in by_code:
            raise ConfigError(path, f"features ({r.code})", "duplicate code")
        by_code[r.code] = r
    cities = [r for r in regions if r.level is Level.CITY]
    if len(cities) != 1:
        raise ConfigError(path, "features", f"expected exactly one city, found {len(cities)}")
    for r in regions:
        key = f"features ({r.code}).properties.parent"
        if r.level is Level.CITY:
            if r.parent is not None:
                raise ConfigError(path, key, "the city has no parent")
            continue
        if r.parent is None or r.parent not in by_code:
            raise ConfigError(path, key, f"parent {r.parent!r} not found")
        parent = by_code[r.parent]
        expected = LEVEL_ORDER[LEVEL_ORDER.index(r.level) - 1]
        if parent.level is not expected:
            raise ConfigError(
                path,
                key,
                f"a {r.level.value} must sit under a {expected.value}, not a {parent.level.value}",
            )
        # Counties share the city's first four digits; deeper levels extend the parent's code.
        prefix = parent.code[:4] if r.level is Level.COUNTY else parent.code
        if not r.code.startswith(prefix) or r.code == parent.code:
            raise ConfigError(
                path,
                f"features ({r.code}).properties.code",
                f"must start with {prefix!r} (the code of its parent {parent.code})",
            )


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    """Even-odd ray casting."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _in_polygon(poly: PolygonRings, x: float, y: float) -> bool:
    return _in_ring(poly[0], x, y) and not any(_in_ring(h, x, y) for h in poly[1:])


def _centroid(polygons: tuple[PolygonRings, ...]) -> LonLat:
    """Area-weighted centroid of the exterior rings (good enough for a label point)."""
    total = cx = cy = 0.0
    for poly in polygons:
        ring = poly[0]
        for (x0, y0), (x1, y1) in itertools.pairwise(ring):
            f = x0 * y1 - x1 * y0
            total += f
            cx += (x0 + x1) * f
            cy += (y0 + y1) * f
    if total == 0:
        first = polygons[0][0][0]
        return first
    return (round(cx / (3 * total), 5), round(cy / (3 * total), 5))


def _distance_km(a: LonLat, b: LonLat) -> float:
    """Equirectangular distance: plenty accurate across one city."""
    mean_lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(b[0] - a[0]) * math.cos(mean_lat)
    dy = math.radians(b[1] - a[1])
    return 6371.0 * math.hypot(dx, dy)


def _code(region: Region) -> str:
    return region.code
