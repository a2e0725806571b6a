"""The analysis room (研判室): summary figures and the category mix of the user's area."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dash import dcc, html

from console.auth import current_actor, request_lang
from console.i18n import t
from console.runtime import current_runtime
from dispatch.services import overview
from layouts import figures

ANALYSIS_ROOT = "analysis-root"
ANALYSIS_MIX = "analysis-mix"
ANALYSIS_SUMMARY = "analysis-summary"


def layout(**_query: Any) -> Any:
    from layouts.app import not_signed_in
    from layouts.hall import kpi_tiles

    actor = current_actor(optional=True)
    if actor is None:
        return not_signed_in("/analysis")
    rt = current_runtime()
    lang = request_lang()
    now = rt.deps.now()
    with rt.session_factory() as db:
        periods = overview.kpi_periods(db, actor.scope, rt.regions, now)
        mix = overview.category_mix(db, actor.scope, now - timedelta(days=365))
    fig = figures.category_mix_figure(mix, rt.reference.names("categories", lang))
    return html.Div(
        [
            html.H1(t("rooms.analysis", lang), className="h3"),
            html.P(t("rooms.analysis.purpose", lang), className="text-secondary"),
            html.Div(
                kpi_tiles(periods, lang), className="hall-kpi analysis-kpi", id=ANALYSIS_SUMMARY
            ),
            html.H2(t("rooms.analysis.mix", lang), className="h5 mt-4"),
            dcc.Graph(
                id=ANALYSIS_MIX,
                figure=fig,
                config={"displayModeBar": False},
                style={"height": "50vh"},
            ),
            html.Div(t("rooms.analysis.more", lang), className="alert alert-secondary mt-3"),
        ],
        className="container-fluid p-4",
        id=ANALYSIS_ROOT,
    )
