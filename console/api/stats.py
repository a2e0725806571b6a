"""GET /stats/summary: the summary figures contract of DESIGN.md."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Response, jsonify, request

from console.api import bp
from console.api.common import moment_arg, transaction
from console.auth import require_actor
from console.runtime import current_runtime
from dispatch.domain.codes import Level
from dispatch.domain.errors import NotFound, ValidationFailed
from dispatch.domain.jurisdiction import Scope
from dispatch.domain.kpi import Summary, change
from dispatch.services import stats


def summary_json(s: Summary) -> dict[str, object]:
    return {
        "received": s.received,
        "resolved": s.resolved,
        "success_rate": s.success_rate,
        "online_success_rate": s.online_success_rate,
        "in_progress": s.in_progress,
        "major_disputes": s.major_disputes,
        "overdue": s.overdue,
        "closed": s.closed,
        "on_time_rate": s.on_time_rate,
        "success": s.success,
        "failure": s.failure,
    }


@bp.get("/stats/summary")
def stats_summary() -> Response:
    actor = require_actor()
    runtime = current_runtime()
    region = request.args.get("region") or actor.scope.code
    try:
        path = runtime.deps.region_path(region)
        level = runtime.deps.region_level(region)
    except KeyError as err:
        raise ValidationFailed(fields={"region": "unknown_region"}) from err
    if not actor.scope.covers(path):
        raise NotFound(object="region", id=region)
    start = moment_arg("from", required=True)
    end = moment_arg("to", required=True)
    assert start is not None and end is not None
    if end <= start:
        raise ValidationFailed(fields={"to": "range_empty"})
    if end - start > timedelta(days=3660):
        raise ValidationFailed(fields={"from": "range_too_long"})
    scope = Scope(Level(level), region)
    with transaction() as db:
        result = stats.summary(db, scope, start, end)
        previous = stats.summary(db, scope, _year_before(start), _year_before(end))
    body = summary_json(result)
    before = summary_json(previous)
    return jsonify(
        region=region,
        **{"from": start.isoformat(), "to": end.isoformat()},
        **body,
        previous_year=before,
        year_on_year={key: change(body[key], before[key]) for key in _YOY_KEYS},  # type: ignore[arg-type]
    )


_YOY_KEYS = (
    "received",
    "resolved",
    "success_rate",
    "online_success_rate",
    "major_disputes",
    "overdue",
)


def _year_before(moment: datetime) -> datetime:
    """The same local moment one year earlier (29 February maps to 28 February)."""
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:
        return moment.replace(year=moment.year - 1, day=28)
