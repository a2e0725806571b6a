"""Pure pieces of the hall, the case card and reception: tiles, clicks, payloads, suggestions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.reference import load_reference
from dispatch.domain.identity import id_check_char
from dispatch.domain.kpi import Summary
from dispatch.services import overview
from layouts import case_card, hall, reception

CONFIG = Path(__file__).resolve().parents[3] / "config"


def summary(received: int, success: int = 0, failure: int = 0) -> Summary:
    return Summary(received, success, success, failure, 0, 0, 3, 1, 2, success + failure, success)


def test_kpi_tiles_show_every_metric_for_each_period_with_year_on_year() -> None:
    periods = [
        overview.PeriodFigures("today", summary(12, 9, 1), summary(10, 8, 2)),
        overview.PeriodFigures("month", summary(300), summary(0)),
        overview.PeriodFigures("year", summary(4000), summary(3000)),
    ]
    tiles = hall.kpi_tiles(periods, "zh-CN")
    assert len(tiles) == len(hall.KPI_METRICS)
    text = str(tiles[0].to_plotly_json())
    assert "受理" in text and "12" in text and "▲20.0%" in text
    assert "▲33.3%" in text  # 4000 vs 3000
    rate = str(tiles[2].to_plotly_json())
    assert "90.0%" in rate  # 9 / (9 + 1)


def test_picked_case_takes_the_row_or_point_id_and_nothing_else() -> None:
    # A row's (or a canvas point's) data-case-id arrives as text from the browser.
    assert hall.picked_case({"id": "7", "at": 1}) == 7
    assert hall.picked_case({"id": 7}) == 7
    # Anything else a page script could put there opens nothing.
    for bad in (None, {}, {"id": "7; drop"}, {"id": ["7"]}, {"id": -1}):
        assert hall.picked_case(bad) is None


def test_township_shading_follows_the_map_order() -> None:
    assert hall.township_shading({"b": 4}, ["a", "b"]) == {"z": [0, 4], "zmax": 4}
    assert hall.township_shading({}, ["a"]) == {"z": [0], "zmax": 1}


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("resolve", {"action": "resolve", "expected_version": 3}),
        ("reject", {"action": "reject", "expected_version": 3, "reason": "r", "referral": "court"}),
        ("fail", {"action": "fail", "expected_version": 3, "referral": "court"}),
        ("visit", {"action": "visit", "expected_version": 3, "satisfaction": 5}),
    ],
)
def test_transition_payload_carries_only_what_the_action_takes(
    action: str, expected: dict[str, Any]
) -> None:
    assert case_card.transition_payload(action, 3, "r", "court", 5) == expected


def test_suggestion_from_the_description() -> None:
    ref = load_reference(CONFIG)
    category, severity, words = reception.suggestion(ref, "包工头拖欠工资三个月", 30, "zh-CN")
    assert category == "wage_arrears"
    assert severity in ("significant", "major", "critical")
    assert "欠薪" in words or "工资" in words or "类型" in words


def test_party_checks_and_payload() -> None:
    good = "11010519491231002" + id_check_char("11010519491231002")
    assert reception.party_problem("id", good) is None
    assert (
        reception.party_problem("id", good[:-1] + ("0" if good[-1] != "0" else "1"))
        == "id_checksum"
    )
    assert reception.party_problem("phone", "123") == "phone_format"
    assert reception.party_problem("id", "") is None
    parties = reception.parties_payload(
        ["张三", "", None],
        ["applicant", "respondent", None],
        [good.lower(), "", None],
        ["13812345678", "", None],
    )
    assert parties == [
        {"name": "张三", "role": "applicant", "id_number": good, "phone": "13812345678"}
    ]


def test_case_payload_leaves_out_empty_fields_and_routes() -> None:
    values = {
        "title": " 纠纷 ",
        "source": "hotline",
        "region_code": "990101001",
        "route": "review",
        "people_involved": None,
        "level": "county",
    }
    payload = reception.case_payload(values, [], (106.1, 30.2))
    assert (
        payload["title"] == "纠纷"
        and payload["route_to"] == "review"
        and payload["level"] == "county"
    )
    assert "people_involved" not in payload and payload["lon"] == 106.1 and payload["lat"] == 30.2
    assert "route_to" not in reception.case_payload({**values, "route": "none"}, [], None)


def test_party_error_line_names_the_row() -> None:
    assert (
        reception.party_error_line("parties.1.phone", "电话号码格式错误", "zh-CN")
        == "当事人2 电话: 电话号码格式错误"
    )
