"""Input models (pydantic) for services, and the mapping of their errors to field problems."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dispatch.domain.codes import Category, Level, Severity, Source
from dispatch.domain.errors import ValidationFailed
from dispatch.domain.identity import id_number_problem, phone_problem

M = TypeVar("M", bound=BaseModel)

#: pydantic error types -> our problem codes (message catalog keys ``problems.<code>``).
_PROBLEM_CODES = {
    "missing": "required",
    "string_too_short": "required",
    "string_too_long": "too_long",
    "enum": "invalid_choice",
    "literal_error": "invalid_choice",
    "extra_forbidden": "unknown_field",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "greater_than": "out_of_range",
    "less_than": "out_of_range",
    "int_parsing": "not_a_number",
    "int_type": "not_a_number",
    "float_parsing": "not_a_number",
    "decimal_parsing": "not_a_number",
    "datetime_parsing": "bad_datetime",
    "datetime_from_date_parsing": "bad_datetime",
    "timezone_aware": "needs_timezone",
    "bool_parsing": "not_a_boolean",
    "json_invalid": "bad_json",
    "list_type": "not_a_list",
}


def problems_of(err: ValidationError) -> dict[str, str]:
    """{"parties.0.id_number": "id_checksum", ...} from a pydantic ValidationError."""
    fields: dict[str, str] = {}
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "_"
        if item["type"] == "value_error":
            ctx = item.get("ctx") or {}
            code = str(ctx.get("error", "invalid"))
        else:
            code = _PROBLEM_CODES.get(item["type"], "invalid")
        fields.setdefault(loc, code)
    return fields


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` into ``model`` or raise ValidationFailed naming every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed(fields={"_": "not_an_object"})
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ValidationFailed(fields=problems_of(err)) from err


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PartyIn(_Strict):
    name: str = Field(min_length=1, max_length=50)
    role: Literal["applicant", "respondent", "third_party"] = "applicant"
    id_number: str | None = Field(default=None, max_length=18)
    phone: str | None = Field(default=None, max_length=20)

    @field_validator("id_number")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value:
            value = value.upper()
            problem = id_number_problem(value)
            if problem:
                raise ValueError(problem)
        return value or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value:
            problem = phone_problem(value)
            if problem:
                raise ValueError(problem)
        return value or None


class CaseIn(_Strict):
    """A new case at intake (一窗受理)."""

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    category: Category
    source: Source
    severity: Severity = Severity.GENERAL
    region_code: str = Field(min_length=6, max_length=16)
    level: Literal[Level.CITY, Level.COUNTY, Level.TOWNSHIP] | None = None
    address: str = Field(default="", max_length=300)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    people_involved: int = Field(default=1, ge=1, le=100000)
    amount: Decimal | None = Field(default=None, ge=0, le=Decimal("999999999999"))
    online: bool = False
    received_at: datetime | None = None
    external_id: str | None = Field(default=None, max_length=64)
    parties: list[PartyIn] = Field(default_factory=list, max_length=50)
    route_to: Literal["review", "triage"] | None = None

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs_timezone")
        return value


class TransitionIn(_Strict):
    action: str = Field(min_length=1, max_length=40)
    reason: str | None = Field(default=None, max_length=2000)
    referral: str | None = Field(default=None, max_length=30)
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    note: str | None = Field(default=None, max_length=2000)
    expected_version: int | None = Field(default=None, ge=1)
