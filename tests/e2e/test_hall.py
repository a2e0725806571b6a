"""The hall in headless Chromium: live push without reload, alert acknowledgement, scoping,
and screenshots at 1920×1080 and 3840×2160 (saved to ``artifacts/``, not committed)."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from console.runtime import Runtime
from dispatch.domain.codes import Level
from dispatch.realtime import channels
from dispatch.services import seed, users

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]

PASSWORD = "demo1234"
#: Waits retry when Dash redraws the element being read.
STALE = (StaleElementReferenceException,)


def runtime_of(app: Flask) -> Runtime:
    rt: Runtime = app.extensions["cc"]
    return rt


def township_codes(rt: Runtime) -> list[str]:
    return [r.code for r in rt.regions.at_level(Level.TOWNSHIP)]


def make_users(app: Flask) -> dict[str, str]:
    """A city duty officer and a mediator at the first township; returns username -> region."""
    rt = runtime_of(app)
    town = township_codes(rt)[0]
    made = {"duty": rt.regions.city.code, "towny": town}
    with rt.session_factory.begin() as db:
        seed.seed_reference(db, rt.regions, rt.reference)
        users.create_user(
            db,
            rt.deps,
            None,
            {
                "username": "duty",
                "password": PASSWORD,
                "role": "duty_officer",
                "region_code": made["duty"],
                "display_name": "值班员小王",
            },
        )
        users.create_user(
            db,
            rt.deps,
            None,
            {
                "username": "towny",
                "password": PASSWORD,
                "role": "mediator",
                "region_code": town,
                "display_name": "调解员陈",
            },
        )
    return made


def api(
    base: str, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def token_for(base: str, username: str) -> str:
    return str(
        api(base, "POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD})[
            "token"
        ]
    )


def new_case(base: str, token: str, rt: Runtime, township: str, title: str) -> dict[str, Any]:
    lon, lat = rt.regions.random_point(township, random.Random(title))
    payload = {
        "title": title,
        "category": "neighbour",
        "source": "walk_in",
        "severity": "major",
        "region_code": township,
        "lat": lat,
        "lon": lon,
    }
    result: dict[str, Any] = api(base, "POST", "/api/v1/cases", payload, token)
    return result


def sign_in(driver: webdriver.Chrome, base: str, username: str, lang: str = "zh-CN") -> None:
    driver.get(f"{base}/lang/{lang}?next=/login")
    driver.get(f"{base}/login?next=/hall")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait_live(driver)


def wait_live(driver: webdriver.Chrome, timeout: float = 20) -> None:
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "var e=document.getElementById('hall-conn'); return e && e.getAttribute('data-state') === 'live';"
        )
    )
    # The first snapshot has been drawn once the stream list exists and the map has its traces.
    WebDriverWait(driver, timeout).until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, "#hall-stream .stream-list, #hall-stream .hall-empty"
        )
    )
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "var g=document.querySelector('#hall-map .js-plotly-plot'); return !!(g && g.data && g.data.length > 1);"
        )
    )


def stream_text(driver: webdriver.Chrome) -> str:
    return str(driver.execute_script("return document.getElementById('hall-stream').innerText"))


def map_case_ids(driver: webdriver.Chrome) -> list[int]:
    """The case points drawn over the map now (hall.js draws them on a canvas)."""
    ids = driver.execute_script(
        "return window.ccHall && window.ccHall.mapPointIds ? window.ccHall.mapPointIds() : [];"
    )
    return [int(i) for i in ids]


def map_townships(driver: webdriver.Chrome) -> list[str]:
    codes = driver.execute_script(
        "var g=document.querySelector('#hall-map .js-plotly-plot'); return g && g.data ? Array.from(g.data[0].locations || []) : [];"
    )
    return [str(c) for c in codes]


def test_case_created_through_the_api_appears_without_reload(
    app: Flask, live_server: str, chrome: webdriver.Chrome, artifacts_dir: Path
) -> None:
    rt = runtime_of(app)
    make_users(app)
    sign_in(chrome, live_server, "duty")
    chrome.execute_script("window.__marker = 'no-reload';")
    received_today = chrome.find_element(By.ID, "hall-kpi-received-today").text
    token = token_for(live_server, "duty")
    town = township_codes(rt)[3]
    stream_times, map_times, api_times = [], [], []
    for attempt in range(3):
        title = f"相邻通道纠纷{attempt}-{random.randint(1000, 9999)}"
        started = time.monotonic()
        case = new_case(live_server, token, rt, town, title)
        api_times.append(time.monotonic() - started)
        wait = WebDriverWait(chrome, 5, poll_frequency=0.02)
        wait.until(lambda d: title in stream_text(d))  # noqa: B023 (used at once)
        stream_times.append(time.monotonic() - started)
        wait.until(lambda d: case["id"] in map_case_ids(d))  # noqa: B023 (used at once)
        map_times.append(time.monotonic() - started)
        time.sleep(0.3)
    print(f"HALL-TIMING api={api_times} stream={stream_times} map={map_times}")
    assert chrome.execute_script("return window.__marker") == "no-reload"
    # From before the API call to visible; the median of three, as the machine is shared and
    # software-rendered WebGL in headless Chromium is slow under load.
    assert sorted(stream_times)[1] < 1.0, f"stream: {stream_times}"
    assert sorted(map_times)[1] < 1.0, f"map: {map_times}"
    # The tiles follow (refreshes are throttled to one every few seconds), written in place.
    WebDriverWait(chrome, 15, ignored_exceptions=STALE).until(
        lambda d: (
            int(d.find_element(By.ID, "hall-kpi-received-today").text.replace(",", ""))
            == int(received_today.replace(",", "")) + 3
        )
    )

    # A click on the stream item opens the case card with its actions.
    chrome.find_element(By.CSS_SELECTOR, f"#hall-stream [data-case='{case['code']}']").click()
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(
        lambda d: case["code"] in d.find_element(By.ID, "hall-modal-title").text
    )
    assert chrome.find_elements(By.ID, f"case-card-{case['id']}")

    # Keyboard: close the card, focus another row and press Enter: that row's card opens.
    others = f"#hall-stream [data-case-id]:not([data-case='{case['code']}'])"
    other = chrome.find_element(By.CSS_SELECTOR, others)
    other_id = other.get_attribute("data-case-id")
    chrome.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    WebDriverWait(chrome, 5).until(lambda d: not d.find_elements(By.ID, f"case-card-{case['id']}"))
    chrome.execute_script("arguments[0].focus();", other)
    other.send_keys(Keys.ENTER)
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(
        lambda d: d.find_elements(By.ID, f"case-card-{other_id}")
    )


def test_alert_feed_and_acknowledge(app: Flask, live_server: str, chrome: webdriver.Chrome) -> None:
    rt = runtime_of(app)
    make_users(app)
    sign_in(chrome, live_server, "duty")
    assert chrome.find_elements(By.ID, "hall-alerts-empty")
    rt.bus.publish(
        channels.ALERTS,
        {
            "type": "alert_raised",
            "alert": {
                "id": "t-1",
                "level": "orange",
                "title": "群体性事件风险：讨薪聚集",
                "region_code": township_codes(rt)[1],
            },
        },
    )
    WebDriverWait(chrome, 5, ignored_exceptions=STALE).until(
        lambda d: "讨薪聚集" in d.find_element(By.ID, "hall-alerts").text
    )
    chrome.find_element(By.CSS_SELECTOR, "#hall-alerts .alert-ack").click()
    WebDriverWait(chrome, 5, ignored_exceptions=STALE).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#hall-alerts .alert-acked")
    )
    assert "duty" in chrome.find_element(By.ID, "hall-alerts").text


def test_township_user_sees_only_their_township(
    app: Flask, live_server: str, chrome: webdriver.Chrome
) -> None:
    rt = runtime_of(app)
    regions = make_users(app)
    town = regions["towny"]
    other = next(c for c in township_codes(rt) if c != town)
    token = token_for(live_server, "duty")
    before_other = new_case(live_server, token, rt, other, "别处的旧案件")
    before_mine = new_case(live_server, token, rt, town, "本镇的旧案件")
    sign_in(chrome, live_server, "towny")
    assert map_townships(chrome) == [town]
    text = stream_text(chrome)
    assert "本镇的旧案件" in text and "别处的旧案件" not in text
    assert before_other["id"] not in map_case_ids(chrome)
    assert before_mine["id"] in map_case_ids(chrome)
    # Live: a case elsewhere never arrives; a case here does.
    new_case(live_server, token, rt, other, "别处的新案件")
    new_case(live_server, token, rt, town, "本镇的新案件")
    WebDriverWait(chrome, 5, ignored_exceptions=STALE).until(
        lambda d: "本镇的新案件" in stream_text(d)
    )
    assert "别处的新案件" not in stream_text(chrome)


def test_signed_out_browser_is_sent_to_login(live_server: str, chrome: webdriver.Chrome) -> None:
    chrome.get(f"{live_server}/hall")
    assert "/login" in chrome.current_url


def test_screenshots_at_wall_sizes(
    app: Flask, live_server: str, chrome: webdriver.Chrome, artifacts_dir: Path
) -> None:
    """Hall screenshots at 1920×1080 and 3840×2160 with a few hundred cases; no scrolling."""
    rt = runtime_of(app)
    make_users(app)
    from datetime import timedelta

    with rt.session_factory.begin() as db:
        seed.seed_demo(
            db, rt.deps, rt.regions, rt.reference, 600, rt.deps.now() - timedelta(days=1)
        )
    sign_in(chrome, live_server, "duty")
    for width, height in ((1920, 1080), (3840, 2160)):
        chrome.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        time.sleep(1.5)
        overflow = chrome.execute_script(
            "return document.documentElement.scrollHeight - window.innerHeight"
        )
        chrome.save_screenshot(str(artifacts_dir / f"hall_{width}x{height}.png"))
        assert overflow <= 0, f"the hall scrolls by {overflow}px at {width}x{height}"
        assert chrome.find_elements(By.CSS_SELECTOR, "#hall-kpi .kpi-tile")


def test_wartime_banner_and_stale_session(
    app: Flask, live_server: str, chrome: webdriver.Chrome
) -> None:
    rt = runtime_of(app)
    make_users(app)
    sign_in(chrome, live_server, "duty")
    rt.bus.publish(channels.MODE, {"mode": "wartime", "title": "疫情防控战时机制已启动"})
    WebDriverWait(chrome, 5, ignored_exceptions=STALE).until(
        lambda d: "战时机制" in d.find_element(By.ID, "hall-banner").text
    )
    assert chrome.find_element(By.ID, "hall-banner").get_attribute("data-mode") == "wartime"
    # The user's tokens and sessions are revoked: the next data call sends the wall to login.
    from dispatch.db.models import User

    with rt.session_factory.begin() as db:
        user = db.query(User).filter_by(username="duty").one()
        user.token_generation += 1
    chrome.execute_script("window.dash_clientside.set_props('hall-kpi-tick', {data: Date.now()});")
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(lambda d: "/login" in d.current_url)
    assert "next=" in chrome.current_url


def test_township_click_drills_down_and_point_click_opens_the_case(
    app: Flask, live_server: str, chrome: webdriver.Chrome
) -> None:
    rt = runtime_of(app)
    make_users(app)
    town = township_codes(rt)[5]
    token = token_for(live_server, "duty")
    case = new_case(live_server, token, rt, town, "下钻测试案件")
    new_case(live_server, token, rt, township_codes(rt)[6], "别处的案件")
    sign_in(chrome, live_server, "duty")
    click = "var g=document.querySelector('#hall-map .js-plotly-plot'); g.emit('plotly_click', {points: [arguments[0]], event: {}});"
    name = rt.regions.name(town)

    def clicked_township(d: webdriver.Chrome) -> bool:
        # Clicking again until it takes: the graph binds its click handler after drawing.
        if name in d.find_element(By.ID, "hall-map-title").text:
            return True
        d.execute_script(click, {"curveNumber": 0, "pointNumber": 0, "location": town})
        return False

    WebDriverWait(chrome, 10, poll_frequency=0.5).until(clicked_township)
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(lambda d: map_townships(d) == [town])
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(
        lambda d: "别处的案件" not in stream_text(d) and "下钻测试案件" in stream_text(d)
    )
    assert chrome.find_element(By.ID, "hall-drill-reset").is_displayed()
    # A real mouse click on the case's point opens its card and does not drill any further.
    WebDriverWait(chrome, 10).until(lambda d: case["id"] in map_case_ids(d))
    at = chrome.execute_script("return window.ccHall.mapPointAt(arguments[0]);", case["id"])
    assert at is not None, "the case is not drawn on the map"
    body = chrome.find_element(By.TAG_NAME, "body")
    origin = body.rect  # move_to_element_with_offset counts from the element's centre
    ActionChains(chrome).move_to_element_with_offset(
        body,
        round(at["x"] - origin["x"] - origin["width"] / 2),
        round(at["y"] - origin["y"] - origin["height"] / 2),
    ).click().perform()
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(
        lambda d: case["code"] in d.find_element(By.ID, "hall-modal-title").text
    )
    assert map_townships(chrome) == [town]


def test_a_gap_in_batch_numbers_resyncs_from_the_services(
    app: Flask, live_server: str, chrome: webdriver.Chrome
) -> None:
    """An event the display never got (lost on the way) shows up after the next batch, whose
    number skips one: the browser notices the gap and re-reads the snapshot."""
    from dispatch.realtime.hall import hub_of

    rt = runtime_of(app)
    make_users(app)
    sign_in(chrome, live_server, "duty")
    hub = hub_of(rt)
    assert hub is not None
    token = token_for(live_server, "duty")
    town = township_codes(rt)[2]
    original = hub._queue
    hub._queue = lambda rooms, event: None  # type: ignore[method-assign]
    try:
        new_case(live_server, token, rt, town, "途中丢失的案件")
    finally:
        hub._queue = original  # type: ignore[method-assign]
    time.sleep(0.5)
    assert "途中丢失的案件" not in stream_text(chrome)
    with hub._lock:  # the lost batch took a number
        room = f"city:{rt.regions.city.code}"
        hub._seq[room] = hub._seq.get(room, 0) + 1
    new_case(live_server, token, rt, town, "之后的案件")
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(
        lambda d: "途中丢失的案件" in stream_text(d)
    )
    assert "之后的案件" in stream_text(chrome)


def test_a_display_that_reconnects_catches_up(
    app: Flask, live_server: str, chrome: webdriver.Chrome
) -> None:
    """A wall whose connection drops shows it (the dot goes off), and when the socket comes
    back it re-reads the snapshot: a case created while it was away appears, no reload."""
    rt = runtime_of(app)
    make_users(app)
    sign_in(chrome, live_server, "duty")
    chrome.execute_script("window.__marker = 'no-reload';")
    conn_state = "return document.getElementById('hall-conn').getAttribute('data-state');"
    # Drop the transport the way a network outage does, and hold reconnection off meanwhile.
    chrome.execute_script(
        "var m = window.ccHall.socket.io; m.reconnection(false); m.engine.close();"
    )
    WebDriverWait(chrome, 5).until(lambda d: d.execute_script(conn_state) == "off")
    token = token_for(live_server, "duty")
    new_case(live_server, token, rt, township_codes(rt)[4], "断线期间的案件")
    time.sleep(0.5)
    assert "断线期间的案件" not in stream_text(chrome)
    chrome.execute_script(
        "var m = window.ccHall.socket.io; m.reconnection(true); window.ccHall.socket.connect();"
    )
    WebDriverWait(chrome, 10).until(lambda d: d.execute_script(conn_state) == "live")
    WebDriverWait(chrome, 10, ignored_exceptions=STALE).until(
        lambda d: "断线期间的案件" in stream_text(d)
    )
    assert chrome.execute_script("return window.__marker") == "no-reload"


def map_people(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The field staff drawn over the map now: user id and the text hovering them shows."""
    people: list[dict[str, Any]] = driver.execute_script(
        "return window.ccHall && window.ccHall.mapPeople ? window.ccHall.mapPeople() : [];"
    )
    return people


def test_field_staff_are_drawn_where_they_report_and_leave_when_they_go(
    app: Flask, live_server: str, chrome: webdriver.Chrome, artifacts_dir: Path
) -> None:
    from dispatch.realtime.client import FieldClient

    rt = runtime_of(app)
    make_users(app)
    town = township_codes(rt)[0]
    grid = rt.regions.children(town)[0].code
    with rt.session_factory.begin() as db:
        worker = users.create_user(
            db,
            rt.deps,
            None,
            {
                "username": "gridder",
                "password": PASSWORD,
                "role": "grid_worker",
                "region_code": grid,
                "display_name": "网格员老李",
            },
        )
        worker_id = worker.id
    sign_in(chrome, live_server, "duty")
    assert map_people(chrome) == []
    phone = FieldClient(live_server, token_for(live_server, "gridder")).connect()
    try:
        lon, lat = rt.regions.random_point(grid, random.Random(1))
        phone.location(lat, lon)
        WebDriverWait(chrome, 10).until(lambda d: [p["id"] for p in map_people(d)] == [worker_id])
        assert chrome.find_element(By.ID, "hall-presence-count").text == "1"
        first = chrome.execute_script("return window.ccHall.mapPersonAt(arguments[0]);", worker_id)
        # Hovering the diamond names the worker and says when they were last seen.
        body = chrome.find_element(By.TAG_NAME, "body")
        origin = body.rect
        ActionChains(chrome).move_to_element_with_offset(
            body,
            round(first["x"] - origin["x"] - origin["width"] / 2),
            round(first["y"] - origin["y"] - origin["height"] / 2),
        ).perform()
        tip = chrome.find_element(By.CSS_SELECTOR, ".hall-point-tip")
        WebDriverWait(chrome, 5).until(lambda d: tip.is_displayed())
        assert "网格员老李" in tip.text and "最后在线" in tip.text
        # ...and only that label: the map's own (the township under the diamond) is hidden.
        assert chrome.execute_script(
            "var h=document.querySelector('#hall-map .hoverlayer');"
            " return !h || getComputedStyle(h).display === 'none';"
        )
        chrome.save_screenshot(str(artifacts_dir / "hall_field_staff.png"))
        # A new position moves the marker.
        lon2, lat2 = rt.regions.random_point(grid, random.Random(2))
        phone.location(lat2, lon2)
        WebDriverWait(chrome, 10).until(
            lambda d: (
                d.execute_script("return window.ccHall.mapPersonAt(arguments[0]);", worker_id)
                != first
            )
        )
    finally:
        phone.close()
    # Offline: gone from the map and from the count.
    WebDriverWait(chrome, 15).until(lambda d: map_people(d) == [])
    assert chrome.find_element(By.ID, "hall-presence-count").text == "0"
