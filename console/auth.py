"""Authentication glue: browser sessions, bearer tokens, and the current actor of a request."""

from __future__ import annotations

import logging
from typing import Any

from flask import Request, g, request, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from console.i18n import negotiate
from console.runtime import Runtime, current_runtime
from dispatch.db.models import User
from dispatch.domain.errors import DispatchError
from dispatch.services.context import Actor
from dispatch.services.users import actor_for

logger = logging.getLogger(__name__)
_TOKEN_SALT = "cc-api-token"


class Unauthorized(DispatchError):
    """No valid session or token (HTTP 401)."""

    code = "unauthorized"
    status = 401


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime.settings.secret_key, salt=_TOKEN_SALT)


def issue_token(runtime: Runtime, user: User) -> str:
    """A signed bearer token carrying the user id and token generation (revocable)."""
    return _serializer(runtime).dumps({"uid": user.id, "gen": user.token_generation})


def user_from_token(runtime: Runtime, db: Session, token: str) -> User:
    """The user a token belongs to; raises Unauthorized for expired, forged or revoked tokens."""
    try:
        data = _serializer(runtime).loads(token, max_age=runtime.settings.token_ttl_seconds)
    except SignatureExpired as err:
        raise Unauthorized("token_expired") from err
    except BadSignature as err:
        raise Unauthorized("token_invalid") from err
    if not isinstance(data, dict) or "uid" not in data:
        raise Unauthorized("token_invalid")
    user = db.get(User, int(data["uid"]))
    if user is None or not user.active or user.token_generation != data.get("gen"):
        raise Unauthorized("token_revoked")
    return user


def request_lang(req: Request | None = None) -> str:
    """The caller's language: ?lang=, the session's choice, Accept-Language (API), the default."""
    req = req or request
    explicit = req.args.get("lang") or session.get("lang")
    # Pages follow the configured language (zh-CN) until the user switches; a wall display's
    # browser locale is not a choice anyone made. Machine clients may ask by header.
    header = req.headers.get("Accept-Language") if req.path.startswith("/api/") else None
    if not explicit and not header:
        return current_runtime().settings.lang
    return negotiate(header, explicit)


def login_session(user: User) -> None:
    session.clear()
    session["uid"] = user.id
    session["gen"] = user.token_generation
    session.permanent = True


def current_actor(optional: bool = False) -> Actor | None:
    """The actor of this request, from a bearer token or the browser session (cached on g)."""
    if "cc_actor" in g:
        actor: Actor | None = g.cc_actor
        return actor
    runtime = current_runtime()
    header = request.headers.get("Authorization", "")
    with runtime.session_factory() as db:
        user: User | None = None
        if header.lower().startswith("bearer "):
            user = user_from_token(runtime, db, header[7:].strip())
        elif "uid" in session:
            candidate = db.get(User, int(session["uid"]))
            if candidate and candidate.active and candidate.token_generation == session.get("gen"):
                user = candidate
        if user is None:
            if optional:
                return None
            raise Unauthorized()
        actor = actor_for(user, runtime.deps, request_lang())
    g.cc_actor = actor
    return actor


def require_actor() -> Actor:
    actor = current_actor()
    assert actor is not None
    return actor


def actor_payload(actor: Actor) -> dict[str, Any]:
    return {
        "id": actor.user_id,
        "username": actor.username,
        "role": actor.role.value,
        "region_code": actor.scope.code,
        "level": actor.scope.level.value,
        "lang": actor.lang,
    }
