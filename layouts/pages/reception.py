"""Page: reception, single-window intake (一窗受理)."""

import dash

from layouts import reception

dash.register_page(
    __name__, path="/reception", name="reception", title="接待室", layout=reception.layout
)
