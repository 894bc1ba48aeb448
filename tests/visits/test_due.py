"""The one due function (whole days in Asia/Shanghai, re-anchoring on a change of colour) and the rules behind it
(the strictest rule wins), as properties; the SQL form of the rules against the Python form."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from gridgov.registry.models import Household, HouseholdClass, ResidenceType
from gridgov.visits import policy as rules_
from gridgov.visits.due import WEEK_DAYS, Status, due_state, local_date
from gridgov.visits.selectors import expected_visits

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def at(y, m, d, hh=12, mm=0, tz=SHANGHAI) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz)


moments = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1),
                       timezones=st.just(UTC))


# --- the due function ---------------------------------------------------------------------------------


def test_due_counts_from_the_last_visit():
    state = due_state(duty="visit", every_days=30, last_visit=at(2026, 3, 1, 9), anchor=at(2025, 1, 1),
                      now=at(2026, 3, 20, 15))
    assert (state.last_visit, state.due_date, state.days_left, state.status) == (
        dt.date(2026, 3, 1), dt.date(2026, 3, 31), 11, Status.LATER)


def test_never_visited_counts_from_the_anchor():
    state = due_state(duty="visit", every_days=7, last_visit=None, anchor=at(2026, 3, 1), now=at(2026, 3, 8))
    assert (state.due_date, state.days_left, state.status) == (dt.date(2026, 3, 8), 0, Status.TODAY)


def test_statuses_around_the_due_date():
    def status(now_day):
        return due_state(duty="visit", every_days=7, last_visit=at(2026, 5, 1), anchor=at(2026, 1, 1),
                         now=at(2026, 5, now_day)).status

    # Visited on the 1st, due on the 8th: "this week" from six days before.
    assert [status(d) for d in (1, 2, 7, 8, 9, 20)] == [Status.LATER, Status.WEEK, Status.WEEK, Status.TODAY,
                                                        Status.OVERDUE, Status.OVERDUE]
    late = due_state(duty="visit", every_days=7, last_visit=at(2026, 5, 1), anchor=at(2026, 1, 1),
                     now=at(2026, 5, 20))
    assert (late.days_left, late.days_overdue) == (-12, 12)
    assert due_state(duty="visit", every_days=30, last_visit=at(2026, 5, 1), anchor=at(2026, 1, 1),
                     now=at(2026, 5, 1)).status == Status.LATER


def test_whole_days_in_shanghai_across_midnight():
    """23:50 and 00:10 Beijing time are different days, whatever the clock zone of the server or the input."""
    late_evening = dt.datetime(2026, 6, 10, 15, 50, tzinfo=UTC)  # 23:50 in Shanghai
    after_midnight = dt.datetime(2026, 6, 10, 16, 10, tzinfo=UTC)  # 00:10 on the 11th in Shanghai
    assert local_date(late_evening) == dt.date(2026, 6, 10)
    assert local_date(after_midnight) == dt.date(2026, 6, 11)
    with timezone.override("UTC"):  # an active zone other than the deployment's changes nothing
        state = due_state(duty="visit", every_days=1, last_visit=late_evening, anchor=at(2026, 1, 1),
                          now=after_midnight)
    assert (state.last_visit, state.due_date, state.days_left, state.status) == (
        dt.date(2026, 6, 10), dt.date(2026, 6, 11), 0, Status.TODAY)


@pytest.mark.parametrize(("clock", "days_left"), [
    ("2026-06-17 23:59:00+08:00", 0),  # the due day, last minute
    ("2026-06-18 00:00:00+08:00", -1),  # one minute later: overdue
    ("2026-06-17 15:59:00+00:00", 0),  # the same moments written in UTC
    ("2026-06-17 16:00:00+00:00", -1),
])
def test_overdue_starts_at_midnight_in_shanghai(clock, days_left):
    with time_machine.travel(clock, tick=False):
        state = due_state(duty="visit", every_days=7, last_visit=at(2026, 6, 10, 8), anchor=at(2026, 1, 1),
                          now=timezone.now())
    assert state.days_left == days_left


def test_a_change_of_colour_re_anchors():
    """A household turned red on 1 June after a visit on 20 May is due one red interval after the change."""
    state = due_state(duty="contact", every_days=7, last_visit=at(2026, 5, 20), anchor=at(2026, 6, 1),
                      now=at(2026, 6, 3))
    assert (state.due_date, state.status) == (dt.date(2026, 6, 8), Status.WEEK)
    # Without the change it would have been overdue since 27 May.
    assert due_state(duty="contact", every_days=7, last_visit=at(2026, 5, 20), anchor=at(2026, 1, 1),
                     now=at(2026, 6, 3)).status == Status.OVERDUE
    # A visit after the change counts from the visit.
    assert due_state(duty="contact", every_days=7, last_visit=at(2026, 6, 2), anchor=at(2026, 6, 1),
                     now=at(2026, 6, 3)).due_date == dt.date(2026, 6, 9)


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="every_days"):
        due_state(duty="visit", every_days=0, last_visit=None, anchor=at(2026, 1, 1), now=at(2026, 1, 2))


@given(last=st.one_of(st.none(), moments), anchor=moments, now=moments, every=st.integers(1, 400))
def test_due_date_is_the_later_start_plus_the_interval(last, anchor, now, every):
    state = due_state(duty="visit", every_days=every, last_visit=last, anchor=anchor, now=now)
    start = max(local_date(last), local_date(anchor)) if last is not None else local_date(anchor)
    assert state.due_date == start + dt.timedelta(days=every)
    assert state.days_left == (state.due_date - local_date(now)).days
    assert (state.status == Status.OVERDUE) == (local_date(now) > state.due_date)
    assert (state.status == Status.TODAY) == (local_date(now) == state.due_date)
    assert (state.status == Status.WEEK) == (0 < state.days_left <= WEEK_DAYS)


@given(last=moments, later=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=500)),
       anchor=moments, now=moments, every=st.integers(1, 400))
def test_a_later_visit_never_brings_the_due_date_forward(last, later, anchor, now, every):
    first = due_state(duty="visit", every_days=every, last_visit=last, anchor=anchor, now=now)
    second = due_state(duty="visit", every_days=every, last_visit=last + later, anchor=anchor, now=now)
    assert second.due_date >= first.due_date


@given(last=st.one_of(st.none(), moments), anchor=moments, change=st.timedeltas(
    min_value=dt.timedelta(0), max_value=dt.timedelta(days=500)), now=moments, every=st.integers(1, 400))
def test_re_anchoring_never_makes_a_household_due_earlier(last, anchor, change, now, every):
    """A change of colour (a later anchor) moves the due date to at least one interval after the change."""
    before = due_state(duty="visit", every_days=every, last_visit=last, anchor=anchor, now=now)
    after = due_state(duty="visit", every_days=every, last_visit=last, anchor=anchor + change, now=now)
    assert after.due_date >= before.due_date
    assert after.due_date >= local_date(anchor + change) + dt.timedelta(days=every)


@given(now=moments, every=st.integers(1, 400), hours=st.integers(0, 23))
def test_visits_on_one_day_are_one_day(now, every, hours):
    """Any time of the same Shanghai day gives the same due date (whole days)."""
    day = local_date(now)
    morning = dt.datetime.combine(day, dt.time(0, 0), tzinfo=SHANGHAI)
    some_hour = morning + dt.timedelta(hours=hours, minutes=59)
    a = due_state(duty="visit", every_days=every, last_visit=morning, anchor=morning, now=now)
    b = due_state(duty="visit", every_days=every, last_visit=some_hour, anchor=morning, now=now)
    assert a == b


# --- the rules: the strictest wins -----------------------------------------------------------------------

TAGS = ["dibao", "wubao", "disabled", "living_alone_elderly", "unstable_after_poverty"]
conditions = st.fixed_dictionaries({}, optional={
    "colour": st.lists(st.sampled_from(HouseholdClass.values), min_size=1, max_size=3, unique=True),
    "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=3, unique=True),
    "residence": st.lists(st.sampled_from(ResidenceType.values), min_size=1, max_size=2, unique=True),
})
rule_lists = st.lists(st.builds(lambda duty, days, when, n: {"duty": duty, "every_days": days, "reason": f"r{n}",
                                                             "when": when},
                                st.sampled_from(rules_.DUTIES), st.integers(1, 400), conditions, st.integers(0, 99)),
                      min_size=1, max_size=8)
facts = st.fixed_dictionaries({
    "colour": st.sampled_from(HouseholdClass.values),
    "tags": st.sets(st.sampled_from(TAGS)),
    "residences": st.sets(st.sampled_from(ResidenceType.values), min_size=1),
})


@given(rules=rule_lists, f=facts)
def test_strictest_rule_wins(rules, f):
    owed = rules_.requirements(rules, **f)
    assert not rules_.rules_problems(rules)
    for duty in rules_.DUTIES:
        matching = [r for r in rules if r["duty"] == duty and rules_.matches(r["when"], **f)]
        if not matching:
            assert duty not in owed
            continue
        strictest = min(r["every_days"] for r in matching)
        assert owed[duty].every_days == strictest
        assert owed[duty].reason == next(r["reason"] for r in matching if r["every_days"] == strictest)


@given(rules=rule_lists, extra=rule_lists, f=facts)
def test_more_rules_never_lengthen_an_interval(rules, extra, f):
    before = rules_.requirements(rules, **f)
    after = rules_.requirements(rules + extra, **f)
    assert set(before) <= set(after)
    assert all(after[d].every_days <= before[d].every_days for d in before)


@given(f=facts, red_days=st.integers(1, 60))
def test_shangnan_preset(f, red_days):
    owed = rules_.requirements(rules_.shangnan_rules(red_days), **f)
    every = {d: r.every_days for d, r in owed.items()}
    assert every == {"green": {"visit": 30}, "yellow": {"visit": 7, "helper": 30},
                     "red": {"visit": 30, "contact": red_days}}[f["colour"]]


@given(f=facts)
def test_qingyang_preset(f):
    owed = rules_.requirements(rules_.preset_rules("qingyang"), **f)
    tags, residences = f["tags"], f["residences"]
    if tags & {"living_alone_elderly", "wubao"}:
        days = 30
    elif tags & {"dibao", "disabled", "unstable_after_poverty"} or residences & {"temporary", "floating"}:
        days = 90
    else:
        days = 365
    assert {d: r.every_days for d, r in owed.items()} == {"visit": days}


@pytest.mark.parametrize("bad", [
    [], "x", [{"duty": "nap", "every_days": 3, "reason": "x", "when": {}}],
    [{"duty": "visit", "every_days": 0, "reason": "x", "when": {}}],
    [{"duty": "visit", "every_days": True, "reason": "x", "when": {}}],
    [{"duty": "visit", "every_days": 7, "reason": "", "when": {}}],
    [{"duty": "visit", "every_days": 7, "reason": "x", "when": {"colour": ["blue"]}}],
    [{"duty": "visit", "every_days": 7, "reason": "x", "when": {"age": [70]}}],
    [{"duty": "visit", "every_days": 7, "reason": "x", "when": {"residence": ["alien"]}}],
    [{"duty": "visit", "every_days": 7, "reason": "x", "when": {"tags": []}}],
    [{"duty": "visit", "every_days": 7, "reason": "x", "when": {}, "extra": 1}],
])
def test_malformed_rules_are_named(bad):
    assert rules_.rules_problems(bad)


@pytest.mark.parametrize(("days", "every", "n"), [(28, 30, 1), (31, 30, 1), (7, 30, 0), (31, 7, 4), (92, 30, 3),
                                                  (30, 90, 0), (92, 90, 1), (365, 365, 1), (366, 365, 1),
                                                  (14, 7, 2), (10, 7, 1)])
def test_expected_visits_in_a_period(days, every, n):
    assert expected_visits(days, every) == n


# --- the SQL form agrees with the Python form ---------------------------------------------------------------


@pytest.mark.parametrize("preset", ["shangnan", "qingyang"])
def test_sql_rules_agree_with_python_rules(tree, preset):
    from tests.registry.factories import make_household, make_person
    from tests.visits.factories import tag

    rules = rules_.preset_rules(preset)
    combos = list(itertools.product(HouseholdClass.values, [(), ("dibao",), ("wubao", "disabled"),
                                                            ("living_alone_elderly",)],
                                    [ResidenceType.REGISTERED, ResidenceType.TEMPORARY]))
    made = {}
    for n, (colour, tags, residence) in enumerate(combos):
        household = make_household(tree.grid_a, f"S{n:03d}")
        person = make_person(tree.grid_a, household=household, relation="head", residence_type=residence)
        for code in tags:
            tag(person, code)
        Household.objects.filter(pk=household.pk).update(household_class=colour)
        made[household.pk] = (colour, set(tags), {residence})
    today = timezone.localdate()
    rows = Household.objects.filter(pk__in=made).annotate(**{
        f"rule_{duty}": rules_.interval_case(rules, duty, value=lambda i, r: i, today=today)
        for duty in rules_.duties_of(rules)})
    for household in rows:
        colour, tags, residences = made[household.pk]
        owed = rules_.requirements(rules, colour=colour, tags=tags, residences=residences)
        for duty in rules_.DUTIES:
            index = getattr(household, f"rule_{duty}", None)
            if duty not in owed:
                assert index is None, (duty, colour, tags, residences)
            else:
                assert (rules[index]["every_days"], rules[index]["reason"]) == (owed[duty].every_days,
                                                                                owed[duty].reason)
