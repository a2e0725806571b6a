"""Registers every page's callbacks on one Dash app (not globally: tests build many apps)."""

from __future__ import annotations

from dash import Dash

from console.runtime import Runtime


def register(app: Dash, runtime: Runtime) -> None:
    from dash import Input, Output

    from layouts import case_card, hall, shell
    from layouts import reception as reception_room

    # The language switch comes back to the page it was pressed on.
    app.clientside_callback(
        "function(path, lang) { return '/lang/' + (lang === 'en' ? 'zh-CN' : 'en') + "
        "'?next=' + encodeURIComponent(path || '/'); }",
        Output(shell.APP_LANG_LINK, "href"),
        Input(shell.APP_URL, "pathname"),
        Input(shell.APP_LANG_STORE, "data"),
    )
    hall.register(app, runtime)
    reception_room.register(app, runtime)
    case_card.register(app, runtime)
