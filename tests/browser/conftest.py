"""Fixtures for the real-browser tests: headless Debian Chromium driven by Playwright."""

import os
from pathlib import Path

import pytest

from jupyter_harness import CHROME_ARGS, CHROMIUM


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        yield chromium
        chromium.close()
