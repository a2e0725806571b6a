"""The township station's video desk: answers video dispatch calls from the command centre."""

from __future__ import annotations

from dash import html

from console.i18n import t
from layouts.components.video import station_panel

STATION = "station-desk"


def layout(lang: str) -> html.Div:
    return html.Div(
        [
            html.H4(t("video.station.title", lang)),
            html.P(t("video.station.hint", lang), className="text-muted small"),
            station_panel(STATION, lang=lang),
        ],
        className="station-page",
        id="station-page",
    )
