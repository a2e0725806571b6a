"""Rooms whose own issue comes later: navigation and an honest "coming" state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import html

from console.auth import current_actor, request_lang
from console.i18n import t

#: Room key -> path, for the rooms built here as placeholders (or by embedding).
ROOM_PATHS: dict[str, str] = {
    "mediation": "/mediation",
    "counselling": "/counselling",
    "legal": "/legal",
    "video": "/video",
}
ROOM_ROOT = "room-root"


def coming(key: str, lang: str) -> html.Div:
    """The honest placeholder: what the room is for, and that it comes in a later issue."""
    return html.Div(
        [
            html.H1(t(f"rooms.{key}", lang), className="h3"),
            html.P(t(f"rooms.{key}.purpose", lang), className="lead"),
            html.Div(
                t("rooms.coming", lang), className="alert alert-secondary", id=f"room-{key}-coming"
            ),
        ],
        className="container p-4",
        id=ROOM_ROOT,
    )


def _video_room(lang: str) -> Any:
    try:
        from layouts.rooms import video_dispatch  # owned by the video issue
    except ImportError:
        return coming("video", lang)
    try:
        return video_dispatch.layout(lang)
    except TypeError:
        return video_dispatch.layout()  # type: ignore[call-arg]


def layout_for(key: str) -> Callable[..., Any]:
    """A page layout function for room ``key``."""

    def layout(**_query: Any) -> Any:
        from layouts.app import not_signed_in

        if current_actor(optional=True) is None:
            return not_signed_in(ROOM_PATHS[key])
        lang = request_lang()
        if key == "video":
            return _video_room(lang)
        return coming(key, lang)

    return layout
