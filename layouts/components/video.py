"""Dash builders for the video wall, single tiles, camera lists and call panels.

They render plain elements with ``data-cc-*`` attributes; ``assets/video/video.js`` (served by
Dash from ``assets/``) attaches WebRTC viewers and controls to them, so pages need no
callbacks for video and the wall keeps playing while other parts of the page update.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dash import html

from console.i18n import t

LAYOUTS = (1, 4, 9, 16)


#: Keys of ``config/locale/video.yaml`` used by ``assets/video/video.js`` (``video.ui.<key>``).
UI_KEYS = (
    "connecting",
    "live",
    "offline",
    "empty",
    "call",
    "hangup",
    "record",
    "stopRecord",
    "ringing",
    "accept",
    "decline",
    "waiting",
    "recording",
    "ended",
    "tour",
    "inCall",
    "noStation",
    "error",
    "snapshot",
    "snapshotSaved",
    "noRecordings",
)


def ui_texts(lang: str) -> str:
    """The browser side's texts in ``lang`` from the message catalog, as JSON."""
    return json.dumps({k: t(f"video.ui.{k}", lang) for k in UI_KEYS}, ensure_ascii=False)


def _data(attrs: dict[str, str], lang: str | None = None) -> dict[str, Any]:
    """``data-*`` attributes for a Dash element (its typed signature does not list them),
    with the catalog texts for the script when ``lang`` is given."""
    out: dict[str, Any] = dict(attrs)
    if lang is not None:
        out["data-i18n"] = ui_texts(lang)
    return out


def _camera_ids(cameras: Sequence[Any] | None) -> tuple[str, str]:
    ids, names = [], []
    for camera in cameras or ():
        if isinstance(camera, str):
            ids.append(camera)
            names.append(camera)
        elif isinstance(camera, dict):
            ids.append(str(camera["id"]))
            names.append(str(camera.get("name") or camera["id"]))
        else:
            ids.append(str(camera.id))
            names.append(str(getattr(camera, "name_zh", camera.id)))
    return ",".join(ids), "|".join(names)


def video_wall(
    wall_id: str = "video-wall",
    cameras: Sequence[Any] | None = None,
    layout: int = 4,
    *,
    lang: str = "zh-CN",
    compact: bool = False,
    tour_seconds: int = 0,
    autofill: bool = True,
    case_id: int | None = None,
) -> html.Div:
    """A wall of ``layout`` tiles (1/4/9/16) showing ``cameras`` (ids, dicts or Camera models).

    Without cameras the wall fills itself with the key sites the user may see. Double-click
    focuses a tile at full resolution; ``tour_seconds`` > 0 starts the tour (轮巡). With a
    ``case_id`` each tile gets a snapshot button that attaches a JPEG to that case.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    ids, names = _camera_ids(cameras)
    attrs: dict[str, Any] = {
        "data-cc-video-wall": "1",
        "data-layout": str(layout),
        "data-cameras": ids,
        "data-names": names,
        "data-tour": str(tour_seconds),
        "data-autofill": "1" if autofill else "0",
        "title": t("video.wall.hint", lang),
        "data-i18n": ui_texts(lang),
    }
    if case_id is not None:
        attrs["data-case-id"] = str(case_id)
    return html.Div(
        id=wall_id, className="ccv-wall-root" + (" ccv-compact" if compact else ""), **attrs
    )


def video_tile(
    tile_id: str, camera_id: str, name: str = "", *, full: bool = False, lang: str = "zh-CN"
) -> html.Div:
    """A single camera (a one-tile wall without autofill)."""
    return html.Div(
        id=tile_id,
        className="ccv-wall-root ccv-single",
        **_data(
            {
                "data-cc-video-wall": "1",
                "data-layout": "1",
                "data-cameras": camera_id,
                "data-names": name or camera_id,
                "data-autofill": "0",
                "data-size": "full" if full else "tile",
            },
            lang,
        ),
    )


def camera_list(list_id: str, wall_id: str, query: str = "", lang: str = "zh-CN") -> html.Div:
    """The cameras the user may see (``query``: API filters such as ``kind=key_site``); drag
    an entry onto a tile or click it to add it to ``wall_id``."""
    return html.Div(
        id=list_id,
        className="ccv-list-root",
        **_data({"data-cc-camera-list": "1", "data-wall": wall_id, "data-query": query}, lang),
    )


def nearest_button(
    lon: float,
    lat: float,
    wall_id: str,
    lang: str = "zh-CN",
    n: int = 4,
    button_id: str | None = None,
) -> html.Button:
    """One click: the ``n`` cameras nearest (lon, lat) on ``wall_id`` (case and alert pages)."""
    extra: dict[str, Any] = {"id": button_id} if button_id else {}
    return html.Button(
        t("video.nearest", lang),
        type="button",
        className="btn btn-outline-info btn-sm ccv-nearest-btn",
        **extra,
        **_data(
            {
                "data-cc-nearest": "1",
                "data-lon": f"{lon:.6f}",
                "data-lat": f"{lat:.6f}",
                "data-wall": wall_id,
                "data-n": str(n),
            }
        ),
    )


def commander_panel(panel_id: str, case_id: int | None = None, lang: str = "zh-CN") -> html.Div:
    """Stations to call, call/hang-up/record, local preview and the stations' videos."""
    attrs: dict[str, Any] = {"data-cc-commander": "1", "data-i18n": ui_texts(lang)}
    if case_id is not None:
        attrs["data-case-id"] = str(case_id)
    return html.Div(id=panel_id, className="ccv-commander", **attrs)


def station_panel(panel_id: str, station_id: str = "", lang: str = "zh-CN") -> html.Div:
    """A station's desk: registers on ``/video``, rings, accepts or declines, shows the call."""
    return html.Div(
        id=panel_id,
        className="ccv-station-root",
        **_data({"data-cc-station": "1", "data-station-id": station_id}, lang),
    )


def recordings_list(list_id: str, case_id: int | None = None, lang: str = "zh-CN") -> html.Div:
    """The call recordings the user may see (of one case when given), playable in place."""
    attrs: dict[str, Any] = {"data-cc-recordings": "1", "data-i18n": ui_texts(lang)}
    if case_id is not None:
        attrs["data-case-id"] = str(case_id)
    return html.Div(id=list_id, className="ccv-recordings", **attrs)


def camera_markers(cameras: Sequence[Any], lang: str = "zh-CN") -> dict[str, Any]:
    """A plotly ``scattermap`` trace of cameras (dicts from the API or Camera models).

    ``customdata`` holds the camera id, so a clientside callback on the map's ``clickData`` can
    call ``ccVideo.addToWall(wallId, point.customdata)`` to show the clicked camera.
    """
    rows = [c if isinstance(c, dict) else c.public(lang) for c in cameras]
    return {
        "type": "scattermap",
        "lon": [r["lon"] for r in rows],
        "lat": [r["lat"] for r in rows],
        "text": [r["name"] for r in rows],
        "customdata": [r["id"] for r in rows],
        "mode": "markers",
        "marker": {"size": 9, "symbol": "circle", "color": "#2f9bff"},
        "hovertemplate": "%{text}<extra></extra>",
        "name": t("video.list.title", lang),
    }
