"""Reference data: completeness against the domain codes, error messages, suggestions."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.errors import ConfigError
from config.reference import ALERT_LEVEL_CODES, KINDS, Reference, load_reference
from dispatch.domain.codes import (
    HANDLING_LEVELS,
    Category,
    Level,
    Outcome,
    Referral,
    Role,
    Severity,
    Source,
)
from dispatch.domain.supervision import DeadlineRule, deadlines_for

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def ref() -> Reference:
    return load_reference(CONFIG_DIR)


def raw() -> dict[str, Any]:
    data = yaml.safe_load((CONFIG_DIR / "reference.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    (tmp_path / "reference.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )
    return tmp_path


@pytest.mark.parametrize(
    ("kind", "enum"),
    [
        ("categories", Category),
        ("severities", Severity),
        ("sources", Source),
        ("outcomes", Outcome),
        ("referrals", Referral),
        ("roles", Role),
        ("levels", Level),
    ],
)
def test_every_domain_code_once(ref: Reference, kind: str, enum: type[StrEnum]) -> None:
    codes = ref.codes(kind)
    assert sorted(codes) == sorted(m.value for m in enum)
    for code in codes:
        assert ref.name(kind, code, "zh-CN") != code
        assert ref.name(kind, code, "en") != code


def test_alert_levels_in_rank_order(ref: Reference) -> None:
    assert ref.codes("alert_levels") == ALERT_LEVEL_CODES
    assert [a.rank for a in ref.alert_levels] == [1, 2, 3, 4]
    assert ref.name("alert_levels", "red", "zh-CN") == "红色预警"


def test_names_in_both_languages(ref: Reference) -> None:
    assert ref.name("categories", "wage_arrears", "zh-CN") == "欠薪"
    assert ref.name("categories", "wage_arrears", "en") == "Wage arrears"
    assert ref.name("severities", "critical", "zh-CN") == "特别重大"
    assert ref.name("sources", "hotline", "en-US") == "12345 hotline"
    assert ref.name("departments", "hrss", "zh-CN") == "人力资源和社会保障局"
    assert ref.name("categories", "no_such_code", "en") == "no_such_code"
    assert list(ref.names("severities", "zh-CN").values()) == ["一般", "较大", "重大", "特别重大"]
    with pytest.raises(KeyError):
        ref.name("colours", "red", "en")


def test_every_kind_has_names(ref: Reference) -> None:
    for kind in KINDS:
        assert ref.codes(kind), kind


def test_departments(ref: Reference) -> None:
    codes = ref.codes("departments")
    for expected in ("court", "housing", "hrss", "agriculture", "arbitration", "notary"):
        assert expected in codes
    assert all(set(d.levels) <= set(HANDLING_LEVELS) for d in ref.departments)
    labour = {d.code for d in ref.departments_for(Category.WAGE_ARREARS, Level.COUNTY)}
    assert {"hrss", "arbitration"} <= labour
    assert ref.department("court").en == "People's Court"


def test_deadlines_complete_and_sensible(ref: Reference) -> None:
    rules = ref.deadline_rules()
    assert set(rules) == {(s, lv) for s in Severity for lv in HANDLING_LEVELS}
    for rule in rules.values():
        assert isinstance(rule, DeadlineRule)
        assert timedelta(0) < rule.accept < rule.finish
    # Graver cases never get more time at the same level.
    order = sorted(ref.severities, key=lambda s: s.rank)
    for level in HANDLING_LEVELS:
        finishes = [rules[(s.code, level)].finish for s in order]
        accepts = [rules[(s.code, level)].accept for s in order]
        assert finishes == sorted(finishes, reverse=True)
        assert accepts == sorted(accepts, reverse=True)
    township = rules[(Severity.GENERAL, Level.TOWNSHIP)]
    assert township == DeadlineRule(timedelta(minutes=30), timedelta(days=15))


def test_deadline_rules_fit_the_supervision_clock(ref: Reference) -> None:
    from datetime import UTC, datetime

    start = datetime(2026, 1, 1, tzinfo=UTC)
    got = deadlines_for(ref.deadline_rules(), Severity.CRITICAL, Level.GRID, start)
    assert got.accept_by == start + timedelta(minutes=10)


def _set_accept_zero(d: dict[str, Any]) -> None:
    d["deadlines"]["major"]["township"]["accept_minutes"] = 0


def _drop_category(d: dict[str, Any]) -> None:
    d["categories"] = [c for c in d["categories"] if c["code"] != "epidemic"]


def _unknown_entry_key(d: dict[str, Any]) -> None:
    d["categories"][0]["colour"] = "red"


def _unknown_code(d: dict[str, Any]) -> None:
    d["sources"][0]["code"] = "carrier_pigeon"


def _duplicate_code(d: dict[str, Any]) -> None:
    d["sources"][1]["code"] = d["sources"][0]["code"]


def _missing_level(d: dict[str, Any]) -> None:
    del d["deadlines"]["general"]["township"]


def _grid_deadline(d: dict[str, Any]) -> None:
    d["deadlines"]["general"]["grid"] = {"accept_minutes": 5, "finish_hours": 1}


def _accept_not_shorter(d: dict[str, Any]) -> None:
    d["deadlines"]["critical"]["city"] = {"accept_minutes": 600, "finish_hours": 2}


def _unknown_top_key(d: dict[str, Any]) -> None:
    d["colours"] = {}


def _missing_severity(d: dict[str, Any]) -> None:
    del d["deadlines"]["significant"]


def _missing_name(d: dict[str, Any]) -> None:
    del d["roles"][2]["zh"]


def _department_at_grid(d: dict[str, Any]) -> None:
    d["departments"][0]["levels"] = ["grid"]


@pytest.mark.parametrize(
    ("edit", "key", "reason"),
    [
        (_set_accept_zero, "deadlines.major.township.accept_minutes", "must be greater than 0"),
        (_drop_category, "categories", "missing codes: epidemic"),
        (_unknown_entry_key, "categories.0.colour", "unknown key"),
        (_unknown_code, "sources.0.code", "Input should be"),
        (_duplicate_code, "sources.1.code", "duplicate code 'walk_in'"),
        (_missing_level, "deadlines.general", "missing levels: township"),
        (_grid_deadline, "deadlines.general", "not a handling level: grid"),
        (_accept_not_shorter, "deadlines.critical.city.accept_minutes", "shorter than"),
        (_unknown_top_key, "colours", "unknown key"),
        (_missing_severity, "deadlines", "missing severities: significant"),
        (_missing_name, "roles.2.zh", "required key is missing"),
        (_department_at_grid, "departments.0.levels", "not a handling level"),
    ],
)
def test_broken_copy_is_rejected_with_the_dotted_key(
    tmp_path: Path, edit: Edit, key: str, reason: str
) -> None:
    data = raw()
    edit(data)
    with pytest.raises(ConfigError) as info:
        load_reference(write(tmp_path, data))
    err = info.value
    assert err.key == key
    assert reason in err.reason
    assert err.file.endswith("reference.yaml")
    assert str(err) == f"{err.file}: {key}: {err.reason}"


def test_message_matches_the_documented_example(tmp_path: Path) -> None:
    data = raw()
    _set_accept_zero(data)
    with pytest.raises(ConfigError) as info:
        load_reference(write(tmp_path, data))
    assert str(info.value).endswith(
        "reference.yaml: deadlines.major.township.accept_minutes: must be greater than 0"
    )


@pytest.mark.parametrize("text", ["categories: [unclosed\n", "- a\n- b\n", ""])
def test_malformed_file(tmp_path: Path, text: str) -> None:
    (tmp_path / "reference.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_reference(tmp_path)
    assert info.value.key == ""


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_reference(tmp_path)


def test_cached_until_the_file_changes(tmp_path: Path) -> None:
    directory = write(tmp_path, raw())
    first = load_reference(directory)
    assert load_reference(directory) is first
    data = raw()
    data["sources"][0]["zh"] = "到访"
    write(tmp_path, data)
    stamp = (tmp_path / "reference.yaml").stat().st_mtime_ns + 1_000_000_000
    os.utime(tmp_path / "reference.yaml", ns=(stamp, stamp))
    assert load_reference(directory).name("sources", "walk_in", "zh-CN") == "到访"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("老板拖欠工资三个月，二十多名农民工讨薪无果", Category.WAGE_ARREARS),
        ("丈夫家暴，妻子要求离婚并争取孩子抚养权", Category.MARRIAGE_FAMILY),
        ("小区物业乱收停车费，电梯坏了半年没人修", Category.PROPERTY_MGMT),
        ("电动车与轿车追尾，双方就赔偿发生争执", Category.TRAFFIC),
        ("村民对征地补偿款和安置方案有异议", Category.LAND_ACQUISITION),
        ("手术后出现并发症，家属认为医院误诊", Category.MEDICAL),
        ("楼上邻居深夜噪音扰民，还多次漏水", Category.NEIGHBOUR),
        ("公司未签劳动合同就辞退员工，拒绝支付经济补偿", Category.LABOUR),
    ],
)
def test_suggest_category(ref: Reference, text: str, expected: Category) -> None:
    suggestions = ref.suggest_category(text)
    assert suggestions[0][0] == expected
    scores = [score for _, score in suggestions]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-3)


def test_suggest_category_without_match(ref: Reference) -> None:
    assert ref.suggest_category("今天天气不错") == []


@pytest.mark.parametrize(
    ("text", "people", "category", "expected"),
    [
        ("邻居之间因为噪音发生口角", 2, None, Severity.GENERAL),
        ("邻居之间因为噪音发生口角", 6, None, Severity.SIGNIFICANT),
        ("当事人情绪激动，扬言报复", 1, None, Severity.SIGNIFICANT),
        ("工人聚集在工地门口讨薪", 3, None, Severity.MAJOR),
        ("二十多名工人讨薪", 25, None, Severity.MAJOR),
        ("讨薪工人扬言跳楼", 1, None, Severity.CRITICAL),
        ("数十人堵路", 40, None, Severity.CRITICAL),
        ("一名工人讨薪", 1, Category.WAGE_ARREARS, Severity.SIGNIFICANT),
        ("一名工人讨薪", None, None, Severity.GENERAL),
    ],
)
def test_suggest_severity(
    ref: Reference, text: str, people: int | None, category: Category | None, expected: Severity
) -> None:
    assert ref.suggest_severity(text, people, category) == expected
