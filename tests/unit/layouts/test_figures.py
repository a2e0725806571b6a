"""Figure builders: offline map (shading, points by severity, bounded), bars, number formats."""

from __future__ import annotations

import json
from typing import Any

import pytest

from layouts import figures

GEOJSON: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": code,
            "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        }
        for code in ("t1", "t2", "t3")
    ],
}


def point(i: int, severity: str = "general", status: str = "open") -> dict[str, Any]:
    return {"id": i, "code": f"C{i}", "title": f"case {i}", "severity": severity, "status": status,
            "lat": 30.0 + i / 1000, "lon": 106.0, "received_at": f"2026-01-01T00:{i % 60:02d}:00+00:00"}  # fmt: skip


def test_map_is_offline_and_shades_townships_by_open_cases() -> None:
    fig = figures.map_figure(
        GEOJSON, {"t1": 5, "t3": 1}, {"t1": "一镇"}, [point(1, "critical")], (106.0, 30.0), 9.0
    )
    layout = fig.to_plotly_json()["layout"]
    assert layout["map"]["style"] == "white-bg"
    # Nothing in the figure points at a tile or style server.
    assert "http" not in json.dumps(fig.to_plotly_json())
    shade, dots, field = fig.data
    assert list(field.lat) == []  # nobody online
    assert list(shade.locations) == ["t1", "t2", "t3"] and list(shade.z) == [5, 0, 1]
    assert list(shade.text) == ["一镇", "t2", "t3"]
    assert list(dots.customdata) == [1]
    assert list(dots.marker.color) == [figures.SEVERITY_COLORS["critical"]]
    assert layout["meta"]["base_zoom"] == 9.0


def test_online_field_staff_are_a_separate_marker_layer() -> None:
    people = [
        {"user_id": 7, "name": "张网格", "online": True, "lat": 30.1, "lon": 106.2,
         "last_seen": "2026-01-01T02:03:04+00:00", "region_code": "t1"},
        {"user_id": 8, "name": "no fix yet", "online": True, "lat": None, "lon": None,
         "last_seen": "2026-01-01T02:03:04+00:00", "region_code": "t1"},
        {"user_id": 9, "name": "gone", "online": False, "lat": 30.2, "lon": 106.3,
         "last_seen": "2026-01-01T02:03:04+00:00", "region_code": "t1"},
    ]  # fmt: skip
    fig = figures.map_figure(
        GEOJSON, {}, {}, [point(1)], (106.0, 30.0), 9.0, people=people, last_seen_label="seen"
    )
    assert [trace.name for trace in fig.data] == ["townships", "cases", "field"]
    field = fig.data[2]
    assert list(field.customdata) == [7] and list(field.lat) == [30.1]
    assert field.marker.color == figures.PRESENCE_COLOR
    assert figures.PRESENCE_COLOR not in figures.SEVERITY_COLORS.values()
    # Hover: the display name and the last-seen time in local time (UTC+8).
    assert list(field.text) == ["张网格<br>seen 10:03:04"]
    assert list(fig.data[1].customdata) == [1]  # the case trace keeps its place


def test_points_skip_cases_without_coordinates() -> None:
    cols = figures.point_style([point(1), {**point(2), "lat": None}])
    assert cols["id"] == [1]


def test_zoom_fits_a_city_and_grows_for_a_township() -> None:
    city = figures.zoom_for_bbox((106.07, 30.09, 107.12, 30.80))
    town = figures.zoom_for_bbox((106.5, 30.4, 106.6, 30.5))
    assert 8 < city < 10.5 and town > city + 2


def test_category_mix_largest_on_top() -> None:
    fig = figures.category_mix_figure({"labour": 3, "neighbour": 10}, {"neighbour": "邻里纠纷"})
    assert list(fig.data[0].y) == ["labour", "邻里纠纷"]


@pytest.mark.parametrize(
    ("value", "text"), [(None, "—"), (0.9906, "99.1%"), (0.0, "0.0%"), (1.0, "100.0%")]
)
def test_format_rate(value: float | None, text: str) -> None:
    assert figures.format_rate(value) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("—", "none")),
        (0.0, ("0.0%", "flat")),
        (0.25, ("▲25.0%", "up")),
        (-0.33, ("▼33.0%", "down")),
    ],
)
def test_format_change(value: float | None, expected: tuple[str, str]) -> None:
    assert figures.format_change(value) == expected
