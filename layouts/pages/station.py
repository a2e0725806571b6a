"""Page: the township station's video desk at "/station" (answers video dispatch calls)."""

from __future__ import annotations

from typing import Any

import dash

from console.auth import current_actor, request_lang
from layouts.rooms import station
from layouts.shell import page_title

PATH = "/station"


def layout(**_query: Any) -> Any:
    """The station desk for a signed-in user (sign-in required like every page)."""
    from layouts.app import not_signed_in

    if current_actor(optional=True) is None:
        return not_signed_in(PATH)
    return station.layout(request_lang())


dash.register_page(
    __name__, path=PATH, name="station", title=page_title("video.station.title"), layout=layout
)
