"""The frame around every page: dark theme, CJK fonts, the navbar with the hall and the rooms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from console.auth import current_actor, request_lang
from console.i18n import t
from console.runtime import current_runtime

#: Component ids of the frame (page-prefixed, kept as constants).
APP_URL = "app-url"
APP_LANG_LINK = "app-lang-link"
APP_NAVBAR = "app-navbar"
APP_LANG_STORE = "app-lang"

#: Dash's page template: dark Bootstrap theme, no external resources at all.
INDEX_STRING = """<!DOCTYPE html>
<html lang="zh-CN" data-bs-theme="dark">
<head>
{%metas%}
<title>{%title%}</title>
{%favicon%}
{%css%}
</head>
<body class="cc-body">
{%app_entry%}
<footer>
{%config%}
{%scripts%}
{%renderer%}
</footer>
</body>
</html>"""


@dataclass(frozen=True)
class Room:
    """One entry of the navigation: the hall or a room."""

    key: str
    path: str
    icon: str


#: The hall and the six rooms (一厅六室), in the order of the navigation.
ROOMS: tuple[Room, ...] = (
    Room("hall", "/hall", "◉"),
    Room("reception", "/reception", "✎"),
    Room("analysis", "/analysis", "◔"),
    Room("mediation", "/mediation", "⚖"),
    Room("counselling", "/counselling", "♡"),
    Room("legal", "/legal", "§"),
    Room("video", "/video", "▶"),
)


def page_title(key: str) -> Any:
    """A page title in the viewer's language (Dash calls it while routing, inside the request)."""

    def title(**_path: Any) -> str:
        return f"{t(key, request_lang())} · {t('app.title', request_lang())}"

    return title


def data_attrs(values: dict[str, str]) -> Any:
    """``data-*`` attributes for a Dash html component (typed loosely for the keyword spread)."""
    return values


def navbar(lang: str, display_name: str, scope_name: str) -> dbc.Navbar:
    """The top bar: title, rooms, user and scope, language switch, sign-out."""
    links = [
        dbc.NavItem(
            dbc.NavLink(
                f"{room.icon} {t(f'rooms.{room.key}', lang)}",
                href=room.path,
                active="partial",
                id=f"app-nav-{room.key}",
            )
        )
        for room in ROOMS
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(t("app.title", lang), href="/hall", className="cc-brand"),
                dbc.Nav(links, className="me-auto cc-nav", navbar=True),
                html.Span(
                    [html.Span(scope_name, className="cc-scope"), " · ", display_name],
                    className="cc-user me-3",
                    id="app-user",
                ),
                html.A(
                    t("app.switch_language", lang),
                    href="/lang/en" if lang == "zh-CN" else "/lang/zh-CN",
                    id=APP_LANG_LINK,
                    className="btn btn-sm btn-outline-secondary me-2",
                ),
                html.A(
                    t("auth.sign_out", lang),
                    href="/logout",
                    id="app-logout",
                    className="btn btn-sm btn-outline-light",
                ),
            ],
            fluid=True,
        ),
        id=APP_NAVBAR,
        color="dark",
        dark=True,
        className="cc-navbar py-0",
    )


def root_layout() -> html.Div:
    """The layout of every page, built per request (user, scope and language)."""
    lang = request_lang()
    actor = current_actor(optional=True)
    name, scope_name = "", ""
    if actor is not None:
        name = actor.username
        scope_name = current_runtime().regions.name(actor.scope.code, lang)
    return html.Div(
        [
            dcc.Location(id=APP_URL, refresh=False),
            dcc.Store(id=APP_LANG_STORE, data=lang),
            navbar(lang, name, scope_name),
            html.Main(dash.page_container, className="cc-main"),
        ],
        className="cc-root",
        lang=lang,
    )
