"""Import and summary figures through the REST API (contracts of DESIGN.md)."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.integration.api.helpers import COUNTY_A, add_user, token, valid_id


def row(ext: str, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "external_id": ext,
        "title": "物业费纠纷",
        "category": "property_mgmt",
        "source": "online",
        "severity": "general",
        "region_code": "990102001",
        "lat": 30.45,
        "lon": 106.6,
        "received_at": "2026-03-02T10:00:00+08:00",
        "parties": [
            {"name": "李四", "id_number": valid_id(3), "phone": "13900001111", "role": "applicant"}
        ],
        "people_involved": 2,
        "amount": "1200.50",
        "status": "closed",
        "outcome": "success",
        "closed_at": "2026-03-05T16:00:00+08:00",
        "online": True,
    }
    base.update(over)
    return base


def jsonl(*rows: dict[str, object]) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"


def test_import_all_or_nothing_then_summary(app: Flask, client: FlaskClient) -> None:
    add_user(app, "county", "commander", COUNTY_A)
    auth = {**token(client, "county"), "Content-Type": "application/x-ndjson"}
    bad = jsonl(
        row("A1"),
        row("A2", category="aliens"),
        row("A3", region_code="990103001"),  # another county: outside jurisdiction
        row("A4", status="closed", outcome=""),
    )
    rejected = client.post("/api/v1/import?format=jsonl", data=bad.encode(), headers=auth)
    assert rejected.status_code == 422
    rows = {r["line"]: r["fields"] for r in rejected.get_json()["error"]["details"]["rows"]}
    assert set(rows) == {2, 3, 4}
    assert "category" in rows[2]
    assert client.get("/api/v1/cases", headers=auth).get_json()["total"] == 0

    good = jsonl(
        row("A1"),
        row("A2", outcome="failure", online=False),
        row("A3", status="in_progress", outcome=None, closed_at=None, severity="major"),
    )
    done = client.post("/api/v1/import?format=jsonl", data=good.encode(), headers=auth)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["imported"] == 3
    again = client.post("/api/v1/import?format=jsonl", data=good.encode(), headers=auth).get_json()
    assert again["imported"] == 0 and again["unchanged"] == 3

    summary = client.get(
        f"/api/v1/stats/summary?region={COUNTY_A}&from=2026-03-01&to=2026-04-01", headers=auth
    ).get_json()
    assert summary["received"] == 3
    assert summary["resolved"] == 1
    assert summary["success_rate"] == 0.5
    assert summary["online_success_rate"] == 1.0
    assert summary["major_disputes"] == 1
    assert summary["in_progress"] == 1
    # a timestamp bound in the middle of a day: A1 closed 16:00 on 5 March is not yet closed at noon
    midday = client.get(
        f"/api/v1/stats/summary?region={COUNTY_A}&from=2026-03-01&to=2026-03-05T12:00:00%2B08:00",
        headers=auth,
    ).get_json()
    assert midday["resolved"] == 0 and midday["in_progress"] == 3
    bad_range = client.get("/api/v1/stats/summary?from=2026-03-05&to=2026-03-01", headers=auth)
    assert bad_range.status_code == 422
    naive = client.get("/api/v1/stats/summary?from=2026-03-01T00:00:00&to=2026-03-05", headers=auth)
    assert naive.get_json()["error"]["details"]["fields"]["from"]["code"] == "needs_timezone"


def test_year_on_year(app: Flask, client: FlaskClient) -> None:
    add_user(app, "county", "commander", COUNTY_A)
    auth = {**token(client, "county"), "Content-Type": "application/x-ndjson"}
    rows = [
        row(f"Y{i}", received_at="2025-03-02T10:00:00+08:00", closed_at="2025-03-04T10:00:00+08:00")
        for i in range(4)
    ]
    rows += [row(f"Z{i}") for i in range(3)]
    assert (
        client.post(
            "/api/v1/import?format=jsonl", data=jsonl(*rows).encode(), headers=auth
        ).status_code
        == 200
    )
    body = client.get(
        f"/api/v1/stats/summary?region={COUNTY_A}&from=2026-03-01&to=2026-04-01", headers=auth
    ).get_json()
    assert "previous_year" in body, body
    assert body["previous_year"]["received"] == 4
    assert body["year_on_year"]["received"] == pytest.approx(-0.25)


def test_a_big_import_runs_in_a_worker_process_and_answers_the_same(
    app: Flask, client: FlaskClient
) -> None:
    from console.api.imports import WORKER_MIN_LINES
    from dispatch.realtime import channels

    runtime = app.extensions["cc"]
    heard: list[dict[str, object]] = []
    runtime.bus.subscribe(channels.CASES, lambda _channel, payload: heard.append(payload))
    add_user(app, "county", "commander", COUNTY_A)
    add_user(app, "analyst1", "analyst", COUNTY_A)
    auth = {**token(client, "county"), "Content-Type": "application/x-ndjson"}
    count = WORKER_MIN_LINES + 100
    rows = [row(f"B{i}") for i in range(count)]

    # One bad row deep in the file: nothing is written, the line is reported.
    bad = list(rows)
    bad[count - 50] = row(f"B{count - 50}", category="aliens")
    rejected = client.post("/api/v1/import?format=jsonl", data=jsonl(*bad).encode(), headers=auth)
    assert rejected.status_code == 422, rejected.get_json()
    details = rejected.get_json()["error"]["details"]
    assert [r["line"] for r in details["rows"]] == [count - 49]
    assert details["rows"][0]["fields"]["category"]["code"] == "invalid_choice"
    assert client.get("/api/v1/cases", headers=auth).get_json()["total"] == 0

    done = client.post("/api/v1/import?format=jsonl", data=jsonl(*rows).encode(), headers=auth)
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"rows": count, "imported": count, "unchanged": 0, "errors": []}
    assert client.get("/api/v1/cases", headers=auth).get_json()["total"] == count
    summary = client.get(
        f"/api/v1/stats/summary?region={COUNTY_A}&from=2026-03-01&to=2026-04-01", headers=auth
    ).get_json()
    assert summary["received"] == count
    # The worker's events reach this process's bus (the hall refreshes on them).
    assert {"type": "cases_imported", "count": count} in heard
    # The spooled upload is gone.
    assert list((runtime.settings.data_dir / "imports").iterdir()) == []

    again = client.post("/api/v1/import?format=jsonl", data=jsonl(*rows).encode(), headers=auth)
    assert again.get_json()["unchanged"] == count and again.get_json()["imported"] == 0

    # A refusal inside the worker comes back as the same error.
    analyst = {**token(client, "analyst1"), "Content-Type": "application/x-ndjson"}
    more = jsonl(*(row(f"C{i}") for i in range(count)))
    refused = client.post("/api/v1/import?format=jsonl", data=more.encode(), headers=analyst)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
