"""Assignments over the API: summon several departments at once, accept, refuse, idempotency."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.integration.api.helpers import (
    COUNTY_A,
    TOWN_A,
    add_department,
    add_user,
    case_payload,
    token,
)


def test_summon_several_departments_and_answers(app: Flask, client: FlaskClient) -> None:
    court = add_department(app, "court", COUNTY_A)
    hrss = add_department(app, "hrss", COUNTY_A)
    add_user(app, "cmd", "commander", COUNTY_A)
    add_user(app, "court_staff", "department_staff", COUNTY_A, department_id=court)
    add_user(app, "hrss_staff", "department_staff", COUNTY_A, department_id=hrss)
    cmd = token(client, "cmd")
    case_id = client.post("/api/v1/cases", json=case_payload(TOWN_A), headers=cmd).get_json()["id"]
    summoned = client.post(
        f"/api/v1/cases/{case_id}/assignments",
        json={
            "targets": [
                {"kind": "department", "id": court, "accept_minutes": 20},
                {"kind": "department", "id": hrss},
            ]
        },
        headers=cmd,
    )
    assert summoned.status_code == 201, summoned.get_json()
    a_court, a_hrss = (a["id"] for a in summoned.get_json()["items"])
    assert (
        summoned.get_json()["items"][0]["accept_by"] != summoned.get_json()["items"][1]["accept_by"]
    )

    court_auth = token(client, "court_staff")
    # not addressed to the court: refused
    assert client.post(
        f"/api/v1/assignments/{a_hrss}/accept", json={}, headers=court_auth
    ).status_code in (403, 404)
    headers = {**court_auth, "Idempotency-Key": "accept-court-0001"}
    first = client.post(f"/api/v1/assignments/{a_court}/accept", json={}, headers=headers)
    again = client.post(f"/api/v1/assignments/{a_court}/accept", json={}, headers=headers)
    assert first.status_code == 200 and again.get_json() == first.get_json()
    assert client.get(f"/api/v1/cases/{case_id}", headers=cmd).get_json()["state"] == "mediation"

    no_reason = client.post(
        f"/api/v1/assignments/{a_hrss}/refuse", json={}, headers=token(client, "hrss_staff")
    )
    assert no_reason.status_code == 422
    refused = client.post(
        f"/api/v1/assignments/{a_hrss}/refuse",
        json={"reason": "不属于本部门职责"},
        headers=token(client, "hrss_staff"),
    )
    assert refused.status_code == 200
    board = {
        a["id"]: a
        for a in client.get(f"/api/v1/cases/{case_id}/assignments", headers=cmd).get_json()["items"]
    }
    assert board[a_court]["reported"] and board[a_hrss]["state"] == "refused"
    # the court still works on it, so the case stays in mediation
    assert client.get(f"/api/v1/cases/{case_id}", headers=cmd).get_json()["state"] == "mediation"
    report = client.post(
        f"/api/v1/assignments/{a_court}/report", json={"text": "已召集双方"}, headers=court_auth
    )
    assert report.status_code == 200
    done = client.post(
        f"/api/v1/assignments/{a_court}/finish", json={"outcome": "success"}, headers=court_auth
    )
    assert done.get_json()["assignment"]["state"] == "done"
    timeline = [
        e["kind"]
        for e in client.get(f"/api/v1/cases/{case_id}", headers=cmd).get_json()["timeline"]
    ]
    assert timeline.count("assignment_offered") == 2
    assert {
        "assignment_accept",
        "assignment_refuse",
        "assignment_report",
        "assignment_finish",
    } <= set(timeline)
