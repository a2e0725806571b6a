"""Pages: the analysis, mediation, counselling, legal consultation and video dispatch rooms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash import dcc, html

from console.auth import current_actor, request_lang
from console.i18n import t
from dispatch.domain.codes import Level
from layouts.rooms import analysis, common
from layouts.shell import page_title

#: The link from the video dispatch room to the station desk (township-level users only).
STATION_LINK = "room-video-station-link"
#: Levels whose users staff a station desk rather than the dispatch console.
STATION_LEVELS = (Level.TOWNSHIP, Level.GRID)


def with_station_link(room: Callable[..., Any]) -> Callable[..., Any]:
    """The video room, headed by a link to ``/station`` for township and grid users."""

    def layout(**query: Any) -> Any:
        body = room(**query)
        actor = current_actor(optional=True)
        if actor is None or actor.scope.level not in STATION_LEVELS:
            return body
        link = dcc.Link(
            t("video.station.title", request_lang()),
            href="/station",
            id=STATION_LINK,
            className="btn btn-outline-info btn-sm",
        )
        return html.Div([html.Div(link, className="container pt-3"), body])

    return layout


dash.register_page(
    __name__,
    path="/analysis",
    name="analysis",
    title=page_title("rooms.analysis"),
    layout=analysis.layout,
)
for _key, _path in common.ROOM_PATHS.items():
    _layout = common.layout_for(_key)
    dash.register_page(
        f"pages.room_{_key}",
        path=_path,
        name=_key,
        title=page_title(f"rooms.{_key}"),
        layout=with_station_link(_layout) if _key == "video" else _layout,
    )
