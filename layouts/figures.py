"""Pure figure builders for the hall and the rooms: data in, plotly figure out (unit-tested).

No database, no request, no Dash: callers pass plain values (counts, case points, names).
The map is offline by construction: ``white-bg`` style, our GeoJSON as traces and layers, and a
dark "sea" layer beneath so the wall stays dark; no tile or style URL is ever requested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from dispatch.domain.kpi import LOCAL_TZ

#: Case point colours by severity (一般 → 特别重大).
SEVERITY_COLORS: dict[str, str] = {
    "general": "#38d9a9",
    "significant": "#ffd43b",
    "major": "#ff922b",
    "critical": "#ff4d4f",
}
#: Alert colours by level (蓝 黄 橙 红).
ALERT_COLORS: dict[str, str] = {
    "blue": "#4dabf7",
    "yellow": "#ffd43b",
    "orange": "#ff922b",
    "red": "#ff4d4f",
}
SEVERITY_SIZES: dict[str, int] = {"general": 8, "significant": 10, "major": 13, "critical": 16}
#: Online field staff: small cyan dots, a colour no severity uses.
PRESENCE_COLOR = "#22b8cf"
PRESENCE_SIZE = 7

#: Township shading: dark navy (no open cases) to a warm highlight.
CHOROPLETH_SCALE: list[list[Any]] = [
    [0.0, "#12263f"],
    [0.35, "#1c4e80"],
    [0.7, "#3b6fb6"],
    [1.0, "#e8590c"],
]
MAP_BACKGROUND = "#0a1628"
BOUNDARY_COLOR = "#7aa2d6"
TEXT_COLOR = "#dee2e6"
#: The map's reference width (px) for its zoom: a 1920-wide wall; the browser adjusts for others.
REFERENCE_MAP_WIDTH = 900
REFERENCE_MAP_HEIGHT = 700

_WORLD = {
    "type": "Feature",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]],
    },
    "properties": {},
}


def zoom_for_bbox(
    bbox: Sequence[float],
    width_px: int = REFERENCE_MAP_WIDTH,
    height_px: int = REFERENCE_MAP_HEIGHT,
) -> float:
    """The map zoom that fits ``bbox`` (min_lon, min_lat, max_lon, max_lat) into the panel."""
    min_lon, min_lat, max_lon, max_lat = bbox
    lon_span = max(max_lon - min_lon, 1e-4)
    lat_span = max(max_lat - min_lat, 1e-4)
    zoom_x = math.log2(width_px * 360 / (lon_span * 512))
    # Latitude degrees shrink towards the poles in Web Mercator: correct by the mid latitude.
    mid = math.radians((min_lat + max_lat) / 2)
    zoom_y = math.log2(height_px * 360 * math.cos(mid) / (lat_span * 512))
    return round(min(zoom_x, zoom_y) - 0.15, 2)


def point_style(points: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Columns of the case-point trace: lat, lon, colour, size, id, hover text."""
    cols: dict[str, list[Any]] = {
        "lat": [],
        "lon": [],
        "color": [],
        "size": [],
        "id": [],
        "text": [],
    }
    for p in points:
        if p.get("lat") is None or p.get("lon") is None:
            continue
        severity = str(p.get("severity") or "general")
        cols["lat"].append(p["lat"])
        cols["lon"].append(p["lon"])
        cols["color"].append(SEVERITY_COLORS.get(severity, SEVERITY_COLORS["general"]))
        cols["size"].append(SEVERITY_SIZES.get(severity, 8))
        cols["id"].append(p["id"])
        cols["text"].append(f"{p.get('code', '')} {p.get('title', '')}")
    return cols


def local_hms(iso: Any) -> str:
    """``HH:MM:SS`` in the hall's local time of an ISO timestamp, or "" when there is none."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(str(iso))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TZ).strftime("%H:%M:%S")


def presence_style(
    people: Sequence[Mapping[str, Any]], last_seen_label: str = "last seen"
) -> dict[str, list[Any]]:
    """Columns of the field-staff trace: online people with a known location only."""
    cols: dict[str, list[Any]] = {"lat": [], "lon": [], "id": [], "text": []}
    for p in people:
        if not p.get("online", True) or p.get("lat") is None or p.get("lon") is None:
            continue
        cols["lat"].append(p["lat"])
        cols["lon"].append(p["lon"])
        cols["id"].append(p.get("user_id"))
        seen = local_hms(p.get("last_seen"))
        cols["text"].append(f"{p.get('name', '')}<br>{last_seen_label} {seen}")
    return cols


def map_figure(
    geojson: Mapping[str, Any],
    counts: Mapping[str, int],
    names: Mapping[str, str],
    points: Sequence[Mapping[str, Any]],
    center: tuple[float, float],
    zoom: float,
    open_label: str = "open",
    people: Sequence[Mapping[str, Any]] = (),
    last_seen_label: str = "last seen",
) -> go.Figure:
    """Townships shaded by open cases, the newest open cases as points (by severity) and the
    online field staff as a separate small marker layer.

    Trace 0 is the choropleth (``customdata`` = township code), trace 1 the points
    (``customdata`` = case id), trace 2 the field staff (``customdata`` = user id); the
    browser relies on that order when it updates them.
    """
    codes = [str(f["id"]) for f in geojson.get("features", [])]
    values = [int(counts.get(code, 0)) for code in codes]
    top = max(values, default=0)
    choropleth = go.Choroplethmap(
        geojson=geojson,
        locations=codes,
        z=values,
        zmin=0,
        zmax=max(top, 1),
        featureidkey="id",
        colorscale=CHOROPLETH_SCALE,
        marker={"opacity": 0.7, "line": {"color": BOUNDARY_COLOR, "width": 1}},
        showscale=False,
        customdata=codes,
        text=[names.get(code, code) for code in codes],
        hovertemplate=f"%{{text}}<br>{open_label}: %{{z}}<extra></extra>",
        name="townships",
    )
    cols = point_style(points)
    scatter = go.Scattermap(
        lat=cols["lat"],
        lon=cols["lon"],
        mode="markers",
        marker={"color": cols["color"], "size": cols["size"], "opacity": 0.95},
        customdata=cols["id"],
        text=cols["text"],
        hovertemplate="%{text}<extra></extra>",
        name="cases",
    )
    staff = presence_style(people, last_seen_label)
    field = go.Scattermap(
        lat=staff["lat"],
        lon=staff["lon"],
        mode="markers",
        marker={"color": PRESENCE_COLOR, "size": PRESENCE_SIZE, "opacity": 0.9},
        customdata=staff["id"],
        text=staff["text"],
        hovertemplate="%{text}<extra></extra>",
        name="field",
    )
    fig = go.Figure([choropleth, scatter, field])
    fig.update_layout(
        map={
            "style": "white-bg",
            "center": {"lon": center[0], "lat": center[1]},
            "zoom": zoom,
            "layers": [
                {
                    "source": {"type": "FeatureCollection", "features": [_WORLD]},
                    "type": "fill",
                    "color": MAP_BACKGROUND,
                    "below": "traces",
                },
            ],
        },
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        uirevision="hall-map",
        meta={"base_zoom": zoom},
        font={"color": TEXT_COLOR},
        hoverlabel={"font": {"size": 16}},
    )
    return fig


def category_mix_figure(
    counts: Mapping[str, int], names: Mapping[str, str], title: str = ""
) -> go.Figure:
    """Horizontal bars of cases per category, largest at the top."""
    ordered = sorted(counts.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[n for _, n in ordered],
            y=[names.get(code, code) for code, _ in ordered],
            orientation="h",
            marker={"color": "#4dabf7"},
            text=[n for _, n in ordered],
            textposition="outside",
        )
    )
    fig.update_layout(
        title={"text": title},
        margin={"l": 10, "r": 30, "t": 40 if title else 10, "b": 10},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": TEXT_COLOR},
        xaxis={"gridcolor": "#2b3a4f"},
        yaxis={"automargin": True},
    )
    return fig


def format_rate(value: float | None) -> str:
    """A fraction as a percentage with one decimal, or "—" without a base."""
    return "—" if value is None else f"{value * 100:.1f}%"


def format_change(value: float | None) -> tuple[str, str]:
    """Year-on-year change as text and a direction (``up``, ``down``, ``flat``, ``none``)."""
    if value is None:
        return "—", "none"
    if abs(value) < 0.0005:
        return "0.0%", "flat"
    arrow = "▲" if value > 0 else "▼"
    return f"{arrow}{abs(value) * 100:.1f}%", "up" if value > 0 else "down"
