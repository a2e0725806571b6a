"""Bearer tokens are checked against the user row on every request: revocation is immediate."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from console.auth import current_actor, require_actor
from dispatch.db.models import Assignment, User
from dispatch.services.users import actor_for
from tests.integration.api.helpers import (
    COUNTY_A,
    TOWN_A,
    add_department,
    add_user,
    case_payload,
    token,
)


def _change_user(app: Flask, user_id: int, change: Callable[[User], None]) -> None:
    with app.extensions["cc"].session_factory.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        change(user)


def _bump_generation(user: User) -> None:
    user.token_generation += 1


def _deactivate(user: User) -> None:
    user.active = False


@pytest.mark.parametrize("revoke", [_bump_generation, _deactivate])
def test_revoked_token_is_refused_at_the_next_request(
    app: Flask, client: FlaskClient, revoke: Callable[[User], None]
) -> None:
    user_id = add_user(app, "cmd", "commander", COUNTY_A)
    cmd = token(client, "cmd")
    case_id = client.post("/api/v1/cases", json=case_payload(TOWN_A), headers=cmd).get_json()["id"]
    dept = add_department(app, "court", COUNTY_A)
    summon = {"targets": [{"kind": "department", "id": dept}]}
    assert client.get("/api/v1/me", headers=cmd).status_code == 200
    assert client.get("/api/v1/assignments", headers=cmd).status_code == 200

    _change_user(app, user_id, revoke)

    for method, path, body in (
        ("get", "/api/v1/me", None),
        ("get", "/api/v1/assignments", None),
        ("get", f"/api/v1/cases/{case_id}/assignments", None),
        ("post", f"/api/v1/cases/{case_id}/assignments", summon),
    ):
        response = getattr(client, method)(path, json=body, headers=cmd)
        assert response.status_code == 401, (path, response.get_json())
        assert response.get_json()["error"]["code"] == "token_revoked"
    # Nothing was written by the refused summon.
    with app.extensions["cc"].session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Assignment)) == 0


def test_role_change_takes_effect_at_the_next_request(app: Flask, client: FlaskClient) -> None:
    user_id = add_user(app, "cmd", "commander", COUNTY_A)
    cmd = token(client, "cmd")
    case_id = client.post("/api/v1/cases", json=case_payload(TOWN_A), headers=cmd).get_json()["id"]
    dept = add_department(app, "court", COUNTY_A)
    summon = {"targets": [{"kind": "department", "id": dept}]}
    first = client.post(f"/api/v1/cases/{case_id}/assignments", json=summon, headers=cmd)
    assert first.status_code == 201

    def demote(user: User) -> None:
        user.role = "grid_worker"

    _change_user(app, user_id, demote)
    again = client.post(f"/api/v1/cases/{case_id}/assignments", json=summon, headers=cmd)
    assert again.status_code == 403, again.get_json()
    assert client.get("/api/v1/me", headers=cmd).get_json()["role"] == "grid_worker"


def test_forged_token_is_refused_before_any_write(app: Flask, client: FlaskClient) -> None:
    add_user(app, "cmd", "commander", COUNTY_A)
    cmd = token(client, "cmd")
    case_id = client.post("/api/v1/cases", json=case_payload(TOWN_A), headers=cmd).get_json()["id"]
    dept = add_department(app, "court", COUNTY_A)
    forged = {"Authorization": cmd["Authorization"][:-3] + "xyz"}
    response = client.post(
        f"/api/v1/cases/{case_id}/assignments",
        json={"targets": [{"kind": "department", "id": dept}]},
        headers=forged,
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_invalid"
    board = client.get(f"/api/v1/cases/{case_id}/assignments", headers=cmd).get_json()
    assert board["items"] == []


@pytest.mark.parametrize("in_transaction", [False, True])
def test_actor_of_a_token_is_the_services_actor(app: Flask, in_transaction: bool) -> None:
    """The request's actor (read with one Core query) equals ``actor_for`` of the ORM user."""
    dept = add_department(app, "court", COUNTY_A)
    user_id = add_user(app, "staff", "department_staff", COUNTY_A, department_id=dept)
    runtime = app.extensions["cc"]
    client = app.test_client()
    headers = token(client, "staff")
    with app.test_request_context("/api/v1/me", headers=headers):
        if in_transaction:
            with runtime.session_factory.begin() as db:
                actor = require_actor(db)
        else:
            found = current_actor()
            assert found is not None
            actor = found
        with runtime.session_factory() as db:
            user = db.get(User, user_id)
            assert user is not None
            expected = actor_for(user, runtime.deps, actor.lang)
    assert actor == expected
    assert actor.department_id == dept
