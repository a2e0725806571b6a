"""Video inside the whole app (create_app): bearer auth, scoping, and the call log and
snapshots written on real cases through the dispatch services."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from dispatch.db.models import CaseAttachment, CaseEvent
from tests.integration.api.helpers import COUNTY_B, TOWN_A, add_user, case_payload, token

STATION = f"st-{TOWN_A}"


def test_calls_and_snapshots_land_on_the_case(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(streams_enabled=True)
    add_user(app, "cmd", "commander", "990100")
    add_user(app, "far", "commander", COUNTY_B)
    client = app.test_client()
    cmd, far = token(client, "cmd"), token(client, "far")

    r = client.get("/api/v1/cameras?kind=township_station", headers=cmd)
    assert r.status_code == 200 and STATION in {c["id"] for c in r.get_json()["cameras"]}
    assert client.get(f"/api/v1/cameras/{STATION}", headers=far).status_code == 404
    assert client.get("/api/v1/cameras").status_code == 401

    r = client.post("/api/v1/cases", json=case_payload(TOWN_A), headers=cmd)
    assert r.status_code == 201, r.get_json()
    case_id = r.get_json()["id"]

    # A commander of another county cannot call about this case (nor see the station).
    r = client.post("/api/v1/calls", json={"stations": [STATION], "case_id": case_id}, headers=far)
    assert r.status_code == 404
    r = client.post("/api/v1/calls", json={"stations": [STATION], "case_id": case_id}, headers=cmd)
    assert r.status_code == 201, r.get_json()
    call_id = r.get_json()["id"]
    r = client.post(f"/api/v1/calls/{call_id}/hangup", json={}, headers=cmd)
    assert r.get_json()["state"] == "ended"

    r = client.post("/api/v1/cameras/ks-001/snapshots", json={"case_id": case_id}, headers=cmd)
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/cameras/ks-001/snapshots", json={"case_id": 999999}, headers=cmd)
    assert r.status_code == 404

    with app.extensions["cc"].session_factory() as db:
        kinds = db.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)).all()
        files = db.scalars(
            select(CaseAttachment.kind).where(CaseAttachment.case_id == case_id)
        ).all()
    assert "video_call_started" in kinds and "video_call_ended" in kinds
    assert "attachment_snapshot" in kinds
    assert files == ["snapshot"]
