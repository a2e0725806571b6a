"""The mobile field page in Chromium: sign in, receive, accept, and the offline queue."""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from dispatch.db.models import ActionReceipt, Assignment, AssignmentReport
from tests.integration.test_field_support import (  # noqa: F401  (fixtures: app, world)
    PASSWORD,
    World,
    dispatcher_app,
    dispatcher_world,
    wait_for,
)

WAIT = 15


def network(driver: webdriver.Chrome, online: bool) -> None:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": not online, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def sign_in(driver: webdriver.Chrome, base: str, username: str) -> WebDriverWait[webdriver.Chrome]:
    driver.get(f"{base}/field?lang=en")
    wait = WebDriverWait(driver, WAIT)
    wait.until(ec.visibility_of_element_located((By.ID, "field-username"))).send_keys(username)
    driver.find_element(By.ID, "field-password").send_keys(PASSWORD)
    driver.find_element(By.ID, "field-login-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-net"), "Online"))
    return wait


def assignment_state(world: World, assignment_id: int) -> str:
    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        assert a is not None
        return a.state


def test_sign_in_receive_and_accept(
    chrome: webdriver.Chrome, live_server: str, world: World
) -> None:
    wait = sign_in(chrome, live_server, "member1")
    assignment_id = world.offer_team(accept_minutes=30, instructions="请到三号楼调解")
    card = f"#field-assignment-{assignment_id}"
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, card)))
    assert "请到三号楼调解" in chrome.find_element(By.CSS_SELECTOR, card).text
    chrome.find_element(By.CSS_SELECTOR, f"{card} [data-action=accept]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"{card} [data-state=accepted]")))
    assert assignment_state(world, assignment_id) == "accepted"


def test_wrong_password_shows_the_reason(
    chrome: webdriver.Chrome, live_server: str, world: World
) -> None:
    chrome.get(f"{live_server}/field?lang=en")
    wait = WebDriverWait(chrome, WAIT)
    wait.until(ec.visibility_of_element_located((By.ID, "field-username"))).send_keys("member1")
    chrome.find_element(By.ID, "field-password").send_keys("wrong-password")
    chrome.find_element(By.ID, "field-login-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-login-error"), "Wrong username"))


def test_offline_actions_are_queued_and_sent_once_on_reconnect(
    chrome: webdriver.Chrome, live_server: str, world: World
) -> None:
    wait = sign_in(chrome, live_server, "member1")
    assignment_id = world.offer_team(accept_minutes=30)
    card = f"#field-assignment-{assignment_id}"
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, f"{card} [data-action=accept]")))

    network(chrome, online=False)
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-net"), "Offline"))
    chrome.find_element(By.CSS_SELECTOR, f"{card} [data-action=accept]").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-queue"), "Queued 1"))
    # Sent while offline: the server sees nothing yet.
    assert assignment_state(world, assignment_id) == "offered"
    missed = world.offer_team(accept_minutes=30)  # offered while the phone is away

    network(chrome, online=True)
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-net"), "Online"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"{card} [data-state=accepted]")))
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, f"#field-assignment-{missed}")))
    assert chrome.execute_script("return window.fieldApp.state().outbox.length") == 0

    # A report written offline, then the connection flaps twice: still one report.
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, f"{card} textarea[name=text]")))
    network(chrome, online=False)
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-net"), "Offline"))
    chrome.find_element(By.CSS_SELECTOR, f"{card} textarea[name=text]").send_keys("双方已同意调解")
    chrome.find_element(By.CSS_SELECTOR, f"{card} [data-action=report]").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-queue"), "Queued 1"))
    network(chrome, online=True)
    wait.until(lambda d: d.execute_script("return window.fieldApp.state().outbox.length") == 0)

    def one_report() -> bool:
        with world.runtime.session_factory() as db:
            return db.scalar(select(func.count()).select_from(AssignmentReport)) == 1

    wait_for(one_report, what="the queued report")
    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        assert a is not None and a.state == "accepted" and a.version == 3  # accept + report
        assert db.scalar(select(func.count()).select_from(ActionReceipt)) == 2


def test_a_photo_taken_offline_goes_up_with_its_report(
    chrome: webdriver.Chrome, live_server: str, world: World, tmp_path: Path
) -> None:
    """Offline, the photo waits on the phone (IndexedDB); back online it is uploaded first and
    the report arrives once, carrying it."""
    import cv2
    import numpy as np

    photo = tmp_path / "scene.jpg"
    assert cv2.imwrite(str(photo), np.full((120, 160, 3), 90, dtype=np.uint8))
    wait = sign_in(chrome, live_server, "member1")
    assignment_id = world.offer_team(accept_minutes=30)
    card = f"#field-assignment-{assignment_id}"
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, f"{card} [data-action=accept]")))
    chrome.find_element(By.CSS_SELECTOR, f"{card} [data-action=accept]").click()
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, f"{card} textarea[name=text]")))

    network(chrome, online=False)
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-net"), "Offline"))
    chrome.find_element(By.CSS_SELECTOR, f"{card} textarea[name=text]").send_keys("现场照片已拍")
    chrome.find_element(By.CSS_SELECTOR, f"{card} input[name=photo]").send_keys(str(photo))
    chrome.find_element(By.CSS_SELECTOR, f"{card} [data-action=report]").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-queue"), "Queued 1"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "field-toast-text"), "kept on this phone"))
    held = chrome.execute_script("return window.fieldApp.state().outbox[0].held.length")
    assert held == 1

    network(chrome, online=True)
    wait.until(lambda d: d.execute_script("return window.fieldApp.state().outbox.length") == 0)

    def report_with_photo() -> bool:
        with world.runtime.session_factory() as db:
            reports = db.scalars(select(AssignmentReport)).all()
            return len(reports) == 1 and len(reports[0].photos) == 1

    wait_for(report_with_photo, what="the queued report with its photo")
    with world.runtime.session_factory() as db:
        report = db.scalars(select(AssignmentReport)).one()
        path = str(report.photos[0])
    stored = world.runtime.settings.data_dir / path
    assert stored.read_bytes() == photo.read_bytes()
    # The phone let go of it once it was up.
    left = chrome.execute_async_script(
        "var done = arguments[0]; var open = indexedDB.open('cc.field.photos', 1);"
        "open.onsuccess = function () { var r = open.result.transaction('photos')"
        ".objectStore('photos').count(); r.onsuccess = function () { done(r.result); }; };"
    )
    assert left == 0
