"""The grid worker's three taps in a real phone-sized browser (Debian's chromium, headless): the day list, the
household, "nothing to report", confirm, with the phone's location; and the supervisor's map.

Skipped, with a notice, where /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import importlib
import os
import shutil

import pytest
from django.apps import apps

from gridgov.visits.models import Visit
from tests.conftest import PASSWORD
from tests.visits.factories import HOUSE_POINTS, build_visit_world, visit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="NOTICE: chromium is not installed; browser tests skipped"),
]


@pytest.fixture
def seeded(transactional_db):
    """The dictionaries the data migrations seed (tags, case categories): a transactional test empties the tables
    after each test, and restoring them by serialized rollback clashes with other transactional tests."""
    for module in ("gridgov.registry.migrations.0002_seed_tags", "gridgov.cases.migrations.0002_seed_taxonomy"):
        importlib.import_module(module).seed(apps, None)


@pytest.fixture
def browser_context(live_server, seeded):
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        lng, lat = HOUSE_POINTS["a"]
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                      locale="zh-CN", geolocation={"longitude": lng, "latitude": lat, "accuracy": 6},
                                      permissions=["geolocation"])
        context.base = live_server.url
        yield context
        context.close()
        browser.close()


def open_page(context):
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(f"{msg.text} {msg.location}"))
    return page


def login(page, base: str, username: str) -> None:
    page.goto(base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(base + "/")


def shot(page, name: str) -> None:
    directory = os.environ.get("GRIDGOV_SCREENSHOTS")
    if directory:
        page.screenshot(path=os.path.join(directory, f"visits-{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_three_taps_on_a_phone(browser_context, users, tree):
    world = build_visit_world(tree)
    visit(world.a.household2, days=3)  # not due this week
    page = open_page(browser_context)
    base = browser_context.base
    login(page, base, "grid_worker_a")
    page.goto(base + "/visits/")
    assert page.locator("section.s-onsite .due-item").count() == 1
    overdue = page.locator("section.s-overdue .due-item")
    assert overdue.count() == 1
    shot(page, "day")

    overdue.first.click()  # tap 1
    page.wait_for_url(f"{base}/visits/households/{world.a.household.pk}/")
    page.click("#quick a.big-button.ok")  # tap 2: the confirmation comes in place
    page.wait_for_selector("form.confirm")
    page.wait_for_function("document.querySelector('form.confirm input[name=lng]').value !== ''")
    shot(page, "confirm")
    page.click("form.confirm button[type=submit]")  # tap 3
    page.wait_for_url(f"{base}/visits/")
    assert page.locator("section.s-overdue .due-item").count() == 0
    record = Visit.objects.get(household=world.a.household)
    lng, lat = HOUSE_POINTS["a"]
    assert (record.kind, record.visitor, round(record.lng, 6), round(record.lat, 6), record.far_from_house) == (
        "routine", users.grid_worker_a, lng, lat, False)
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_supervisor_map(browser_context, users, tree):
    world = build_visit_world(tree)
    visit(world.a.household, days=1)
    page = open_page(browser_context)
    base = browser_context.base
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, base, "village_staff_a")
    page.goto(f"{base}/visits/supervise/?area={tree.grid_a.code}")
    page.wait_for_selector("#visit-map[data-points]")
    assert page.locator("#visit-map").get_attribute("data-points") == "1"  # the one house with a location
    assert page.locator("#visit-map canvas").count() == 1
    shot(page, "supervise")
    assert page.errors == []
