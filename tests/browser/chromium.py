"""Debian's Chromium (/usr/bin/chromium) driven by Playwright: nothing downloads a browser. A test that
cannot find either says why and skips."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


_shared: dict[str, Any] = {}  # the playwright driver and the browser the browser tests share


@contextmanager
def chromium() -> Iterator[Any]:
    """The launched headless browser of the browser tests (one launch for all of them: tests/browser/conftest.py
    closes it). A test opens pages (each page its own context: no cookie or storage carries over) and on exit
    every context it opened is closed."""
    browser = _browser()
    try:
        yield browser
    finally:
        for context in browser.contexts:
            context.close()


def _browser() -> Any:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[test]')")
    browser = _shared.get("browser")
    if browser is None or not browser.is_connected():
        close_shared()
        _shared["playwright"] = sync_playwright().start()
        _shared["browser"] = _shared["playwright"].chromium.launch(executable_path=CHROMIUM, args=ARGS)
    return _shared["browser"]


def close_shared() -> None:
    """Close the shared browser and its playwright driver, if started."""
    browser, driver = _shared.pop("browser", None), _shared.pop("playwright", None)
    try:
        if browser is not None and browser.is_connected():
            browser.close()
    finally:
        if driver is not None:
            driver.stop()


def log_in(page: Any, base_url: str, token: str, then: str) -> None:
    """Log in through /login the way a person does and land on `then`."""
    page.goto(base_url + then)
    assert "/login" in page.url
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url("**" + then)


def log_out(page: Any) -> None:
    page.click("text=Log ud")
    page.wait_for_url("**/login")
