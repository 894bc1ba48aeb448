"""The deadline sweep (a periodic task): a warning before the deadline, an urge the day after it, an escalation
once it is still overdue after the grace; each once, each in the timeline. Deadlines are working days on the
official calendar, here across the 2025 National Day holiday."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from gridgov.cases import services
from gridgov.cases.models import Case, CaseAction, Category, Channel, State
from gridgov.cases.tasks import sweep_case_deadlines

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTHING = {"warned": 0, "urged": 0, "escalated": 0}


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def sweep(moment: dt.datetime) -> dict[str, int]:
    with time_machine.travel(moment, tick=False):
        return sweep_case_deadlines.call_local()


def timeline(case: Case) -> list[tuple[str, str, str, str]]:
    return list(CaseAction.objects.filter(case=case).order_by("at", "id")
                .values_list("verb", "from_state", "to_state", "actor_name"))


def registered(users, area, channel: str, *, category: str = "risk_water") -> Case:
    case = services.case_create(actor=users.superuser, channel=channel, description="供水管道漏水", area=area,
                                category=Category.objects.get(code=category))
    services.case_act(actor=users.superuser, case=case, verb="accept")
    services.case_act(actor=users.superuser, case=case, verb="register")
    case.refresh_from_db()
    return case


def test_the_task_runs_every_quarter_of_an_hour():
    task = sweep_case_deadlines.task_class()
    assert [task.validate_datetime(dt.datetime(2025, 10, 9, 8, minute))
            for minute in (0, 7, 15, 30, 44, 45)] == [True, False, True, True, False, True]


def test_deadline_across_the_national_day_holiday(tree, users):
    with time_machine.travel(at(2025, 9, 30, 10, 0), tick=False):
        case = registered(users, tree.grid_a, Channel.GRID_WORKER)
    # Day 0 is Tuesday 30 September; 1–8 October are off; Thursday 9, Friday 10 and the make-up Saturday 11 work.
    assert timezone.localtime(case.deadline_at) == at(2025, 10, 11, 23, 59, 59, 999999)
    with time_machine.travel(at(2025, 9, 30, 10, 0), tick=False):
        urgent = services.case_deadline(category=Category.objects.get(code="risk_water"), urgency="urgent",
                                        start=timezone.now())
        hours = services.case_deadline(category=Category.objects.get(code="forest_fire"), urgency="critical",
                                       start=timezone.now())
    assert timezone.localtime(urgent) == at(2025, 10, 9, 23, 59, 59, 999999)  # one working day: after the holiday
    assert timezone.localtime(hours) == at(2025, 9, 30, 11, 0)  # clock hours run through holidays


def test_warn_urge_escalate(tree, users):
    with time_machine.travel(at(2025, 9, 30, 10, 0), tick=False):
        village_case = registered(users, tree.grid_a, Channel.GRID_WORKER)  # the desk: village A1
        root_case = registered(users, tree.grid_b, Channel.HOTLINE)  # the desk: the county, nowhere above
        parked = registered(users, tree.grid_a2, Channel.GRID_WORKER)
        services.case_act(actor=users.superuser, case=parked, verb="suspend", note="等待汛期结束",
                          review_on=dt.date(2025, 12, 1))
    deadline = at(2025, 10, 11, 23, 59, 59, 999999)
    assert village_case.deadline_at == root_case.deadline_at == deadline
    assert village_case.desk_area == tree.village_a1 and root_case.desk_area == tree.county

    # During the holiday and on Friday: more than a day left, nothing happens.
    assert sweep(at(2025, 10, 3, 9, 0)) == NOTHING
    assert sweep(at(2025, 10, 10, 23, 0)) == NOTHING
    # Within a day of the deadline: one warning each, and only one.
    assert sweep(at(2025, 10, 11, 0, 30)) == {"warned": 2, "urged": 0, "escalated": 0}
    assert sweep(at(2025, 10, 11, 9, 0)) == NOTHING
    # The day after the deadline: urged, once.
    assert sweep(at(2025, 10, 12, 9, 0)) == {"warned": 0, "urged": 2, "escalated": 0}
    assert sweep(at(2025, 10, 13, 9, 0)) == NOTHING
    # Two working days of grace (Monday 13 and Tuesday 14 October) are not over yet on Tuesday evening.
    assert sweep(at(2025, 10, 14, 23, 0)) == NOTHING
    # Then the village's case goes up to the town; the county's has nowhere to go.
    assert sweep(at(2025, 10, 15, 9, 0)) == {"warned": 0, "urged": 0, "escalated": 1}
    assert sweep(at(2025, 10, 15, 9, 15)) == NOTHING

    village_case.refresh_from_db()
    root_case.refresh_from_db()
    parked.refresh_from_db()
    system = "system"
    root = "root (root-name)"
    base = [("create", "", "submitted", root), ("accept", "submitted", "accepted", root),
            ("register", "accepted", "registered", root)]
    assert timeline(village_case) == base + [("warn", "registered", "registered", system),
                                             ("urge", "registered", "registered", system),
                                             ("escalate", "registered", "registered", system)]
    assert timeline(root_case) == base + [("warn", "registered", "registered", system),
                                          ("urge", "registered", "registered", system)]
    assert timeline(parked) == base + [("suspend", "registered", "suspended", root)]
    assert (village_case.desk_area, village_case.escalation_count, village_case.urge_count) == (tree.town_a, 1, 1)
    escalation = CaseAction.objects.filter(case=village_case, verb="escalate").get()
    assert escalation.data == {"from": "梁家湾村", "to": "富水镇", "automatic": True} and escalation.actor is None
    # The town gets a fresh deadline from the escalation: three working days from Wednesday 15 October.
    assert timezone.localtime(village_case.deadline_at) == at(2025, 10, 20, 23, 59, 59, 999999)
    assert (root_case.desk_area, root_case.escalation_count, root_case.urge_count) == (tree.county, 0, 1)
    assert parked.state == State.SUSPENDED

    # The town's new deadline runs the same course: warned, urged, and escalated again after the grace.
    assert sweep(at(2025, 10, 20, 8, 0)) == {"warned": 1, "urged": 0, "escalated": 0}
    assert sweep(at(2025, 10, 21, 8, 0)) == {"warned": 0, "urged": 1, "escalated": 0}
    assert sweep(at(2025, 10, 23, 8, 0)) == {"warned": 0, "urged": 0, "escalated": 1}
    village_case.refresh_from_db()
    assert village_case.desk_area == tree.county and village_case.escalation_count == 2
    assert sweep(at(2025, 11, 30, 8, 0)) == {"warned": 0, "urged": 1, "escalated": 0}  # at the root: urged only
    assert sweep(at(2025, 12, 30, 8, 0)) == NOTHING


def test_cases_without_a_deadline_or_being_verified_are_left_alone(tree, users):
    with time_machine.travel(at(2025, 9, 30, 10, 0), tick=False):
        fresh = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="路灯坏了", area=tree.grid_a)
        reported = registered(users, tree.grid_a, Channel.GRID_WORKER)
        services.case_act(actor=users.superuser, case=reported, verb="dispatch", target_area=tree.grid_a)
        services.case_act(actor=users.superuser, case=reported, verb="report", note="已修复")
    assert fresh.deadline_at is None
    assert sweep(at(2025, 11, 20, 9, 0)) == NOTHING
    assert [v for v, *_ in timeline(reported)][-1] == "report"
