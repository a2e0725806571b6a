"""Personal identifiers: validation (ID checksum, phone), masking, and keyed matching hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_problem(value: str) -> str | None:
    """None when ``value`` is a valid 18-character resident ID number, else a problem code."""
    value = value.strip().upper()
    if not _ID_RE.match(value):
        return "id_format"
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "id_birthdate"
    if id_check_char(value[:17]) != value[17]:
        return "id_checksum"
    return None


def phone_problem(value: str) -> str | None:
    """None for a mainland mobile (11 digits) or landline (area code + number), else a code."""
    return None if _PHONE_RE.match(value.strip()) else "phone_format"


def mask_id(value: str | None) -> str:
    """Show the region prefix and the last two characters only: 511602********12."""
    if not value:
        return ""
    value = value.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 8) + value[-2:]


def mask_phone(value: str | None) -> str:
    """Show the first three and last four digits: 138****5678."""
    if not value:
        return ""
    value = value.strip()
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """Keep the family name: 张** ."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)


def match_key(secret: bytes, value: str) -> str:
    """A keyed hash used to match a person across records without storing the raw number."""
    return hmac.new(secret, value.strip().upper().encode(), hashlib.sha256).hexdigest()[:32]
