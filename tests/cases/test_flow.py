"""The closed loop of the issue's "done when", through the services: a resident's 随手拍 report is accepted by
the county, dispatched to a village, escalated to the town, dispatched to the water department with the
village assisting, reported done, verified and closed, and rated."""

from __future__ import annotations

import pytest

from gridgov.areas.models import Department, Role
from gridgov.cases import services, workflow
from gridgov.cases.models import Case, CaseAction, Category, Channel, Notification, Outcome, State
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def water(tree):
    return Department.objects.get(name="水务局")


@pytest.fixture
def village_a1_staff(tree):
    return make_user("village_a1_staff", area=tree.village_a1, role=Role.VILLAGE_STAFF)


def verbs(user, case):
    return [t.verb for t in workflow.allowed_verbs(user, case)]


def test_done_when_flow(tree, users, water, village_a1_staff):
    category = Category.objects.get(code="risk_water")
    case = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="自来水管破裂，路面积水",
                                lng=110.805, lat=33.505, reporter_phone="13800001234", client_key="k-1")
    assert case.area == tree.grid_a and case.placed
    assert case.desk_area == tree.county
    assert case.reporter_phone_masked == "138****1234" and "13800001234" not in case.reporter_phone_sealed
    assert services.case_create(actor=None, channel=Channel.SELF_REPORT, description="again",
                                client_key="k-1").pk == case.pk

    op = users.county_operator
    assert "accept" in verbs(op, case)
    assert verbs(users.grid_worker_a, case) == []
    services.case_act(actor=op, case=case, verb="accept", category=category)
    services.case_act(actor=op, case=case, verb="register")
    assert case.deadline_at is not None
    services.case_act(actor=op, case=case, verb="dispatch", target_area=tree.village_a1)
    assert Notification.objects.filter(user=village_a1_staff, case=case).exists()
    assert "escalate" in verbs(village_a1_staff, case)
    services.case_act(actor=village_a1_staff, case=case, verb="escalate", note="村级无法处理")
    case.refresh_from_db()
    assert case.desk_area == tree.town_a and case.state == State.REGISTERED and case.holder_area is None

    town = users.town_operator_a
    services.case_act(actor=town, case=case, verb="dispatch", target_department=water,
                      assist_areas=[tree.village_a1])
    assert case.mode == "assist"
    handler = users.dept_handler
    assert "report" in verbs(handler, case)
    assert "assist_report" in verbs(village_a1_staff, case)
    services.case_act(actor=village_a1_staff, case=case, verb="assist_report", note="已协助疏导交通")
    services.case_act(actor=handler, case=case, verb="report", note="管道已修复")
    with pytest.raises(PermissionDenied):
        services.case_act(actor=handler, case=case, verb="close", outcome=Outcome.FIXED)
    services.case_act(actor=town, case=case, verb="close", outcome=Outcome.FIXED)
    case.refresh_from_db()
    assert case.state == State.CLOSED and case.outcome == Outcome.FIXED and case.closed_on_time
    assert case.resolved_area == tree.town_a  # the desk that coordinated the department
    services.case_rate_public(tracking_code=case.tracking_code.lower(), rating="satisfied")
    case.refresh_from_db()
    assert case.rating == "satisfied"
    with pytest.raises(ApplicationError):
        services.case_rate_public(tracking_code=case.tracking_code, rating="unsatisfied")

    actions = list(CaseAction.objects.filter(case=case).values_list("verb", "from_state", "to_state"))
    assert [a[0] for a in actions] == ["create", "accept", "register", "dispatch", "escalate", "dispatch",
                                       "assist_report", "report", "close", "rate"]
    state = ""
    for _verb, from_state, to_state in actions:
        assert from_state == state
        state = to_state
    assert state == case.state


def test_outsider_sees_nothing(tree, users):
    case = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="x", lng=110.905, lat=33.605)
    assert case.area == tree.grid_b
    with pytest.raises(NotFound):
        services.case_act(actor=users.town_operator_a, case=case, verb="accept")
    assert Case.objects.get(pk=case.pk).state == State.SUBMITTED


def test_unplaced_case_lands_at_the_root(tree):
    case = services.case_create(actor=None, channel=Channel.HOTLINE if False else Channel.SELF_REPORT,
                                description="somewhere")
    assert not case.placed and case.area == tree.county and case.desk_area == tree.county


def test_grid_worker_handles_own_report(tree, users):
    case = services.case_create(actor=users.grid_worker_a, channel=Channel.GRID_WORKER, description="路灯坏了",
                                category=Category.objects.get(code="risk_road"), handle_directly=True)
    assert case.state == State.HANDLING and case.holder_area == tree.grid_a and case.desk_area == tree.village_a1
    services.case_act(actor=users.grid_worker_a, case=case, verb="report", note="已更换")
    services.case_act(actor=users.village_staff_a, case=case, verb="close")
    case.refresh_from_db()
    assert case.resolved_area == tree.grid_a


def test_escalation_skips_levels_without_a_desk(tree, users):
    """片 → 村 → 镇 → 县: a grid escalates to its village, past the group (组) that has no desk."""
    case = services.case_create(actor=users.grid_worker_a, channel=Channel.GRID_WORKER, description="邻里纠纷",
                                category=Category.objects.get(code="dispute_neighbour"), handle_directly=True)
    assert workflow.escalation_target(case) == tree.village_a1
    services.case_act(actor=users.grid_worker_a, case=case, verb="escalate", note="调解不成")
    case.refresh_from_db()
    assert case.desk_area == tree.village_a1 and case.state == State.REGISTERED
    assert workflow.escalation_target(case) == tree.town_a
    services.case_act(actor=users.village_staff_a, case=case, verb="escalate", note="需镇综治中心处理")
    case.refresh_from_db()
    assert case.desk_area == tree.town_a
    services.case_act(actor=users.town_operator_a, case=case, verb="escalate", note="上报县")
    case.refresh_from_db()
    assert case.desk_area == tree.county and workflow.escalation_target(case) is None
    assert "escalate" not in verbs(users.county_operator, case)


def test_resuming_gives_a_fresh_deadline(tree, users):
    import datetime as dt

    import time_machine

    with time_machine.travel(dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False):
        case = services.case_create(actor=users.grid_worker_a, channel=Channel.GRID_WORKER, description="长期事项",
                                    category=Category.objects.get(code="dispute_land"))
        village = users.village_staff_a
        services.case_act(actor=village, case=case, verb="accept")
        services.case_act(actor=village, case=case, verb="register")
        first = case.deadline_at
        services.case_act(actor=village, case=case, verb="suspend", note="等待确权", review_on=dt.date(2027, 6, 1))
    with time_machine.travel(dt.datetime(2027, 6, 1, 9, 0, tzinfo=dt.UTC), tick=False):
        services.case_act(actor=village, case=case, verb="resume")
        case.refresh_from_db()
        assert case.state == State.REGISTERED and case.deadline_at > first
        assert services.cases_sweep_deadlines()["urged"] == 0
