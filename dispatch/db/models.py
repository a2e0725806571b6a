"""The tables: regions, users, departments, teams, cases, parties, events, assignments, audit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.db.base import Base, Code, Name
from dispatch.domain.kpi import METRICS


class Region(Base):
    """A city, county-level area, township/street or grid (loaded from config/regions)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[Name]
    name_en: Mapped[Name]
    level: Mapped[Code]
    parent_code: Mapped[str | None] = mapped_column(String(16), index=True)
    city_code: Mapped[Code]
    county_code: Mapped[str | None] = mapped_column(String(16))
    township_code: Mapped[str | None] = mapped_column(String(16))
    lon: Mapped[float]
    lat: Mapped[float]


class Department(Base):
    """A functional department (court, housing, HR & social security, ...) at a centre."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[Name]
    name_en: Mapped[Name]
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)

    __table_args__ = (UniqueConstraint("code", "region_code", name="uq_departments_code_region"),)


class Team(Base):
    """An on-site team: grid workers, police, justice office, volunteer mediators (和事佬)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[Name]
    kind: Mapped[str] = mapped_column(String(30))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[Name]
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(30))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout/password change: tokens issued before carry the old number and are refused.
    token_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class Case(Base):
    """A dispute (矛盾纠纷). Region codes of every level are kept for one-column scoping."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    title: Mapped[Name]
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[Code] = mapped_column(String(30))
    source: Mapped[Code] = mapped_column(String(30))
    severity: Mapped[Code] = mapped_column(String(30))
    state: Mapped[Code] = mapped_column(String(30))
    level: Mapped[Code] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    referral: Mapped[str | None] = mapped_column(String(30))
    city_code: Mapped[Code]
    county_code: Mapped[Code]
    township_code: Mapped[Code]
    grid_code: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    people_involved: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime]
    finish_by: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    card: Mapped[str] = mapped_column(String(10), default="none")
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    parties: Mapped[list[Party]] = relationship(
        back_populates="case", order_by="Party.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        # The region and state columns of these two only ever meet equality (scope, state
        # lists): on PostgreSQL the pattern operator class compares bytes instead of going
        # through the database collation, which makes every insert cheaper (see the 0003
        # migration) and still serves = and IN.
        Index(
            "ix_cases_township_received",
            "township_code",
            "received_at",
            postgresql_ops={"township_code": "varchar_pattern_ops"},
        ),
        Index(
            "ix_cases_county_state",
            "county_code",
            "state",
            postgresql_ops={"county_code": "varchar_pattern_ops", "state": "varchar_pattern_ops"},
        ),
        Index("ix_cases_state_finish_by", "state", "finish_by"),
        Index("ix_cases_received_at", "received_at"),
        Index("ix_cases_closed_at", "closed_at"),
        Index("ix_cases_finish_by", "finish_by"),
    )


class Party(Base):
    """A party to a dispute. Raw identifiers are never shown or logged without unmasking."""

    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[Name]
    role: Mapped[str] = mapped_column(String(20), default="applicant")
    id_number: Mapped[str | None] = mapped_column(String(18))
    phone: Mapped[str | None] = mapped_column(String(20))
    # Keyed hashes for matching the same person across cases (repeat detection).
    id_key: Mapped[str | None] = mapped_column(String(32))
    phone_key: Mapped[str | None] = mapped_column(String(32))

    case: Mapped[Case] = relationship(back_populates="parties")

    __table_args__ = (
        # Random hex keys, only ever looked up by equality: byte comparison on PostgreSQL
        # (pattern operator class) instead of the collation's, the same lookups served.
        Index("ix_parties_id_key", "id_key", postgresql_ops={"id_key": "varchar_pattern_ops"}),
        Index(
            "ix_parties_phone_key",
            "phone_key",
            postgresql_ops={"phone_key": "varchar_pattern_ops"},
        ),
    )


class CaseEvent(Base):
    """One line of a case's timeline (created, transitions, assignments, calls, cards, ...)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]
    actor_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]]


class CaseAttachment(Base):
    """A file attached to a case: snapshot, call recording, field photo, agreement scan."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(String(400))
    mime: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    created_by: Mapped[int | None]
    meta: Mapped[dict[str, Any]]


class Assignment(Base):
    """A call to a department, team, mediator or grid worker, with its own deadlines."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int]
    target_name: Mapped[Name]
    region_code: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    instructions: Mapped[str] = mapped_column(Text, default="")
    offered_at: Mapped[datetime]
    accept_by: Mapped[datetime]
    finish_by: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    refused_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    card: Mapped[str] = mapped_column(String(10), default="none")
    # (clock, step) pairs the supervision clock has already taken, so each happens once.
    supervision: Mapped[list[Any]]
    created_by: Mapped[int | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_assignments_target", "target_kind", "target_id", "state"),
        Index("ix_assignments_state_accept_by", "state", "accept_by"),
    )


class AssignmentReport(Base):
    """Progress report (反馈) from the field: text, photos, location."""

    __tablename__ = "assignment_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    photos: Mapped[list[Any]]


class ActionReceipt(Base):
    """Idempotency: a client-chosen key per action, so a repeated request changes nothing."""

    __tablename__ = "action_receipts"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    user_id: Mapped[int]
    at: Mapped[datetime]
    result: Mapped[dict[str, Any]]


class AuditEntry(Base):
    """Who did what, when, with the state before and after."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)


def _metric_columns() -> dict[str, Any]:
    return {name: mapped_column(Integer, default=0, nullable=False) for name in METRICS}


class RollupDay(Base):
    """KPI counts per local day and township (see dispatch.domain.kpi)."""

    __tablename__ = "rollup_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    township_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    county_code: Mapped[str] = mapped_column(String(16))
    city_code: Mapped[str] = mapped_column(String(16))
    locals().update(_metric_columns())

    __table_args__ = (Index("ix_rollup_day_county_day", "county_code", "day"),)


class RollupMonth(Base):
    """The same counts per local month (first day of the month), for long ranges."""

    __tablename__ = "rollup_month"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    township_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    county_code: Mapped[str] = mapped_column(String(16))
    city_code: Mapped[str] = mapped_column(String(16))
    locals().update(_metric_columns())

    __table_args__ = (Index("ix_rollup_month_county_day", "county_code", "day"),)


class Delivery(Base):
    """One assignment message for one field user (outbox row), acknowledged by that user.

    Written in the same transaction as the assignment change it announces, so a crash can
    never leave an offered assignment without its deliveries. ``seq`` numbers one recipient's
    deliveries 1, 2, 3, ... with no gaps; a client that reconnects asks for ``seq > last_seq``.
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # NULL once acknowledged, so the retry scan reads only what is still owed.
    next_attempt_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("recipient_id", "seq", name="uq_deliveries_recipient_seq"),
        # The re-send scan asks per connected recipient: owed deliveries of phones that never
        # come back must not slow it down.
        Index("ix_deliveries_recipient_next_attempt", "recipient_id", "next_attempt_at"),
    )


class DeliveryCursor(Base):
    """The last delivery sequence number handed out per recipient.

    Incremented under the row lock inside the writing transaction: two transactions writing
    to the same recipient commit in sequence order, so a reader never sees seq n+1 before n.
    """

    __tablename__ = "delivery_cursors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class FieldPresence(Base):
    """Whether a field user is connected, when they were last seen, and where."""

    __tablename__ = "field_presence"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime]
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    located_at: Mapped[datetime | None]
