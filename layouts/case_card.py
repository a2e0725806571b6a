"""The case card (案件详情): timeline, masked parties, assignments with deadlines and cards, and
only the actions this user's role may take in the case's state. Used by ``/case/<id>`` and by
the hall's modal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from console.auth import current_actor, request_lang
from console.errors import error_body
from console.i18n import t
from console.runtime import Runtime, current_runtime
from dispatch.domain.errors import DispatchError, NotFound
from dispatch.domain.kpi import LOCAL_TZ
from dispatch.services import assignments as assignment_service
from dispatch.services import cases as case_service
from dispatch.services.context import Actor

CASE_ROOT = "case-root"
CASE_ACTION = "case-action"
CASE_REASON = "case-reason"
CASE_REFERRAL = "case-referral"
CASE_SATISFACTION = "case-satisfaction"
CASE_FEEDBACK = "case-feedback"
CASE_ID_STORE = "case-id"
CASE_BODY = "case-body"

#: Parameters each action needs (the workflow's rules; the service checks them again).
NEEDS_REASON = frozenset({"reject", "return", "deny_confirmation"})
NEEDS_REFERRAL = frozenset({"reject", "fail"})
NEEDS_SATISFACTION = frozenset({"visit"})
_DANGER = frozenset({"reject", "fail", "withdraw"})


def local_time(value: str | None) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(value).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def _field(label: str, value: Any) -> html.Div:
    return html.Div(
        [html.Dt(label), html.Dd(value if value not in (None, "") else "—")], className="case-field"
    )


def card_view(
    detail: dict[str, Any], board: list[dict[str, Any]], runtime: Runtime, lang: str
) -> html.Div:
    """The card for one case detail (pure: data in, components out)."""
    ref, regions = runtime.reference, runtime.regions
    facts = html.Dl(
        [
            _field(t("case.code", lang), detail["code"]),
            _field(t("case.state", lang), t(f"case.states.{detail['state']}", lang)),
            _field(t("case.category", lang), ref.name("categories", detail["category"], lang)),
            _field(t("case.severity", lang), ref.name("severities", detail["severity"], lang)),
            _field(t("case.source", lang), ref.name("sources", detail["source"], lang)),
            _field(t("case.level", lang), ref.name("levels", detail["level"], lang)),
            _field(
                t("case.area", lang),
                " / ".join(
                    regions.name(str(detail[k]), lang)
                    for k in ("county_code", "township_code")
                    if detail.get(k)
                ),
            ),
            _field(t("case.received_at", lang), local_time(detail.get("received_at"))),
            _field(t("case.finish_by", lang), local_time(detail.get("finish_by"))),
            _field(t("case.card", lang), t(f"case.cards.{detail.get('card') or 'none'}", lang)),
            _field(t("case.address", lang), detail.get("address")),
            _field(
                t("case.outcome", lang),
                ref.name("outcomes", detail["outcome"], lang) if detail.get("outcome") else None,
            ),
        ],
        className="case-facts",
    )
    parties = html.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(t(k, lang))
                        for k in (
                            "case.party.name",
                            "case.party.role",
                            "case.party.id_number",
                            "case.party.phone",
                        )
                    ]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(p["name"]),
                            html.Td(t(f"case.party.roles.{p['role']}", lang)),
                            html.Td(p["id_number"] or "—"),
                            html.Td(p["phone"] or "—"),
                        ]
                    )
                    for p in detail.get("parties", [])
                ]
                or [html.Tr(html.Td(t("case.party.none", lang), colSpan=4))]
            ),
        ],
        className="table table-sm table-dark case-parties",
    )
    timeline = html.Ol(
        [
            html.Li(
                [
                    html.Span(local_time(e["at"]), className="tl-at"),
                    html.Span(event_label(e["kind"], lang), className="tl-kind"),
                    html.Span(e.get("actor") or "", className="tl-actor"),
                    html.Span(_event_note(e.get("data") or {}, lang), className="tl-note"),
                ],
                className="tl-item",
            )
            for e in detail.get("timeline", [])
        ],
        className="case-timeline",
    )
    assignments = html.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(t(k, lang))
                        for k in (
                            "case.asg.target",
                            "case.asg.state",
                            "case.asg.accept_by",
                            "case.asg.finish_by",
                            "case.card",
                            "case.asg.reported",
                        )
                    ]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(a["target_name"]),
                            html.Td(
                                t(f"case.asg.states.{a['state']}", lang)
                                if _has_key(f"case.asg.states.{a['state']}")
                                else a["state"]
                            ),
                            html.Td(local_time(a["accept_by"])),
                            html.Td(local_time(a["finish_by"])),
                            html.Td(
                                html.Span(
                                    t(f"case.cards.{a.get('card') or 'none'}", lang),
                                    className=f"badge card-badge-{a.get('card') or 'none'}",
                                )
                            ),
                            html.Td("✓" if a.get("reported") else "✗"),
                        ]
                    )
                    for a in board
                ]
                or [html.Tr(html.Td(t("case.asg.none", lang), colSpan=6))]
            ),
        ],
        className="table table-sm table-dark case-assignments",
    )
    return html.Div(
        [
            html.P(detail.get("description") or "", className="case-description"),
            facts,
            html.H3(t("case.parties", lang)),
            parties,
            html.H3(t("case.assignments", lang)),
            assignments,
            html.H3(t("case.actions", lang)),
            actions_view(detail, runtime, lang),
            html.H3(t("case.timeline", lang)),
            timeline,
        ],
        className="case-card",
        id=f"case-card-{detail['id']}",
    )


def _has_key(key: str) -> bool:
    from console.i18n import catalog

    return key in catalog()


def event_label(kind: str, lang: str) -> str:
    """A timeline event's name: a known event, else a workflow action, else the raw kind."""
    for key in (f"case.events.{kind}", f"case.action_names.{kind}"):
        if _has_key(key):
            return t(key, lang)
    return kind


def _event_note(data: dict[str, Any], lang: str) -> str:
    parts = []
    if data.get("from") and data.get("to") and _has_key(f"case.states.{data['to']}"):
        parts.append(
            f"{t('case.states.' + str(data['from']), lang)} → {t('case.states.' + str(data['to']), lang)}"
        )
    for key in ("target", "reason", "referral", "text", "note"):
        if data.get(key):
            parts.append(str(data[key]))
    return " · ".join(parts[:3])


def actions_view(detail: dict[str, Any], runtime: Runtime, lang: str) -> html.Div:
    """Buttons for the allowed actions only, with the parameters some of them need."""
    allowed: list[str] = list(detail.get("allowed_actions", []))
    case_id = detail["id"]
    if not allowed:
        return html.Div(t("case.no_actions", lang), className="text-secondary")
    inputs: list[Any] = []
    if NEEDS_REASON & set(allowed):
        inputs.append(
            dbc.Input(
                id={"type": CASE_REASON, "case": case_id},
                placeholder=t("case.reason", lang),
                className="mb-2",
            )
        )
    if NEEDS_REFERRAL & set(allowed):
        inputs.append(
            dbc.Select(
                id={"type": CASE_REFERRAL, "case": case_id},
                options=[
                    {"label": v, "value": k}
                    for k, v in runtime.reference.names("referrals", lang).items()
                ],
                placeholder=t("case.referral", lang),
                className="mb-2",
            )
        )
    if NEEDS_SATISFACTION & set(allowed):
        inputs.append(
            dbc.Select(
                id={"type": CASE_SATISFACTION, "case": case_id},
                options=[{"label": str(i), "value": str(i)} for i in range(1, 6)],
                placeholder=t("case.satisfaction", lang),
                className="mb-2",
            )
        )
    buttons = [
        dbc.Button(
            t(f"case.action_names.{a}", lang),
            id={"type": CASE_ACTION, "case": case_id, "action": a, "version": detail["version"]},
            color="danger" if a in _DANGER else "primary",
            outline=a in _DANGER,
            size="sm",
            className="me-2 mb-2",
            n_clicks=0,
        )
        for a in allowed
    ]
    return html.Div(
        [*inputs, html.Div(buttons), html.Div(id={"type": CASE_FEEDBACK, "case": case_id})],
        className="case-actions",
    )


def case_card_body(runtime: Runtime, actor: Actor, case_id: int, lang: str) -> tuple[str, Any]:
    """(title, card) for a case the actor may see; a not-found message otherwise."""
    try:
        with runtime.session_factory() as db:
            case = case_service.get_case(db, actor, case_id)
            detail = case_service.detail(db, actor, case)
            board = assignment_service.board(db, actor, case_id)
    except NotFound:
        return t("case.not_found", lang), html.Div(
            t("errors.not_found", lang), className="alert alert-warning"
        )
    title = f"{detail['code']} · {detail['title']}"
    return title, html.Div(
        card_view(detail, board, runtime, lang), id={"type": CASE_BODY, "case": case_id}
    )


def layout(case_id: str = "", **_query: Any) -> Any:
    """The page ``/case/<case_id>``."""
    from layouts.app import not_signed_in

    actor = current_actor(optional=True)
    if actor is None:
        return not_signed_in(f"/case/{case_id}")
    lang = request_lang()
    try:
        cid = int(case_id)
    except ValueError:
        return html.Div(t("errors.not_found", lang), className="alert alert-warning m-4")
    title, body = case_card_body(current_runtime(), actor, cid, lang)
    return html.Div(
        [html.H1(title, className="h3"), body],
        className="container-fluid p-4 case-page",
        id=CASE_ROOT,
    )


def register(app: Dash, runtime: Runtime) -> None:
    """The action buttons of every case card (page or modal)."""

    @app.callback(
        Output({"type": CASE_BODY, "case": ALL}, "children"),
        Input({"type": CASE_ACTION, "case": ALL, "action": ALL, "version": ALL}, "n_clicks"),
        State({"type": CASE_REASON, "case": ALL}, "value"),
        State({"type": CASE_REFERRAL, "case": ALL}, "value"),
        State({"type": CASE_SATISFACTION, "case": ALL}, "value"),
        State({"type": CASE_BODY, "case": ALL}, "id"),
        prevent_initial_call=True,
    )
    def act(
        _clicks: list[Any],
        reasons: list[Any],
        referrals: list[Any],
        sats: list[Any],
        bodies: list[Any],
    ) -> list[Any]:
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(item.get("value") for item in ctx.triggered):
            raise PreventUpdate
        actor = current_actor(optional=True)
        if actor is None:
            raise PreventUpdate
        lang = request_lang()
        action, case_id = str(trigger["action"]), int(trigger["case"])
        payload = transition_payload(
            action, int(trigger["version"]), _first(reasons), _first(referrals), _first(sats)
        )
        rt = current_runtime()
        error: str | None = None
        try:
            with rt.session_factory.begin() as db:
                case_service.transition(db, rt.deps, actor, case_id, payload)
        except DispatchError as err:
            body = error_body(err, lang)["error"]
            fields = body["details"].get("fields") or {}
            error = body["message"] + "".join(f" {k}: {v['message']}" for k, v in fields.items())
        _title, card = case_card_body(rt, actor, case_id, lang)
        inner = card.children if hasattr(card, "children") else card
        out = []
        for body_id in bodies:
            if int(body_id["case"]) != case_id:
                out.append(dash_no_update())
                continue
            content = [inner]
            if error:
                content.insert(0, dbc.Alert(error, color="danger", className="case-error"))
            else:
                content.insert(
                    0,
                    dbc.Alert(
                        t("case.done", lang, action=t(f"case.action_names.{action}", lang)),
                        color="success",
                        duration=4000,
                    ),
                )
            out.append(content)
        return out


def _first(values: list[Any]) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def dash_no_update() -> Any:
    from dash import no_update

    return no_update


def transition_payload(
    action: str, version: int, reason: Any, referral: Any, satisfaction: Any
) -> dict[str, Any]:
    """The transition request for ``action``: only the parameters that action takes."""
    payload: dict[str, Any] = {"action": action, "expected_version": version}
    if reason and action in NEEDS_REASON | {"withdraw", "escalate", "delegate"}:
        payload["reason"] = str(reason)
    if referral and action in NEEDS_REFERRAL:
        payload["referral"] = str(referral)
    if satisfaction and action in NEEDS_SATISFACTION:
        payload["satisfaction"] = int(satisfaction)
    return payload
