"""Dash builders of the video component and the room bodies render in both languages."""

from __future__ import annotations

import json

import pytest

from layouts.components.video import (
    UI_KEYS,
    camera_markers,
    nearest_button,
    ui_texts,
    video_tile,
    video_wall,
)
from layouts.rooms import station, video_dispatch


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_ui_texts_come_from_the_catalog(lang: str) -> None:
    texts = json.loads(ui_texts(lang))
    assert set(texts) == set(UI_KEYS)
    assert all(v and not v.startswith("video.ui.") for v in texts.values())
    assert (texts["tour"] == "Tour") == (lang == "en")


def test_wall_attributes() -> None:
    wall = video_wall("w", ["a", {"id": "b", "name": "B"}], layout=9, lang="en", case_id=3)
    props = wall.to_plotly_json()["props"]
    assert props["data-layout"] == "9"
    assert props["data-cameras"] == "a,b"
    assert props["data-names"] == "a|B"
    assert props["data-case-id"] == "3"
    with pytest.raises(ValueError, match="layout"):
        video_wall("w", layout=5)


def test_tile_button_and_markers() -> None:
    tile = video_tile("t", "cam", full=True).to_plotly_json()["props"]
    assert tile["data-size"] == "full" and tile["data-autofill"] == "0"
    button = nearest_button(113.1, 28.2, "w", "en", n=6).to_plotly_json()["props"]
    assert (button["data-lon"], button["data-n"], button["children"]) == (
        "113.100000",
        "6",
        "Nearby cameras",
    )
    trace = camera_markers([{"id": "c1", "name": "C1", "lon": 1.0, "lat": 2.0}], "en")
    assert trace["customdata"] == ["c1"] and trace["type"] == "scattermap"


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_room_bodies_render(lang: str) -> None:
    for body in (video_dispatch.layout(lang), station.layout(lang)):
        assert json.dumps(body.to_plotly_json(), default=lambda o: o.to_plotly_json())


def test_openapi_paths_match_the_routes() -> None:
    from flask import Flask

    from streams import openapi
    from streams.web import bp

    app = Flask(__name__)
    app.register_blueprint(bp)
    rules = {
        r.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1")
    }
    documented = set(openapi.paths())
    assert documented == rules
    refs = json.dumps(openapi.paths())
    for name in openapi.schemas():
        assert f"#/components/schemas/{name}" in refs
