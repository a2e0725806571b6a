"""The hall map's camera layer: clicking a camera puts it on the hall's video wall."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_hall import make_users, sign_in


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(streams_enabled=True)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_clicking_a_camera_on_the_map_shows_it_on_the_wall(
    app: Flask, live_server: str, chrome: webdriver.Chrome
) -> None:
    make_users(app)
    sign_in(chrome, live_server, "duty")
    camera_trace = """
        var g = document.querySelector('#hall-map .js-plotly-plot');
        var t = g && g.data && g.data[3];
        return t ? {ids: t.customdata, names: t.text} : null;
    """
    trace = WebDriverWait(chrome, 20).until(lambda d: d.execute_script(camera_trace))
    registry = app.extensions["streams"].registry
    assert trace["ids"] and all(
        registry.get(i).kind.value != "mediation_room" for i in trace["ids"]
    )
    # the last camera of the layer: the autofilled wall starts with the first key sites
    camera_id, name = trace["ids"][-1], trace["names"][-1]
    on_wall = f"""return !!document.querySelector('#video-wall .ccv-tile[data-camera-id="{camera_id}"]');"""
    assert not chrome.execute_script(on_wall)
    click = """
        var g = document.querySelector('#hall-map .js-plotly-plot');
        g.emit('plotly_click', {points: [arguments[0]], event: {}});
    """

    def clicked(d: webdriver.Chrome) -> bool:
        # clicking again until it takes: the graph binds its click handler after drawing
        if d.execute_script(on_wall):
            return True
        point = {
            "curveNumber": 3,
            "pointNumber": len(trace["ids"]) - 1,
            "customdata": camera_id,
            "text": name,
        }
        d.execute_script(click, point)
        return False

    WebDriverWait(chrome, 15, poll_frequency=0.5).until(clicked)
