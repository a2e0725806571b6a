"""Users: creation with hashed passwords (argon2), authentication, and the actor of a user."""

from __future__ import annotations

from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.db.models import User
from dispatch.domain.codes import Level, Role
from dispatch.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from dispatch.domain.jurisdiction import Scope
from dispatch.services import audit
from dispatch.services.context import Actor
from dispatch.services.deps import Deps
from dispatch.services.validation import _Strict, parse

_hasher = PasswordHasher()
# Verifying against this keeps the time of "unknown user" equal to "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class UserIn(_Strict):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=128)
    role: Role
    region_code: str = Field(min_length=6, max_length=16)
    display_name: str | None = Field(default=None, max_length=100)
    department_id: int | None = None
    team_id: int | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(session: Session, deps: Deps, actor: Actor | None, payload: dict[str, Any]) -> User:
    """Create a user; ``actor`` None means the operator CLI (trusted, whole city)."""
    data = parse(UserIn, payload)
    if actor is not None and actor.role is not Role.ADMIN:
        raise Forbidden(action="create_user", role=actor.role.value)
    try:
        path = deps.region_path(data.region_code)
    except KeyError as err:
        raise ValidationFailed(fields={"region_code": "unknown_region"}) from err
    if actor is not None and not actor.scope.covers(path):
        raise NotFound(object="region", id=data.region_code)
    if session.scalar(select(User.id).where(User.username == data.username)):
        raise Conflict("duplicate_username", username=data.username)
    now = deps.now()
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        password_hash=hash_password(data.password),
        role=data.role.value,
        region_code=data.region_code,
        department_id=data.department_id,
        team_id=data.team_id,
        active=True,
        token_generation=0,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, now, None, public(user))
    return user


def authenticate(session: Session, deps: Deps, username: str, password: str) -> User | None:
    """The active user with this username and password, or None. The attempt is audited."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and user.active
    audit.record(
        session,
        None,
        "auth.login" if ok else "auth.login_failed",
        "user",
        user.id if user else username[:40],
        deps.now(),
    )
    return user if ok else None


class UserFields(Protocol):
    """What :func:`actor_for` reads of a user: a ``User`` or a Core row of those columns."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def region_code(self) -> str: ...
    @property
    def department_id(self) -> int | None: ...
    @property
    def team_id(self) -> int | None: ...


def actor_for(user: UserFields, deps: Deps, lang: str = "zh-CN") -> Actor:
    level = deps.region_level(user.region_code)
    return Actor(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        scope=Scope(Level(level), user.region_code),
        department_id=user.department_id,
        team_id=user.team_id,
        lang=lang,
    )


def public(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "region_code": user.region_code,
        "department_id": user.department_id,
        "team_id": user.team_id,
        "active": user.active,
    }


def list_users(session: Session, deps: Deps, actor: Actor) -> list[User]:
    """Users whose region lies within the actor's jurisdiction."""
    users = session.scalars(select(User).order_by(User.username)).all()
    return [u for u in users if actor.scope.covers(deps.region_path(u.region_code))]
