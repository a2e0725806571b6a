"""Reference data from ``config/reference.yaml``: code names, departments, deadlines, hints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from config.errors import ConfigError
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
from dispatch.domain.supervision import DeadlineRule

REFERENCE_FILE = "reference.yaml"

#: Alert levels have no domain enum; these are their codes, lowest first.
ALERT_LEVEL_CODES: tuple[str, ...] = ("blue", "yellow", "orange", "red")
AlertLevelCode = Literal["blue", "yellow", "orange", "red"]

#: The kinds accepted by :meth:`Reference.name`.
KINDS: tuple[str, ...] = (
    "categories",
    "severities",
    "sources",
    "outcomes",
    "referrals",
    "roles",
    "levels",
    "alert_levels",
    "departments",
)

_CODE_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="Interchange code.")
    zh: str = Field(min_length=1, max_length=40, description="Chinese name shown in the UI.")
    en: str = Field(min_length=1, max_length=80, description="English name shown in the UI.")


class CategoryEntry(_Entry):
    code: Category = Field(description="Dispute category code (interchange value).")
    keywords: tuple[str, ...] = Field(
        default=(), max_length=60, description="Chinese words that suggest this category."
    )
    severity_hint: Severity | None = Field(
        default=None, description="Usual lowest severity of this category, if any."
    )


class SeverityEntry(_Entry):
    code: Severity = Field(description="Severity code.")
    rank: int = Field(ge=1, le=10, description="Order, 1 = lowest.")
    min_people: int = Field(
        default=1, ge=1, le=100_000, description="Head count from which this severity is suggested."
    )
    keywords: tuple[str, ...] = Field(
        default=(), max_length=60, description="Words that suggest at least this severity."
    )


class SourceEntry(_Entry):
    code: Source = Field(description="Intake channel code.")


class OutcomeEntry(_Entry):
    code: Outcome = Field(description="Outcome code of a closed case.")


class ReferralEntry(_Entry):
    code: Referral = Field(description="Referral target code.")


class RoleEntry(_Entry):
    code: Role = Field(description="User role code.")


class LevelEntry(_Entry):
    code: Level = Field(description="Region level code.")


class AlertLevelEntry(_Entry):
    code: AlertLevelCode = Field(description="Alert level code (blue, yellow, orange, red).")
    rank: int = Field(ge=1, le=10, description="Order, 1 = lowest.")
    colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$", description="Display colour (#rrggbb).")


class DepartmentEntry(_Entry):
    code: str = Field(
        pattern=_CODE_PATTERN, max_length=40, description="Department code (snake_case)."
    )
    levels: tuple[Level, ...] = Field(
        min_length=1, description="Handling levels at which the department sits."
    )
    handles: tuple[Category, ...] = Field(
        default=(), description="Categories the department is usually summoned for."
    )


class DeadlineEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accept_minutes: int = Field(
        gt=0, le=7 * 24 * 60, description="Time to accept an assignment, in minutes."
    )
    finish_hours: int = Field(gt=0, le=365 * 24, description="Time to finish, in hours.")


class Reference(BaseModel):
    """All reference data, validated; build it with :func:`load_reference`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: tuple[CategoryEntry, ...] = Field(description="Dispute categories.")
    severities: tuple[SeverityEntry, ...] = Field(description="Severities, 一般 to 特别重大.")
    sources: tuple[SourceEntry, ...] = Field(description="Intake channels.")
    outcomes: tuple[OutcomeEntry, ...] = Field(description="Outcomes of closed cases.")
    referrals: tuple[ReferralEntry, ...] = Field(description="Where unresolved cases go.")
    roles: tuple[RoleEntry, ...] = Field(description="User roles.")
    levels: tuple[LevelEntry, ...] = Field(description="Region levels.")
    alert_levels: tuple[AlertLevelEntry, ...] = Field(description="Early-warning levels.")
    departments: tuple[DepartmentEntry, ...] = Field(
        min_length=1, description="Departments summoned to cases."
    )
    deadlines: dict[Severity, dict[Level, DeadlineEntry]] = Field(
        description="Accept and finish deadlines per severity and handling level."
    )

    # Code lookups per kind, built once: the model is frozen so the index never goes stale.
    _by_code: dict[str, dict[str, _Entry]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for kind in KINDS:
            self._by_code[kind] = {str(e.code): e for e in getattr(self, kind)}

    def deadline_rules(self) -> dict[tuple[Severity, Level], DeadlineRule]:
        """The deadlines in the shape the supervision clock takes."""
        return {
            (severity, level): DeadlineRule(
                accept=timedelta(minutes=entry.accept_minutes),
                finish=timedelta(hours=entry.finish_hours),
            )
            for severity, by_level in self.deadlines.items()
            for level, entry in by_level.items()
        }

    def entries(self, kind: str) -> Sequence[_Entry]:
        """The entries of one kind (``categories``, ``departments``, ...), in file order.

        Raises:
            KeyError: ``kind`` is not one of :data:`KINDS`.
        """
        if kind not in KINDS:
            raise KeyError(f"unknown reference kind {kind!r}; expected one of {KINDS}")
        entries: Sequence[_Entry] = getattr(self, kind)
        return entries

    def codes(self, kind: str) -> tuple[str, ...]:
        """The codes of one kind, in file order (the display order)."""
        return tuple(str(e.code) for e in self.entries(kind))

    def name(self, kind: str, code: str, lang: str = "zh-CN") -> str:
        """The display name of ``code`` in ``lang`` (``en*`` → English, otherwise Chinese).

        An unknown code returns the code itself so a gap shows on screen instead of failing.

        Raises:
            KeyError: ``kind`` is not one of :data:`KINDS`.
        """
        entry = _index(self, kind).get(str(code))
        if entry is None:
            return str(code)
        return entry.en if lang.lower().startswith("en") else entry.zh

    def names(self, kind: str, lang: str = "zh-CN") -> dict[str, str]:
        """Code → display name for one kind, in file order (for drop-downs and legends)."""
        return {code: self.name(kind, code, lang) for code in self.codes(kind)}

    def department(self, code: str) -> DepartmentEntry:
        """One department by code.

        Raises:
            KeyError: no department has this code.
        """
        entry = _index(self, "departments").get(code)
        if not isinstance(entry, DepartmentEntry):
            raise KeyError(code)
        return entry

    def departments_for(
        self, category: Category | None = None, level: Level | None = None
    ) -> list[DepartmentEntry]:
        """Departments usually summoned for ``category`` and sitting at ``level``."""
        return [
            d
            for d in self.departments
            if (category is None or category in d.handles) and (level is None or level in d.levels)
        ]

    def severity_rank(self, severity: Severity) -> int:
        """The rank of a severity (1 = lowest)."""
        return next(s.rank for s in self.severities if s.code == severity)

    def suggest_category(self, text: str) -> list[tuple[Category, float]]:
        """Categories suggested by the words of a free-text description, best first.

        Each matching keyword scores its length (a longer word is a more specific hint: 拖欠工资
        outweighs 工资); scores are normalised to sum to 1. No match gives an empty list, so
        the caller chooses the fallback (usually ``other``).
        """
        raw: dict[Category, int] = {}
        for entry in self.categories:
            score = sum(len(k) for k in entry.keywords if k and k in text)
            if score:
                raw[entry.code] = score
        total = sum(raw.values())
        order = {e.code: i for i, e in enumerate(self.categories)}
        ranked = sorted(raw.items(), key=lambda item: (-item[1], order[item[0]]))
        return [(code, round(score / total, 4)) for code, score in ranked]

    def suggest_severity(
        self, text: str, people_involved: int | None = None, category: Category | None = None
    ) -> Severity:
        """The severity suggested by alarming words, the head count and the category's hint.

        The highest severity wins among: any whose keyword appears in ``text``, any whose
        ``min_people`` is reached, and the ``severity_hint`` of ``category``.
        """
        by_rank = sorted(self.severities, key=lambda s: s.rank)
        best = by_rank[0]
        people = people_involved or 0
        for entry in by_rank[1:]:
            if people >= entry.min_people or any(k in text for k in entry.keywords if k):
                best = entry
        if category is not None:
            hint = next((c.severity_hint for c in self.categories if c.code == category), None)
            if hint is not None and self.severity_rank(hint) > best.rank:
                return hint
        return best.code


def _index(ref: Reference, kind: str) -> dict[str, _Entry]:
    if kind not in KINDS:
        raise KeyError(f"unknown reference kind {kind!r}; expected one of {KINDS}")
    return ref._by_code[kind]


def load_reference(config_dir: Path | str) -> Reference:
    """Read and validate ``<config_dir>/reference.yaml`` (cached until the file changes).

    Raises:
        ConfigError: naming the file, the dotted key and the problem.
    """
    path = (Path(config_dir) / REFERENCE_FILE).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError as err:
        raise ConfigError(path, "", "file not found") from err
    return _load(path, stamp)


@lru_cache(maxsize=16)
def _load(path: Path, stamp: int) -> Reference:
    del stamp  # part of the cache key only: an edited file is read again
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(path, "", f"cannot read: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(path, "", f"not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(path, "", "top level must be a mapping")
    try:
        ref = Reference.model_validate(data)
    except ValidationError as err:
        raise _translate(path, data, err) from err
    _check(path, ref)
    return ref


def _translate(path: Path, data: dict[str, Any], err: ValidationError) -> ConfigError:
    first = err.errors(include_url=False)[0]
    key = ".".join(str(p) for p in first["loc"])
    reason = first["msg"]
    if first["type"] == "extra_forbidden":
        reason = "unknown key"
    elif first["type"] == "missing":
        reason = "required key is missing"
    elif first["type"] == "greater_than":
        reason = f"must be greater than {first.get('ctx', {}).get('gt')}"
    del data
    return ConfigError(path, key, reason)


_ENUM_KINDS: dict[str, type[StrEnum]] = {
    "categories": Category,
    "severities": Severity,
    "sources": Source,
    "outcomes": Outcome,
    "referrals": Referral,
    "roles": Role,
    "levels": Level,
}


def _check(path: Path, ref: Reference) -> None:
    """Cross-entry rules pydantic cannot express per field: completeness and uniqueness."""
    for kind in KINDS:
        seen: set[str] = set()
        for i, code in enumerate(ref.codes(kind)):
            if code in seen:
                raise ConfigError(path, f"{kind}.{i}.code", f"duplicate code {code!r}")
            seen.add(code)
        expected = (
            {m.value for m in _ENUM_KINDS[kind]}
            if kind in _ENUM_KINDS
            else set(ALERT_LEVEL_CODES)
            if kind == "alert_levels"
            else seen
        )
        missing = sorted(expected - seen)
        if missing:
            raise ConfigError(path, kind, f"missing codes: {', '.join(missing)}")
    ranked: dict[str, list[int]] = {
        "severities": [e.rank for e in ref.severities],
        "alert_levels": [e.rank for e in ref.alert_levels],
    }
    for kind, ranks in ranked.items():
        if len(set(ranks)) != len(ranks):
            raise ConfigError(path, kind, "ranks must be distinct")
    for i, dept in enumerate(ref.departments):
        for level in dept.levels:
            if level not in HANDLING_LEVELS:
                raise ConfigError(
                    path, f"departments.{i}.levels", f"{level.value!r} is not a handling level"
                )
    _check_deadlines(path, ref)


def _check_deadlines(path: Path, ref: Reference) -> None:
    missing_sev = [s.value for s in Severity if s not in ref.deadlines]
    if missing_sev:
        raise ConfigError(path, "deadlines", f"missing severities: {', '.join(missing_sev)}")
    for severity in Severity:
        by_level = ref.deadlines[severity]
        extra = [lv.value for lv in by_level if lv not in HANDLING_LEVELS]
        if extra:
            raise ConfigError(
                path,
                f"deadlines.{severity.value}",
                f"not a handling level: {', '.join(extra)} "
                f"(expected {', '.join(lv.value for lv in HANDLING_LEVELS)})",
            )
        missing = [lv.value for lv in HANDLING_LEVELS if lv not in by_level]
        if missing:
            raise ConfigError(
                path, f"deadlines.{severity.value}", f"missing levels: {', '.join(missing)}"
            )
        for level, entry in by_level.items():
            if entry.accept_minutes >= entry.finish_hours * 60:
                raise ConfigError(
                    path,
                    f"deadlines.{severity.value}.{level.value}.accept_minutes",
                    f"must be shorter than finish_hours ({entry.finish_hours} h)",
                )
