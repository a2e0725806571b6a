"""Page: the case card at /case/<case_id>."""

import dash

from layouts import case_card

dash.register_page(
    __name__, path_template="/case/<case_id>", name="case", title="案件", layout=case_card.layout
)
