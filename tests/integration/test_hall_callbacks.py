"""Hall, reception and case-card callbacks called directly inside a signed-in request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dash import no_update
from flask import Flask, session

from dispatch.db.models import Case, User
from dispatch.services import seed
from layouts import hall
from tests.integration.api.helpers import CITY, TOWN_A, TOWN_B

# Both database backends (the default parametrization of database_url).


def callback(app: Flask, name: str) -> Callable[..., Any]:
    """The undecorated function of the Dash callback called ``name``."""
    dash_app = app.extensions["dash"]
    for spec in dash_app.callback_map.values():
        func = getattr(spec.get("callback"), "__wrapped__", None)
        if func is not None and func.__name__ == name:
            return func
    raise KeyError(name)


@contextmanager
def signed_in(app: Flask, username: str) -> Iterator[None]:
    rt = app.extensions["cc"]
    with rt.session_factory() as db:
        user = db.query(User).filter_by(username=username).one()
        uid, gen = user.id, user.token_generation
    with app.test_request_context("/_dash-update-component", headers={"Accept-Language": "zh-CN"}):
        session["uid"], session["gen"] = uid, gen
        yield


def save_args(**over: Any) -> list[Any]:
    values = {
        "source": "walk_in", "title": "张某与李某相邻通道纠纷", "description": "堆放杂物占用通道",
        "category": "neighbour", "severity": "general", "region": TOWN_A, "address": "幸福路1号",
        "people": 2, "amount": None, "online": False, "level": "township", "route": "triage",
    }  # fmt: skip
    values.update(over)
    parties = [["张三"], ["applicant"], [""], ["13812345678"]]
    return [1, None, None, *values.values(), *parties]


def test_reception_save_shows_errors_in_place_then_the_code(app: Flask, people: None) -> None:
    save = callback(app, "save")
    with signed_in(app, "duty"):
        out = save(*save_args(category=None, region=None))
    result, summary, *messages = out
    assert "必填" in messages  # category and region each have their message next to them
    assert "reception-error" in str(summary.to_plotly_json())
    with signed_in(app, "duty"):
        result, summary, *_ = save(*save_args())
    assert summary == ""
    rt = app.extensions["cc"]
    with rt.session_factory() as db:
        case = db.query(Case).one()
    assert case.code in str(result.to_plotly_json()) and case.state == "triage"


def test_hall_layout_and_refresh_are_scoped(app: Flask, people: None) -> None:
    save = callback(app, "save")
    with signed_in(app, "duty"):
        save(*save_args(title="本镇案件", region=TOWN_A))
        save(*save_args(title="别处案件", region=TOWN_B))
    with signed_in(app, "towny"):
        page = hall.layout()
        refresh = callback(app, "refresh_figures")
        out = refresh(None, None, None, None)
        # Shown what it just got, the next refresh sends nothing: the boards are not rebuilt.
        again = refresh(None, None, None, out[-1])
    kpi, shading = out[0], out[4]
    assert all(part is no_update for part in again)
    text = str(page.to_plotly_json())
    assert "本镇案件" in text and "别处案件" not in text
    fig = next(
        c
        for c in page.children
        if getattr(c, "id", None) is None and "area-map" in str(getattr(c, "className", ""))
    )
    graph = fig.children[1]
    assert list(graph.figure["data"][0]["locations"]) == [TOWN_A]
    assert shading == {"z": [1], "zmax": 1}
    assert len(kpi) == len(hall.KPI_METRICS) * 3  # today, this month, this year
    assert kpi["hall-kpi-received-today"][0] == "1"  # this township's case only


def test_case_card_actions_follow_the_role(app: Flask, people: None) -> None:
    from layouts.case_card import case_card_body

    save = callback(app, "save")
    with signed_in(app, "duty"):
        save(*save_args())
    rt = app.extensions["cc"]
    with rt.session_factory() as db:
        case_id = db.query(Case.id).scalar()
    with signed_in(app, "duty"):
        from console.auth import current_actor

        actor = current_actor()
        assert actor is not None
        _, body = case_card_body(rt, actor, case_id, "zh-CN")
    text = str(body.to_plotly_json())
    assert "开始调解" in text and "张*" in text and "138****5678" in text
    assert "13812345678" not in text


def test_tiles_match_the_summary_contract_up_to_now(app: Flask, people: None) -> None:
    """Whole-day reads (rollups only) give the figures of [start, now) of the stats contract."""
    from dataclasses import asdict
    from datetime import timedelta

    from dispatch.domain.codes import Level
    from dispatch.domain.jurisdiction import Scope
    from dispatch.services import overview, stats

    rt = app.extensions["cc"]
    now = rt.deps.now()
    with rt.session_factory.begin() as db:
        seed.seed_demo(db, rt.deps, rt.regions, rt.reference, 3000, now - timedelta(minutes=5))
    scope = Scope(Level.CITY, CITY)
    with rt.session_factory() as db:
        periods = overview.kpi_periods(db, scope, rt.regions, now)
        for pf in periods:
            start = overview.period_bounds(now)[pf.period][0]
            assert asdict(pf.current) == asdict(stats.summary(db, scope, start, now)), pf.period


def test_drill_down_stays_inside_the_scope(app: Flask, people: None) -> None:
    from dispatch.domain.codes import Level, Role
    from dispatch.domain.jurisdiction import Scope
    from dispatch.services.context import Actor

    rt = app.extensions["cc"]
    town = Actor(user_id=1, username="t", role=Role.MEDIATOR, scope=Scope(Level.TOWNSHIP, TOWN_A))
    assert hall.drill_scope(rt, town, TOWN_B) is None  # another township: ignored
    assert hall.drill_scope(rt, town, "nonsense") is None
    city = Actor(user_id=2, username="c", role=Role.DUTY_OFFICER, scope=Scope(Level.CITY, CITY))
    assert hall.drill_scope(rt, city, TOWN_B) == Scope(Level.TOWNSHIP, TOWN_B)
    geojson, _center, zoom = hall.map_view(rt.regions, city.scope, TOWN_B)
    assert [f["id"] for f in geojson["features"]] == [TOWN_B]
    _geo, _c, city_zoom = hall.map_view(rt.regions, city.scope, None)
    assert zoom > city_zoom
