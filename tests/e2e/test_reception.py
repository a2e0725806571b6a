"""Reception in headless Chromium: single-window intake end to end, field errors in place,
duplicate detection before saving, and the case code shown after saving."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from dispatch.domain.identity import id_check_char
from tests.e2e.test_hall import api, make_users, runtime_of, token_for, township_codes

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]

PHONE = "13812345678"
BAD_ID = "110105194912310021"
GOOD_ID = "11010519491231002" + id_check_char("11010519491231002")


def open_reception(driver: webdriver.Chrome, base: str) -> None:
    driver.get(f"{base}/lang/zh-CN?next=/login")
    driver.get(f"{base}/login?next=/reception")
    driver.find_element(By.ID, "username").send_keys("duty")
    driver.find_element(By.ID, "password").send_keys("demo1234")
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, '[id=\'{"index":0,"type":"reception-party-name"}\']'
        )
    )


def party(driver: webdriver.Chrome, kind: str, index: int = 0) -> Any:
    return driver.find_element(
        By.CSS_SELECTOR, f'[id=\'{{"index":{index},"type":"reception-party-{kind}"}}\']'
    )


def test_intake_end_to_end(app: Flask, live_server: str, chrome: webdriver.Chrome) -> None:
    rt = runtime_of(app)
    make_users(app)
    town = township_codes(rt)[2]
    token = token_for(live_server, "duty")
    earlier = api(
        live_server, "POST", "/api/v1/cases",
        {"title": "王某讨薪", "category": "wage_arrears", "source": "hotline", "region_code": town,
         "parties": [{"name": "王五", "phone": PHONE}]},
        token,
    )  # fmt: skip
    open_reception(chrome, live_server)

    chrome.find_element(By.ID, "reception-title").send_keys("张某等农民工讨薪")
    chrome.find_element(By.ID, "reception-description").send_keys(
        "包工头拖欠工资三个月，涉及十多人"
    )
    WebDriverWait(chrome, 10).until(lambda d: d.find_elements(By.ID, "reception-apply-suggestion"))
    chrome.find_element(By.ID, "reception-apply-suggestion").click()
    WebDriverWait(chrome, 10).until(
        lambda d: (
            Select(d.find_element(By.ID, "reception-category")).first_selected_option.get_attribute(
                "value"
            )
            == "wage_arrears"
        )
    )
    Select(chrome.find_element(By.ID, "reception-region")).select_by_value(town)

    party(chrome, "name").send_keys("张三")
    party(chrome, "id").send_keys(BAD_ID + Keys.TAB)
    WebDriverWait(chrome, 10).until(
        lambda d: (
            "校验位"
            in d.find_element(
                By.CSS_SELECTOR, '[id=\'{"index":0,"type":"reception-party-id-hint"}\']'
            ).text
        )
    )
    party(chrome, "id").clear()
    party(chrome, "id").send_keys(GOOD_ID + Keys.TAB)
    WebDriverWait(chrome, 10).until(
        lambda d: party(d, "id").get_attribute("title") == GOOD_ID[:6] + "*" * 10 + GOOD_ID[-2:]
    )
    party(chrome, "phone").send_keys(PHONE + Keys.TAB)
    # The same phone has an open case: shown before saving.
    WebDriverWait(chrome, 10).until(
        lambda d: earlier["code"] in d.find_element(By.ID, "reception-related").text
    )

    chrome.find_element(By.ID, "reception-title").send_keys(Keys.ENTER)
    WebDriverWait(chrome, 10).until(lambda d: d.find_elements(By.ID, "reception-case-code"))
    code = chrome.find_element(By.ID, "reception-case-code").text
    found = api(live_server, "GET", f"/api/v1/cases?q={code}", None, token)["items"]
    assert len(found) == 1
    assert found[0]["category"] == "wage_arrears" and found[0]["state"] == "triage"
    detail = api(live_server, "GET", f"/api/v1/cases/{found[0]['id']}", None, token)
    assert detail["parties"][0]["id_number"] == GOOD_ID[:6] + "*" * 10 + GOOD_ID[-2:]

    # The case card: masked parties, and only the actions the duty officer may take now.
    chrome.find_element(By.ID, "reception-open-case").click()
    WebDriverWait(chrome, 20).until(lambda d: d.find_elements(By.ID, f"case-card-{found[0]['id']}"))
    card = chrome.find_element(By.ID, f"case-card-{found[0]['id']}").text
    assert "张*" in card and GOOD_ID not in card and "分流督办" in card
    assert not chrome.find_elements(By.CSS_SELECTOR, "button[id*='archive']")
    chrome.find_element(By.CSS_SELECTOR, "button[id*='start_mediation']").click()
    WebDriverWait(chrome, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: "调解化解" in d.find_element(By.ID, f"case-card-{found[0]['id']}").text
    )
    assert (
        api(live_server, "GET", f"/api/v1/cases/{found[0]['id']}", None, token)["state"]
        == "mediation"
    )


def test_errors_next_to_fields_and_nothing_lost(
    app: Flask, live_server: str, chrome: webdriver.Chrome
) -> None:
    make_users(app)
    open_reception(chrome, live_server)
    chrome.find_element(By.ID, "reception-title").send_keys("邻里纠纷")
    chrome.find_element(By.ID, "reception-submit").click()
    WebDriverWait(chrome, 10).until(
        lambda d: d.find_element(By.ID, "reception-category-error").text
    )
    assert chrome.find_element(By.ID, "reception-category-error").text == "必填"
    assert chrome.find_element(By.ID, "reception-region-error").text
    assert chrome.find_element(By.ID, "reception-title").get_attribute("value") == "邻里纠纷"
    # A reload (or a dropped connection) keeps what was typed.
    chrome.refresh()
    WebDriverWait(chrome, 20).until(lambda d: d.find_elements(By.ID, "reception-title"))
    WebDriverWait(chrome, 10).until(
        lambda d: d.find_element(By.ID, "reception-title").get_attribute("value") == "邻里纠纷"
    )
