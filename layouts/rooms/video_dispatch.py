"""The video dispatch room (视频调度): camera list, video wall with tour, commander's calls."""

from __future__ import annotations

from dash import html

from console.i18n import t
from layouts.components.video import camera_list, commander_panel, video_wall

WALL = "video-wall"
CAMERA_LIST = "video-camera-list"
COMMANDER = "video-commander"


def layout(lang: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [html.H5(t("video.list.title", lang)), camera_list(CAMERA_LIST, WALL, lang=lang)],
                className="col-2 video-col-list",
            ),
            html.Div(
                [html.H5(t("video.wall.title", lang)), video_wall(WALL, layout=4, lang=lang)],
                className="col-6 video-col-wall",
            ),
            html.Div(
                [
                    html.H5(t("video.dispatch.title", lang)),
                    html.Div(t("video.dispatch.stations", lang), className="small text-muted"),
                    commander_panel(COMMANDER, lang=lang),
                ],
                className="col-4 video-col-calls",
            ),
        ],
        className="row g-2 video-dispatch",
        id="video-dispatch",
    )
