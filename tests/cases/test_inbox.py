"""The inbox's tabs against their definitions, written from the cases, their assignments and their timelines (not
through the reach and participant rows the selectors read):

- pending (待受理): submitted cases at a desk the user staffs;
- todo (待办): accepted, registered or reported cases at such a desk, cases dispatched to or being handled by a
  unit the user staffs or their department, and cases such a unit assists on and has not reported back on;
- done (已办): the cases of the user's first ``DONE_LIMIT`` cases acted on, latest action first (then by case id
  downwards), that the user may still see, in that order;
- overdue (超时) and supervised (督办): open cases the user may see, past their deadline (not suspended) or under
  supervision.

A user's desks and units are the areas of their posts (``tests.cases.spec``: the roles' roots and rights).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Max
from django.utils import timezone

from gridgov.cases import derived, selectors, services
from gridgov.cases.models import OPEN_STATES, Case, CaseAction, State
from tests.cases.spec import CASE_PERMS, DISPATCH, HANDLE, ROLES, ROOTS, file_case, prepare, water
from tests.cases.test_workflow_properties import visible_by_definition

pytestmark = pytest.mark.django_db

WORKING = {State.DISPATCHED, State.HANDLING}


def fresh(users, role: str):
    user = getattr(users, role)
    for key in ("_gridgov_scopes", "_gridgov_cases"):  # cached per request
        user.__dict__.pop(key, None)
    return user


def tabs_by_definition(tree, users, role: str, cases: list[Case]) -> dict[str, list[int]]:
    """Each tab's case ids among ``cases`` (every case, with their assignments): the done tab in its order, the
    others sorted."""
    user = fresh(users, role)
    perms, roots = CASE_PERMS.get(role, set()), [getattr(tree, key).pk for key in ROOTS.get(role, [])]
    desks = roots if DISPATCH in perms else []
    units = roots if HANDLE in perms else []
    dept = water(tree).pk if role == "dept_handler" else None
    now = timezone.now()
    visible = visible_by_definition(user, [c.pk for c in cases])

    def assisting(case: Case) -> bool:
        return any(a.role == "assist" and a.active and a.reported_at is None
                   and (a.area_id in units or (dept is not None and a.department_id == dept))
                   for a in case.assignments.all())

    def todo(c: Case) -> bool:
        return ((c.desk_area_id in desks and c.state in (State.ACCEPTED, State.REGISTERED, State.REPORTED))
                or (c.state in WORKING and (c.holder_area_id in units
                                            or (dept is not None and c.holder_department_id == dept)))
                or (c.state in WORKING | {State.REPORTED} and assisting(c)))

    acted = (CaseAction.objects.filter(actor=user).values("case_id").annotate(last=Max("at"))
             .values_list("case_id", "last"))
    recent = sorted(acted, key=lambda row: (row[1], row[0]), reverse=True)[:selectors.DONE_LIMIT]
    open_seen = [c for c in cases if c.pk in visible and c.state in OPEN_STATES]
    return {
        "pending": sorted(c.pk for c in cases if c.desk_area_id in desks and c.state == State.SUBMITTED),
        "todo": sorted(c.pk for c in cases if todo(c)),
        "done": [pk for pk, _last in recent if pk in visible],
        "overdue": sorted(c.pk for c in open_seen
                          if c.deadline_at is not None and c.deadline_at < now and c.state != State.SUSPENDED),
        "supervised": sorted(c.pk for c in open_seen if c.supervision_deadline_at is not None),
    }


def tabs_read(users, role: str) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Each tab's case ids as the inbox lists them (the done tab in its order, the others sorted), and the counts."""
    tabs = {}
    for tab in selectors.INBOX_TABS:
        ids = list(selectors.inbox(actor=fresh(users, role), tab=tab).prefetch_related(None)
                   .values_list("pk", flat=True))
        tabs[tab] = ids if tab == "done" else sorted(ids)
    return tabs, selectors.inbox_counts(actor=fresh(users, role))


def scenario(tree, users) -> None:
    """Cases in every state on both sides, some overdue (one of them suspended), supervised (one of them closed
    since), assisted by a department (one reported back) and by an area, acted on by several users."""
    su = users.superuser
    for side in ("a", "b"):
        for state in ("submitted", "self_report", "accepted", "registered", "suspended", "dispatched", "handling",
                      "reported", "closed"):
            case, _setup = prepare(tree, users, side, state)
            if state in ("registered", "suspended", "dispatched", "handling"):
                Case.objects.filter(pk=case.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=3))
    handling_a = Case.objects.filter(area=tree.grid_a, state=State.HANDLING).get()
    services.case_act(actor=users.county_operator, case=handling_a, verb="supervise", note="限期",
                      deadline_at=timezone.now() + dt.timedelta(days=1))
    services.case_act(actor=users.dept_handler, case=handling_a, verb="assist_report", note="已配合")
    reported_b = Case.objects.filter(area=tree.grid_b, state=State.REPORTED).get()  # supervised, then closed
    services.case_act(actor=users.county_operator, case=reported_b, verb="supervise", note="限期",
                      deadline_at=timezone.now() + dt.timedelta(days=1))
    services.case_act(actor=su, case=reported_b, verb="close", outcome="fixed")
    assisted = file_case(tree, users, "a")  # held by group A1, assisted by grid A and the department
    for verb in ("accept", "register"):
        services.case_act(actor=su, case=assisted, verb=verb)
    services.case_act(actor=su, case=assisted, verb="dispatch", target_area=tree.group_a1,
                      assist_areas=[tree.grid_a], assist_departments=[water(tree)])
    services.case_act(actor=users.village_staff_a, case=Case.objects.filter(area=tree.grid_a,
                      state=State.REPORTED).get(), verb="comment", note="已回访")


@pytest.mark.parametrize("limit", [3, 1000])
def test_tabs_follow_their_definitions(tree, users, monkeypatch, limit):
    monkeypatch.setattr(selectors, "DONE_LIMIT", limit)  # 3: the superuser's done tab is cut
    scenario(tree, users)
    cases = list(Case.objects.prefetch_related("assignments"))
    for role in ROLES:
        tabs, counts = tabs_read(users, role)
        assert tabs == tabs_by_definition(tree, users, role, cases), role
        assert counts == {tab: len(ids) for tab, ids in tabs.items()}, role
        for tab, ids in tabs.items():
            assert selectors.inbox_count(actor=fresh(users, role), tab=tab) == len(ids), (role, tab)
    seen = {tab: sum(len(tabs_read(users, role)[0][tab]) for role in ROLES) for tab in selectors.INBOX_TABS}
    assert all(seen.values()), seen  # every tab shows something to someone


@pytest.mark.parametrize("limit, expected", [(2, ["a3"]), (3, ["a3", "a2"]), (4, ["a3", "a2", "a1"]),
                                             (10, ["a3", "a2", "a1"])])
def test_done_cut_at_the_limit_in_the_tabs_order(tree, users, monkeypatch, limit, expected):
    """Actions at the same time are taken by case id downwards, as the tab lists them; a case the user no longer
    sees keeps its place among the first ``DONE_LIMIT`` and is left out."""
    monkeypatch.setattr(selectors, "DONE_LIMIT", limit)
    cases = {name: file_case(tree, users, name[0]) for name in ("a1", "a2", "a3", "b1")}
    user = users.village_staff_a
    at = timezone.now() - dt.timedelta(days=1)
    for name, case in cases.items():
        later = dt.timedelta(hours=1) if name == "b1" else dt.timedelta(0)  # town B's: out of the village's sight
        derived.participant_touch(case_id=case.pk, user_id=user.pk, at=at + later)
    done = [case.pk for case in selectors.inbox(actor=fresh(users, "village_staff_a"), tab="done")]
    assert done == [cases[name].pk for name in expected]
    assert selectors.inbox_count(actor=fresh(users, "village_staff_a"), tab="done") == len(expected)
    assert selectors.inbox_counts(actor=fresh(users, "village_staff_a"))["done"] == len(expected)
