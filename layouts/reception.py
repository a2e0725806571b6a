"""Reception (接待室): single-window intake (一窗受理) of walk-in, phone, online and transferred
disputes.

One form: source, what happened (with category and severity suggested from the words), where,
the parties (ID number with checksum and phone validated, masked once entered), duplicate and
repeat detection before saving, level and route to review or triage; saving shows the case code.
Errors appear next to each field in the user's language; typed values persist in the browser
session (a validation error or a dropped connection loses nothing). Enter in a text field
submits; the tab order follows the form.
"""

from __future__ import annotations

import random
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from config.reference import Reference
from config.regions import RegionTree
from console.auth import current_actor, request_lang
from console.errors import error_body
from console.i18n import t
from console.runtime import Runtime, current_runtime
from dispatch.domain.codes import Category, Level
from dispatch.domain.errors import DispatchError
from dispatch.domain.identity import id_number_problem, mask_id, mask_phone, phone_problem
from dispatch.domain.jurisdiction import Scope
from dispatch.services import cases as case_service
from layouts.case_card import local_time
from layouts.shell import data_attrs

RECEPTION_ROOT = "reception-root"
RECEPTION_FORM = "reception-form"
RECEPTION_SOURCE = "reception-source"
RECEPTION_TITLE = "reception-title"
RECEPTION_DESCRIPTION = "reception-description"
RECEPTION_CATEGORY = "reception-category"
RECEPTION_SEVERITY = "reception-severity"
RECEPTION_SUGGESTION = "reception-suggestion"
RECEPTION_APPLY_SUGGESTION = "reception-apply-suggestion"
RECEPTION_REGION = "reception-region"
RECEPTION_ADDRESS = "reception-address"
RECEPTION_PEOPLE = "reception-people"
RECEPTION_AMOUNT = "reception-amount"
RECEPTION_ONLINE = "reception-online"
RECEPTION_LEVEL = "reception-level"
RECEPTION_ROUTE = "reception-route"
RECEPTION_PARTIES = "reception-parties"
RECEPTION_PARTY_COUNT = "reception-party-count"
RECEPTION_ADD_PARTY = "reception-add-party"
RECEPTION_RELATED = "reception-related"
RECEPTION_SUBMIT = "reception-submit"
RECEPTION_RESULT = "reception-result"
RECEPTION_NEW = "reception-new"
RECEPTION_FORM_ERROR = "reception-form-error"
RECEPTION_PRINT = "reception-print"
# Party rows (pattern-matching ids; ``index`` is the row number).
PARTY_NAME = "reception-party-name"
PARTY_ROLE = "reception-party-role"
PARTY_ID = "reception-party-id"
PARTY_PHONE = "reception-party-phone"
PARTY_ID_HINT = "reception-party-id-hint"
PARTY_PHONE_HINT = "reception-party-phone-hint"
PARTY_REMOVE = "reception-party-remove"

MAX_PARTIES = 10
_PERSIST: dict[str, Any] = {"persistence": True, "persistence_type": "session"}
#: Form fields with an error slot (service field name -> component id).
FIELD_IDS: dict[str, str] = {
    "title": RECEPTION_TITLE,
    "description": RECEPTION_DESCRIPTION,
    "category": RECEPTION_CATEGORY,
    "source": RECEPTION_SOURCE,
    "severity": RECEPTION_SEVERITY,
    "region_code": RECEPTION_REGION,
    "address": RECEPTION_ADDRESS,
    "people_involved": RECEPTION_PEOPLE,
    "amount": RECEPTION_AMOUNT,
    "level": RECEPTION_LEVEL,
}
#: Fields whose component has an ``invalid`` property (inputs); dropdowns get a class instead.
_INPUTS = {"title", "description", "address", "people_involved", "amount"}


def feedback_id(field: str) -> str:
    return f"{FIELD_IDS[field]}-error"


def region_options(regions: RegionTree, scope: Scope, lang: str) -> list[dict[str, str]]:
    """Townships (and grids) a case may be registered in, within the user's scope."""
    if scope.level is Level.GRID:
        return [{"label": regions.name(scope.code, lang), "value": scope.code}]
    root = regions.get(scope.code)
    out = []
    for r in [root, *regions.descendants(scope.code)]:
        if r.level is Level.TOWNSHIP:
            county = regions.name(r.parent or "", lang) if scope.level is Level.CITY else ""
            out.append({"label": f"{county} {r.name(lang)}".strip(), "value": r.code})
    return out


def _identifier_col(
    input_type: str, hint_type: str, placeholder: str, max_length: int, index: int
) -> dbc.Col:
    """An ID-number or phone input of a party row: masked once entered, validated in place."""
    return dbc.Col(
        [
            dbc.Input(
                id={"type": input_type, "index": index},
                placeholder=placeholder,
                maxLength=max_length,
                className="masked-input",
                debounce=True,
                autoComplete="off",
                **_PERSIST,
            ),
            dbc.FormFeedback(id={"type": hint_type, "index": index}, type="invalid"),
        ],
        md=3,
    )


def party_row(index: int, lang: str) -> dbc.Row:
    """One party: name, role, ID number and phone (masked when not being edited)."""
    return dbc.Row(
        [
            dbc.Col(
                dbc.Input(
                    id={"type": PARTY_NAME, "index": index},
                    placeholder=t("case.party.name", lang),
                    maxLength=50,
                    **_PERSIST,
                ),
                md=2,
            ),
            dbc.Col(
                dbc.Select(
                    id={"type": PARTY_ROLE, "index": index},
                    options=[
                        {"label": t(f"case.party.roles.{r}", lang), "value": r}
                        for r in ("applicant", "respondent", "third_party")
                    ],
                    value="applicant" if index == 0 else "respondent",
                    **_PERSIST,
                ),
                md=2,
            ),
            _identifier_col(PARTY_ID, PARTY_ID_HINT, t("case.party.id_number", lang), 18, index),
            _identifier_col(PARTY_PHONE, PARTY_PHONE_HINT, t("case.party.phone", lang), 20, index),
            dbc.Col(
                dbc.Button(
                    "✕",
                    id={"type": PARTY_REMOVE, "index": index},
                    color="secondary",
                    outline=True,
                    size="sm",
                    title=t("reception.remove_party", lang),
                    n_clicks=0,
                ),
                md=1,
            ),
        ],
        className="g-2 mb-2 party-row",
        id=f"reception-party-row-{index}",
    )


def _labelled(label: str, control: Any, field: str | None = None, width: int = 6) -> dbc.Col:
    children = [dbc.Label(label, html_for=FIELD_IDS.get(field or "", "")), control]
    if field:
        children.append(html.Div(id=feedback_id(field), className="field-error"))
    return dbc.Col(children, md=width, className="mb-2")


def layout(**_query: Any) -> Any:
    from layouts.app import not_signed_in

    actor = current_actor(optional=True)
    if actor is None:
        return not_signed_in("/reception")
    rt = current_runtime()
    lang = request_lang()
    ref = rt.reference
    regions = region_options(rt.regions, actor.scope, lang)
    form = html.Div(
        [
            dbc.Row(
                [
                    _labelled(
                        t("case.source", lang),
                        dbc.Select(
                            id=RECEPTION_SOURCE,
                            options=_options(ref, "sources", lang),
                            value="walk_in",
                            **_PERSIST,
                        ),
                        "source",
                        3,
                    ),
                    _labelled(
                        t("reception.title", lang),
                        dbc.Input(id=RECEPTION_TITLE, maxLength=200, autoFocus=True, **_PERSIST),
                        "title",
                        9,
                    ),
                ]
            ),
            dbc.Row(
                [
                    _labelled(
                        t("reception.description", lang),
                        dbc.Textarea(id=RECEPTION_DESCRIPTION, rows=3, maxLength=5000, **_PERSIST),
                        "description",
                        12,
                    ),
                ]
            ),
            html.Div(id=RECEPTION_SUGGESTION, className="reception-suggestion mb-2"),
            dbc.Row(
                [
                    _labelled(
                        t("case.category", lang),
                        dbc.Select(
                            id=RECEPTION_CATEGORY,
                            options=_options(ref, "categories", lang),
                            placeholder=t("reception.choose", lang),
                            **_PERSIST,
                        ),
                        "category",
                        3,
                    ),
                    _labelled(
                        t("case.severity", lang),
                        dbc.Select(
                            id=RECEPTION_SEVERITY,
                            options=_options(ref, "severities", lang),
                            value="general",
                            **_PERSIST,
                        ),
                        "severity",
                        3,
                    ),
                    _labelled(
                        t("reception.people", lang),
                        dbc.Input(
                            id=RECEPTION_PEOPLE,
                            type="number",
                            min=1,
                            max=100000,
                            value=1,
                            **_PERSIST,
                        ),
                        "people_involved",
                        2,
                    ),
                    _labelled(
                        t("reception.amount", lang),
                        dbc.Input(id=RECEPTION_AMOUNT, type="number", min=0, **_PERSIST),
                        "amount",
                        2,
                    ),
                    dbc.Col(
                        dbc.Checkbox(
                            id=RECEPTION_ONLINE,
                            label=t("reception.online", lang),
                            value=False,
                            **_PERSIST,
                        ),
                        md=2,
                        className="mt-4",
                    ),
                ]
            ),
            dbc.Row(
                [
                    _labelled(
                        t("case.area", lang),
                        dbc.Select(
                            id=RECEPTION_REGION,
                            options=regions,
                            value=regions[0]["value"] if len(regions) == 1 else None,
                            placeholder=t("reception.choose", lang),
                            **_PERSIST,
                        ),
                        "region_code",
                        4,
                    ),
                    _labelled(
                        t("case.address", lang),
                        dbc.Input(id=RECEPTION_ADDRESS, maxLength=300, debounce=True, **_PERSIST),
                        "address",
                        8,
                    ),
                ]
            ),
            html.H2(t("case.parties", lang), className="h6 mt-2"),
            html.Div([party_row(0, lang)], id=RECEPTION_PARTIES),
            dcc.Store(id=RECEPTION_PARTY_COUNT, data=1, storage_type="session"),
            dbc.Button(
                t("reception.add_party", lang),
                id=RECEPTION_ADD_PARTY,
                color="secondary",
                outline=True,
                size="sm",
                className="mb-3",
                n_clicks=0,
            ),
            html.Div(id=RECEPTION_RELATED, className="mb-3"),
            dbc.Row(
                [
                    _labelled(
                        t("case.level", lang),
                        dbc.RadioItems(
                            id=RECEPTION_LEVEL,
                            options=[
                                {"label": ref.name("levels", lv, lang), "value": lv}
                                for lv in ("township", "county", "city")
                            ],
                            value=_default_level(actor.scope),
                            inline=True,
                            **_PERSIST,
                        ),
                        "level",
                        6,
                    ),
                    _labelled(
                        t("reception.route", lang),
                        dbc.RadioItems(
                            id=RECEPTION_ROUTE,
                            options=[
                                {"label": t(f"reception.route.{r}", lang), "value": r}
                                for r in ("triage", "review", "none")
                            ],
                            value="triage",
                            inline=True,
                            **_PERSIST,
                        ),
                        None,
                        6,
                    ),
                ]
            ),
            html.Div(id=RECEPTION_FORM_ERROR),
            dbc.Button(
                t("reception.submit", lang),
                id=RECEPTION_SUBMIT,
                color="primary",
                size="lg",
                n_clicks=0,
                className="me-2",
            ),
            dbc.Button(
                t("reception.new", lang),
                id=RECEPTION_NEW,
                color="secondary",
                outline=True,
                n_clicks=0,
            ),
        ],
        id=RECEPTION_FORM,
    )
    return html.Div(
        [
            html.H1(t("rooms.reception", lang), className="h3"),
            html.P(t("rooms.reception.purpose", lang), className="text-secondary"),
            dbc.Row(
                [
                    dbc.Col(form, lg=8),
                    dbc.Col(html.Div(id=RECEPTION_RESULT, className="reception-result"), lg=4),
                ]
            ),
        ],
        className="container-fluid p-4 reception-page",
        id=RECEPTION_ROOT,
    )


def _default_level(scope: Scope) -> str:
    return scope.level.value if scope.level in (Level.CITY, Level.COUNTY) else "township"


def _options(ref: Reference, kind: str, lang: str) -> list[dict[str, str]]:
    return [{"label": name, "value": code} for code, name in ref.names(kind, lang).items()]


# ----------------------------------------------------------------------------------------------
# Pure helpers (unit-tested)
# ----------------------------------------------------------------------------------------------
def suggestion(ref: Reference, text: str, people: Any, lang: str) -> tuple[str | None, str, str]:
    """(category, severity, sentence) suggested by the description and the head count."""
    ranked = ref.suggest_category(text or "")
    category = ranked[0][0] if ranked else None
    try:
        headcount = int(people) if people not in (None, "") else None
    except (TypeError, ValueError):
        headcount = None
    severity = ref.suggest_severity(text or "", headcount, Category(category) if category else None)
    words = t(
        "reception.suggested",
        lang,
        category=ref.name("categories", category, lang) if category else "—",
        severity=ref.name("severities", severity.value, lang),
    )
    return (category.value if category else None), severity.value, words


def party_problem(kind: str, value: str | None) -> str | None:
    """The problem code of an ID number or phone as typed, or None when empty or valid."""
    if not value:
        return None
    return id_number_problem(value.upper()) if kind == "id" else phone_problem(value)


def parties_payload(
    names: list[Any], roles: list[Any], ids: list[Any], phones: list[Any]
) -> list[dict[str, Any]]:
    """Party rows with something typed in them, as the service expects them."""
    out = []
    for name, role, id_number, phone in zip(names, roles, ids, phones, strict=False):
        if not (name or id_number or phone):
            continue
        item: dict[str, Any] = {"name": (name or "").strip(), "role": role or "applicant"}
        if id_number:
            item["id_number"] = str(id_number).strip().upper()
        if phone:
            item["phone"] = str(phone).strip()
        out.append(item)
    return out


def case_payload(
    values: dict[str, Any], parties: list[dict[str, Any]], point: tuple[float, float] | None
) -> dict[str, Any]:
    """The create-case request from the form values (empty fields left out)."""
    payload: dict[str, Any] = {
        "title": (values.get("title") or "").strip(),
        "description": (values.get("description") or "").strip(),
        "source": values.get("source") or "walk_in",
        "severity": values.get("severity") or "general",
        "region_code": values.get("region_code") or "",
        "address": (values.get("address") or "").strip(),
        "online": bool(values.get("online")),
        "parties": parties,
    }
    if values.get("category"):
        payload["category"] = values["category"]
    else:
        payload["category"] = None
    for key in ("people_involved", "amount"):
        if values.get(key) not in (None, ""):
            payload[key] = values[key]
    if values.get("level"):
        payload["level"] = values["level"]
    if values.get("route") in ("review", "triage"):
        payload["route_to"] = values["route"]
    if point is not None:
        payload["lon"], payload["lat"] = point
    return payload


def party_error_line(path: str, message: str, lang: str) -> str:
    """``parties.1.phone`` -> "当事人 2 电话: message"."""
    parts = path.split(".")
    if len(parts) >= 3 and parts[1].isdigit():
        label = {
            "id_number": "case.party.id_number",
            "phone": "case.party.phone",
            "name": "case.party.name",
        }.get(parts[2])
        field = t(label, lang) if label else parts[2]
        return f"{t('reception.party_n', lang, n=int(parts[1]) + 1)} {field}: {message}"
    return f"{path}: {message}"


def field_errors(fields: dict[str, dict[str, str]]) -> dict[str, str]:
    """Service field problems -> message per form field (party fields keep their path)."""
    return {name: problem["message"] for name, problem in fields.items()}


# ----------------------------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------------------------
def register(app: Dash, runtime: Runtime) -> None:
    main_fields = list(FIELD_IDS)

    @app.callback(
        Output(RECEPTION_SUGGESTION, "children"),
        Input(RECEPTION_DESCRIPTION, "value"),
        Input(RECEPTION_TITLE, "value"),
        Input(RECEPTION_PEOPLE, "value"),
    )
    def suggest(description: str | None, title: str | None, people: Any) -> Any:
        text = f"{title or ''} {description or ''}".strip()
        if not text:
            return ""
        lang = request_lang()
        category, severity, words = suggestion(current_runtime().reference, text, people, lang)
        return html.Div(
            [
                html.Span(
                    words,
                    id="reception-suggestion-text",
                    **data_attrs({"data-category": category or "", "data-severity": severity}),
                ),
                dbc.Button(
                    t("reception.apply", lang),
                    id=RECEPTION_APPLY_SUGGESTION,
                    size="sm",
                    color="info",
                    outline=True,
                    className="ms-2",
                    n_clicks=0,
                ),
            ]
        )

    @app.callback(
        Output(RECEPTION_CATEGORY, "value"),
        Output(RECEPTION_SEVERITY, "value"),
        Input(RECEPTION_APPLY_SUGGESTION, "n_clicks"),
        State(RECEPTION_DESCRIPTION, "value"),
        State(RECEPTION_TITLE, "value"),
        State(RECEPTION_PEOPLE, "value"),
        prevent_initial_call=True,
    )
    def apply_suggestion(
        clicks: int | None, description: str | None, title: str | None, people: Any
    ) -> tuple[Any, Any]:
        if not clicks:
            raise PreventUpdate
        category, severity, _ = suggestion(
            current_runtime().reference,
            f"{title or ''} {description or ''}",
            people,
            request_lang(),
        )
        return category or no_update, severity

    @app.callback(
        Output(RECEPTION_PARTIES, "children"),
        Output(RECEPTION_PARTY_COUNT, "data"),
        Input(RECEPTION_ADD_PARTY, "n_clicks"),
        Input({"type": PARTY_REMOVE, "index": ALL}, "n_clicks"),
        State(RECEPTION_PARTY_COUNT, "data"),
        State(RECEPTION_PARTIES, "children"),
    )
    def parties(
        add: int | None, _remove: list[Any], count: int | None, rows: list[Any] | None
    ) -> tuple[Any, int]:
        lang = request_lang()
        count = int(count or 1)
        trigger = ctx.triggered_id
        if trigger is None:  # first draw: as many rows as the session had
            return [party_row(i, lang) for i in range(count)], count
        if trigger == RECEPTION_ADD_PARTY:
            if count >= MAX_PARTIES:
                raise PreventUpdate
            return [*(rows or []), party_row(count, lang)], count + 1
        if isinstance(trigger, dict) and any(item.get("value") for item in ctx.triggered):
            remove = int(trigger["index"])
            kept = [
                r
                for r in (rows or [])
                if r.get("props", {}).get("id") != f"reception-party-row-{remove}"
            ]
            return kept, count
        raise PreventUpdate

    for kind, input_type, hint_type, mask in (
        ("id", PARTY_ID, PARTY_ID_HINT, mask_id),
        ("phone", PARTY_PHONE, PARTY_PHONE_HINT, mask_phone),
    ):
        _register_party_check(app, kind, input_type, hint_type, mask)

    @app.callback(
        Output(RECEPTION_RELATED, "children"),
        Input({"type": PARTY_ID, "index": ALL}, "value"),
        Input({"type": PARTY_PHONE, "index": ALL}, "value"),
        Input(RECEPTION_REGION, "value"),
        Input(RECEPTION_ADDRESS, "value"),
    )
    def related(ids: list[Any], phones: list[Any], region: str | None, address: str | None) -> Any:
        actor = current_actor(optional=True)
        if actor is None:
            raise PreventUpdate
        good_ids = [str(v).strip().upper() for v in ids if v and party_problem("id", v) is None]
        good_phones = [str(v).strip() for v in phones if v and party_problem("phone", v) is None]
        if not (good_ids or good_phones or (region and address)):
            return ""
        rt = current_runtime()
        lang = request_lang()
        township = region
        if region and region in rt.regions and rt.regions.get(region).level is Level.GRID:
            township = rt.regions.get(region).parent
        with rt.session_factory() as db:
            found = case_service.related_cases(
                db, rt.deps, actor, good_ids, good_phones, township, (address or "").strip() or None
            )
        if not found:
            return html.Div(
                t("reception.related.none", lang),
                className="text-success small",
                id="reception-related-none",
            )
        return dbc.Alert(
            [
                html.B(t("reception.related.found", lang, count=len(found))),
                html.Ul(
                    [
                        html.Li(
                            html.A(
                                f"{c['code']} · {c['title']} · {rt.reference.name('severities', c['severity'], lang)} · {local_time(c['received_at'])} · {t('case.states.' + c['state'], lang)}",
                                href=f"/case/{c['id']}",
                                target="_blank",
                            )
                        )
                        for c in found[:8]
                    ]
                ),
            ],
            color="warning",
            id="reception-related-found",
        )

    @app.callback(
        Output(RECEPTION_RESULT, "children"),
        Output(RECEPTION_FORM_ERROR, "children"),
        *[Output(feedback_id(f), "children") for f in main_fields],
        *[Output(FIELD_IDS[f], "invalid") for f in main_fields if f in _INPUTS],
        Input(RECEPTION_SUBMIT, "n_clicks"),
        Input(RECEPTION_TITLE, "n_submit"),
        Input(RECEPTION_ADDRESS, "n_submit"),
        State(RECEPTION_SOURCE, "value"),
        State(RECEPTION_TITLE, "value"),
        State(RECEPTION_DESCRIPTION, "value"),
        State(RECEPTION_CATEGORY, "value"),
        State(RECEPTION_SEVERITY, "value"),
        State(RECEPTION_REGION, "value"),
        State(RECEPTION_ADDRESS, "value"),
        State(RECEPTION_PEOPLE, "value"),
        State(RECEPTION_AMOUNT, "value"),
        State(RECEPTION_ONLINE, "value"),
        State(RECEPTION_LEVEL, "value"),
        State(RECEPTION_ROUTE, "value"),
        State({"type": PARTY_NAME, "index": ALL}, "value"),
        State({"type": PARTY_ROLE, "index": ALL}, "value"),
        State({"type": PARTY_ID, "index": ALL}, "value"),
        State({"type": PARTY_PHONE, "index": ALL}, "value"),
        prevent_initial_call=True,
    )
    def save(
        clicks: Any, submit_title: Any, submit_address: Any,
        source: Any, title: Any, description: Any, category: Any, severity: Any, region: Any,
        address: Any, people: Any, amount: Any, online: Any, level: Any, route: Any,
        names: list[Any], roles: list[Any], ids: list[Any], phones: list[Any],
    ) -> tuple[Any, ...]:  # fmt: skip
        if not (clicks or submit_title or submit_address):
            raise PreventUpdate
        actor = current_actor(optional=True)
        if actor is None:
            raise PreventUpdate
        rt = current_runtime()
        lang = request_lang()
        values = {
            "source": source, "title": title, "description": description, "category": category,
            "severity": severity, "region_code": region, "address": address,
            "people_involved": people, "amount": amount, "online": online, "level": level,
            "route": route,
        }  # fmt: skip
        point = None
        if region and region in rt.regions:
            point = rt.regions.random_point(region, random.Random())
        payload = case_payload(values, parties_payload(names, roles, ids, phones), point)
        if payload.get("category") is None:
            payload.pop("category")
        n_inputs = sum(1 for f in main_fields if f in _INPUTS)
        try:
            with rt.session_factory.begin() as db:
                case = case_service.create_case(db, rt.deps, actor, payload)
                code, case_id, state = case.code, case.id, case.state
        except DispatchError as err:
            body = error_body(err, lang)["error"]
            errors = field_errors(body["details"].get("fields") or {})
            messages = [errors.get(f, "") for f in main_fields]
            invalid = [bool(errors.get(f)) for f in main_fields if f in _INPUTS]
            party_lines = [
                party_error_line(k, v, lang) for k, v in errors.items() if k.startswith("parties")
            ]
            summary = dbc.Alert(
                [html.Div(body["message"]), *[html.Div(p) for p in party_lines]],
                color="danger",
                id="reception-error",
            )
            return (no_update, summary, *messages, *invalid)
        result = dbc.Card(
            dbc.CardBody(
                [
                    html.Div(t("reception.saved", lang), className="text-success"),
                    html.Div(code, className="reception-code display-6", id="reception-case-code"),
                    html.Div(t(f"case.states.{state}", lang), className="text-secondary"),
                    html.A(
                        t("reception.open_case", lang),
                        href=f"/case/{case_id}",
                        className="btn btn-outline-info btn-sm mt-2",
                        id="reception-open-case",
                    ),
                    html.Button(
                        t("reception.print", lang),
                        id=RECEPTION_PRINT,
                        className="btn btn-outline-secondary btn-sm mt-2 ms-2",
                    ),
                ]
            ),
            className="reception-saved",
        )
        return (result, "", *[""] * len(main_fields), *[False] * n_inputs)

    # The intake slip: the browser's print dialog (print.css-free: the page prints as shown).
    app.clientside_callback(
        "function(n) { if (n) { window.print(); } return window.dash_clientside.no_update; }",
        Output(RECEPTION_PRINT, "title"),
        Input(RECEPTION_PRINT, "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(RECEPTION_TITLE, "value"),
        Output(RECEPTION_DESCRIPTION, "value"),
        Output(RECEPTION_ADDRESS, "value"),
        Output(RECEPTION_AMOUNT, "value"),
        Output({"type": PARTY_NAME, "index": ALL}, "value"),
        Output({"type": PARTY_ID, "index": ALL}, "value"),
        Output({"type": PARTY_PHONE, "index": ALL}, "value"),
        Output(RECEPTION_RESULT, "children", allow_duplicate=True),
        Input(RECEPTION_NEW, "n_clicks"),
        State({"type": PARTY_NAME, "index": ALL}, "value"),
        prevent_initial_call=True,
    )
    def new_intake(clicks: int | None, names: list[Any]) -> tuple[Any, ...]:
        if not clicks:
            raise PreventUpdate
        blank = [""] * len(names)
        return "", "", "", None, blank, blank, blank, ""


def _register_party_check(app: Dash, kind: str, input_type: str, hint_type: str, mask: Any) -> None:
    from dash import MATCH

    @app.callback(
        Output({"type": hint_type, "index": MATCH}, "children"),
        Output({"type": input_type, "index": MATCH}, "invalid"),
        Output({"type": input_type, "index": MATCH}, "valid"),
        Output({"type": input_type, "index": MATCH}, "title"),
        Input({"type": input_type, "index": MATCH}, "value"),
    )
    def check(value: str | None) -> tuple[str, bool, bool, str]:
        problem = party_problem(kind, value)
        if not value:
            return "", False, False, ""
        if problem:
            return t(f"problems.{problem}", request_lang()), True, False, ""
        return "", False, True, mask(str(value).strip().upper())
