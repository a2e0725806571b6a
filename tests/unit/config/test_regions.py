"""The demo region tree: integrity, lookups, point location, map payloads, bad files."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from config.errors import ConfigError
from config.regions import RegionTree, load_regions
from dispatch.domain.codes import Level
from dispatch.domain.jurisdiction import RegionPath

ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = ROOT / "config"
DEMO_FILE = CONFIG_DIR / "regions" / "demo_city.geojson"
EPS = 1e-4  # a tenth of a metre-ish slack for rounded shared edges

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def tree() -> RegionTree:
    return load_regions(CONFIG_DIR)


def test_demo_file_is_marked_as_demo(tree: RegionTree) -> None:
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    assert data["demo"] is True
    assert data["name"] == "示范市 (demo data, synthetic)"
    assert tree.demo is True
    assert tree.city.code == "990100"
    assert tree.city.name_zh == "示范市"


def test_shape_of_the_tree(tree: RegionTree) -> None:
    counties = tree.children(tree.city.code)
    assert [c.code for c in counties] == ["990102", "990103", "990104", "990105", "990106"]
    for county in counties:
        townships = tree.children(county.code)
        assert 6 <= len(townships) <= 9, county.code
        for township in townships:
            assert 4 <= len(tree.children(township.code)) <= 6, township.code
    grids = tree.descendants(tree.city.code, Level.GRID)
    assert len(grids) == len(tree.at_level(Level.GRID))
    assert len(tree) == 1 + len(counties) + len(tree.at_level(Level.TOWNSHIP)) + len(grids)


def test_every_child_sits_inside_its_parent(tree: RegionTree) -> None:
    for region in tree:
        if region.parent is None:
            continue
        parent = tree.get(region.parent)
        assert region.code.startswith(
            parent.code[:4] if region.level is Level.COUNTY else parent.code
        )
        assert (
            len(region.code) == {Level.COUNTY: 6, Level.TOWNSHIP: 9, Level.GRID: 12}[region.level]
        )
        pmin_lon, pmin_lat, pmax_lon, pmax_lat = parent.bbox
        min_lon, min_lat, max_lon, max_lat = region.bbox
        assert pmin_lon - EPS <= min_lon and max_lon <= pmax_lon + EPS, region.code
        assert pmin_lat - EPS <= min_lat and max_lat <= pmax_lat + EPS, region.code
        assert parent.contains(*region.centroid), region.code


def test_children_populations_add_up(tree: RegionTree) -> None:
    for region in tree:
        children = tree.children(region.code)
        if children:
            assert region.population == sum(c.population for c in children)
    assert all(r.population > 0 for r in tree)


def test_names_are_unique_and_bilingual(tree: RegionTree) -> None:
    names = [r.name_zh for r in tree.at_level(Level.TOWNSHIP)]
    assert len(names) == len(set(names))
    grid = tree.at_level(Level.GRID)[0]
    assert tree.name(grid.code, "zh-CN") == grid.name_zh
    assert tree.name(grid.code, "en") == grid.name_en
    assert tree.name("000000", "en") == "000000"


def test_path(tree: RegionTree) -> None:
    grid = tree.at_level(Level.GRID)[0]
    township = tree.get(grid.parent or "")
    path = tree.path(grid.code)
    assert path == RegionPath("990100", township.parent, township.code, grid.code)
    assert tree.path(township.code) == RegionPath("990100", township.parent, township.code)
    assert tree.path("990100") == RegionPath("990100")
    assert tree.is_within(grid.code, township.parent or "")
    assert not tree.is_within(township.code, grid.code)


def test_locate_each_centroid(tree: RegionTree) -> None:
    for region in tree:
        found = tree.locate(*region.centroid)
        assert found is not None, region.code
        if region.level is Level.GRID:
            assert found == region
        else:
            # A centroid of an upper level lies in one of its own descendants.
            assert tree.is_within(found.code, region.code), region.code
        at_level = tree.locate(*region.centroid, level=region.level)
        assert at_level == region


def test_locate_outside_the_city(tree: RegionTree) -> None:
    assert tree.locate(116.4, 39.9) is None  # Beijing is not in 示范市
    assert tree.locate(0.0, 0.0, level=Level.COUNTY) is None


def test_random_point_inside(tree: RegionTree) -> None:
    rng = random.Random(7)
    for region in [tree.city, *tree.at_level(Level.COUNTY), *tree.at_level(Level.TOWNSHIP)[:5]]:
        for _ in range(20):
            lon, lat = tree.random_point(region.code, rng)
            assert region.contains(lon, lat)
            found = tree.locate(lon, lat)
            assert found is not None and tree.is_within(found.code, region.code)


def test_random_point_is_deterministic(tree: RegionTree) -> None:
    code = tree.at_level(Level.GRID)[3].code
    assert tree.random_point(code, random.Random(1)) == tree.random_point(code, random.Random(1))


def test_nearest(tree: RegionTree) -> None:
    township = tree.at_level(Level.TOWNSHIP)[10]
    lon, lat = township.centroid
    assert tree.nearest(lon + 1e-4, lat, Level.TOWNSHIP) == township
    assert tree.nearest(116.4, 39.9, Level.COUNTY).level is Level.COUNTY


def test_feature_collections(tree: RegionTree) -> None:
    townships = tree.feature_collection(Level.TOWNSHIP)
    assert townships["type"] == "FeatureCollection"
    assert [f["id"] for f in townships["features"]] == [
        r.code for r in tree.at_level(Level.TOWNSHIP)
    ]
    size = len(json.dumps(townships, ensure_ascii=False).encode("utf-8"))
    assert size < 150_000, size
    for feature in townships["features"]:
        ring = feature["geometry"]["coordinates"][0]
        assert len(ring) <= 41  # 40 vertices plus the closing one
    within = tree.feature_collection(Level.GRID, within="990102")
    codes = [f["id"] for f in within["features"]]
    assert codes and all(c.startswith("990102") for c in codes)
    assert tree.feature_collection(Level.COUNTY, within="990102")["features"][0]["id"] == "990102"
    assert tree.feature_collection(Level.TOWNSHIP) is townships  # cached


def test_loaded_once_per_file() -> None:
    assert load_regions(CONFIG_DIR) is load_regions(CONFIG_DIR)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_demo_regions", ROOT / "scripts" / "make_demo_regions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_committed_file() -> None:
    gen = _generator()
    assert gen.render(gen.build(random.Random(gen.SEED))) == DEMO_FILE.read_text(encoding="utf-8")


# --- bad files -------------------------------------------------------------------------------


def _features(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in data["features"] if f["properties"]["code"] == code)


def _duplicate(data: dict[str, Any]) -> None:
    data["features"].append(json.loads(json.dumps(_features(data, "990102001"))))


def _missing_parent(data: dict[str, Any]) -> None:
    _features(data, "990102001")["properties"]["parent"] = "990199"


def _level_mismatch(data: dict[str, Any]) -> None:
    _features(data, "990102001001")["properties"]["parent"] = "990102"


def _bad_prefix(data: dict[str, Any]) -> None:
    feature = _features(data, "990102001001")
    feature["properties"]["parent"] = "990103001"


def _bad_code_shape(data: dict[str, Any]) -> None:
    _features(data, "990102001")["properties"]["code"] = "9901020"


def _two_cities(data: dict[str, Any]) -> None:
    city = json.loads(json.dumps(_features(data, "990100")))
    city["properties"]["code"] = "980100"
    data["features"].append(city)


def _open_ring(data: dict[str, Any]) -> None:
    _features(data, "990104")["geometry"]["coordinates"][0].pop()


def _bad_level(data: dict[str, Any]) -> None:
    _features(data, "990104")["properties"]["level"] = "province"


def _not_a_collection(data: dict[str, Any]) -> None:
    data["type"] = "Feature"


@pytest.mark.parametrize(
    ("edit", "key", "reason"),
    [
        (_duplicate, "features (990102001)", "duplicate code"),
        (_missing_parent, "features (990102001).properties.parent", "not found"),
        (_level_mismatch, "features (990102001001).properties.parent", "must sit under"),
        (_bad_prefix, "features (990102001001).properties.code", "must start with"),
        (_bad_code_shape, "properties.code", "not a valid township code"),
        (_two_cities, "features", "exactly one city"),
        (_open_ring, "geometry.coordinates", "first equal to last"),
        (_bad_level, "properties.level", "Input should be"),
        (_not_a_collection, "type", "FeatureCollection"),
    ],
)
def test_bad_region_file(tmp_path: Path, edit: Edit, key: str, reason: str) -> None:
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    edit(data)
    (tmp_path / "regions").mkdir()
    (tmp_path / "regions" / "city.geojson").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_regions(tmp_path)
    err = info.value
    assert err.file.endswith("city.geojson")
    assert key in err.key
    assert reason in err.reason


def test_no_region_file(tmp_path: Path) -> None:
    (tmp_path / "regions").mkdir()
    with pytest.raises(ConfigError, match=r"no \*\.geojson"):
        load_regions(tmp_path)


def test_several_region_files(tmp_path: Path) -> None:
    (tmp_path / "regions").mkdir()
    for name in ("a.geojson", "b.geojson"):
        (tmp_path / "regions" / name).write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"found several: a\.geojson, b\.geojson"):
        load_regions(tmp_path)


def test_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "regions").mkdir()
    (tmp_path / "regions" / "city.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_regions(tmp_path)


def test_levels_may_be_given_as_strings(tree: RegionTree) -> None:
    # Callers pass query parameters and codes straight through: "county" must equal Level.COUNTY.
    assert tree.descendants("990100", "county") == tree.descendants("990100", Level.COUNTY)
    assert tree.at_level("township") == tree.at_level(Level.TOWNSHIP)
    assert tree.feature_collection("grid", "990103") is tree.feature_collection(
        Level.GRID, "990103"
    )
    assert tree.locate(*tree.city.centroid, level="county") is not None
    with pytest.raises(ValueError):
        tree.at_level("province")
