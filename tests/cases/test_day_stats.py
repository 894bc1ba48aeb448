"""The statistics' day rows (``CaseDayStat``): the services keep them as cases change, so that they always equal
the rows written anew from the cases (``derived.day_stats_rebuild``) and what the cases call for; the statistics
read from them (the county, a town) equal the statistics counted from the cases (a village, a grid) and both equal
a count in Python. Cases are filed on days around local midnight (Asia/Shanghai is UTC+8), then driven through
random actions by the users the workflow offers them to."""

from __future__ import annotations

import contextlib
import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgov.areas import services as area_services
from gridgov.cases import derived, selectors, services, workflow
from gridgov.cases.models import Case, CaseDayStat, Category, Channel, State
from gridgov.cases.tasks import rebuild_case_rows
from gridgov.core.errors import ApplicationError
from tests.cases.spec import ROLES, prepare, water
from tests.cases.stats_oracle import as_found, day_rows, expected_day_rows, expected_stats

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = dt.datetime.now(SHANGHAI).date()


def at(days: int, seconds: int) -> dt.datetime:
    """``seconds`` after the local midnight ``days`` from today."""
    return dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(), SHANGHAI) + dt.timedelta(seconds=seconds)


def day(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


# Filing moments on both sides of local midnights (16:00 UTC) in the days before today; the grid's own staff file
# only today (their posts begin today). The actions come now (most deadlines ahead) and three weeks later (most
# behind, so that closing is late).
FILED = [at(-6, 0), at(-5, -1), at(-5, 1), at(-5, 8 * 3600), at(-4, -1800), at(-2, 7 * 3600), at(-1, -1)]
FILED_TODAY = at(0, 1)
LATER = dt.timedelta(days=21)
RANGES = [(None, None), (day(-6), day(-5)), (day(-5), day(-5)), (day(-2), None), (None, day(-6)),
          (day(-3), day(-3)), (day(0), day(0))]


def check_stats(tree, users) -> None:
    """``case_stats`` equals the count in Python for the whole tree, the county, each town (day rows), a village
    and a grid (the cases), over each range; as the superuser and as users whose default areas differ."""
    asked = [(users.superuser, None, None), (users.superuser, tree.county, [tree.county.path]),
             (users.county_operator, None, [tree.county.path]), (users.leader, tree.town_a, [tree.town_a.path]),
             (users.superuser, tree.town_b, [tree.town_b.path]), (users.town_operator_a, None, [tree.town_a.path]),
             (users.superuser, tree.village_a1, [tree.village_a1.path]),
             (users.village_staff_a, None, [tree.village_a1.path]), (users.county_operator, tree.grid_a,
                                                                      [tree.grid_a.path])]
    for user, area, paths in asked:
        for created_from, created_to in RANGES:
            got = selectors.case_stats(actor=user, area=area, created_from=created_from, created_to=created_to)
            want = expected_stats(paths=paths, created_from=created_from, created_to=created_to)
            assert as_found(got) == want, (user.username, area, created_from, created_to)


def make_driver(tree, users):
    areas = [tree.county, tree.town_a, tree.town_b, tree.village_a1, tree.village_a2, tree.village_b1, tree.grid_a,
             tree.grid_a2, tree.grid_a3, tree.grid_b]
    categories = list(Category.objects.filter(code__in=["risk_water", "forest_fire", "policy_enquiry",
                                                        "flood_evacuation"]).order_by("code"))
    department = water(tree)

    def file(data) -> Case:
        channel = data.draw(st.sampled_from([Channel.GRID_WORKER, Channel.HOTLINE, Channel.PETITION,
                                             Channel.SELF_REPORT, Channel.DEPUTIES]), label="channel")
        category = data.draw(st.sampled_from([None, *categories]), label="category")
        if channel == Channel.GRID_WORKER and data.draw(st.booleans(), label="handled by the grid itself"):
            with time_machine.travel(FILED_TODAY, tick=False):
                return services.case_create(actor=users.grid_worker_a, channel=channel, description="井盖缺失",
                                            area=tree.grid_a, category=category, handle_directly=True)
        with time_machine.travel(data.draw(st.sampled_from(FILED), label="filed"), tick=False):
            area = data.draw(st.sampled_from(areas), label="area")
            actor = None if channel == Channel.SELF_REPORT else users.superuser
            return services.case_create(actor=actor, channel=channel, description="路灯坏了", area=area,
                                        category=category)

    def params(data, verb: str, case: Case, pks: list[int]) -> dict:
        below = [a for a in areas if a.path.startswith(case.desk_area.path)]
        if verb in ("accept", "register"):
            category = data.draw(st.sampled_from([None, *categories]), label="new category")
            if verb == "register" and case.category_id is None and category is None:
                category = categories[0]
            return {"category": category} if category is not None else {}
        if verb in ("dispatch", "reassign"):
            if data.draw(st.booleans(), label="to the department"):
                return {"target_department": department}
            return {"target_area": data.draw(st.sampled_from(below), label="target")}
        if verb == "close":
            if case.state == State.REPORTED and data.draw(st.booleans(), label="fixed"):
                return {"outcome": "fixed"}
            return {"outcome": "cannot_fix"}
        if verb == "rate":
            return {"rating": data.draw(st.sampled_from(["satisfied", "basically", "unsatisfied"]), label="rating")}
        if verb == "supervise":
            return {"deadline_at": dt.datetime.now(SHANGHAI) + dt.timedelta(days=2)}
        if verb == "suspend":
            return {"review_on": dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=20)}
        if verb == "merge":
            others = [pk for pk in pks if pk != case.pk]
            return {"duplicate_of": Case.objects.get(pk=data.draw(st.sampled_from(others), label="original"))}
        return {}

    def step(data, pks: list[int]) -> None:
        case = Case.objects.select_related("area", "desk_area", "holder_area", "category").get(
            pk=data.draw(st.sampled_from(pks), label="case"))
        kind = data.draw(st.sampled_from(["act"] * 8 + ["rate publicly", "sweep"]), label="kind")
        if kind == "sweep":
            services.cases_sweep_deadlines()
            return
        if kind == "rate publicly":
            rating = data.draw(st.sampled_from(["satisfied", "unsatisfied"]), label="public rating")
            with contextlib.suppress(ApplicationError):  # not closed, or rated already
                services.case_rate_public(tracking_code=case.tracking_code, rating=rating)
            return
        offers = {role: workflow.allowed_verbs(getattr(users, role), case) for role in ROLES}
        offers = {role: found for role, found in offers.items() if found}
        if not offers:
            return
        role = data.draw(st.sampled_from(sorted(offers)), label="role")
        transition = data.draw(st.sampled_from(offers[role]), label="action")
        with contextlib.suppress(ApplicationError):  # a merge into its own chain: refused, rolled back whole
            services.case_act(actor=getattr(users, role), case=case.pk, verb=transition.verb, note="说明",
                              **params(data, transition.verb, case, pks))

    def run(data) -> None:
        pks = [file(data).pk for _i in range(data.draw(st.integers(3, 8), label="cases"))]
        for later in (dt.timedelta(0), LATER):
            with time_machine.travel(dt.datetime.now(SHANGHAI) + later, tick=False):
                for _i in range(data.draw(st.integers(0, 25), label="steps")):
                    step(data, pks)

    return run


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_day_rows_follow_every_change_of_the_cases(tree, users, data):
    run = make_driver(tree, users)
    with transaction.atomic():  # each example is rolled back at its end
        try:
            run(data)
            want = expected_day_rows()
            assert day_rows() == want  # kept by the services
            check_stats(tree, users)
            derived.day_stats_rebuild()
            assert set(CaseDayStat.objects.values_list("area_id", "day", "dimension", "key", "total", "closed",
                                                       "closed_on_time", "reworked", "rated", "satisfied")) == want
            check_stats(tree, users)
        finally:
            transaction.set_rollback(True)


def test_statistics_count_the_cases_placed_in_the_areas(tree, users):
    """Of the cases an actor sees, those placed in their areas; a department's handler, the cases they see; an
    area reaching outside the actor's areas counts only its part inside them."""
    closed, _setup = prepare(tree, users, "a", "closed")
    dispatched, _setup = prepare(tree, users, "b", "dispatched")
    # Placed in town B, handled by village A1: village A1's staff see it, but it is town B's.
    hotline = services.case_create(actor=users.superuser, channel=Channel.HOTLINE, description="停水",
                                   area=tree.grid_b)
    services.case_act(actor=users.superuser, case=hotline, verb="accept")
    services.case_act(actor=users.superuser, case=hotline, verb="register",
                      category=Category.objects.get(code="risk_water"))
    services.case_act(actor=users.superuser, case=hotline, verb="dispatch", target_area=tree.village_a1)
    assert selectors.case_visible(actor=users.village_staff_a).filter(pk=hotline.pk).exists()

    def total(user, **kwargs) -> int:
        return selectors.case_stats(actor=user, **kwargs)["total"][0].total

    assert total(users.county_operator) == 3 and total(users.town_admin_b) == 2
    assert total(users.village_staff_a) == 1  # the closed case; not the one it handles
    assert total(users.town_admin_a, area=tree.county) == 1  # town A's part of the county
    assert total(users.village_staff_a, area=tree.town_b) == 0
    # No areas: the cases it sees (both prepared cases were dispatched with the water department assisting).
    assert total(users.dept_handler) == selectors.case_visible(actor=users.dept_handler).count() == 2
    nobody = selectors.case_stats(actor=users.nobody)
    assert [r.total for r in nobody["total"]] == [0] and not nobody["domain"] and not nobody["level"]
    town = selectors.case_stats(actor=users.town_admin_a)
    assert as_found(town) == expected_stats(paths=[tree.town_a.path])
    assert [(r.key, r.label, r.closed) for r in town["level"]] == [("片", "片", 1)]
    assert {r.key for r in selectors.case_stats(actor=users.leader)["domain"]} == {
        str(closed.domain_id), str(dispatched.domain_id)}


def test_a_village_moved_to_another_town_counts_there_after_the_rebuild(tree, users):
    """The day rows hold each case under its town as it was when the case last changed: the county's statistics
    stay right when a village moves, the towns' are right again after the nightly rebuild."""
    case, _setup = prepare(tree, users, "a", "reported")
    prepare(tree, users, "b", "closed")
    area_services.area_move(actor=None, area=tree.village_a1, new_parent=tree.town_b, new_code="611023101202")
    tree.village_a1.refresh_from_db()
    services.case_act(actor=users.superuser, case=case.pk, verb="close", outcome="fixed")
    county = selectors.case_stats(actor=users.superuser, area=tree.county)
    assert as_found(county) == expected_stats(paths=[tree.county.path])
    assert day_rows() != expected_day_rows()  # the close went to town B's rows, the case is still in town A's
    out = StringIO()
    call_command("cases_rebuild", stdout=out)  # `gridgov cases-rebuild`
    assert day_rows() == expected_day_rows()
    assert f" {CaseDayStat.objects.count()} " in out.getvalue()  # the counts it printed (in the active language)
    town_b = selectors.case_stats(actor=users.superuser, area=tree.town_b)
    assert as_found(town_b) == expected_stats(paths=[tree.town_b.path]) and town_b["total"][0].total == 2


def test_the_rebuild_runs_every_night(tree, users):
    prepare(tree, users, "a", "closed")
    CaseDayStat.objects.all().delete()
    task = rebuild_case_rows.task_class()
    assert [task.validate_datetime(dt.datetime(2025, 10, 9, hour, minute))
            for hour, minute in ((3, 10), (3, 15), (15, 10))] == [True, False, False]
    counts = rebuild_case_rows.call_local()
    assert counts["day_stats"] == 6 and day_rows() == expected_day_rows()  # three of the county, three of town A
