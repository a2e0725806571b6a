"""Browser fixtures: headless Debian Chromium driven by selenium 4 and Debian's chromedriver.

Flags follow ../shared/PITFALLS.md: without the background-networking ones Chromium keeps
trying Google's hosts on this offline machine; the media flags give WebRTC a fake camera and
loopback candidates. On failure a screenshot, the page source and the browser console are
saved to ``artifacts/`` under the test's name.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

CHROMIUM_BINARY = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW_SIZE = (1920, 1080)
PAGE_LOAD_TIMEOUT = 30

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--lang=zh-CN",
)


def chromium_options(user_data_dir: Path) -> webdriver.ChromeOptions:
    """Options for a fresh headless Chromium with its own profile directory."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM_BINARY
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    # Browser console messages, read back on failure.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def _save_failure_artifacts(driver: webdriver.Chrome, directory: Path, stem: str) -> None:
    # Each artifact on its own: a crashed page may still give a console log, or the reverse.
    with contextlib.suppress(WebDriverException):
        driver.save_screenshot(str(directory / f"{stem}.png"))
    with contextlib.suppress(WebDriverException):
        (directory / f"{stem}.html").write_text(driver.page_source, encoding="utf-8")
    try:
        entries = driver.get_log("browser")
        (directory / f"{stem}.console.json").write_text(
            json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8"
        )
    except WebDriverException:
        pass


@pytest.fixture
def chrome(
    tmp_path: Path,
    artifacts_dir: Path,
    artifact_stem: str,
    did_test_fail: Callable[[], bool],
) -> Iterator[webdriver.Chrome]:
    """A headless Chromium (selenium ``webdriver.Chrome``), quit after the test."""
    for path in (CHROMIUM_BINARY, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(
                f"{path} is missing: run `bash scripts/setup-system.sh` "
                "(Debian packages chromium and chromium-driver)",
                pytrace=False,
            )
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options(profile))
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    try:
        yield driver
    finally:
        if did_test_fail():
            _save_failure_artifacts(driver, artifacts_dir, artifact_stem)
        driver.quit()
