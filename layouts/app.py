"""Dash wiring: the hall and the rooms as pages of one Dash app on the Flask server.

``init_app`` is called by ``console.app.create_app``. Pages live in ``layouts/pages`` (layouts
only); their callbacks are registered here on the app instance (not with the global
``dash.callback``), so that several apps in one process (tests) never share callbacks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from dash import Dash, dcc, html
from flask import Flask, Response, redirect, request
from werkzeug.wrappers import Response as WResponse

from console.auth import current_actor, request_lang
from console.i18n import t
from console.runtime import Runtime
from layouts import shell

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGES_FOLDER = Path(__file__).resolve().parent / "pages"
ASSETS_FOLDER = REPO_ROOT / "assets"

#: Paths that Dash serves without a signed-in user (its own scripts and our static files).
_PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon", "/_reload-hash")
#: Paths outside Dash (Flask pages, API, sockets, video) that have their own checks.
#: ``/field`` is the field staff's plain Flask page (``console/field_page.py``).
_NOT_DASH_PREFIXES = (
    "/api/", "/login", "/logout", "/lang/", "/healthz", "/socket.io", "/streams", "/field",
)  # fmt: skip
#: Asset folders Dash must not load on its pages (regexes on folder names; Dash's
#: ``assets_ignore`` sees file names only): the field page's scripts are for /field alone.
ASSETS_PATH_IGNORE = [r"^field$"]


def _guard() -> Response | WResponse | tuple[str, int] | None:
    """Send a browser without a (valid) session to /login; Dash data calls get a plain 401."""
    path = request.path
    if path.startswith(_NOT_DASH_PREFIXES) or path.startswith(_PUBLIC_PREFIXES):
        return None
    if current_actor(optional=True) is not None:
        return None
    if path.startswith("/_dash-"):
        return "unauthorized", 401
    target = request.full_path.rstrip("?") if request.query_string else path
    return redirect(f"/login?next={quote(target, safe='/')}")


def init_app(app: Flask, runtime: Runtime) -> None:
    """Build the Dash app (pages, callbacks, local assets) and mount it on ``app``."""
    from layouts import callbacks

    dash_app = Dash(
        __name__,
        server=False,
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(ASSETS_FOLDER),
        assets_path_ignore=ASSETS_PATH_IGNORE,
        title=t("app.title", runtime.settings.lang),
        suppress_callback_exceptions=True,
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        update_title=None,  # type: ignore[arg-type]  # None disables "Updating..." titles
        compress=False,
    )
    dash_app.index_string = shell.INDEX_STRING
    dash_app.layout = shell.root_layout
    app.before_request(_guard)
    dash_app.init_app(app)
    callbacks.register(dash_app, runtime)
    app.extensions["dash"] = dash_app
    logger.info("dash pages mounted from %s", PAGES_FOLDER)


def login_redirect(path: str) -> dcc.Location:
    """A component that sends the browser to the login page (used by page layouts)."""
    return dcc.Location(id="app-login-redirect", href=f"/login?next={quote(path, safe='/')}")


def not_signed_in(path: str) -> html.Div:
    lang = request_lang()
    return html.Div([login_redirect(path), html.P(t("errors.unauthorized", lang))])
