"""Registers every page's callbacks on one Dash app (not globally: tests build many apps)."""

from __future__ import annotations

from dash import Dash

from console.runtime import Runtime


def register(app: Dash, runtime: Runtime) -> None:
    from layouts import case_card, hall, reception

    hall.register(app, runtime)
    reception.register(app, runtime)
    case_card.register(app, runtime)
