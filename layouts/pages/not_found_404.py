"""Page: anything else (a friendly not-found inside the frame)."""

import dash
from dash import html

dash.register_page(
    __name__, path="/404", name="not-found", layout=html.Div("404", className="p-5 display-4")
)
