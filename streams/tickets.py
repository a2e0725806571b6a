"""Viewing tickets: the web process (which knows the user) lets a separate streams process
answer one offer for one camera, without the streams process knowing users or sessions."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from streams.errors import Forbidden

SALT = "cc-video-ticket"
#: Long enough for a browser to gather ICE candidates and post its offer.
TICKET_SECONDS = 60


def make_ticket(secret: str, camera_id: str, size: str, user_id: int) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT).dumps(
        {"camera_id": camera_id, "size": size, "uid": user_id}
    )


def read_ticket(secret: str, ticket: object, max_age: int = TICKET_SECONDS) -> dict[str, Any]:
    """The ticket's content; ``Forbidden`` when it is missing, forged or expired."""
    if not isinstance(ticket, str) or not ticket or len(ticket) > 1024:
        raise Forbidden("a viewing ticket is required", field="ticket")
    try:
        data = URLSafeTimedSerializer(secret, salt=SALT).loads(ticket, max_age=max_age)
    except SignatureExpired as err:
        raise Forbidden("the viewing ticket has expired", field="ticket") from err
    except BadSignature as err:
        raise Forbidden("the viewing ticket is not valid", field="ticket") from err
    if not isinstance(data, dict) or not isinstance(data.get("camera_id"), str):
        raise Forbidden("the viewing ticket is not valid", field="ticket")
    return data
