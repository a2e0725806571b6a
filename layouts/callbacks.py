"""Registers every page's callbacks on one Dash app (not globally: tests build many apps)."""

from __future__ import annotations

from dash import Dash

from console.runtime import Runtime


def register(app: Dash, runtime: Runtime) -> None:
    from layouts import case_card, hall
    from layouts import reception as reception_room

    hall.register(app, runtime)
    reception_room.register(app, runtime)
    case_card.register(app, runtime)
