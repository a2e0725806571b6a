"""Write config/regions/demo_city.geojson: a synthetic city (示范市) for demos and tests.

Deterministic (seeded): running it twice gives the same file. Every area is a Voronoi cell of
seed points clipped to its parent, so children tile their parent without gaps or overlaps, and
cells are convex, which keeps polygons small. The 99 province prefix does not exist, so the
codes can never be mistaken for a real place. Usage: ``python scripts/make_demo_regions.py
[--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Point = tuple[float, float]  # kilometres east and north of the city centre
Polygon = list[Point]

SEED = 990100
CENTRE_LON, CENTRE_LAT = 106.6, 30.45
KM_PER_DEG_LAT = 110.95
KM_PER_DEG_LON = 111.32 * math.cos(math.radians(CENTRE_LAT))
HALF_WIDTH_KM, HALF_HEIGHT_KM = 50.0, 40.0
OUT = Path(__file__).resolve().parent.parent / "config" / "regions" / "demo_city.geojson"

CITY = ("990100", "示范市", "Shifan City")

# (code, zh, en, seed position in km, weight in km², urban): two compact urban districts at the
# centre, three large counties around them. The weight (a power diagram) shrinks the districts'
# cells: plain Voronoi cells of central seeds would stretch to the city's edge.
COUNTIES: list[tuple[str, str, str, Point, float, bool]] = [
    ("990102", "东湖区", "Donghu District", (7.0, -1.0), -50.0, True),
    ("990103", "西岭区", "Xiling District", (-7.0, 2.0), -50.0, True),
    ("990104", "南川县", "Nanchuan County", (24.0, -20.0), 200.0, False),
    ("990105", "北塘县", "Beitang County", (4.0, 28.0), 200.0, False),
    ("990106", "青山市", "Qingshan City (county-level)", (-30.0, -10.0), 200.0, False),
]
TOWNSHIPS_PER_COUNTY = {"990102": 7, "990103": 6, "990104": 9, "990105": 8, "990106": 8}

# Place-name stems (zh, pinyin), used once each across the city.
STEMS: list[tuple[str, str]] = [
    ("城关", "Chengguan"),
    ("新华", "Xinhua"),
    ("和平", "Heping"),
    ("龙泉", "Longquan"),
    ("石桥", "Shiqiao"),
    ("白沙", "Baisha"),
    ("金竹", "Jinzhu"),
    ("柳林", "Liulin"),
    ("桃源", "Taoyuan"),
    ("清溪", "Qingxi"),
    ("双河", "Shuanghe"),
    ("三合", "Sanhe"),
    ("黄桷", "Huangjue"),
    ("永兴", "Yongxing"),
    ("安居", "Anju"),
    ("太平", "Taiping"),
    ("长乐", "Changle"),
    ("凤凰", "Fenghuang"),
    ("梅岭", "Meiling"),
    ("花溪", "Huaxi"),
    ("龙潭", "Longtan"),
    ("马鞍", "Ma'an"),
    ("青林", "Qinglin"),
    ("古楼", "Gulou"),
    ("沙坪", "Shaping"),
    ("团结", "Tuanjie"),
    ("红星", "Hongxing"),
    ("兴隆", "Xinglong"),
    ("望江", "Wangjiang"),
    ("文昌", "Wenchang"),
    ("宝塔", "Baota"),
    ("观音", "Guanyin"),
    ("七星", "Qixing"),
    ("云台", "Yuntai"),
    ("鹿鸣", "Luming"),
    ("福田", "Futian"),
    ("高坪", "Gaoping"),
    ("兰溪", "Lanxi"),
    ("玉泉", "Yuquan"),
    ("仁和", "Renhe"),
    ("大兴", "Daxing"),
    ("白鹤", "Baihe"),
    ("临江", "Linjiang"),
    ("永安", "Yong'an"),
]
GRID_SUFFIXES = ["一", "二", "三", "四", "五", "六"]


@dataclass
class Area:
    code: str
    name_zh: str
    name_en: str
    level: str
    parent: str | None
    polygon: Polygon
    population: int = 0
    children: list[Area] = field(default_factory=list)


def clip(polygon: Polygon, a: Point, b: Point, wa: float = 0.0, wb: float = 0.0) -> Polygon:
    """The part of ``polygon`` nearer ``a`` than ``b`` in power distance (|p - s|² - w).

    One Sutherland-Hodgman pass against the (shifted) bisector; equal weights give Voronoi.
    """
    nx, ny = a[0] - b[0], a[1] - b[1]
    offset = (a[0] ** 2 + a[1] ** 2 - b[0] ** 2 - b[1] ** 2 - wa + wb) / 2

    def side(p: Point) -> float:
        return p[0] * nx + p[1] * ny - offset

    out: Polygon = []
    for i, cur in enumerate(polygon):
        prev = polygon[i - 1]
        sc, sp = side(cur), side(prev)
        if sc >= 0:
            if sp < 0:
                out.append(_cross(prev, cur, sp, sc))
            out.append(cur)
        elif sp >= 0:
            out.append(_cross(prev, cur, sp, sc))
    return out


def _cross(p: Point, q: Point, sp: float, sq: float) -> Point:
    t = sp / (sp - sq)
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


def area(polygon: Polygon) -> float:
    return 0.5 * sum(
        polygon[i - 1][0] * p[1] - p[0] * polygon[i - 1][1] for i, p in enumerate(polygon)
    )


def centroid(polygon: Polygon) -> Point:
    a = area(polygon)
    cx = cy = 0.0
    for i, p in enumerate(polygon):
        q = polygon[i - 1]
        f = q[0] * p[1] - p[0] * q[1]
        cx += (q[0] + p[0]) * f
        cy += (q[1] + p[1]) * f
    return (cx / (6 * a), cy / (6 * a))


def inside(polygon: Polygon, p: Point) -> bool:
    """Point in a convex counter-clockwise polygon."""
    return all(
        (q[0] - o[0]) * (p[1] - o[1]) - (q[1] - o[1]) * (p[0] - o[0]) >= 0
        for o, q in zip(polygon, polygon[1:] + polygon[:1], strict=True)
    )


def voronoi(
    parent: Polygon, seeds: list[Point], weights: list[float] | None = None
) -> list[Polygon]:
    w = weights or [0.0] * len(seeds)
    cells = []
    for i, s in enumerate(seeds):
        cell = list(parent)
        for j, other in enumerate(seeds):
            if i != j:
                cell = clip(cell, s, other, w[i], w[j])
        cells.append(cell)
    return cells


def random_seeds(rng: random.Random, parent: Polygon, n: int) -> list[Point]:
    """``n`` well-spread seeds: random points relaxed twice towards their cells' centroids."""
    xs = [p[0] for p in parent]
    ys = [p[1] for p in parent]
    seeds: list[Point] = []
    while len(seeds) < n:
        p = (rng.uniform(min(xs), max(xs)), rng.uniform(min(ys), max(ys)))
        if inside(parent, p):
            seeds.append(p)
    for _ in range(2):  # Lloyd relaxation: avoids slivers next to huge cells
        seeds = [centroid(c) for c in voronoi(parent, seeds)]
    return seeds


def city_outline(rng: random.Random) -> Polygon:
    """A convex, slightly irregular oval about 100 x 80 km."""
    points = []
    for k in range(28):
        angle = 2 * math.pi * k / 28
        r = 1.0 + rng.uniform(-0.05, 0.05)
        points.append((HALF_WIDTH_KM * r * math.cos(angle), HALF_HEIGHT_KM * r * math.sin(angle)))
    return convex_hull(points)


def convex_hull(points: list[Point]) -> Polygon:
    pts = sorted(points)

    def half(seq: list[Point]) -> Polygon:
        hull: Polygon = []
        for p in seq:
            while len(hull) >= 2 and _turn(hull[-2], hull[-1], p) <= 0:
                hull.pop()
            hull.append(p)
        return hull

    lower, upper = half(pts), half(pts[::-1])
    return lower[:-1] + upper[:-1]


def _turn(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def build(rng: random.Random) -> Area:
    outline = city_outline(rng)
    city = Area(CITY[0], CITY[1], CITY[2], "city", None, outline)
    cells = voronoi(outline, [c[3] for c in COUNTIES], [c[4] for c in COUNTIES])
    stems = list(STEMS)
    rng.shuffle(stems)
    for (code, zh, en, _, _, urban), cell in zip(COUNTIES, cells, strict=True):
        county = Area(code, zh, en, "county", city.code, cell)
        city.children.append(county)
        n = TOWNSHIPS_PER_COUNTY[code]
        seeds = random_seeds(rng, cell, n)
        # Order townships from the county seat outwards, so the first is the central 街道.
        seat = centroid(cell)
        seeds.sort(key=lambda s: math.dist(s, seat))
        counters = {"jd": 0, "zhen": 100, "xiang": 200}
        for k, tcell in enumerate(voronoi(cell, seeds)):
            stem_zh, stem_en = stems.pop()
            kind = "jd" if urban or k == 0 else ("xiang" if k >= n - 2 else "zhen")
            counters[kind] += 1
            suffix_zh, suffix_en = {
                "jd": ("街道", "Subdistrict"),
                "zhen": ("镇", "Town"),
                "xiang": ("乡", "Township"),
            }[kind]
            township = Area(
                f"{code}{counters[kind]:03d}",
                stem_zh + suffix_zh,
                f"{stem_en} {suffix_en}",
                "township",
                code,
                tcell,
            )
            county.children.append(township)
            grids = rng.randint(4, 6)
            for g, gcell in enumerate(voronoi(tcell, random_seeds(rng, tcell, grids)), start=1):
                density = (2500 if urban else 420) * rng.uniform(0.6, 1.4)
                township.children.append(
                    Area(
                        f"{township.code}{g:03d}",
                        f"{township.name_zh}第{GRID_SUFFIXES[g - 1]}网格",
                        f"{township.name_en} Grid {g}",
                        "grid",
                        township.code,
                        gcell,
                        population=int(round(abs(area(gcell)) * density, -1)),
                    )
                )
            township.population = sum(a.population for a in township.children)
        county.population = sum(t.population for t in county.children)
    city.population = sum(c.population for c in city.children)
    return city


def to_lonlat(p: Point) -> list[float]:
    return [
        round(CENTRE_LON + p[0] / KM_PER_DEG_LON, 5),
        round(CENTRE_LAT + p[1] / KM_PER_DEG_LAT, 5),
    ]


def feature(a: Area) -> dict[str, Any]:
    ring = [to_lonlat(p) for p in a.polygon]
    ring = [p for i, p in enumerate(ring) if p != ring[i - 1]]  # rounding may merge vertices
    ring.append(ring[0])
    return {
        "type": "Feature",
        "id": a.code,
        "properties": {
            "code": a.code,
            "name_zh": a.name_zh,
            "name_en": a.name_en,
            "level": a.level,
            "parent": a.parent,
            "centroid": to_lonlat(centroid(a.polygon)),
            "population": int(a.population),
        },
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def walk(a: Area) -> list[Area]:
    return [a, *(d for c in a.children for d in walk(c))]


def render(city: Area) -> str:
    """One feature per line: small diffs when the generator changes, still readable."""
    head = {
        "type": "FeatureCollection",
        "name": "示范市 (demo data, synthetic)",
        "demo": True,
        "description": "Synthetic demo city generated by scripts/make_demo_regions.py; "
        "codes with the non-existent 99 prefix. Replace with a real city's file.",
    }
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [']
    features = [json.dumps(feature(a), ensure_ascii=False) for a in walk(city)]
    lines.append(",\n".join(features))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the GeoJSON")
    args = parser.parse_args()
    city = build(random.Random(SEED))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(city), encoding="utf-8")
    n = len(walk(city))
    print(f"wrote {args.out} ({n} areas, {args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
