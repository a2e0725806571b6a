"""Camera registry: the demo file loads, bad files name file/key/problem, scoping, nearest."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.domain.codes import Level
from dispatch.domain.jurisdiction import Scope
from streams.errors import CameraConfigError, UnknownCamera
from streams.registry import Camera, CameraKind, CameraRegistry, load_cameras, path_from_code

ROOT = Path(__file__).resolve().parents[3]
CITY = Scope(Level.CITY, "990100")


def cam(cid: str, region: str, lon: float = 113.0, lat: float = 28.0, **kw: object) -> Camera:
    return Camera.model_validate(
        {
            "id": cid,
            "name_zh": cid,
            "name_en": cid,
            "region": region,
            "lon": lon,
            "lat": lat,
            "kind": "key_site",
            **kw,
        }
    )


def test_demo_cameras_file_is_valid() -> None:
    cameras = load_cameras(ROOT / "config" / "cameras.yaml")
    kinds = {c.kind for c in cameras}
    assert kinds == set(CameraKind)
    stations = [c for c in cameras if c.kind is CameraKind.TOWNSHIP_STATION]
    townships = {c.region for c in stations}
    assert len(stations) == len(townships)  # one station per township
    key_sites = [c for c in cameras if c.kind is CameraKind.KEY_SITE]
    assert len(key_sites) >= 20
    assert {"school", "hospital", "petition_office", "market", "construction_site"} <= {
        t for c in key_sites for t in c.tags
    }


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (
            "cameras:\n- {id: a1, name_zh: a, name_en: a, region: '990101', lon: 1, lat: 1, "
            "kind: key_site, source: 'ftp://x/y'}\n",
            "cameras.0.source",
            "unsupported",
        ),
        (
            "cameras:\n- {id: a1, name_zh: a, name_en: a, region: '990101', lon: 1, lat: 1, "
            "kind: tank}\n",
            "cameras.0.kind",
            "Input should be",
        ),
        (
            "cameras:\n- {id: a1, name_zh: a, name_en: a, region: '990101', lon: 1, lat: 1, "
            "kind: key_site, colour: red}\n",
            "cameras.0.colour",
            "Extra inputs",
        ),
        (
            "cameras:\n- {id: a1, name_zh: a, name_en: a, region: '99', lon: 1, lat: 1, "
            "kind: key_site}\n",
            "cameras.0.region",
            "pattern",
        ),
        (
            "cameras:\n- {id: a1, name_zh: a, name_en: a, region: '990101', lon: 200, lat: 1, "
            "kind: key_site}\n",
            "cameras.0.lon",
            "less than",
        ),
    ],
)
def test_bad_file_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    with pytest.raises(CameraConfigError) as info:
        load_cameras(path)
    assert str(path) in info.value.message
    assert info.value.details["key"] == key
    assert problem in info.value.message


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    one = "- {id: a1, name_zh: a, name_en: a, region: '990101', lon: 1, lat: 1, kind: key_site}\n"
    path = tmp_path / "cameras.yaml"
    path.write_text("cameras:\n" + one + one)
    with pytest.raises(CameraConfigError, match="duplicate"):
        load_cameras(path)


def test_path_from_code() -> None:
    p = path_from_code("990101002003")
    assert (p.city, p.county, p.township, p.grid) == (
        "990100",
        "990101",
        "990101002",
        "990101002003",
    )
    assert path_from_code("990102").township is None


def test_scoping_hides_other_areas() -> None:
    reg = CameraRegistry([cam("ca", "990101001"), cam("cb", "990101002"), cam("cc", "990102001")])
    county = Scope(Level.COUNTY, "990101")
    town = Scope(Level.TOWNSHIP, "990101002")
    assert {c.id for c in reg.visible(CITY)} == {"ca", "cb", "cc"}
    assert {c.id for c in reg.visible(county)} == {"ca", "cb"}
    assert [c.id for c in reg.visible(town)] == ["cb"]
    assert [c.id for c in reg.visible(CITY, region="990102")] == ["cc"]
    with pytest.raises(UnknownCamera):
        reg.get_visible("ca", town)
    with pytest.raises(UnknownCamera):
        reg.get("zz")


def test_nearest_within_scope() -> None:
    reg = CameraRegistry(
        [
            cam("near", "990101001", 113.001, 28.0),
            cam("far", "990101001", 113.2, 28.0),
            cam("other", "990102001", 113.0, 28.0),
        ]
    )
    ranked = reg.nearest(113.0, 28.0, 2, Scope(Level.COUNTY, "990101"))
    assert [c.id for c, _ in ranked] == ["near", "far"]
    assert 90 < ranked[0][1] < 110  # ~98 m per 0.001 degree of longitude at 28°N
    assert [c.id for c, _ in reg.nearest(113.0, 28.0, 1, CITY)] == ["other"]
