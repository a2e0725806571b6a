"""Page: reception, single-window intake (一窗受理)."""

import dash

from layouts import reception
from layouts.shell import page_title

dash.register_page(
    __name__,
    path="/reception",
    name="reception",
    title=page_title("rooms.reception"),
    layout=reception.layout,
)
