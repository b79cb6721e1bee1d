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


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory):
    """``jupyter("lab")`` or ``jupyter("notebook")``: one server per front end for the whole run
    (started on first use), serving a folder that tests write their notebooks into."""
    from jupyter_harness import JupyterServer

    root = tmp_path_factory.mktemp("shared-notebooks")
    servers = {}

    def get(app):
        if app not in servers:
            servers[app] = JupyterServer(app, root)
            servers[app].root = root
        return servers[app]

    yield get
    for server in servers.values():
        server.stop()
