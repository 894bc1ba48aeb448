"""What the browser tests share: Debian's chromium driven by Playwright, headless, skipped with a visible notice
where /usr/bin/chromium is missing (.ci/run installs it)."""

from __future__ import annotations

import importlib
import os
import shutil
from contextlib import contextmanager

import pytest
from django.apps import apps

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_TESTS = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="NOTICE: chromium is not installed; browser tests skipped"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
# The dictionaries the data migrations seed. A transactional test starts from emptied tables; restoring them by
# serialized rollback clashes with other transactional tests, so they are seeded again (for every transactional
# test: _reseeded in tests/conftest.py).
SEEDS = ("gridgov.registry.migrations.0002_seed_tags", "gridgov.cases.migrations.0002_seed_taxonomy",
         "gridgov.core.migrations.0003_seed_calendar")


def reseed() -> None:
    for module in SEEDS:
        importlib.import_module(module).seed(apps, None)


@contextmanager
def chromium():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch(page, *, min_status: int | None = 400):
    """Collects script errors, console errors and (unless None) responses from ``min_status`` up in
    ``page.errors``."""
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(f"{msg.text} {msg.location}"))
    if min_status is not None:
        page.on("response", lambda r: r.status >= min_status and page.errors.append(f"{r.status} {r.url}"))
    return page
