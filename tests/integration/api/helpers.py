"""Helpers for API tests: users in given regions, bearer tokens, a valid case payload."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from dispatch.db.models import Department
from dispatch.domain.identity import id_check_char
from dispatch.services import users

PASSWORD = "s3cret-pass"
CITY, COUNTY_A, COUNTY_B = "990100", "990102", "990103"
TOWN_A, TOWN_A2, TOWN_B = "990102001", "990102002", "990103001"


def add_user(app: Flask, username: str, role: str, region: str, **extra: Any) -> int:
    runtime = app.extensions["cc"]
    with runtime.session_factory.begin() as db:
        user = users.create_user(
            db,
            runtime.deps,
            None,
            {
                "username": username,
                "password": PASSWORD,
                "role": role,
                "region_code": region,
                **extra,
            },
        )
        return user.id


def add_department(app: Flask, code: str, region: str) -> int:
    runtime = app.extensions["cc"]
    with runtime.session_factory.begin() as db:
        dept = Department(code=code, name_zh=f"{code}部门", name_en=code, region_code=region)
        db.add(dept)
        db.flush()
        return dept.id


def token(client: FlaskClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def valid_id(seed: int = 1) -> str:
    first = f"9901021990{(seed % 12) + 1:02d}{(seed % 28) + 1:02d}{seed % 1000:03d}"
    return first + id_check_char(first)


def case_payload(region: str = TOWN_A, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "拖欠农民工工资纠纷",
        "description": "某工地拖欠12名工人工资共计18万元",
        "category": "wage_arrears",
        "source": "walk_in",
        "severity": "significant",
        "region_code": region,
        "people_involved": 12,
        "parties": [{"name": "张三", "id_number": valid_id(7), "phone": "13812345678"}],
    }
    body.update(extra)
    return body


def core_app(settings: object) -> Flask:
    """The web shell without plug-in extensions (hall, field, video): API tests need only it."""
    from config.settings import Settings
    from console.app import create_app
    from dispatch.db.schema import upgrade

    assert isinstance(settings, Settings)
    upgrade(settings.database_url)
    return create_app(settings, extensions=())
