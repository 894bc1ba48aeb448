"""End-to-end flows in a real browser: Debian's chromium driven by Playwright, headless.

Skipped, with a notice, where /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import os

import pytest

from tests.browser import BROWSER_TESTS, chromium, watch
from tests.conftest import PASSWORD

pytestmark = BROWSER_TESTS


@pytest.fixture
def page(live_server, tmp_path):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = watch(context.new_page())
        page.base = live_server.url
        yield page
        context.close()


def login(page, username: str) -> None:
    page.goto(page.base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(page.base + "/")


def shot(page, name: str) -> None:
    directory = os.environ.get("GRIDGOV_SCREENSHOTS")
    if directory:
        page.screenshot(path=os.path.join(directory, f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_town_admin_browses_own_town_only(page, users, tree):
    login(page, "town_admin_a")
    assert "富水镇" in page.content()
    shot(page, "home")

    page.click("text=富水镇")
    page.wait_for_url(f"{page.base}/areas/{tree.town_a.code}/")
    assert page.locator("h1").inner_text().startswith("富水镇")
    # Children open in place, loaded on demand with htmx.
    page.click(f"details summary:has-text('{tree.village_a1.name}')")
    page.wait_for_selector(f"text={tree.group_a1.name}")
    shot(page, "town")

    # The grid with a boundary shows it on the map (no tile server: the polygon alone).
    page.goto(f"{page.base}/areas/{tree.grid_a.code}/")
    page.wait_for_selector("#area-map path.leaflet-interactive")
    shot(page, "grid")

    # The next town is out of scope: not found, exactly like a missing page.
    assert page.errors == []
    response = page.goto(f"{page.base}/areas/{tree.town_b.code}/")
    assert response.status == 404
    page.errors.clear()  # the browser logs the 404 itself

    # The roster highlights vacant posts.
    page.goto(f"{page.base}/areas/{tree.town_a.code}/roster/")
    assert page.locator("td.vacant").count() >= 1
    shot(page, "roster")
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_language_switch_and_logout(page, users, tree):
    login(page, "county_operator")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.click("button[name=language][value=en]")
    page.wait_for_selector("html[lang=en]")
    assert "Areas and grids" in page.content()
    page.click("text=Log out")
    page.wait_for_url(page.base + "/login/")
    assert page.errors == []
