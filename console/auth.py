"""Authentication glue: browser sessions, bearer tokens, and the current actor of a request."""

from __future__ import annotations

import logging
from typing import Any

from flask import Request, g, request, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Connection, Row, Table, bindparam, select
from sqlalchemy.orm import Session

from console.i18n import negotiate
from console.runtime import Runtime, current_runtime
from dispatch.db.models import User
from dispatch.domain.errors import DispatchError
from dispatch.services.context import Actor
from dispatch.services.users import actor_for

logger = logging.getLogger(__name__)
_TOKEN_SALT = "cc-api-token"
_SERIALIZER_KEY = "cc_token_serializer"

#: A row of ``_ACTOR_ROW`` (any width: SQLAlchemy types rows by their columns).
_UserRow = Row[*tuple[Any, ...]]
_USERS: Table = User.__table__  # type: ignore[assignment]
#: What a request needs of its user, read afresh on every request (one indexed Core query:
#: the ORM's ``Session.get`` cost ten times the statement). Nothing is cached between
#: requests, so a revoked token, a deactivated user or a changed role holds at the next request.
_ACTOR_ROW = select(
    _USERS.c.id,
    _USERS.c.username,
    _USERS.c.role,
    _USERS.c.region_code,
    _USERS.c.department_id,
    _USERS.c.team_id,
    _USERS.c.active,
    _USERS.c.token_generation,
).where(_USERS.c.id == bindparam("uid"))


class Unauthorized(DispatchError):
    """No valid session or token (HTTP 401)."""

    code = "unauthorized"
    status = 401


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    # One per runtime: building it (and its signer) per request showed in the profile.
    serializer: URLSafeTimedSerializer | None = runtime.extras.get(_SERIALIZER_KEY)
    if serializer is None:
        serializer = URLSafeTimedSerializer(runtime.settings.secret_key, salt=_TOKEN_SALT)
        runtime.extras[_SERIALIZER_KEY] = serializer
    return serializer


def issue_token(runtime: Runtime, user: User) -> str:
    """A signed bearer token carrying the user id and token generation (revocable)."""
    return _serializer(runtime).dumps({"uid": user.id, "gen": user.token_generation})


def _claims(runtime: Runtime, token: str) -> tuple[int, object]:
    """(user id, token generation) of a token whose signature and age check out.

    Raises:
        Unauthorized: the token is expired (``token_expired``) or forged (``token_invalid``).
    """
    try:
        data = _serializer(runtime).loads(token, max_age=runtime.settings.token_ttl_seconds)
    except SignatureExpired as err:
        raise Unauthorized("token_expired") from err
    except BadSignature as err:
        raise Unauthorized("token_invalid") from err
    if not isinstance(data, dict) or "uid" not in data:
        raise Unauthorized("token_invalid")
    return int(data["uid"]), data.get("gen")


def user_from_token(runtime: Runtime, db: Session, token: str) -> User:
    """The user a token belongs to; raises Unauthorized for expired, forged or revoked tokens."""
    uid, gen = _claims(runtime, token)
    user = db.get(User, uid)
    if user is None or not _is_live(user, gen):
        raise Unauthorized("token_revoked")
    return user


def check_token(runtime: Runtime, token: str) -> None:
    """Raise Unauthorized unless ``token`` is valid and its user active at the same generation.

    One Core query on a connection of its own (a connected phone re-checks its token on every
    action event).
    """
    uid, gen = _claims(runtime, token)
    with runtime.engine.connect() as conn:
        if _live_user(conn, uid, gen) is None:
            raise Unauthorized("token_revoked")


def _live_user(conn: Connection, uid: int, gen: object) -> _UserRow | None:
    """The user row of ``uid`` if it is active and still at token generation ``gen``."""
    row: _UserRow | None = conn.execute(_ACTOR_ROW, {"uid": uid}).first()
    if row is None or not _is_live(row, gen):
        return None
    return row


def _is_live(user: User | _UserRow, gen: object) -> bool:
    """Whether a token or session of generation ``gen`` still stands for this user: they are
    active and their tokens have not been revoked since (the generation is bumped)."""
    return bool(user.active) and user.token_generation == gen


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


def current_actor(optional: bool = False, db: Session | None = None) -> Actor | None:
    """The actor of this request, from a bearer token or the browser session (cached on g).

    The user row is read on every request (never cached across requests), so revoking a token,
    deactivating a user or changing a role takes effect at once. With ``db`` (the request's
    own transaction) the row is read on that session's connection instead of a connection of
    its own: one pool checkout per request instead of two.
    """
    if "cc_actor" in g:
        actor: Actor | None = g.cc_actor
        return actor
    runtime = current_runtime()
    header = request.headers.get("Authorization", "")
    claims: tuple[int, object] | None = None
    bearer = header.lower().startswith("bearer ")
    if bearer:
        claims = _claims(runtime, header[7:].strip())
    elif "uid" in session:
        claims = (int(session["uid"]), session.get("gen"))
    row: _UserRow | None = None
    if claims is not None:
        if db is not None:
            row = _live_user(db.connection(), *claims)
        else:
            with runtime.engine.connect() as conn:
                row = _live_user(conn, *claims)
        if row is None and bearer:
            raise Unauthorized("token_revoked")
    if row is None:
        if optional:
            return None
        raise Unauthorized()
    actor = actor_for(row, runtime.deps, request_lang())
    g.cc_actor = actor
    return actor


def require_actor(db: Session | None = None) -> Actor:
    """The actor of this request or Unauthorized; ``db``: see :func:`current_actor`."""
    actor = current_actor(db=db)
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
