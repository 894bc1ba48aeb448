"""The grid worker's three taps in a real phone-sized browser (Debian's chromium, headless): the day list, the
household, "nothing to report", confirm, with the phone's location; and the supervisor's map.

Skipped, with a notice, where /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import os

import pytest

from gridgov.visits.models import Visit
from tests.browser import BROWSER_TESTS, chromium, reseed, watch
from tests.conftest import PASSWORD
from tests.visits.factories import HOUSE_POINTS, build_visit_world, visit

pytestmark = BROWSER_TESTS


@pytest.fixture
def browser_context(live_server, transactional_db):
    reseed()
    with chromium() as browser:
        lng, lat = HOUSE_POINTS["a"]
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                      locale="zh-CN", geolocation={"longitude": lng, "latitude": lat, "accuracy": 6},
                                      permissions=["geolocation"])
        context.base = live_server.url
        yield context
        context.close()


def open_page(context):
    return watch(context.new_page(), min_status=None)


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
