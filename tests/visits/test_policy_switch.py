"""Switching the visit rules between Shangnan's colours and Qingyang's 三必访 changes the due lists and the
completion rates at once, through the command, the page or the API; and a change of colour re-anchors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from gridgov.registry.models import Household
from gridgov.visits import selectors, services
from tests.registry.factories import make_household, make_person
from tests.visits.factories import backdate, build_visit_world, tag, visit


@pytest.fixture
def world(tree, users):
    return build_visit_world(tree)


def due(user) -> dict[int, tuple[str, int, str]]:
    listed = selectors.due_list(actor=user, horizon=None)
    return {r.household.pk: (str(r.status), r.due.days_left, r.due.duty) for r in listed.households}


def test_switching_presets_changes_the_due_list(tree, users, world):
    worker = users.grid_worker_a
    ordinary, never = world.a.household, world.a.household2
    visit(ordinary, days=40)
    elderly = make_household(tree.grid_a, "HE1", income_per_person=Decimal("15000"), safe_family_years=5)
    alone = make_person(tree.grid_a, "独居老人", household=elderly, relation="head")
    tag(alone, "living_alone_elderly")  # red under Shangnan's rules (连心户); monthly under Qingyang's
    backdate(elderly, 100)
    visit(elderly, days=35)
    visit(elderly, days=5, kind="phone")
    floating = make_household(tree.grid_a, "HF1", income_per_person=Decimal("15000"), safe_family_years=5)
    make_person(tree.grid_a, "暂住", household=floating, relation="head", residence_type="temporary")
    backdate(floating, 100)
    visit(floating, days=25)

    assert (floating.household_class, Household.objects.get(pk=elderly.pk).household_class) == ("green", "red")
    shangnan = due(worker)
    assert shangnan == {
        never.pk: ("overdue", -70, "visit"),  # green, never visited, registered 100 days ago
        ordinary.pk: ("overdue", -10, "visit"),
        elderly.pk: ("overdue", -5, "visit"),  # the phone call serves the contact duty (due in 2 days) only
        floating.pk: ("week", 5, "visit"),
    }
    day = selectors.due_list(actor=worker)
    assert [r.household.pk for r in day.households] == [never.pk, ordinary.pk, elderly.pk, floating.pk]
    assert [s.duty for s, _ in next(r for r in day.households if r.household.pk == elderly.pk).states] == [
        "visit", "contact"]

    call_command("visit_policy", "qingyang", stdout=StringIO())
    qingyang = due(worker)
    assert qingyang == {
        never.pk: ("later", 265, "visit"),  # yearly
        ordinary.pk: ("later", 50, "visit"),  # a member on 低保 (tests.registry.factories): quarterly
        elderly.pk: ("overdue", -5, "visit"),  # monthly; a phone call is no visit
        floating.pk: ("later", 65, "visit"),  # quarterly
    }
    assert [r.household.pk for r in selectors.due_list(actor=worker).households] == [elderly.pk]

    services.visit_policy_set(actor=users.superuser, preset="shangnan", red_contact_days=3)
    assert due(worker)[elderly.pk] == ("overdue", -5, "visit")
    states = dict((s.duty, s.days_left) for s, _ in next(
        r for r in selectors.due_list(actor=worker).households if r.household.pk == elderly.pk).states)
    assert states == {"visit": -5, "contact": -2}


def test_switching_presets_through_the_page_changes_the_day_page(tree, users, world, client):
    visit(world.a.household, days=40)
    client.force_login(users.grid_worker_a)
    assert world.a.household.address in client.get("/visits/").content.decode()
    client.force_login(users.superuser)
    assert client.post("/visits/policy/", {"preset": "qingyang"}).status_code == 302
    client.force_login(users.grid_worker_a)
    html = client.get("/visits/").content.decode()
    assert world.a.household.address not in html and "庆阳市三必访" in html


def test_completion_rates_follow_the_policy(tree, users, world):
    today = timezone.localdate()
    start = today - dt.timedelta(days=29)
    visit(world.a.household, days=3)
    visit(world.a.household, days=2)  # a second visit in the month adds nothing: one was due
    stats = selectors.completion_stats(actor=users.county_operator, area=tree.grid_a, start=start, end=today)
    assert (stats.total.households, stats.total.expected, stats.total.done, stats.total.rate) == (2, 2, 1, 0.5)
    assert (stats.total.visits, stats.total.visited_households) == (2, 1)
    visit(world.a.household2, days=1)
    stats = selectors.completion_stats(actor=users.county_operator, area=tree.grid_a, start=start, end=today)
    assert (stats.total.expected, stats.total.done, stats.total.rate) == (2, 2, 1.0)
    services.visit_policy_set(actor=None, preset="qingyang")
    stats = selectors.completion_stats(actor=users.county_operator, area=tree.grid_a, start=start, end=today)
    assert (stats.total.expected, stats.total.done, stats.total.rate) == (0, 0, None)  # nobody is monthly
    year = selectors.completion_stats(actor=users.county_operator, area=tree.grid_a,
                                      start=today - dt.timedelta(days=364), end=today)
    # The household with a member on 低保 is due quarterly (4 a year, 2 done), the other yearly (1, done).
    assert (year.total.expected, year.total.done, year.total.rate) == (5, 3, 0.6)


def test_completion_by_child_grid_and_worker(tree, users, world):
    today = timezone.localdate()
    start = today - dt.timedelta(days=29)
    visit(world.a.household, days=3)
    yellow = make_household(tree.grid_a3, "HY1", safe_family_years=0)  # yellow: weekly, and a party member monthly
    assert yellow.household_class == "yellow"
    backdate(yellow, 100)
    visit(yellow, days=1, companions=[{"name": "王党员", "kind": "party_member"}])
    visit(yellow, days=8)
    county = selectors.completion_stats(actor=users.county_operator, area=tree.county, start=start, end=today)
    rows = {r.area.code: r for r in county.rows}
    assert set(rows) == {tree.town_a.code, tree.town_b.code}
    town_a = rows[tree.town_a.code]
    assert (town_a.households, town_a.expected, town_a.done) == (3, 6, 3)  # 1 + 1 + 4 weekly; 1 + 0 + 2
    assert (town_a.helper_expected, town_a.helper_done, town_a.helper_rate) == (1, 1, 1.0)
    assert (county.total.households, county.total.expected, county.total.done) == (5, 8, 3)
    town = selectors.completion_stats(actor=users.town_admin_a, area=tree.town_a, start=start, end=today)
    assert [r.area.code for r in town.rows] == [tree.village_a1.code, tree.village_a2.code]
    grids = selectors.completion_stats(actor=users.town_admin_a, area=tree.town_a, start=start, end=today,
                                       group="grid")
    assert [(r.area.code, r.worker, r.expected, r.done) for r in grids.rows] == [
        (tree.grid_a.code, "grid_worker_a-name", 2, 1), (tree.grid_a2.code, "", 0, 0), (tree.grid_a3.code, "", 4, 2)]
    workers = selectors.completion_stats(actor=users.town_admin_a, area=tree.town_a, start=start, end=today,
                                         group="worker")
    assert [(r.key, r.expected, r.done) for r in workers.rows] == [("grid_worker_a-name", 2, 1), ("—", 4, 2)]
    # Out of scope: not found.
    with pytest.raises(Exception, match="No such area"):
        selectors.completion_stats(actor=users.town_admin_a, area=tree.town_b, start=start, end=today)


def test_a_change_of_colour_re_anchors_the_due_list(tree, users, world):
    """A green household visited 20 days ago turns red today: its weekly contact is due in 7 days, not overdue."""
    household = world.a.household
    visit(household, days=20)
    assert due(users.grid_worker_a)[household.pk] == ("later", 10, "visit")
    tag(world.a.member, "living_alone_elderly")
    household.refresh_from_db()
    assert household.household_class == "red"
    assert due(users.grid_worker_a)[household.pk] == ("later", 7, "contact")
    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        assert due(users.grid_worker_a)[household.pk] == ("overdue", -1, "contact")
