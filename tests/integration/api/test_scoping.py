"""Jurisdiction: a township user cannot read, list, count or change another township's cases."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.integration.api.helpers import (
    COUNTY_A,
    TOWN_A,
    TOWN_B,
    add_department,
    add_user,
    case_payload,
    token,
)


@pytest.fixture
def other_case(app: Flask, client: FlaskClient) -> int:
    add_user(app, "b_clerk", "commander", TOWN_B)
    response = client.post(
        "/api/v1/cases", json=case_payload(TOWN_B), headers=token(client, "b_clerk")
    )
    assert response.status_code == 201
    return int(response.get_json()["id"])


def test_township_user_sees_nothing_of_another_township(
    app: Flask, client: FlaskClient, other_case: int
) -> None:
    add_user(app, "a_clerk", "commander", TOWN_A)
    auth = token(client, "a_clerk")
    own = client.post("/api/v1/cases", json=case_payload(TOWN_A), headers=auth).get_json()["id"]
    dept = add_department(app, "court", COUNTY_A)

    # read and list
    assert client.get(f"/api/v1/cases/{other_case}", headers=auth).status_code == 404
    listed = client.get("/api/v1/cases", headers=auth).get_json()
    assert [c["id"] for c in listed["items"]] == [own] and listed["total"] == 1
    assert client.get(f"/api/v1/cases?region={TOWN_B}", headers=auth).get_json()["total"] == 0
    # count
    summary = client.get(
        f"/api/v1/stats/summary?region={TOWN_B}&from=2025-01-01&to=2030-01-01", headers=auth
    )
    assert summary.status_code == 404
    mine = client.get(
        "/api/v1/stats/summary?from=2025-01-01&to=2030-01-01", headers=auth
    ).get_json()
    assert mine["received"] == 1
    # change
    moved = client.post(
        f"/api/v1/cases/{other_case}/transitions", json={"action": "triage"}, headers=auth
    )
    assert moved.status_code == 404
    summoned = client.post(
        f"/api/v1/cases/{other_case}/assignments",
        json={"targets": [{"kind": "department", "id": dept}]},
        headers=auth,
    )
    assert summoned.status_code == 404
    assert client.get(f"/api/v1/cases/{other_case}/assignments", headers=auth).status_code == 404
    # create in another township
    assert client.post("/api/v1/cases", json=case_payload(TOWN_B), headers=auth).status_code == 404
    # related-case lookup does not leak the other township's party
    related = client.post(
        "/api/v1/cases/related", json={"parties": case_payload()["parties"]}, headers=auth
    )
    assert [c["id"] for c in related.get_json()["items"]] == [own]
    # regions and users
    assert client.get(f"/api/v1/regions/{TOWN_B}", headers=auth).status_code == 404
    assert all(
        r["code"].startswith(TOWN_A)
        for r in client.get("/api/v1/regions", headers=auth).get_json()["items"]
    )
    usernames = {
        u["username"] for u in client.get("/api/v1/users", headers=auth).get_json()["items"]
    }
    assert "b_clerk" not in usernames


def test_county_and_city_users_see_below(app: Flask, client: FlaskClient, other_case: int) -> None:
    add_user(app, "county_a", "leader", COUNTY_A)
    add_user(app, "city", "leader", "990100")
    assert (
        client.get(f"/api/v1/cases/{other_case}", headers=token(client, "county_a")).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/cases/{other_case}", headers=token(client, "city")).status_code == 200
    )
