"""The demo cases (gridgov.cases.demo) on the tiny demo county: every timeline replays through the transition
table, the case rows agree with what the services would have written, every case lies in the tree, the states
are in plausible proportions, and each demo login finds something in its inbox."""

from __future__ import annotations

from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction

from gridgov.areas import demo as areas_demo
from gridgov.areas.models import Area, Rank
from gridgov.cases import demo, selectors, services
from gridgov.cases.models import (
    FINAL_STATES,
    OPEN_STATES,
    Case,
    CaseAction,
    CaseAssignment,
    Notification,
    State,
)
from gridgov.cases.workflow import BY_VERB
from gridgov.registry import demo as residents

pytestmark = pytest.mark.django_db
COUNT = 400


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    """The tiny demo county with its residents and COUNT cases, loaded once for the module and rolled back."""
    with django_db_blocker.unblock(), transaction.atomic():
        areas_demo.load(scale="tiny")
        residents.load_residents(scale="tiny", verify=0)
        result = demo.load_cases(scale="tiny", count=COUNT)
        yield result
        transaction.set_rollback(True)


def test_command(db):
    """Runs first, before the module's demo is loaded."""
    areas_demo.load(scale="tiny")
    out = StringIO()
    call_command("demo_cases", scale="tiny", count=50, stdout=out)
    text = out.getvalue()
    assert "Cases: " in text and "county_operator" in text
    assert Case.objects.count() > 50
    with pytest.raises(CommandError, match="already holds cases"):
        call_command("demo_cases", scale="tiny", stdout=out)


def timelines() -> dict[int, list[CaseAction]]:
    out: dict[int, list[CaseAction]] = defaultdict(list)
    for action in CaseAction.objects.order_by("case_id", "at", "id"):
        out[action.case_id].append(action)
    return out


def test_counts(loaded):
    featured = loaded.counts["featured"]
    assert featured >= 15
    assert Case.objects.count() == COUNT + featured == loaded.counts["cases"]
    assert CaseAction.objects.count() == loaded.counts["actions"]
    assert CaseAssignment.objects.count() == loaded.counts["assignments"]
    assert Notification.objects.count() == loaded.counts["notifications"] > 0


def test_every_timeline_replays_through_the_transition_table(loaded):
    cases = {c.pk: c for c in Case.objects.all()}
    for pk, actions in timelines().items():
        case = cases.pop(pk)
        assert actions[0].verb == "create" and actions[0].from_state == "" and actions[0].to_state == State.SUBMITTED
        assert actions[0].at == case.created_at
        state = State.SUBMITTED
        for action in actions[1:]:
            transition = BY_VERB[action.verb]
            assert action.from_state == state, (pk, action.verb)
            assert action.from_state in transition.sources, (pk, action.verb, action.from_state)
            assert action.to_state == (transition.target or action.from_state), (pk, action.verb)
            assert action.note or not transition.note_required, (pk, action.verb)
            state = action.to_state
        assert state == case.state, pk
        assert case.updated_at == actions[-1].at
    assert cases == {}  # every case has a timeline


def test_states_are_valid_and_plausible(loaded):
    states = Counter(Case.objects.values_list("state", flat=True))
    total = sum(states.values())
    assert set(states) <= set(State.values)
    assert states[State.CLOSED] / total > 0.85
    assert 0 < states[State.REFUSED] / total < 0.05
    open_cases = sum(n for s, n in states.items() if s in OPEN_STATES)
    assert 15 <= open_cases < total * 0.15
    assert {State.SUBMITTED, State.ACCEPTED, State.REGISTERED, State.DISPATCHED, State.HANDLING, State.REPORTED,
            State.SUSPENDED} <= set(states)  # the demo logins' cases reach each open state
    channels = Counter(Case.objects.values_list("channel", flat=True))
    assert channels.most_common(1)[0][0] == "grid_worker" and len(channels) == 7
    domains = Counter(Case.objects.exclude(domain=None).values_list("domain__code", flat=True))
    assert {d for d, _n in domains.most_common(2)} <= {"risk", "dispute"}
    assert len(domains) == 8
    closed = Case.objects.filter(state=State.CLOSED)
    fixed = closed.filter(outcome="fixed")
    assert fixed.count() / closed.count() > 0.9
    assert fixed.filter(closed_on_time=True).count() / fixed.count() > 0.8
    assert 0 < closed.filter(rework_count__gt=0).count() < closed.count() * 0.1
    rated = closed.exclude(rating="")
    assert rated.filter(rating="satisfied").count() / rated.count() > 0.7
    levels = Counter(closed.values_list("resolved_area__level__name", flat=True))
    assert set(levels) == {"片", "村/社区", "镇办", "县"}
    assert (levels["片"] + levels["村/社区"]) / closed.count() > 0.5  # 小事不出格
    assert Case.objects.filter(escalation_count__gt=0).exists()
    assert Case.objects.filter(state__in=OPEN_STATES, supervision_deadline_at__isnull=False).exists()


def test_every_case_lies_in_the_tree(loaded):
    paths = dict(Area.objects.values_list("pk", "path"))
    ranks = dict(Area.objects.values_list("pk", "level__rank"))
    for case in Case.objects.all():
        assert ranks[case.desk_area_id] != Rank.BELOW_VILLAGE  # escalations skip the levels without a desk
        area = paths[case.area_id]
        assert case.placed == (case.area.parent_id is not None)
        if case.placed:
            assert case.area.is_grid
            assert area.startswith(paths[case.desk_area_id])  # the desk is the grid or above it
        if case.holder_area_id:
            assert paths[case.holder_area_id].startswith(paths[case.desk_area_id])
        if case.resolved_area_id:
            assert case.resolved_area_id in (case.holder_area_id, case.desk_area_id) or case.state == State.CLOSED


def test_rows_agree_with_the_services(loaded):
    """Deadlines from the calendar as ``case_deadline`` computes them, the close, the counts, the assignments."""
    checked_deadlines = 0
    for case in Case.objects.select_related("category", "resolved_area"):
        actions = list(case.actions.order_by("at", "id"))
        verbs = [a.verb for a in actions]
        # The deadline was set by the last action that sets one.
        setter = None
        for action in actions:
            if action.verb in ("register", "self_handle", "reopen") or (
                    action.verb == "escalate" and action.data.get("automatic")):
                setter = action
        if setter is not None:
            expected = services.case_deadline(category=case.category, urgency=case.urgency, start=setter.at)
            assert case.deadline_at == expected, (case.pk, setter.verb)
            checked_deadlines += 1
        if case.state == State.CLOSED:
            close = [a for a in actions if a.verb == "close"][-1]
            assert case.closed_at == close.at and case.outcome == close.data["outcome"]
            assert case.closed_on_time == (case.deadline_at is None or case.closed_at <= case.deadline_at)
            assert close.data["on_time"] == case.closed_on_time
            assert case.resolved_area.name == close.data["resolved_at"]
            assert not case.assignments.filter(active=True).exists()
            rates = [a for a in actions if a.verb == "rate" and a.at > close.at]
            assert case.rating == (rates[-1].data["rating"] if rates else "")
        else:
            assert case.closed_at is None and case.outcome == "" and case.resolved_area_id is None
        assert case.urge_count == verbs.count("urge")
        assert case.rework_count == verbs.count("rework")
        assert case.escalation_count == verbs.count("escalate")
        lead = case.assignments.filter(active=True, role="lead")
        if case.state in (State.DISPATCHED, State.HANDLING, State.REPORTED):
            assert lead.count() == 1
            assert (lead[0].area_id, lead[0].department_id) == (case.holder_area_id, case.holder_department_id)
        else:
            assert case.holder_area_id is None or case.state == State.CLOSED
            assert not lead.exists() or case.state == State.CLOSED
        if case.state == State.MERGED:
            assert case.duplicate_of_id is not None and case.duplicate_of.state != State.REFUSED
        if case.state in FINAL_STATES - {State.CLOSED}:
            assert not case.assignments.filter(active=True).exists()
    assert checked_deadlines > COUNT * 0.8


def test_each_demo_login_finds_cases_in_its_inbox(loaded):
    users = {u.username: u for u in get_user_model().objects.filter(
        username__in=[name for name, _r, _w in areas_demo.ACCOUNTS])}
    counts = {name: selectors.inbox_counts(actor=user) for name, user in users.items()}
    assert counts["county_operator"]["pending"] >= 3 and counts["county_operator"]["todo"] >= 3
    assert counts["county_operator"]["done"] > 0 and counts["county_operator"]["overdue"] > 0
    assert counts["town_operator"]["todo"] >= 3 and counts["town_operator"]["done"] > 0
    assert counts["village_staff"]["pending"] >= 2 and counts["village_staff"]["todo"] >= 3
    assert counts["grid_worker"]["todo"] >= 3 and counts["grid_worker"]["overdue"] >= 1
    assert counts["grid_worker"]["done"] > 0
    assert counts["dept_handler"]["todo"] >= 2
    assert counts["leader"]["supervised"] >= 1 and counts["leader"]["done"] >= 1
    assert counts["town_admin2"]["overdue"] >= 1
    for name, user in users.items():  # the first page of every tab is what the counts say
        for tab in selectors.INBOX_TABS:
            assert len(list(selectors.inbox(actor=user, tab=tab)[:500])) == counts[name][tab], (name, tab)
    stats = selectors.case_stats(actor=users["leader"])
    total = stats["total"][0]
    assert total.total > COUNT * 0.9 and 0.8 < total.close_rate < 1 and total.satisfaction_rate > 0.8


def test_notifications_are_recent_and_for_the_right_users(loaded):
    unread = Notification.objects.filter(read_at__isnull=True)
    assert unread.exists()
    grid_worker = get_user_model().objects.get(username="grid_worker")
    assert selectors.notifications_unread(actor=grid_worker).exists()
    assert not Notification.objects.filter(case__state__in=FINAL_STATES, read_at__isnull=True).exists()


def test_loads_only_into_an_empty_case_table(loaded):
    with pytest.raises(demo.CasesNotEmpty):
        demo.load_cases(scale="tiny", count=1)


@pytest.mark.parametrize("username", ["leader", "town_operator", "village_staff", "dept_handler"])
def test_statistics_match_the_cases(loaded, username):
    """The day rows the load wrote are those the cases call for, and ``case_stats`` (read from them for the county
    and a town, counted from the cases for a village and for a department's handler) equals a count in Python of
    the cases placed in the areas asked (of the cases seen, for the department's handler, who has no areas).

    It replaces the comparison with ``case_stats_single_pass``, the variant timed beside case_stats, which is gone:
    case_stats now counts the cases placed in the areas, from the day rows where the areas are large."""
    import datetime as dt

    from django.utils import timezone

    from gridgov.areas.scope import Perm, scope_for
    from tests.cases.stats_oracle import as_found, day_rows, expected_day_rows, expected_stats

    assert day_rows() == expected_day_rows()
    user = get_user_model().objects.get(username=username)
    roots = list(scope_for(user, Perm.CASE_VIEW).roots)
    seen = None if roots else set(selectors.case_visible(actor=user).values_list("pk", flat=True))
    town = Area.objects.get(name="富水镇")
    today = timezone.localdate()
    for kwargs in ({}, {"area": town}, {"created_from": today - dt.timedelta(days=90), "created_to": today}):
        paths = roots or None
        if "area" in kwargs:
            inside = any(town.path.startswith(root) for root in roots) or not roots
            paths = [town.path] if inside else [root for root in roots if root.startswith(town.path)]
        want = expected_stats(paths=paths, pks=seen, created_from=kwargs.get("created_from"),
                              created_to=kwargs.get("created_to"))
        assert as_found(selectors.case_stats(actor=user, **kwargs)) == want, kwargs
