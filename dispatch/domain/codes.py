"""Interchange code values shared by every part of the product (see DESIGN.md, case import)."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """The three platform levels, plus the grid below the township (for grid workers)."""

    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    GRID = "grid"


#: Order of levels from the top; escalation moves towards index 0.
LEVEL_ORDER: tuple[Level, ...] = (Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.GRID)

#: Levels at which a case can be handled (a grid is not a handling level).
HANDLING_LEVELS: tuple[Level, ...] = (Level.CITY, Level.COUNTY, Level.TOWNSHIP)


class Category(StrEnum):
    MARRIAGE_FAMILY = "marriage_family"
    NEIGHBOUR = "neighbour"
    LABOUR = "labour"
    WAGE_ARREARS = "wage_arrears"
    LAND_CONTRACT = "land_contract"
    LAND_ACQUISITION = "land_acquisition"
    PROPERTY_MGMT = "property_mgmt"
    TRAFFIC = "traffic"
    MEDICAL = "medical"
    CONSUMER = "consumer"
    CONTRACT = "contract"
    EPIDEMIC = "epidemic"
    OTHER = "other"


class Severity(StrEnum):
    GENERAL = "general"
    SIGNIFICANT = "significant"
    MAJOR = "major"
    CRITICAL = "critical"


#: Severities that count as "major disputes" in the KPI.
MAJOR_SEVERITIES = frozenset({Severity.MAJOR, Severity.CRITICAL})


class Source(StrEnum):
    WALK_IN = "walk_in"
    HOTLINE = "hotline"
    ONLINE = "online"
    GRID = "grid"
    POLICE = "police"
    PETITION = "petition"
    COURT = "court"
    WARNING = "warning"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    WITHDRAWN = "withdrawn"
    REFERRED = "referred"


class Role(StrEnum):
    DUTY_OFFICER = "duty_officer"
    COMMANDER = "commander"
    MEDIATOR = "mediator"
    LEADER = "leader"
    DEPARTMENT_STAFF = "department_staff"
    GRID_WORKER = "grid_worker"
    ANALYST = "analyst"
    ADMIN = "admin"


class Referral(StrEnum):
    """Where a case goes when the centre cannot resolve it."""

    COURT = "court"
    ARBITRATION = "arbitration"
    PETITION_OFFICE = "petition_office"
    LITIGATION = "litigation"
    OTHER_AGENCY = "other_agency"
