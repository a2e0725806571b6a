"""Page: the command hall at "/" and "/hall"."""

import dash

from layouts import hall
from layouts.shell import page_title

dash.register_page(
    __name__, path="/", name="hall", title=page_title("rooms.hall"), layout=hall.layout
)
dash.register_page(
    "pages.hall_alias",
    path="/hall",
    name="hall-alias",
    title=page_title("rooms.hall"),
    layout=hall.layout,
)
