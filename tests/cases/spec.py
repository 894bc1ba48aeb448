"""The cases authorization spec, written independently of gridgov.areas.scope.ROLE_PERMS and of
gridgov.cases.workflow, and cases prepared in every state the workflow has, on both sides of the test county.

Each test user of tests/conftest.py holds case rights on the subtree of tests/areas/matrix.py ROOTS; the
department handler works for the county's 水务局. Who stands in which relation to a case (the desk that
coordinates it, the unit holding it, a superior, an assisting unit, its reporter) follows from those rights,
and which relation may take which action is the issue's text, restated below.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from django.utils import timezone

from gridgov.areas.models import Department
from gridgov.cases import services
from gridgov.cases.models import (
    Case,
    CaseAction,
    CaseAssignment,
    CaseAttachment,
    CaseSubmission,
    Category,
    Channel,
    Notification,
)
from gridgov.core.models import AuditEvent
from tests.areas.matrix import ROLES, ROOTS, SIDES  # noqa: F401  (re-exported)

VIEW, REPORT, HANDLE, DISPATCH, SUPERVISE, REVEAL = "view", "report", "handle", "dispatch", "supervise", "reveal"
ALL = {VIEW, REPORT, HANDLE, DISPATCH, SUPERVISE, REVEAL}
# Centre operators and village staff run a desk; leaders watch and supervise; a town's area administrator only
# reads cases; grid workers and grid police report and handle in their grid and may call a reporter back.
CASE_PERMS: dict[str, set[str]] = {
    "county_operator": ALL,
    "leader": {VIEW, SUPERVISE},
    "town_admin_a": {VIEW},
    "town_admin_b": {VIEW},
    "town_operator_a": ALL,
    "village_staff_a": ALL,
    "grid_worker_a": {VIEW, REPORT, HANDLE, REVEAL},
    "grid_police_a": {VIEW, REPORT, HANDLE, REVEAL},
    "dept_handler": set(),
    "nobody": set(),
}
DEPT = "dept"  # the county's 水务局, whose only handler is dept_handler

DESK, HOLDER, ASSISTANT, SUPERIOR, REPORTER = "desk", "holder", "assistant", "superior", "reporter"
# Which relation may take which action (issue 4, "Workflow").
MAY: dict[str, set[str]] = {
    "accept": {DESK}, "refuse": {DESK}, "register": {DESK}, "self_handle": {REPORTER}, "dispatch": {DESK},
    "reassign": {DESK}, "start": {HOLDER}, "send_back": {HOLDER}, "escalate": {DESK, HOLDER},
    "assist_report": {ASSISTANT}, "report": {HOLDER}, "rework": {DESK, SUPERIOR}, "close": {DESK, SUPERIOR},
    "rate": {REPORTER, DESK}, "reopen": {DESK}, "urge": {DESK, SUPERIOR}, "supervise": {SUPERIOR},
    "supervision_report": {HOLDER}, "suspend": {DESK}, "resume": {DESK}, "merge": {DESK},
    "comment": {DESK, HOLDER, ASSISTANT, SUPERIOR}, "attach": {DESK, HOLDER, ASSISTANT, SUPERIOR, REPORTER},
}


def holds(tree, role: str, perm: str, key: str) -> bool:
    if role == "superuser":
        return True
    if perm not in CASE_PERMS[role]:
        return False
    path = getattr(tree, key).path
    return any(path.startswith(getattr(tree, root).path) for root in ROOTS[role])


def holds_anywhere(role: str, perm: str) -> bool:
    return role == "superuser" or (perm in CASE_PERMS[role] and bool(ROOTS[role]))


@dataclass
class Setup:
    """Where a prepared case stands: area keys of the tree, or DEPT."""

    side: str
    state: str
    area: str
    desk: str
    holder: str | None = None
    assists: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # units it was once dispatched to: they still see it
    reporter: str = "superuser"


def visible(tree, role: str, s: Setup) -> bool:
    units = [k for k in [s.area, s.desk, s.holder, *s.assists, *s.seen] if k is not None]
    if role == "dept_handler":
        return DEPT in units
    return any(holds(tree, role, VIEW, k) for k in units if k != DEPT)


def relations(tree, role: str, s: Setup) -> set[str]:
    found = set()
    if holds(tree, role, DISPATCH, s.desk):
        found.add(DESK)

    def works(unit: str) -> bool:
        return role == "dept_handler" if unit == DEPT else holds(tree, role, HANDLE, unit)

    if s.holder is not None and works(s.holder):
        found.add(HOLDER)
    if any(works(unit) for unit in s.assists):
        found.add(ASSISTANT)
    if holds(tree, role, SUPERVISE, s.desk) or holds(tree, role, SUPERVISE, s.area):
        found.add(SUPERIOR)
    if s.reporter == role:
        found.add(REPORTER)
    return found


def expected(tree, role: str, s: Setup, verb: str, ok: int = 200) -> int:
    """The API's answer: a case the role cannot see is absent (404); one it sees but may not act on, 403."""
    if not visible(tree, role, s):
        return 404
    return ok if MAY[verb] & relations(tree, role, s) else 403


# --- preparing cases -----------------------------------------------------------------------------------

_seq = itertools.count(1)
PHONE = "13800001234"


def water(tree) -> Department:
    return Department.objects.get(name="水务局")


def file_case(tree, users, side: str, *, channel: str = Channel.GRID_WORKER, reporter: str = "superuser",
              category: str = "risk_water", **fields) -> Case:
    grid = getattr(tree, f"grid_{side}")
    return services.case_create(
        actor=getattr(users, reporter), channel=channel, description=f"第{next(_seq)}号：路面积水", area=grid,
        category=Category.objects.get(code=category), reporter_phone=PHONE, reporter_name="李四", **fields)


def prepare(tree, users, side: str, state: str) -> tuple[Case, Setup]:
    """A case in ``state`` on ``side``, moved there by the superuser through the services.

    ``submitted``: filed by phone (hotline), coordinated by the county centre. Every later state: a grid
    worker's report coordinated by the village, dispatched to the grid with the water department assisting.
    """
    su = users.superuser
    grid, village = f"grid_{side}", f"village_{side}1"
    if state == "submitted":
        return file_case(tree, users, side, channel=Channel.HOTLINE), Setup(side, state, grid, "county")
    if state == "self_report":
        reporter = "grid_worker_a" if side == "a" else "superuser"
        case = file_case(tree, users, side, reporter=reporter)
        return case, Setup(side, "submitted", grid, village, reporter=reporter)
    case = file_case(tree, users, side)
    setup = Setup(side, state, grid, village)

    def act(verb, **params):
        services.case_act(actor=su, case=case, verb=verb, **params)

    act("accept")
    if state == "accepted":
        return case, setup
    act("register")
    if state == "registered":
        return case, setup
    if state == "suspended":
        act("suspend", note="等待汛期结束", review_on=timezone.localdate() + dt.timedelta(days=30))
        return case, setup
    act("dispatch", target_area=getattr(tree, grid), assist_departments=[water(tree)])
    setup.holder, setup.assists = grid, [DEPT]
    if state == "dispatched":
        return case, setup
    act("start")
    if state == "handling":
        return case, setup
    act("report", note="已处理")
    if state == "reported":
        return case, setup
    act("close", outcome="fixed")
    setup.assists, setup.seen = [], [DEPT]  # closing ends the assignments; the lead unit stays on record
    if state == "closed":
        return case, setup
    act("rate", rating="unsatisfied")
    if state == "unsatisfied":
        setup.state = "closed"
        return case, setup
    raise AssertionError(state)


# --- snapshots --------------------------------------------------------------------------------------


def snapshot() -> tuple:
    """Everything a refused request must leave as it was."""
    return (
        list(Case.objects.order_by("pk").values()),
        list(CaseAction.objects.order_by("pk").values_list("pk", "case_id", "verb", "from_state", "to_state")),
        list(CaseAssignment.objects.order_by("pk").values()),
        list(CaseAttachment.objects.order_by("pk").values_list("pk", "case_id", "action_id")),
        Notification.objects.count(),
        AuditEvent.objects.count(),
        CaseSubmission.objects.count(),
    )
