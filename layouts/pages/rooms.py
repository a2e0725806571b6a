"""Pages: the analysis, mediation, counselling, legal consultation and video dispatch rooms."""

import dash

from layouts.rooms import analysis, common
from layouts.shell import page_title

dash.register_page(
    __name__,
    path="/analysis",
    name="analysis",
    title=page_title("rooms.analysis"),
    layout=analysis.layout,
)
for _key, _path in common.ROOM_PATHS.items():
    dash.register_page(
        f"pages.room_{_key}",
        path=_path,
        name=_key,
        title=page_title(f"rooms.{_key}"),
        layout=common.layout_for(_key),
    )
