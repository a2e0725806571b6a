"""The command hall (指挥大厅): the wall display, its first render and its server callbacks.

Live updates arrive over the ``/hall`` Socket.IO namespace (``assets/hall/hall.js``), which
merges them into a bounded view in the browser and draws the stream rows itself (keyed DOM
updates, no Dash render or server round trip per batch), the alerts, points and people.
Server callbacks re-read the KPI tiles, supervision board and league table when the browser
says figures changed (throttled), and the whole snapshot on a re-sync (gap or reconnect).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import current_app
from plotly.utils import PlotlyJSONEncoder

from config.regions import RegionTree
from console.auth import current_actor, request_lang
from console.i18n import t
from console.runtime import Runtime, current_runtime
from dispatch.domain.codes import Level
from dispatch.domain.jurisdiction import Scope
from dispatch.services import overview
from dispatch.services.context import Actor
from layouts import figures
from layouts.case_card import case_card_body
from layouts.shell import data_attrs

logger = logging.getLogger(__name__)

# Component ids (page-prefixed).
HALL_ROOT = "hall-root"
HALL_CLOCK = "hall-clock"
HALL_DUTY = "hall-duty"
HALL_BANNER = "hall-banner"
HALL_CONN = "hall-conn"
HALL_KPI = "hall-kpi"
HALL_MAP = "hall-map"
HALL_MAP_TITLE = "hall-map-title"
HALL_DRILL_RESET = "hall-drill-reset"
HALL_STREAM = "hall-stream"
HALL_SUPERVISION = "hall-supervision"
HALL_LEAGUE = "hall-league"
HALL_ALERTS = "hall-alerts"
HALL_VIDEO = "hall-video"
HALL_MODAL = "hall-modal"
HALL_MODAL_BODY = "hall-modal-body"
HALL_MODAL_TITLE = "hall-modal-title"
HALL_INTERVAL = "hall-interval"
#: Stores: the snapshot (server), and the case a click or Enter on a row asks for (hall.js).
HALL_CASE_PICK = "hall-case-pick"
#: The sequence number of the snapshot hall.js last drew into ``HALL_STREAM``.
HALL_STREAM_DRAWN = "hall-stream-drawn"
HALL_SEED = "hall-seed-store"
HALL_CONFIG = "hall-config-store"
HALL_RESYNC = "hall-resync-store"
HALL_KPI_TICK = "hall-kpi-tick"
#: The tiles' figures (server), written into the tiles in place by hall.js.
HALL_KPI_VALUES = "hall-kpi-values"
HALL_KPI_DONE = "hall-kpi-done"
#: Digests of what the display shows now, so a refresh sends only the parts that changed.
HALL_DIGESTS = "hall-digests"
HALL_DRILL = "hall-drill-store"
HALL_ACK_RESULT = "hall-ack-result"
#: Township shading values for the current map (server), applied in place by the browser.
HALL_COUNTS = "hall-counts-store"
HALL_SHADE_DONE = "hall-shade-done"
HALL_CAMERA_PICK = "hall-camera-pick"
#: Map trace of cameras (after the choropleth, the case points and the field staff).
CAMERA_TRACE = 3
#: Online field staff count (drawn by hall.js from the view, seeded by the server).
HALL_PRESENCE_COUNT = "hall-presence-count"
#: Rows that open a case card carry ``data-case-id``; hall.js turns a click or Enter on one
#: into ``HALL_CASE_PICK`` (one listener for the page: pattern-matching ids on rows redrawn
#: every batch would make Dash call the server each time the list changes).
CASE_ID_ATTR = "data-case-id"
#: Pattern-matching ids of items drawn in the browser.
ALERT_ACK = "hall-alert-ack"

#: Newest cases kept in the browser, and alerts.
VIEW_CASES_LIMIT = 200
VIEW_ALERTS_LIMIT = 50

KPI_METRICS: tuple[tuple[str, str, str], ...] = (
    # (Summary attribute, label key, kind)
    ("received", "kpi.received", "count"),
    ("resolved", "kpi.resolved", "count"),
    ("success_rate", "kpi.success_rate", "rate"),
    ("in_progress", "kpi.in_progress", "count"),
    ("overdue", "kpi.overdue", "count"),
    ("major_disputes", "kpi.major_disputes", "count"),
    ("online_success_rate", "kpi.online_success_rate", "rate"),
)


# ----------------------------------------------------------------------------------------------
# Pieces (pure: data in, components out)
# ----------------------------------------------------------------------------------------------
def _value(value: Any, kind: str) -> str:
    if kind == "rate":
        return figures.format_rate(value)
    return f"{int(value):,}"


def kpi_values(periods: list[overview.PeriodFigures]) -> dict[str, list[str]]:
    """The tiles' figures: value element id -> [value, year-on-year text, its direction].

    Live refreshes send only this and hall.js writes it into the tiles in place (re-rendering
    ~90 components through Dash held a wall's main thread for 100-400 ms every few seconds).
    """
    values = {}
    for attr, _label_key, kind in KPI_METRICS:
        for pf in periods:
            text, direction = figures.format_change(pf.yoy(attr))
            values[f"hall-kpi-{attr}-{pf.period}"] = [
                _value(getattr(pf.current, attr), kind),
                text,
                direction,
            ]
    return values


def kpi_tiles(periods: list[overview.PeriodFigures], lang: str) -> list[html.Div]:
    """One tile per metric, each with today / this month / this year and year-on-year change."""
    values = kpi_values(periods)
    tiles = []
    for attr, label_key, _kind in KPI_METRICS:
        rows = []
        for pf in periods:
            value_id = f"hall-kpi-{attr}-{pf.period}"
            value, text, direction = values[value_id]
            rows.append(
                html.Div(
                    [
                        html.Span(t(f"hall.period.{pf.period}", lang), className="kpi-period"),
                        html.Span(value, className="kpi-value", id=value_id),
                        html.Span(
                            text,
                            className=f"kpi-yoy kpi-{direction}",
                            title=t("hall.yoy", lang),
                            id=f"{value_id}-yoy",
                        ),
                    ],
                    className=f"kpi-row kpi-row-{pf.period}",
                )
            )
        tiles.append(
            html.Div(
                [html.Div(t(label_key, lang), className="kpi-label"), *rows],
                className=f"kpi-tile kpi-{attr}",
            )
        )
    return tiles


def league_table(rows: list[overview.LeagueRow], regions: RegionTree, lang: str) -> html.Table:
    head = html.Thead(
        html.Tr(
            [
                html.Th("#"),
                html.Th(t("hall.league.area", lang)),
                html.Th(t("kpi.received", lang)),
                html.Th(t("kpi.success_rate", lang)),
                html.Th(t("hall.league.on_time", lang)),
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(str(i)),
                    html.Td(regions.name(r.code, lang)),
                    html.Td(f"{r.received:,}"),
                    html.Td(figures.format_rate(r.success_rate)),
                    html.Td(figures.format_rate(r.on_time_rate)),
                ]
            )
            for i, r in enumerate(rows, start=1)
        ]
    )
    return html.Table([head, body], className="table table-sm table-dark hall-table mb-0")


def supervision_board(
    sup: overview.SupervisionFigures, regions: RegionTree, lang: str
) -> list[Any]:
    counters = html.Div(
        [
            html.Span(
                [t("hall.sup.yellow", lang), html.B(str(sup.yellow))],
                className="sup-count sup-yellow",
            ),
            html.Span(
                [t("hall.sup.red", lang), html.B(str(sup.red))], className="sup-count sup-red"
            ),
            html.Span(
                [t("kpi.overdue", lang), html.B(str(sup.overdue))],
                className="sup-count sup-overdue",
            ),
            html.Span(
                [t("hall.sup.escalated", lang), html.B(str(sup.escalated))],
                className="sup-count sup-esc",
            ),
        ],
        className="sup-counters",
    )
    if not sup.cards:
        return [counters, html.Div(t("hall.sup.empty", lang), className="hall-empty")]
    items = [
        html.Li(
            [
                html.Span(className=f"sup-card card-{c['card']}"),
                html.Span(c["title"], className="sup-title"),
                html.Span(regions.name(str(c["township_code"]), lang), className="sup-area"),
            ],
            className="sup-item",
            tabIndex="0",
            role="button",
            **data_attrs({CASE_ID_ATTR: str(c["id"])}),
        )
        for c in sup.cards
    ]
    return [counters, html.Ul(items, className="sup-list")]


def presence_count(online: int, lang: str) -> html.Span:
    """The "在线 n" count of field staff online in the area (hall.js keeps it live)."""
    return html.Span(
        [t("hall.presence.online", lang), " ", html.B(str(online), id=HALL_PRESENCE_COUNT)],
        className="hall-presence",
        title=t("hall.presence.title", lang),
    )


def video_area(lang: str) -> Any:
    """The video wall from the video component when it is installed, else an honest panel."""
    try:
        from layouts.components.video import video_wall  # owned by the video issue
    except ImportError:
        return html.Div(
            [html.Div("▶", className="coming-icon"), html.Div(t("hall.video.coming", lang))],
            className="hall-coming",
        )
    try:
        return video_wall(lang=lang, compact=True)
    except TypeError:
        return video_wall()


def panel(title: str, body: Any, body_id: str, extra: Any = None, cls: str = "") -> html.Section:
    return html.Section(
        [
            html.Header([html.H2(title), extra], className="hall-panel-head"),
            html.Div(body, id=body_id, className="hall-panel-body"),
        ],
        className=f"hall-panel {cls}",
    )


# ----------------------------------------------------------------------------------------------
# Data for one display
# ----------------------------------------------------------------------------------------------
def map_view(
    regions: RegionTree, scope: Scope, drill: str | None
) -> tuple[dict[str, Any], tuple[float, float], float]:
    """GeoJSON of the townships shown, the centre and the zoom for a scope (or a drill-down)."""
    focus = drill or scope.code
    region = regions.get(focus)
    level_code = focus if region.level is not Level.GRID else (region.parent or focus)
    geojson = regions.feature_collection(Level.TOWNSHIP, within=level_code)
    zoom = figures.zoom_for_bbox(regions.get(level_code).bbox)
    return geojson, regions.get(level_code).centroid, zoom


def drill_scope(runtime: Runtime, actor: Actor, drill: str | None) -> Scope | None:
    """The drill-down region as a scope, only when it lies inside the actor's scope."""
    if not drill or drill not in runtime.regions:
        return None
    if not runtime.regions.is_within(drill, actor.scope.code):
        return None
    return Scope(runtime.regions.get(drill).level, drill)


def snapshot(runtime: Runtime, actor: Actor, drill: str | None) -> dict[str, Any]:
    """The cases and alerts a display starts from (and re-syncs to)."""
    from dispatch.realtime import hall as hall_rt

    region = drill_scope(runtime, actor, drill)
    with runtime.session_factory() as db:
        stream = overview.latest_cases(db, actor.scope, region)
        points = overview.latest_open(db, actor.scope, region)
        people = overview.field_presence(
            db, region or actor.scope, runtime.regions, runtime.deps.now()
        )
    by_id = {c["id"]: c for c in points}
    by_id.update({c["id"]: c for c in stream})
    cases = sorted(by_id.values(), key=lambda c: str(c["received_at"]), reverse=True)
    return {
        "cases": cases[: max(VIEW_CASES_LIMIT, overview.MAP_POINTS_LIMIT)],
        "alerts": hall_rt.alerts_for(runtime, actor.scope),
        "people": people,
        "seq": hall_rt.current_seq(runtime, actor.scope),
        "drill": drill,
    }


#: Seconds the figures of one scope are shared between displays (many walls, one query).
FIGURES_TTL = 3.0


def figures_now(runtime: Runtime, actor: Actor, lang: str) -> dict[str, Any]:
    """Tiles, supervision, league and township counts for the display's scope (cached briefly)."""
    import threading
    import time

    cache = runtime.extras.setdefault("hall_figures", {"lock": threading.Lock(), "items": {}})
    key = (actor.scope.level.value, actor.scope.code, lang)
    now = time.monotonic()
    with cache["lock"]:
        hit = cache["items"].get(key)
        if hit is not None and now - hit[0] < FIGURES_TTL:
            return dict(hit[1])
    figs = read_figures(runtime, actor, lang)
    with cache["lock"]:
        items = cache["items"]
        items[key] = (now, figs)
        for stale in [k for k, (at, _f) in items.items() if now - at > 10 * FIGURES_TTL]:
            del items[stale]
    return dict(figs)


def read_figures(runtime: Runtime, actor: Actor, lang: str) -> dict[str, Any]:
    """Tiles, supervision, league and township counts for the display's scope, read now."""
    now = runtime.deps.now()
    with runtime.session_factory() as db:
        periods = overview.kpi_periods(db, actor.scope, runtime.regions, now)
        sup = overview.supervision(db, actor.scope, now)
        table = overview.league(
            db, overview.rollup_scope(actor.scope, runtime.regions), runtime.regions, now
        )
        counts = overview.open_by_township(db, actor.scope, runtime.regions)
        duty = overview.on_duty(db, actor.scope, runtime.regions)
    return {
        # The tiles are built from the periods at first render only; refreshes send the values.
        "periods": periods,
        "kpi": kpi_values(periods),
        "supervision": supervision_board(sup, runtime.regions, lang),
        "league": league_table(table, runtime.regions, lang),
        "counts": counts,
        "duty": duty_line(duty, lang),
    }


def duty_line(names: list[str], lang: str) -> str:
    return f"{t('hall.on_duty', lang)}: " + ("、".join(names) if names else t("hall.nobody", lang))


def config_for(runtime: Runtime, lang: str) -> dict[str, Any]:
    """Labels and colours the browser needs to draw the stream, points and alerts."""
    ref = runtime.reference
    return {
        "lang": lang,
        "limits": {
            "cases": VIEW_CASES_LIMIT,
            "points": overview.MAP_POINTS_LIMIT,
            "alerts": VIEW_ALERTS_LIMIT,
        },
        "severity_colors": figures.SEVERITY_COLORS,
        "presence_color": figures.PRESENCE_COLOR,
        "presence_size": figures.PRESENCE_SIZE,
        "severity_sizes": figures.SEVERITY_SIZES,
        "alert_colors": figures.ALERT_COLORS,
        "severities": ref.names("severities", lang),
        "categories": ref.names("categories", lang),
        "alert_levels": ref.names("alert_levels", lang),
        "regions": {r.code: r.name(lang) for r in runtime.regions if r.level is not Level.GRID},
        "labels": {
            "empty_stream": t("hall.stream.empty", lang),
            "empty_alerts": t("hall.alerts.empty", lang),
            "ack": t("hall.alerts.ack", lang),
            "acked": t("hall.alerts.acked", lang),
            "live": t("hall.conn.live", lang),
            "offline": t("hall.conn.offline", lang),
            "resync": t("hall.conn.resync", lang),
            "closed": t("hall.stream.closed", lang),
            "last_seen": t("hall.presence.last_seen", lang),
        },
    }


# ----------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------
def layout(**_query: Any) -> Any:
    """The hall for the signed-in user's scope (page layout function)."""
    from layouts.app import not_signed_in

    actor = current_actor(optional=True)
    if actor is None:
        return not_signed_in("/hall")
    runtime = current_runtime()
    lang = request_lang()
    figs = figures_now(runtime, actor, lang)
    seed = snapshot(runtime, actor, None)
    fig, shading = hall_map(runtime, actor.scope, None, figs["counts"], lang)
    scope_name = runtime.regions.name(actor.scope.code, lang)
    legend = html.Div(
        [
            html.Span(
                [
                    html.I(style={"background": color}),
                    runtime.reference.name("severities", sev, lang),
                ],
                className="legend-item",
            )
            for sev, color in figures.SEVERITY_COLORS.items()
        ]
        + [
            html.Span(
                [
                    html.I(style={"background": figures.PRESENCE_COLOR}),
                    t("hall.presence.legend", lang),
                ],
                className="legend-item legend-field",
            )
        ],
        className="hall-legend",
    )
    header = html.Header(
        [
            html.Div(
                [html.H1(t("hall.title", lang, area=scope_name), className="hall-title")],
                className="hall-head-left",
            ),
            html.Div(
                id=HALL_BANNER, className="hall-banner", **data_attrs({"data-mode": "normal"})
            ),
            html.Div(
                [
                    html.Span(
                        "●",
                        id=HALL_CONN,
                        className="hall-conn conn-off",
                        title=t("hall.conn.offline", lang),
                    ),
                    html.Span(figs["duty"], id=HALL_DUTY, className="hall-duty"),
                    html.Span("--:--:--", id=HALL_CLOCK, className="hall-clock"),
                ],
                className="hall-head-right",
            ),
        ],
        className="hall-header",
    )
    return html.Div(
        [
            dcc.Store(id=HALL_CASE_PICK),
            dcc.Store(id=HALL_STREAM_DRAWN),
            dcc.Store(id=HALL_SEED, data=seed),
            dcc.Store(id=HALL_CONFIG, data=config_for(runtime, lang)),
            dcc.Store(id=HALL_RESYNC),
            dcc.Store(id=HALL_KPI_TICK),
            dcc.Store(id=HALL_KPI_VALUES),
            dcc.Store(id=HALL_KPI_DONE),
            dcc.Store(id=HALL_DIGESTS, data=digests(live_parts(figs, shading))),
            dcc.Store(id=HALL_DRILL),
            dcc.Store(id=HALL_ACK_RESULT),
            dcc.Store(id=HALL_COUNTS),
            dcc.Store(id=HALL_SHADE_DONE),
            dcc.Store(id=HALL_CAMERA_PICK),
            dcc.Interval(id=HALL_INTERVAL, interval=60_000),
            header,
            html.Div(kpi_tiles(figs["periods"], lang), id=HALL_KPI, className="hall-kpi"),
            panel(t("hall.stream.title", lang), [], HALL_STREAM, cls="area-stream"),
            panel(
                t("hall.sup.title", lang),
                figs["supervision"],
                HALL_SUPERVISION,
                extra=presence_count(len(seed["people"]), lang),
                cls="area-sup",
            ),
            html.Section(
                [
                    html.Header(
                        [
                            html.H2(t("hall.map.title", lang, area=scope_name), id=HALL_MAP_TITLE),
                            legend,
                            dbc.Button(
                                t("hall.map.back", lang),
                                id=HALL_DRILL_RESET,
                                size="sm",
                                color="secondary",
                                outline=True,
                                className="ms-2",
                                style={"display": "none"},
                            ),
                        ],
                        className="hall-panel-head",
                    ),
                    dcc.Graph(
                        id=HALL_MAP,
                        figure=fig,
                        config={"displayModeBar": False, "scrollZoom": True},
                        className="hall-map-graph",
                        responsive=True,
                    ),
                ],
                className="hall-panel area-map",
            ),
            panel(t("hall.alerts.title", lang), [], HALL_ALERTS, cls="area-alerts"),
            panel(t("hall.league.title", lang), figs["league"], HALL_LEAGUE, cls="area-league"),
            panel(t("hall.video.title", lang), video_area(lang), HALL_VIDEO, cls="area-video"),
            dbc.Modal(
                [
                    dbc.ModalHeader(dbc.ModalTitle(id=HALL_MODAL_TITLE)),
                    dbc.ModalBody(id=HALL_MODAL_BODY),
                ],
                id=HALL_MODAL,
                size="xl",
                is_open=False,
                scrollable=True,
            ),
        ],
        id=HALL_ROOT,
        className="hall-grid",
        **data_attrs({"data-scope": actor.scope.code, "data-level": actor.scope.level.value}),
    )


# ----------------------------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------------------------
def register(app: Dash, runtime: Runtime) -> None:
    """Server and clientside callbacks of the hall, on this Dash app."""

    @app.callback(
        Output(HALL_KPI_VALUES, "data"),
        Output(HALL_SUPERVISION, "children"),
        Output(HALL_LEAGUE, "children"),
        Output(HALL_DUTY, "children"),
        Output(HALL_COUNTS, "data"),
        Output(HALL_DIGESTS, "data"),
        Input(HALL_KPI_TICK, "data"),
        Input(HALL_INTERVAL, "n_intervals"),
        State(HALL_DRILL, "data"),
        State(HALL_DIGESTS, "data"),
        prevent_initial_call=True,
    )
    def refresh_figures(
        _tick: Any, _n: Any, drill: str | None, shown: dict[str, str] | None
    ) -> tuple[Any, ...]:
        actor = current_actor(optional=True)
        if actor is None:
            raise PreventUpdate
        lang = request_lang()
        rt = current_runtime()
        figs = figures_now(rt, actor, lang)
        region = drill_scope(rt, actor, drill)
        geo_codes = _map_codes(rt, actor, region.code if region else None)
        shading = township_shading(figs["counts"], geo_codes)
        return changed_only(live_parts(figs, shading), shown or {})

    @app.callback(
        Output(HALL_SEED, "data"),
        Output(HALL_MAP, "figure", allow_duplicate=True),
        Output(HALL_MAP_TITLE, "children"),
        Output(HALL_DRILL_RESET, "style"),
        Input(HALL_RESYNC, "data"),
        Input(HALL_DRILL, "data"),
        prevent_initial_call=True,
    )
    def resync(_resync: Any, drill: str | None) -> tuple[Any, ...]:
        """Re-read the snapshot (after a gap or reconnect, or on a drill-down)."""
        actor = current_actor(optional=True)
        if actor is None:
            raise PreventUpdate
        rt = current_runtime()
        lang = request_lang()
        region = drill_scope(rt, actor, drill)
        drill_code = region.code if region else None
        seed = snapshot(rt, actor, drill_code)
        if ctx.triggered_id == HALL_RESYNC:
            return seed, no_update, no_update, no_update
        with rt.session_factory() as db:
            counts = overview.open_by_township(db, region or actor.scope, rt.regions)
        fig, _shading = hall_map(rt, actor.scope, region, counts, lang)
        fig.update_layout(uirevision=f"hall-map-{drill_code}")
        area = rt.regions.name(drill_code or actor.scope.code, lang)
        style = {"display": "inline-block"} if drill_code else {"display": "none"}
        return seed, fig, t("hall.map.title", lang, area=area), style

    @app.callback(
        Output(HALL_DRILL, "data"),
        Input(HALL_MAP, "clickData"),
        Input(HALL_DRILL_RESET, "n_clicks"),
        prevent_initial_call=True,
    )
    def drill_down(click: dict[str, Any] | None, _reset: Any) -> str | None:
        if ctx.triggered_id == HALL_DRILL_RESET:
            return None
        point = ((click or {}).get("points") or [{}])[0]
        if point.get("curveNumber") != 0 or not point.get("location"):
            raise PreventUpdate
        return str(point["location"])

    @app.callback(
        Output(HALL_MODAL, "is_open"),
        Output(HALL_MODAL_TITLE, "children"),
        Output(HALL_MODAL_BODY, "children"),
        Input(HALL_CASE_PICK, "data"),
        prevent_initial_call=True,
    )
    def open_case(pick: dict[str, Any] | None) -> tuple[Any, ...]:
        case_id = picked_case(pick)
        if case_id is None:
            raise PreventUpdate
        actor = current_actor(optional=True)
        if actor is None:
            raise PreventUpdate
        title, body = case_card_body(current_runtime(), actor, case_id, request_lang())
        return True, title, body

    @app.callback(
        Output(HALL_ACK_RESULT, "data"),
        Input({"type": ALERT_ACK, "id": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def acknowledge(_clicks: list[Any]) -> Any:
        from dispatch.realtime import hall as hall_rt

        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(v.get("value") for v in ctx.triggered):
            raise PreventUpdate
        actor = current_actor(optional=True)
        if actor is None:
            raise PreventUpdate
        alert = hall_rt.acknowledge(current_runtime(), actor, str(trigger["id"]))
        return {"id": trigger["id"], "ok": alert is not None, "at": datetime.now().isoformat()}

    # Clientside (assets/hall/hall.js): a snapshot replaces the browser's bounded view and is
    # drawn; live batches are merged and drawn by hall.js itself, without a callback per batch.
    # The stream is drawn into HALL_STREAM by hall.js, never by Dash (Dash leaves its empty
    # children alone), so the callback's first output only records the seed drawn.
    app.clientside_callback(
        "function(seed, cfg) { return window.ccHall.reseed(seed, cfg); }",
        Output(HALL_STREAM_DRAWN, "data"),
        Output(HALL_ALERTS, "children"),
        Input(HALL_SEED, "data"),
        State(HALL_CONFIG, "data"),
    )
    # A click on a camera marker puts that camera on the hall's video wall.
    app.clientside_callback(
        f"""function(click) {{
            var p = click && click.points && click.points[0];
            if (!p || p.curveNumber !== {CAMERA_TRACE} || !window.ccVideo) {{
                return window.dash_clientside.no_update;
            }}
            window.ccVideo.addToWall("video-wall", p.customdata, p.text);
            return p.customdata;
        }}""",
        Output(HALL_CAMERA_PICK, "data"),
        Input(HALL_MAP, "clickData"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(values) { return window.ccHall.kpis(values); }",
        Output(HALL_KPI_DONE, "data"),
        Input(HALL_KPI_VALUES, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(counts) { return window.ccHall.shade(counts); }",
        Output(HALL_SHADE_DONE, "data"),
        Input(HALL_COUNTS, "data"),
    )


def hall_map(
    runtime: Runtime,
    scope: Scope,
    drill: Scope | None,
    counts: dict[str, int],
    lang: str,
) -> tuple[Any, dict[str, Any]]:
    """The hall's map figure for ``scope`` (or the township drilled into) and its shading.

    Case points and field staff are not in it (their traces stay empty, so later traces keep
    their numbers): hall.js draws them on a canvas over the map, since a WebGL restyle per
    update would cost a wall without a GPU several 100-250 ms frames.
    """
    geojson, center, zoom = map_view(runtime.regions, scope, drill.code if drill else None)
    codes = [str(f["id"]) for f in geojson["features"]]
    fig = figures.map_figure(
        geojson,
        counts,
        {code: runtime.regions.name(code, lang) for code in codes},
        [],
        center,
        zoom,
        t("hall.map.open", lang),
    )
    add_cameras(fig, drill or scope, lang)
    return fig, township_shading(counts, codes)


def add_cameras(fig: Any, scope: Scope, lang: str) -> None:
    """Add the area's outdoor cameras as map trace ``CAMERA_TRACE`` (a click shows one on the
    wall); nothing when the video component is not part of this build."""
    ext = current_app.extensions.get("streams")
    if ext is None:
        return
    from layouts.components.video import camera_markers
    from streams.registry import CameraKind

    kinds = [CameraKind.KEY_SITE, CameraKind.PUBLIC_SECURITY, CameraKind.TOWNSHIP_STATION]
    fig.add_trace(camera_markers(ext.registry.visible(scope, kinds=kinds), lang))


#: The parts a figures refresh may update, in the order of ``refresh_figures``' outputs.
LIVE_PARTS = ("kpi", "supervision", "league", "duty", "shading")


def live_parts(figs: dict[str, Any], shading: dict[str, Any]) -> dict[str, Any]:
    """What a figures refresh shows: the tiles' figures, the boards and the map's shading."""
    return {**{k: figs[k] for k in LIVE_PARTS if k != "shading"}, "shading": shading}


def digests(parts: dict[str, Any]) -> dict[str, str]:
    """A short digest of each part as the browser would receive it."""
    return {
        name: hashlib.sha1(
            json.dumps(value, cls=PlotlyJSONEncoder, sort_keys=True).encode(),
            usedforsecurity=False,
        ).hexdigest()[:16]
        for name, value in parts.items()
    }


def changed_only(parts: dict[str, Any], shown: dict[str, str]) -> tuple[Any, ...]:
    """``refresh_figures``' outputs: each part that differs from what is shown, ``no_update``
    for the rest, then the new digests. Most refreshes change a figure or two; re-sending an
    unchanged board makes Dash rebuild it on every wall for nothing."""
    now = digests(parts)
    out = [parts[k] if now[k] != shown.get(k) else no_update for k in LIVE_PARTS]
    return (*out, now if now != shown else no_update)


def township_shading(counts: dict[str, int], codes: list[str]) -> dict[str, Any]:
    """The choropleth values for the townships drawn, in the order of the map's trace."""
    z = [int(counts.get(code, 0)) for code in codes]
    return {"z": z, "zmax": max([*z, 1])}


def _map_codes(runtime: Runtime, actor: Actor, drill: str | None) -> list[str]:
    geojson, _center, _zoom = map_view(runtime.regions, actor.scope, drill)
    return [str(f["id"]) for f in geojson["features"]]


def picked_case(pick: dict[str, Any] | None) -> int | None:
    """The case id a click or Enter on a row or a map point asks for (``HALL_CASE_PICK``)."""
    raw = (pick or {}).get("id")
    if isinstance(raw, int | str) and str(raw).isdigit():
        return int(raw)
    return None
