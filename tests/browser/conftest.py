"""One browser for all browser tests: launching Chromium (and playwright's driver) per test cost seconds each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chromium import close_shared


@pytest.fixture(scope="package", autouse=True)
def shared_browser() -> Iterator[None]:
    """Closes the browser `chromium()` launched once the package's tests are done (launched on first use)."""
    yield
    close_shared()
