"""Page: the case card at /case/<case_id>."""

import dash

from layouts import case_card
from layouts.shell import page_title

dash.register_page(
    __name__,
    path_template="/case/<case_id>",
    name="case",
    title=page_title("case.code"),
    layout=case_card.layout,
)
