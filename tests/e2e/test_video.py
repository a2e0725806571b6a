"""Video in headless Chromium with fake media: wall tiles decode frames, a commander calls a
station and both see each other, 8 viewers on one camera for a minute share one encoder.

The server is the video component alone (Flask + Socket.IO + Dash pages of the video room),
with test identities chosen by a cookie, so these tests do not depend on the rest of the app.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html
from flask import Flask, has_request_context, redirect, request
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Response

from layouts.components.video import nearest_button, recordings_list, video_wall
from layouts.rooms import station, video_dispatch
from streams import web
from streams.loopback import ensure_host_candidates
from streams.registry import Camera
from tests.conftest import free_port
from tests.e2e.conftest import CHROMEDRIVER, chromium_options
from tests.integration.streams.apptools import CAMERAS, make_app
from tests.integration.streams.test_server import streams_process

pytestmark = [pytest.mark.e2e]

ensure_host_candidates()  # media over 127.0.0.1 when there is no other interface

ROOT = Path(__file__).resolve().parents[2]
STATION = "st-990101001"


def _page() -> Any:
    page = request.cookies.get("test_page", "wall") if has_request_context() else "wall"
    lang = "en"
    if page == "station":
        return station.layout(lang)
    if page == "dispatch":
        return video_dispatch.layout(lang)
    if page == "case":
        return html.Div(
            [
                nearest_button(113.0, 28.1, "video-wall", lang, n=2, button_id="nearest"),
                video_wall("video-wall", layout=4, lang=lang, case_id=7, autofill=False),
                recordings_list("video-recordings", 7, lang=lang),
            ]
        )
    if page == "tour":
        return video_wall("video-wall", layout=1, lang=lang, tour_seconds=2)
    if page == "same8":
        return video_wall("video-wall", ["ks-001"] * 8, layout=9, lang=lang)
    return video_wall("video-wall", layout=4, lang=lang)


def _serve(app: Flask) -> Iterator[str]:
    """Dash pages of the video room on ``app``, served on a free port; yields the base URL."""

    @app.get("/_test/as/<user>/<page>")
    def login_as(user: str, page: str) -> Response:
        resp = redirect("/")
        resp.set_cookie("test_user", user)
        resp.set_cookie("test_page", page)
        return resp

    dash_app = Dash(__name__, server=False, assets_folder=str(ROOT / "assets"), serve_locally=True)
    dash_app.layout = lambda: html.Div(_page(), lang="en")
    dash_app.init_app(app)
    port = free_port()
    srv: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)
        web.shutdown(app)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    app, _, _, _ = make_app(tmp_path)
    for base in _serve(app):
        yield base, app


@pytest.fixture
def streams_url(tmp_path: Path) -> Iterator[str]:
    with streams_process(tmp_path, [Camera.model_validate(c) for c in CAMERAS]) as url:
        yield url


@pytest.fixture
def split_server(tmp_path: Path, streams_url: str) -> Iterator[tuple[str, Flask]]:
    """The web process without an engine, the streams process beside it, and a proxy route
    ``/streams/`` from one to the other (what nginx does in production)."""
    app, _, _, _ = make_app(tmp_path, streams_enabled=False, streams_url=streams_url)

    @app.route("/streams/<path:rest>", methods=["POST", "DELETE", "GET"])
    def proxy(rest: str) -> Response:
        req = urllib.request.Request(
            f"{streams_url}/streams/{rest}",
            request.get_data() or None,
            {"Content-Type": request.content_type or "application/json"},
            method=request.method,
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as upstream:
                return Response(upstream.read(), upstream.status, mimetype="application/json")
        except urllib.error.HTTPError as err:
            with err:
                return Response(err.read(), err.code, mimetype="application/json")

    for base in _serve(app):
        yield base, app


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Callable[[], webdriver.Chrome]]:
    made: list[webdriver.Chrome] = []

    def make() -> webdriver.Chrome:
        profile = tmp_path / f"profile-{len(made)}"
        profile.mkdir()
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options(profile))
        driver.set_page_load_timeout(30)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.quit()


def _wait(predicate: Callable[[], Any], within: float = 20.0, what: str = "condition") -> Any:
    end = time.monotonic() + within
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _frames(driver: webdriver.Chrome) -> list[int]:
    script = "const done = arguments[0]; ccVideo.framesDecoded('video-wall').then(done);"
    result: list[int] = driver.execute_async_script(script)
    return result


def _call_frames(driver: webdriver.Chrome, kind: str, panel: str) -> int:
    script = (
        f"const done = arguments[0]; ccVideo.callFramesDecoded('{kind}', '{panel}').then(done);"
    )
    result: int = driver.execute_async_script(script)
    return result


def test_wall_tiles_decode_frames_and_focus_switches_to_full(
    server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, app = server
    driver = browsers()
    driver.get(f"{base}/_test/as/commander/wall")
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".ccv-tile video"), what="tiles")
    # The test app has two key sites: the 4-tile wall fills two tiles and leaves two empty.
    frames = _wait(lambda: (f := _frames(driver)) and f[0] > 0 and f[1] > 0 and f, what="frames")
    assert len(frames) == 4 and frames[2:] == [0, 0]
    stats = app.extensions["streams"].engine.stats()
    assert {e["size"] for e in stats["encoders"]} == {"tile"}
    # Focus the first tile: it reconnects at full size.
    tile = driver.find_element(By.CSS_SELECTOR, ".ccv-tile")
    webdriver.ActionChains(driver).double_click(tile).perform()
    _wait(
        lambda: any(
            e["size"] == "full" and e["subscribers"] == 1
            for e in app.extensions["streams"].engine.stats()["encoders"]
        ),
        what="a full-size encoder",
    )
    width = _wait(
        lambda: driver.execute_script(
            "const v = document.querySelector('.ccv-focus video'); return v && v.videoWidth == 640;"
        ),
        what="a 640-wide focused video",
    )
    assert width


def test_commander_calls_station_both_see_each_other(
    server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, _app = server
    station_browser = browsers()
    station_browser.get(f"{base}/_test/as/station/station")
    _wait(
        lambda: station_browser.execute_script(
            "const s = document.getElementById('station-desk'); return s && s.dataset.registered;"
        ),
        what="station registered",
    )
    commander = browsers()
    commander.get(f"{base}/_test/as/commander/dispatch")
    box = _wait(
        lambda: commander.find_elements(By.CSS_SELECTOR, f".ccv-stations input[value='{STATION}']"),
        what="station checkbox",
    )
    box[0].click()
    commander.find_element(By.CSS_SELECTOR, ".ccv-call-btn").click()
    accept = _wait(
        lambda: station_browser.find_elements(By.CSS_SELECTOR, ".ccv-accept-btn"), what="ring"
    )
    accept[0].click()
    _wait(lambda: _call_frames(commander, "commander", "video-commander") > 10, what="commander")
    _wait(lambda: _call_frames(station_browser, "station", "station-desk") > 10, what="station")
    # Recording is announced on the station's page before it starts.
    commander.find_element(By.CSS_SELECTOR, ".ccv-record-btn").click()
    _wait(
        lambda: station_browser.find_element(By.CSS_SELECTOR, ".ccv-record-notice").text,
        what="recording notice at the station",
    )
    time.sleep(1.0)
    commander.find_element(By.CSS_SELECTOR, ".ccv-hangup-btn").click()
    _wait(
        lambda: station_browser.execute_script(
            "return document.getElementById('station-desk').dataset.callState == 'ended';"
        ),
        what="station sees the end",
    )
    _wait(lambda: len(_app.extensions["streams"].calls.recordings) == 1, what="a recording")


@pytest.mark.slow
def test_eight_viewers_on_one_camera_for_a_minute(
    server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, app = server
    driver = browsers()
    driver.get(f"{base}/_test/as/commander/same8")
    first = _wait(
        lambda: (f := _frames(driver)) and sum(1 for n in f if n > 0) == 8 and f, what="8"
    )
    engine = app.extensions["streams"].engine
    time.sleep(60)
    last = _frames(driver)
    stats = engine.stats()
    encoders = [e for e in stats["encoders"] if e["camera_id"] == "ks-001"]
    assert len(encoders) == 1 and encoders[0]["subscribers"] == 8
    grown = [b - a for a, b in zip(first[:8], last[:8], strict=True)]
    # About 25 fps for 60 s on every tile; allow for a loaded 2-core machine.
    assert min(grown) > 600, grown
    assert encoders[0]["encode_calls"] < 1.2 * max(last)


def test_closing_the_tab_frees_the_viewers(
    server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, app = server
    engine = app.extensions["streams"].engine
    driver = browsers()
    driver.get(f"{base}/_test/as/commander/wall")
    _wait(lambda: engine.stats()["viewers"] == 2, what="two viewers")
    _wait(lambda: (f := _frames(driver)) and f[0] > 0 and f[1] > 0, what="frames")
    driver.get("about:blank")
    _wait(lambda: engine.stats()["viewers"] == 0, within=30, what="viewers freed")
    assert all(e["subscribers"] == 0 for e in engine.stats()["encoders"])


def test_case_page_opens_nearest_cameras_and_attaches_a_snapshot(
    server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, app = server
    driver = browsers()
    driver.get(f"{base}/_test/as/commander/case")
    _wait(lambda: driver.find_elements(By.ID, "nearest"), what="nearest button")
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".ccv-tile"), what="tiles")
    driver.find_element(By.ID, "nearest").click()
    ids = _wait(
        lambda: (
            driver.execute_script(
                "return Array.from(document.querySelectorAll('.ccv-tile'))"
                ".map(t => t.dataset.cameraId || '');"
            )[:2]
            == ["st-990101001", "ks-001"]
        ),
        what="the two nearest cameras",
    )
    assert ids
    _wait(lambda: (f := _frames(driver)) and f[0] > 0, what="frames")
    driver.find_element(By.CSS_SELECTOR, ".ccv-snap-btn").click()
    link = app.extensions["streams"].case_link
    _wait(lambda: link.attachments, what="a snapshot attached")
    assert link.attachments[0][:2] == (7, "snapshot")
    _wait(lambda: driver.find_element(By.ID, "video-recordings").text, what="recordings list")


def test_tour_rotates_and_the_list_adds_cameras(
    server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, _ = server
    driver = browsers()
    driver.get(f"{base}/_test/as/commander/tour")
    shown: set[str] = set()

    def rotated() -> bool:
        camera = driver.execute_script(
            "const t = document.querySelector('.ccv-tile'); return t && t.dataset.cameraId;"
        )
        if camera:
            shown.add(camera)
        return len(shown) >= 2

    # Texts come from the message catalog in the page's language.
    tour = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".ccv-tour-btn"), what="toolbar")
    assert tour[0].text == "Tour"
    _wait(rotated, within=15, what="the tour to show two key sites")
    assert shown == {"ks-001", "ks-002"}

    driver.get(f"{base}/_test/as/commander/dispatch")
    item = _wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, ".ccv-camera[data-camera-id='st-990101002']"),
        what="camera list",
    )
    _wait(lambda: (f := _frames(driver)) and f[0] > 0, within=30, what="autofilled tiles")
    item[0].click()
    _wait(
        lambda: driver.execute_script(
            "return Array.from(document.querySelectorAll('.ccv-tile'))"
            ".some(t => t.dataset.cameraId == 'st-990101002');"
        ),
        what="the clicked camera on the wall",
    )


def test_layouts_drag_and_unfocus(
    server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, app = server
    engine = app.extensions["streams"].engine
    driver = browsers()
    driver.get(f"{base}/_test/as/commander/dispatch")
    _wait(lambda: (f := _frames(driver)) and f[0] > 0 and f[1] > 0, within=30, what="frames")
    for n in (9, 16, 1, 4):
        driver.find_element(By.CSS_SELECTOR, f".ccv-layout-btn[data-layout='{n}']").click()
        assert len(driver.find_elements(By.CSS_SELECTOR, ".ccv-tile")) == n
    # Drag a station from the list onto the last tile (HTML5 drag events, as a mouse makes them).
    _wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, ".ccv-camera[data-camera-id='st-990101002']"),
        what="camera list",
    )
    driver.execute_script(
        """
        const src = document.querySelector(".ccv-camera[data-camera-id='st-990101002']");
        const dst = document.querySelectorAll(".ccv-tile")[3];
        const dt = new DataTransfer();
        src.dispatchEvent(new DragEvent("dragstart", {dataTransfer: dt, bubbles: true}));
        dst.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true}));
        dst.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
        """
    )
    _wait(
        lambda: (
            driver.execute_script(
                "return document.querySelectorAll('.ccv-tile')[3].dataset.cameraId"
            )
            == "st-990101002"
        ),
        what="the dropped camera",
    )
    _wait(lambda: (f := _frames(driver)) and f[3] > 0, within=30, what="frames on the dropped tile")
    # Focus, then unfocus: back to tile size.
    tile = driver.find_elements(By.CSS_SELECTOR, ".ccv-tile")[3]
    webdriver.ActionChains(driver).double_click(tile).perform()
    _wait(
        lambda: any(
            e["camera_id"] == "st-990101002" and e["size"] == "full" and e["subscribers"] == 1
            for e in engine.stats()["encoders"]
        ),
        what="full size on focus",
    )
    webdriver.ActionChains(driver).double_click(tile).perform()
    _wait(
        lambda: (
            any(
                e["camera_id"] == "st-990101002" and e["size"] == "tile" and e["subscribers"] == 1
                for e in engine.stats()["encoders"]
            )
            and not any(
                e["camera_id"] == "st-990101002" and e["size"] == "full" and e["subscribers"]
                for e in engine.stats()["encoders"]
            )
        ),
        what="tile size again",
    )


def test_wall_through_the_separate_streams_process(
    split_server: tuple[str, Flask], browsers: Callable[[], webdriver.Chrome]
) -> None:
    base, app = split_server
    assert not app.extensions["streams"].engine.running
    driver = browsers()
    driver.get(f"{base}/_test/as/commander/wall")
    frames = _wait(
        lambda: (f := _frames(driver)) and f[0] > 0 and f[1] > 0 and f, within=30, what="frames"
    )
    assert frames[2:] == [0, 0]
    with urllib.request.urlopen(f"{base}/streams/healthz", timeout=5) as resp:
        stats = json.loads(resp.read())
    assert stats["viewers"] == 2
    driver.get("about:blank")
    _wait(
        lambda: (
            json.loads(urllib.request.urlopen(f"{base}/streams/healthz", timeout=5).read())[
                "viewers"
            ]
            == 0
        ),
        within=30,
        what="viewers freed in the streams process",
    )
