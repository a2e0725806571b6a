"""Page: the command hall at "/" and "/hall"."""

import dash

from layouts import hall

dash.register_page(__name__, path="/", name="hall", title="指挥大厅", layout=hall.layout)
dash.register_page(
    "pages.hall_alias", path="/hall", name="hall-alias", title="指挥大厅", layout=hall.layout
)
