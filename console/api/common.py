"""Small helpers shared by the API modules: JSON body, query parsing, a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from console.runtime import current_runtime
from dispatch.domain.errors import ValidationFailed
from dispatch.services.stats import local_midnight


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 422 naming the problem."""
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationFailed(fields={"_": "bad_json"})
    if not isinstance(data, dict):
        raise ValidationFailed(fields={"_": "not_an_object"})
    return data


@contextmanager
def transaction() -> Iterator[Session]:
    with current_runtime().session_factory.begin() as session:
        yield session


def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise ValidationFailed(fields={name: "not_a_number"}) from err
    if not lo <= value <= hi:
        raise ValidationFailed(fields={name: "out_of_range"})
    return value


def moment_arg(name: str, required: bool = False) -> datetime | None:
    """A DATE (local midnight, Asia/Shanghai) or a full ISO-8601 timestamp with zone."""
    raw = request.args.get(name)
    if not raw:
        if required:
            raise ValidationFailed(fields={name: "required"})
        return None
    try:
        if len(raw) == 10:
            return local_midnight(date.fromisoformat(raw))
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as err:
        raise ValidationFailed(fields={name: "bad_datetime"}) from err
    if value.tzinfo is None:
        raise ValidationFailed(fields={name: "needs_timezone"})
    return value
