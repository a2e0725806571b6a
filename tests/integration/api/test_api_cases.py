"""REST API: cases, transitions, errors, languages, tokens, audit."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from dispatch.db.models import AuditEntry, Case, CaseEvent
from tests.integration.api.helpers import TOWN_A, add_user, case_payload, token


def test_health(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_create_read_and_transition(app: Flask, client: FlaskClient) -> None:
    add_user(app, "clerk", "commander", TOWN_A)
    auth = token(client, "clerk")
    created = client.post("/api/v1/cases", json=case_payload(route_to="review"), headers=auth)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["state"] == "review"
    assert body["parties"][0]["phone"] == "138****5678"
    assert "张" in body["parties"][0]["name"] and body["parties"][0]["name"] != "张三"
    case_id = body["id"]
    moved = client.post(
        f"/api/v1/cases/{case_id}/transitions", json={"action": "triage"}, headers=auth
    )
    assert moved.status_code == 200 and moved.get_json()["state"] == "triage"
    timeline = [e["kind"] for e in moved.get_json()["timeline"]]
    assert timeline == ["created", "start_review", "triage"]
    listed = client.get("/api/v1/cases?status=received&per_page=10", headers=auth).get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == case_id


def test_illegal_transition_is_409_and_changes_nothing(app: Flask, client: FlaskClient) -> None:
    add_user(app, "clerk", "commander", TOWN_A)
    auth = token(client, "clerk")
    case_id = client.post("/api/v1/cases", json=case_payload(), headers=auth).get_json()["id"]
    runtime = app.extensions["cc"]
    with runtime.session_factory() as db:
        audits = db.scalar(select(func.count()).select_from(AuditEntry))
        events = db.scalar(select(func.count()).select_from(CaseEvent))
    response = client.post(
        f"/api/v1/cases/{case_id}/transitions", json={"action": "complete"}, headers=auth
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"]["state"] == "intake"
    assert "start_review" in error["details"]["allowed"]
    assert "当前状态" in error["message"]
    with runtime.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == audits
        assert db.scalar(select(func.count()).select_from(CaseEvent)) == events
        assert db.get(Case, case_id).state == "intake"


def test_invalid_payload_is_422_with_each_field_in_the_callers_language(
    app: Flask, client: FlaskClient
) -> None:
    add_user(app, "clerk", "commander", TOWN_A)
    auth = token(client, "clerk")
    bad = case_payload(category="alien", people_involved=0)
    bad["parties"][0]["id_number"] = "990102199001011234"
    bad["received_at"] = "2026-11-29T08:00:00"
    response = client.post("/api/v1/cases", json=bad, headers={**auth, "Accept-Language": "en"})
    assert response.status_code == 422
    fields = response.get_json()["error"]["details"]["fields"]
    assert fields["category"]["code"] == "invalid_choice"
    assert fields["people_involved"]["code"] == "out_of_range"
    assert fields["parties.0.id_number"]["code"] in ("id_checksum", "id_birthdate")
    assert fields["received_at"]["code"] == "needs_timezone"
    assert fields["category"]["message"] == "not a valid choice"
    zh = client.post("/api/v1/cases", json=bad, headers=auth).get_json()
    assert zh["error"]["details"]["fields"]["category"]["message"] == "不是有效的选项"
    not_json = client.post(
        "/api/v1/cases", data="{", headers={**auth, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 422


def test_unknown_action_and_missing_reason(app: Flask, client: FlaskClient) -> None:
    add_user(app, "clerk", "commander", TOWN_A)
    auth = token(client, "clerk")
    case_id = client.post("/api/v1/cases", json=case_payload(), headers=auth).get_json()["id"]
    unknown = client.post(
        f"/api/v1/cases/{case_id}/transitions", json={"action": "fly"}, headers=auth
    )
    assert unknown.status_code == 422
    reject = client.post(
        f"/api/v1/cases/{case_id}/transitions", json={"action": "reject"}, headers=auth
    )
    assert reject.status_code == 422
    assert set(reject.get_json()["error"]["details"]["fields"]) == {"referral", "reason"}


def test_tokens_and_sessions(app: Flask, client: FlaskClient) -> None:
    add_user(app, "clerk", "duty_officer", TOWN_A)
    assert client.get("/api/v1/cases").status_code == 401
    bad = client.post("/api/v1/auth/token", json={"username": "clerk", "password": "wrong-pass"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "bad_credentials"
    forged = client.get("/api/v1/cases", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401 and forged.get_json()["error"]["code"] == "token_invalid"
    login = client.post("/login", data={"username": "clerk", "password": "s3cret-pass"})
    assert login.status_code == 302
    assert client.get("/api/v1/me").get_json()["username"] == "clerk"
    with app.extensions["cc"].session_factory() as db:
        actions = set(db.scalars(select(AuditEntry.action)).all())
    assert {"auth.login", "auth.login_failed"} <= actions


def test_role_checks(app: Flask, client: FlaskClient) -> None:
    add_user(app, "analyst", "analyst", TOWN_A)
    add_user(app, "clerk", "commander", TOWN_A)
    case_id = client.post(
        "/api/v1/cases", json=case_payload(), headers=token(client, "clerk")
    ).get_json()["id"]
    analyst = token(client, "analyst")
    assert client.post("/api/v1/cases", json=case_payload(), headers=analyst).status_code == 403
    moved = client.post(
        f"/api/v1/cases/{case_id}/transitions", json={"action": "triage"}, headers=analyst
    )
    assert moved.status_code == 403
    assert client.get(f"/api/v1/cases/{case_id}?unmask=1", headers=analyst).status_code == 403
    unmasked = client.get(
        f"/api/v1/cases/{case_id}?unmask=1", headers=token(client, "clerk")
    ).get_json()
    assert unmasked["parties"][0]["phone"] == "13812345678"
    with app.extensions["cc"].session_factory() as db:
        unmaskings = db.scalars(
            select(AuditEntry.actor_name).where(AuditEntry.action == "case.unmask")
        ).all()
    assert unmaskings == ["clerk"]  # audited once, for the permitted user only


def test_openapi_document(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/cases",
        "/cases/{case_id}/transitions",
        "/import",
        "/stats/summary",
        "/auth/token",
    ):
        assert path in doc["paths"], path
