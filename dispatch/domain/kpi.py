"""KPI definitions (DESIGN.md "Summary figures") and the rollup contributions that keep them fast.

Each case contributes counts to day buckets (local days in Asia/Shanghai). The summary for a
range is then sums over buckets, so no query scans the case table:

- received, major_received: by the day the case was received;
- closed, success, failure, online_success, online_failure, closed_on_time: by the day closed;
- due: by the day its finish deadline falls; cleared: by the day of max(deadline, closed) for
  closed cases. Open past the deadline at T = due before T − cleared before T.
- in progress at T = received before T − closed before T.

When a case changes, the store applies ``contributions(after) − contributions(before)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dispatch.domain.codes import MAJOR_SEVERITIES, Outcome, Severity

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

METRICS: tuple[str, ...] = (
    "received",
    "major_received",
    "closed",
    "success",
    "failure",
    "online_success",
    "online_failure",
    "closed_on_time",
    "due",
    "cleared",
)


@dataclass(frozen=True)
class CaseFacts:
    """The fields of a case that the KPIs depend on."""

    township_code: str
    received_at: datetime
    severity: Severity
    online: bool
    finish_by: datetime | None
    closed_at: datetime | None
    outcome: Outcome | None


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


#: A rollup key: (local day, township code, metric name).
RollupKey = tuple[date, str, str]


def moments(case: CaseFacts) -> list[tuple[datetime, str]]:
    """Each (moment, metric) at which the case adds one to a metric."""
    out: list[tuple[datetime, str]] = [(case.received_at, "received")]
    if case.severity in MAJOR_SEVERITIES:
        out.append((case.received_at, "major_received"))
    if case.finish_by is not None:
        out.append((case.finish_by, "due"))
    if case.closed_at is not None:
        out.append((case.closed_at, "closed"))
        if case.outcome in (Outcome.SUCCESS, Outcome.FAILURE):
            out.append((case.closed_at, case.outcome.value))
            if case.online:
                out.append((case.closed_at, f"online_{case.outcome.value}"))
        if case.finish_by is None or case.closed_at <= case.finish_by:
            out.append((case.closed_at, "closed_on_time"))
        if case.finish_by is not None:
            out.append((max(case.finish_by, case.closed_at), "cleared"))
    return out


def contributions(case: CaseFacts) -> Counter[RollupKey]:
    """The counts one case adds to the day buckets."""
    return Counter(
        (local_day(moment), case.township_code, metric) for moment, metric in moments(case)
    )


def delta(before: CaseFacts | None, after: CaseFacts | None) -> Counter[RollupKey]:
    """What to add to the rollups when a case changes from ``before`` to ``after``."""
    result: Counter[RollupKey] = Counter()
    if after is not None:
        result.update(contributions(after))
    if before is not None:
        result.subtract(contributions(before))
    return Counter({k: v for k, v in result.items() if v != 0})


def total(cases: Iterable[CaseFacts]) -> Counter[RollupKey]:
    out: Counter[RollupKey] = Counter()
    for case in cases:
        out.update(contributions(case))
    return out


def ratio(numerator: int, denominator: int) -> float | None:
    """A fraction, or None when nothing was counted (shown as "—", never as 0% or 100%)."""
    return numerator / denominator if denominator else None


def change(current: float | int | None, previous: float | int | None) -> float | None:
    """Year-on-year (or period-on-period) change as a fraction; None without a base."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


@dataclass(frozen=True)
class Summary:
    """The summary figures of DESIGN.md for a region and a range [from, to)."""

    received: int
    resolved: int
    success: int
    failure: int
    online_success: int
    online_failure: int
    in_progress: int
    major_disputes: int
    overdue: int
    closed: int
    closed_on_time: int

    @property
    def success_rate(self) -> float | None:
        return ratio(self.success, self.success + self.failure)

    @property
    def online_success_rate(self) -> float | None:
        return ratio(self.online_success, self.online_success + self.online_failure)

    @property
    def on_time_rate(self) -> float | None:
        return ratio(self.closed_on_time, self.closed)


def summarise(in_range: Counter[str], before_to: Counter[str]) -> Summary:
    """Build the summary from metric sums over [from, to) and over everything before ``to``."""
    return Summary(
        received=in_range["received"],
        resolved=in_range["success"],
        success=in_range["success"],
        failure=in_range["failure"],
        online_success=in_range["online_success"],
        online_failure=in_range["online_failure"],
        in_progress=before_to["received"] - before_to["closed"],
        major_disputes=in_range["major_received"],
        overdue=before_to["due"] - before_to["cleared"],
        closed=in_range["closed"],
        closed_on_time=in_range["closed_on_time"],
    )
