"""Browser pages outside Dash: sign-in, sign-out, language switch, and the minimal live page."""

from __future__ import annotations

from html import escape

from flask import Flask, Response, redirect, request, session, url_for
from werkzeug.wrappers import Response as WResponse

from console.auth import login_session, request_lang
from console.i18n import t
from console.runtime import current_runtime
from dispatch.services import users

_PAGE = """<!doctype html><html lang="{lang}" data-bs-theme="dark"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<link rel="stylesheet" href="/assets/vendor/bootstrap.min.css"></head>
<body class="d-flex align-items-center justify-content-center" style="min-height:100vh">{body}</body></html>"""


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def register_pages(app: Flask) -> None:
    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response | WResponse | tuple[str, int] | str:
        lang = request_lang()
        error = ""
        username = ""
        if request.method == "POST":
            username = (request.form.get("username") or "").strip()
            password = request.form.get("password") or ""
            if not username or not password:
                error = t("auth.missing_fields", lang)
            else:
                runtime = current_runtime()
                with runtime.session_factory.begin() as db:
                    user = users.authenticate(db, runtime.deps, username, password)
                    if user is not None:
                        login_session(user)
                        session["lang"] = lang
                        return redirect(_safe_next(request.args.get("next")))
                error = t("errors.bad_credentials", lang)
        other = "en" if lang == "zh-CN" else "zh-CN"
        body = f"""<form method="post" class="card p-4" style="width:360px">
<h1 class="h4 mb-3">{escape(t("app.title", lang))}</h1>
<label class="form-label" for="username">{escape(t("auth.username", lang))}</label>
<input class="form-control mb-2" id="username" name="username" autocomplete="username" value="{escape(username)}" autofocus>
<label class="form-label" for="password">{escape(t("auth.password", lang))}</label>
<input class="form-control mb-3" id="password" name="password" type="password" autocomplete="current-password">
{f'<div class="alert alert-danger py-2" role="alert" id="login-error">{escape(error)}</div>' if error else ""}
<button class="btn btn-primary w-100" id="login-submit" type="submit">{escape(t("auth.sign_in", lang))}</button>
<a class="small mt-3" href="?lang={other}">{escape(t("app.switch_language", lang))}</a></form>"""
        page = _PAGE.format(lang=lang, title=escape(t("auth.sign_in", lang)), body=body)
        return (page, 401) if error else page

    @app.get("/logout")
    def logout() -> WResponse:
        session.clear()
        return redirect(url_for("login"))

    @app.get("/lang/<lang>")
    def set_lang(lang: str) -> WResponse:
        session["lang"] = "en" if lang.startswith("en") else "zh-CN"
        return redirect(_safe_next(request.args.get("next")))


def register_minimal_home(app: Flask) -> None:
    """A plain page with live counts, used only when the Dash hall is not part of the build."""

    @app.get("/")
    def home() -> str:
        lang = request_lang()
        return _PAGE.format(
            lang=lang,
            title=escape(t("app.title", lang)),
            body=f"""<div class="text-center"><h1>{escape(t("app.title", lang))}</h1>
<p id="counts">…</p><a href="/login">{escape(t("auth.sign_in", lang))}</a></div>
<script>
async function tick() {{
  const day = (ms) => new Date(ms).toISOString().slice(0, 10);
  const r = await fetch('/api/v1/stats/summary?from=' + day(Date.now() - 3650 * 864e5) + '&to=' + day(Date.now() + 864e5));
  const el = document.getElementById('counts');
  if (r.ok) {{ const s = await r.json(); el.textContent =
    `{escape(t("kpi.received", lang))}: ${{s.received}} · {escape(t("kpi.in_progress", lang))}: ${{s.in_progress}} · {escape(t("kpi.overdue", lang))}: ${{s.overdue}}`; }}
  else {{ el.textContent = '{escape(t("errors.unauthorized", lang))}'; }}
}}
tick(); setInterval(tick, 5000);
</script>""",
        )
