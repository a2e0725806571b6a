"""Page routing beside the hall: the station desk page, its link in the video room, /field."""

from __future__ import annotations

import json

import dash
import plotly
import pytest
from flask import Flask
from flask.testing import FlaskClient

from layouts.rooms.station import STATION
from tests.integration.api.helpers import PASSWORD
from tests.integration.test_hall_callbacks import signed_in

#: ``layouts.pages.rooms.STATION_LINK``: Dash imports page modules under its own names, and a
#: second import under ``layouts.pages`` would register their paths twice.
STATION_LINK = "room-video-station-link"


def page_json(path: str) -> str:
    """The layout a page renders for the signed-in request, as the JSON sent to the browser."""
    page = next(p for p in dash.page_registry.values() if p["path"] == path)
    return json.dumps(page["layout"](), cls=plotly.utils.PlotlyJSONEncoder)


def sign_in(client: FlaskClient, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302


def test_station_page_for_a_signed_in_township_user(
    app: Flask, client: FlaskClient, people: None
) -> None:
    assert client.get("/station").status_code == 302  # signed out: to the login page
    sign_in(client, "towny")
    response = client.get("/station")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # Dash loads the hall's and the video's scripts, not the field page's.
    assert "hall/hall.js" in html and "video/video.js" in html
    assert "field/field.js" not in html
    with signed_in(app, "towny"):
        assert f'"{STATION}"' in page_json("/station")


@pytest.mark.parametrize(("username", "linked"), [("towny", True), ("duty", False)])
def test_video_room_links_township_users_to_the_station_desk(
    app: Flask, people: None, username: str, linked: bool
) -> None:
    with signed_in(app, username):
        assert (STATION_LINK in page_json("/video")) is linked


def test_field_is_still_the_flask_field_page(client: FlaskClient) -> None:
    with client.get("/field") as response:  # a file response: close it
        assert response.status_code == 200
        html = response.get_data(as_text=True)
    assert 'id="field-app"' in html
    assert "_dash-config" not in html and "_dash-renderer" not in html
