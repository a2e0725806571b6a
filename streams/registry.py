"""The camera registry: ``config/cameras.yaml`` validated, scoped by jurisdiction, searchable."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dispatch.domain.jurisdiction import RegionPath, Scope
from streams.errors import CameraConfigError, StreamError, UnknownCamera
from streams.sources import validate_source

#: Region path of a region code; the region tree's ``path`` when it is loaded.
PathOf = Callable[[str], RegionPath]


class CameraKind(StrEnum):
    PUBLIC_SECURITY = "public_security"
    KEY_SITE = "key_site"
    TOWNSHIP_STATION = "township_station"
    MEDIATION_ROOM = "mediation_room"


Tag = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Camera(BaseModel):
    """One camera as configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$", description="Stable id used in URLs.")
    name_zh: str = Field(min_length=1, max_length=64, description="Display name, Chinese.")
    name_en: str = Field(min_length=1, max_length=64, description="Display name, English.")
    region: str = Field(
        pattern=r"^\d{6}(\d{3}(\d{3})?)?$",
        description="Region code the camera belongs to (county 6, township 9, grid 12 digits).",
    )
    lon: float = Field(ge=-180, le=180, description="Longitude (WGS-84).")
    lat: float = Field(ge=-90, le=90, description="Latitude (WGS-84).")
    kind: CameraKind = Field(description="public_security | key_site | township_station | ...")
    tags: tuple[Tag, ...] = Field(default=(), max_length=16, description="school, hospital, ...")
    source: str = Field(
        default="synthetic",
        max_length=1024,
        description="synthetic, or an rtsp/rtsps/http/https/file URL.",
    )
    fps: int = Field(default=25, ge=1, le=30, description="Frames per second to relay.")
    tour: bool = Field(default=False, description="Part of the timed tour (轮巡) of key sites.")
    probe: bool = Field(
        default=False,
        description="Keep reading even when nobody watches, so its health is always known.",
    )

    @field_validator("source")
    @classmethod
    def _scheme(cls, value: str) -> str:
        try:
            return validate_source(value)
        except StreamError as err:
            raise ValueError(err.message) from err

    def name(self, lang: str) -> str:
        return self.name_en if lang.startswith("en") else self.name_zh

    def public(self, lang: str) -> dict[str, Any]:
        """What the API shows: everything but the source URL (it may carry credentials)."""
        return {
            "id": self.id,
            "name": self.name(lang),
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "region": self.region,
            "lon": self.lon,
            "lat": self.lat,
            "kind": self.kind.value,
            "tags": list(self.tags),
            "tour": self.tour,
        }


class CamerasFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cameras: list[Camera] = Field(default_factory=list, max_length=10000)

    @model_validator(mode="after")
    def _unique(self) -> CamerasFile:
        seen: set[str] = set()
        for camera in self.cameras:
            if camera.id in seen:
                raise ValueError(f"duplicate camera id {camera.id!r}")
            seen.add(camera.id)
        return self


def path_from_code(code: str) -> RegionPath:
    """Region path from the code's own structure (city 990100, county 9901xx, 9 and 12 digits).

    Used when no region tree is loaded; with a tree, pass its ``path`` instead.
    """
    county = code[:6]
    city = county[:4] + "00"
    return RegionPath(
        city=city,
        county=county if county != city else None,
        township=code[:9] if len(code) >= 9 else None,
        grid=code if len(code) == 12 else None,
    )


def load_cameras(path: Path) -> list[Camera]:
    """Read and validate a cameras file; errors name the file, the key and the problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CameraConfigError(f"{path}: cannot read: {err}", file=str(path)) from err
    try:
        return CamerasFile.model_validate(data).cameras
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise CameraConfigError(
            f"{path}: {key}: {first['msg']}", file=str(path), key=key, problem=first["msg"]
        ) from err


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    r = 6371000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


class CameraRegistry:
    """All cameras, and the scoped views of them. Every read takes a ``Scope``: there is no
    unscoped listing except ``all()`` for the engine itself."""

    def __init__(self, cameras: Iterable[Camera], path_of: PathOf = path_from_code) -> None:
        self._cameras = {c.id: c for c in cameras}
        self._path_of = path_of
        self._paths = {}
        for camera in self._cameras.values():
            try:
                self._paths[camera.id] = path_of(camera.region)
            except Exception as err:  # the region tree's own "unknown code" error
                raise CameraConfigError(
                    f"camera {camera.id!r}: unknown region {camera.region!r}",
                    key=f"{camera.id}.region",
                ) from err

    @classmethod
    def from_file(cls, path: Path, path_of: PathOf = path_from_code) -> CameraRegistry:
        return cls(load_cameras(path), path_of)

    def __len__(self) -> int:
        return len(self._cameras)

    def all(self) -> list[Camera]:
        return list(self._cameras.values())

    def get(self, camera_id: str) -> Camera:
        """Unscoped lookup (engine use only); raises ``UnknownCamera``."""
        try:
            return self._cameras[camera_id]
        except KeyError:
            raise UnknownCamera(f"unknown camera {camera_id!r}", camera_id=camera_id) from None

    def path(self, camera_id: str) -> RegionPath:
        return self._paths[self.get(camera_id).id]

    def visible(
        self,
        scope: Scope,
        kinds: Sequence[CameraKind] | None = None,
        tag: str | None = None,
        region: str | None = None,
    ) -> list[Camera]:
        """Cameras in ``scope``, optionally filtered by kind, tag and region (and below)."""
        within = Scope(*self._path_of(region).deepest) if region else None
        out = []
        for camera in self._cameras.values():
            if not scope.covers(self._paths[camera.id]):
                continue
            if kinds and camera.kind not in kinds:
                continue
            if tag and tag not in camera.tags:
                continue
            if within is not None and not within.covers(self._paths[camera.id]):
                continue
            out.append(camera)
        return out

    def get_visible(self, camera_id: str, scope: Scope) -> Camera:
        """A camera the scope may see. Outside the scope it is reported unknown, not forbidden,
        so ids of other areas' cameras do not leak."""
        camera = self.get(camera_id)
        if not scope.covers(self._paths[camera.id]):
            raise UnknownCamera(f"unknown camera {camera_id!r}", camera_id=camera_id)
        return camera

    def nearest(
        self,
        lon: float,
        lat: float,
        n: int,
        scope: Scope,
        kinds: Sequence[CameraKind] | None = None,
    ) -> list[tuple[Camera, float]]:
        """The ``n`` cameras in scope nearest to (lon, lat), with distances in metres."""
        ranked = sorted(
            ((c, haversine_m(lon, lat, c.lon, c.lat)) for c in self.visible(scope, kinds)),
            key=lambda pair: pair[1],
        )
        return ranked[: max(n, 0)]
