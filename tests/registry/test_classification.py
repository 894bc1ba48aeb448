"""Household classification (三色): the evaluator over Shangnan's rules, village averages, rule-set checks,
manual overrides with expiry, the colour history, and the nightly batch."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine

from gridgov.core.errors import ApplicationError, PermissionDenied
from gridgov.core.models import AuditEvent
from gridgov.registry import services
from gridgov.registry.classification import (
    GREEN_REASON,
    SHANGNAN_RULES,
    VillageAverages,
    evaluate,
    member_tag_codes,
    rules_problems,
    village_of,
)
from gridgov.registry.models import ClassRuleSet, Household, HouseholdClassChange
from tests.registry.factories import make_household, make_person, tag, today

RED_POVERTY = "脱贫不稳定或纳入监测（连心户）"
RED_LEFT_BEHIND = "家有三留守人员（连心户）"
RED_CORRECTION = "家有需重点帮教人员（连心户）"
RED_ALONE = "独居老人（连心户）"
YELLOW_INCOME = "人均收入低于本村平均水平（关心户）"
YELLOW_SAFE = "连续两年未评为平安家庭（关心户）"
DAY = dt.date(2026, 3, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def hh(income="10000", years=3):
    return SimpleNamespace(income_per_person=None if income is None else Decimal(income), safe_family_years=years)


def verdict(household=None, tags=(), average="10000", rules=None):
    v = evaluate(household or hh(), SHANGNAN_RULES if rules is None else rules, tag_codes=set(tags),
                 village_average=None if average is None else Decimal(average), today=DAY)
    return v.colour, v.reasons


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10, 0), tzinfo=SHANGHAI), tick=False)


# --- the evaluator, pure ---------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [
    ("unstable_after_poverty", RED_POVERTY), ("monitored", RED_POVERTY),
    ("left_behind_child", RED_LEFT_BEHIND), ("left_behind_woman", RED_LEFT_BEHIND),
    ("left_behind_elderly", RED_LEFT_BEHIND), ("community_correction", RED_CORRECTION),
    ("living_alone_elderly", RED_ALONE),
])
def test_each_red_tag_gives_red_with_its_reason(code, reason):
    assert verdict(tags={code}) == ("red", [reason])


def test_green_when_nothing_matches():
    assert verdict() == ("green", [GREEN_REASON])
    assert verdict(tags={"dibao", "disabled", "drug_user", "empty_nest_elderly"}) == ("green", [GREEN_REASON])


def test_income_below_the_village_average_is_yellow():
    assert verdict(hh("9999.99"), average="10000") == ("yellow", [YELLOW_INCOME])
    assert verdict(hh("10000"), average="10000") == ("green", [GREEN_REASON])  # not below: equal
    assert verdict(hh("10000.01"), average="10000") == ("green", [GREEN_REASON])
    assert verdict(hh("0"), average="10000") == ("yellow", [YELLOW_INCOME])


def test_unknown_income_or_average_is_not_below():
    assert verdict(hh(None), average="10000") == ("green", [GREEN_REASON])
    assert verdict(hh("1"), average=None) == ("green", [GREEN_REASON])


def test_ratio_of_the_village_average():
    rules = [{"colour": "yellow", "reason": "低于一半", "when": [{"income_below_village_average": 0.5}]}]
    assert verdict(hh("4999"), average="10000", rules=rules) == ("yellow", ["低于一半"])
    assert verdict(hh("5000"), average="10000", rules=rules) == ("green", [GREEN_REASON])


@pytest.mark.parametrize(("years", "colour"), [(0, "yellow"), (1, "yellow"), (2, "green"), (10, "green")])
def test_safe_family_years_below_two_is_yellow(years, colour):
    assert verdict(hh(years=years))[0] == colour
    if colour == "yellow":
        assert verdict(hh(years=years))[1] == [YELLOW_SAFE]


def test_both_yellow_reasons_are_given_in_rule_order():
    assert verdict(hh("5000", years=0), average="10000") == ("yellow", [YELLOW_INCOME, YELLOW_SAFE])


def test_red_wins_over_yellow():
    assert verdict(hh("5000", years=0), tags={"living_alone_elderly"}, average="10000") == ("red", [RED_ALONE])


def test_several_red_reasons_are_all_given():
    assert verdict(tags={"monitored", "left_behind_child", "living_alone_elderly"}) == (
        "red", [RED_POVERTY, RED_LEFT_BEHIND, RED_ALONE])


def test_a_rule_needs_all_its_conditions():
    rules = [{"colour": "red", "reason": "两者",
              "when": [{"member_tag_in": ["dibao"]}, {"safe_family_years_below": 2}]}]
    assert verdict(tags={"dibao"}, rules=rules)[0] == "green"
    assert verdict(hh(years=1), rules=rules)[0] == "green"
    assert verdict(hh(years=1), tags={"dibao"}, rules=rules) == ("red", ["两者"])


def test_red_wins_even_when_listed_after_yellow():
    rules = [{"colour": "yellow", "reason": "黄", "when": [{"safe_family_years_below": 5}]},
             {"colour": "red", "reason": "红", "when": [{"member_tag_in": ["dibao"]}]}]
    assert verdict(hh(years=1), tags={"dibao"}, rules=rules) == ("red", ["红"])


# --- rule-set checks ---------------------------------------------------------------------------------


def test_shangnan_rules_are_usable():
    assert rules_problems(SHANGNAN_RULES) == []


@pytest.mark.parametrize("rules", [
    None, [], {}, "rules", [1], [None],
    [{"reason": "x", "when": [{"safe_family_years_below": 2}]}],  # no colour
    [{"colour": "green", "reason": "x", "when": [{"safe_family_years_below": 2}]}],  # green is what is left
    [{"colour": "purple", "reason": "x", "when": [{"safe_family_years_below": 2}]}],
    [{"colour": "red", "reason": "", "when": [{"safe_family_years_below": 2}]}],
    [{"colour": "red", "when": [{"safe_family_years_below": 2}]}],
    [{"colour": "red", "reason": "x"}],
    [{"colour": "red", "reason": "x", "when": []}],
    [{"colour": "red", "reason": "x", "when": {"safe_family_years_below": 2}}],
    [{"colour": "red", "reason": "x", "when": [{"lives_on_the_moon": True}]}],
    [{"colour": "red", "reason": "x", "when": [{"safe_family_years_below": 2, "member_tag_in": ["dibao"]}]}],
    [{"colour": "red", "reason": "x", "when": ["safe_family_years_below"]}],
    [{"colour": "red", "reason": "x", "when": [{}]}],
    [*SHANGNAN_RULES, {"colour": "yellow", "reason": "x", "when": [{"nope": 1}]}],
])
def test_malformed_rule_sets_are_refused(rules):
    assert rules_problems(rules) != []


BAD_VALUES = [
    [{"colour": "yellow", "reason": "x", "when": [{"safe_family_years_below": "two"}]}],
    [{"colour": "yellow", "reason": "x", "when": [{"income_below_village_average": "half"}]}],
    [{"colour": "red", "reason": "x", "when": [{"member_tag_in": "drug_user"}]}],  # a string, not a list
    [{"colour": "red", "reason": "x", "when": [{"member_tag_in": [["dibao"]]}]}],
]


@pytest.mark.parametrize("rules", BAD_VALUES)
def test_rule_values_of_the_wrong_type_are_refused(rules):
    assert rules_problems(rules) != []


def test_rule_values_of_the_wrong_type_are_refused_and_the_batch_keeps_working(tree):
    make_household(tree.grid_a, "H1", income_per_person=Decimal("1000"))
    with pytest.raises(ApplicationError):
        services.rules_set(actor=None, name="坏规则", rules=BAD_VALUES[0])
    assert services.households_reclassify() == 0


# --- village averages ----------------------------------------------------------------------------


def test_village_of(tree):
    assert village_of(tree.grid_a) == tree.village_a1
    assert village_of(tree.group_a1) == tree.village_a1
    assert village_of(tree.grid_a3) == tree.village_a2  # a grid directly under a community
    assert village_of(tree.village_b1) == tree.village_b1
    assert village_of(tree.town_a) is None
    assert village_of(tree.county) is None


def test_the_village_average_is_per_village(tree):
    h1 = make_household(tree.grid_a, "A1", income_per_person=Decimal("20000"), safe_family_years=3)
    # The same village, another grid:
    h2 = make_household(tree.grid_a2, "A2", income_per_person=Decimal("30000"), safe_family_years=3)
    h3 = make_household(tree.grid_a3, "C1", income_per_person=Decimal("5000"), safe_family_years=3)
    h4 = make_household(tree.grid_a3, "C2", income_per_person=Decimal("7000"), safe_family_years=3)
    h5 = make_household(tree.grid_b, "B1", income_per_person=Decimal("1000"), safe_family_years=3)
    make_household(tree.grid_a3, "C3", safe_family_years=3)  # no income: not in the average
    averages = VillageAverages()
    assert averages.for_area(tree.grid_a) == Decimal("25000")
    assert averages.for_area(tree.grid_a3) == Decimal("6000")
    assert averages.for_area(tree.grid_b) == Decimal("1000")
    assert averages.for_area(tree.town_a) is None
    services.households_reclassify()
    colours = dict(Household.objects.values_list("number", "household_class"))
    # County-wide (12,600) h1 would be green and h4 yellow; per village it is the other way round.
    assert colours == {"A1": "yellow", "A2": "green", "C1": "yellow", "C2": "green", "B1": "green", "C3": "green"}
    for h in (h1, h3):
        h.refresh_from_db()
        assert h.class_reasons == [YELLOW_INCOME]
    for h in (h2, h4, h5):
        h.refresh_from_db()
        assert h.class_reasons == [GREEN_REASON]


def test_averages_are_computed_once_per_village(tree, django_assert_num_queries):
    make_household(tree.grid_a, "A1", income_per_person=Decimal("20000"), safe_family_years=3)
    averages = VillageAverages()
    averages.for_area(tree.grid_a)
    with django_assert_num_queries(1):  # finding the village; the average itself is cached
        averages.for_area(tree.grid_a2)


# --- the colour follows the data, with its history -----------------------------------------------------


def history(household):
    return [(c.from_class, c.to_class, c.reasons, c.manual)
            for c in HouseholdClassChange.objects.filter(household=household).order_by("at", "pk")]


def test_every_colour_change_is_recorded_with_its_reasons(tree):
    household = make_household(tree.grid_a, "H1", income_per_person=Decimal("12000"), safe_family_years=3)
    make_household(tree.grid_a, "H2", income_per_person=Decimal("12000"), safe_family_years=3)
    person = make_person(tree.grid_a, "王奶奶", household=household, relation="head")
    person_tag = services.person_tag_add(actor=None, person=person, tag=tag("living_alone_elderly"))
    household.refresh_from_db()
    assert (household.household_class, household.class_reasons) == ("red", [RED_ALONE])
    services.person_tag_end(actor=None, person_tag=person_tag)
    services.household_update(actor=None, household=household, safe_family_years=1)
    services.household_update(actor=None, household=household, income_per_person=Decimal("100"))
    household.refresh_from_db()
    assert (household.household_class, household.class_reasons) == ("yellow", [YELLOW_INCOME, YELLOW_SAFE])
    assert history(household) == [
        ("", "green", [GREEN_REASON], False),
        ("green", "red", [RED_ALONE], False),
        ("red", "green", [GREEN_REASON], False),
        ("green", "yellow", [YELLOW_SAFE], False),
        # The reasons grew but the colour stayed: the household row follows, the history records colours only.
    ]
    assert all(c.actor_name == "system" for c in HouseholdClassChange.objects.all())


def test_the_actor_is_named_in_the_history(tree, users):
    household = make_household(tree.grid_a, "H1", actor=users.village_staff_a, safe_family_years=0)
    change = HouseholdClassChange.objects.get(household=household)
    assert (change.to_class, change.actor_name) == ("yellow", "village_staff_a (village_staff_a-name)")


def test_a_member_moving_out_takes_the_tag_with_them(tree):
    household = make_household(tree.grid_a, "H1", safe_family_years=3)
    child = make_person(tree.grid_a, "小明", household=household, relation="child")
    services.person_tag_add(actor=None, person=child, tag=tag("left_behind_child"))
    household.refresh_from_db()
    assert household.household_class == "red"
    services.person_life_event(actor=None, person=child, kind="move_out")
    household.refresh_from_db()
    assert (household.household_class, household.class_reasons) == ("green", [GREEN_REASON])


def test_member_tag_codes(tree):
    household = make_household(tree.grid_a, "H1")
    alive = make_person(tree.grid_a, "甲", household=household, relation="head")
    dead = make_person(tree.grid_a, "乙", household=household, relation="spouse")
    services.person_tag_add(actor=None, person=alive, tag=tag("dibao"))
    services.person_tag_add(actor=None, person=alive, tag=tag("disabled"), start_date=today() + dt.timedelta(days=3))
    ended = services.person_tag_add(actor=None, person=alive, tag=tag("monitored"),
                                    start_date=today() - dt.timedelta(days=10))
    services.person_tag_end(actor=None, person_tag=ended, end_date=today())
    services.person_tag_add(actor=None, person=dead, tag=tag("wubao"))
    services.person_life_event(actor=None, person=dead, kind="death")
    assert member_tag_codes(household, today()) == {"dibao"}
    assert member_tag_codes(household, today() + dt.timedelta(days=3)) == {"dibao", "disabled"}
    assert member_tag_codes(household, today() - dt.timedelta(days=1)) == {"monitored"}


# --- manual override ---------------------------------------------------------------------------------


def test_override_wins_until_its_expiry_then_the_rules_decide(tree):
    with at(DAY):
        household = make_household(tree.grid_a, "H1", income_per_person=Decimal("12000"), safe_family_years=3)
        assert household.household_class == "green"
        services.household_override(actor=None, household=household, colour="red", reason="突发大病，走访确认",
                                    until=DAY + dt.timedelta(days=10))
        household.refresh_from_db()
        assert (household.household_class, household.class_reasons) == ("red", ["突发大病，走访确认"])
        assert AuditEvent.objects.filter(action="household.override").count() == 1
        # The data changes, but the manual colour still wins.
        services.household_update(actor=None, household=household, safe_family_years=0)
        household.refresh_from_db()
        assert household.household_class == "red"
    with at(DAY + dt.timedelta(days=10)):  # the last day of the manual colour
        assert services.households_reclassify() == 0
        household.refresh_from_db()
        assert household.household_class == "red"
    with at(DAY + dt.timedelta(days=11)):
        assert services.households_reclassify() == 1
        household.refresh_from_db()
        assert (household.household_class, household.class_reasons) == ("yellow", [YELLOW_SAFE])
        assert services.households_reclassify() == 0
    assert history(household) == [
        ("", "green", [GREEN_REASON], False),
        ("green", "red", ["突发大病，走访确认"], True),
        ("red", "yellow", [YELLOW_SAFE], False),
    ]


@pytest.mark.parametrize(("colour", "reason", "until", "fields"), [
    ("red", "", 5, {"reason"}),
    ("red", "   ", 5, {"reason"}),
    ("purple", "原因", 5, {"colour"}),
    ("red", "原因", -1, {"until"}),
    ("red", "原因", None, {"until"}),
    ("red", "长" * 201, 5, {"override_reason"}),
    ("", "", None, {"colour", "reason", "until"}),
])
def test_override_needs_a_colour_a_reason_and_an_expiry(tree, colour, reason, until, fields):
    household = make_household(tree.grid_a, "H1", safe_family_years=3)
    before = (list(Household.objects.values()), HouseholdClassChange.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ApplicationError) as exc:
        services.household_override(actor=None, household=household, colour=colour, reason=reason,
                                    until=None if until is None else today() + dt.timedelta(days=until))
    assert exc.value.code == "household_class_invalid"
    assert set(exc.value.fields) == fields
    assert (list(Household.objects.values()), HouseholdClassChange.objects.count(),
            AuditEvent.objects.count()) == before


def test_override_until_today_is_allowed(tree):
    household = make_household(tree.grid_a, "H1", safe_family_years=3)
    services.household_override(actor=None, household=household, colour="yellow", reason="观察", until=today())
    household.refresh_from_db()
    assert household.household_class == "yellow"


# --- the nightly batch and the rule set ------------------------------------------------------------------


def test_reclassify_is_idempotent(tree):
    for n, (income, years) in enumerate([("10000", 3), ("30000", 3), ("20000", 0), ("30000", 5)]):
        make_household(tree.grid_a, f"H{n}", income_per_person=Decimal(income), safe_family_years=years)
    # The average rose after H0 and H2 were evaluated: H0 turns yellow, H2 gains a reason.
    assert services.households_reclassify() == 2
    assert services.households_reclassify() == 0
    assert services.households_reclassify(batch_size=1) == 0
    colours = dict(Household.objects.values_list("number", "household_class"))
    assert colours == {"H0": "yellow", "H1": "green", "H2": "yellow", "H3": "green"}
    assert Household.objects.get(number="H2").class_reasons == [YELLOW_INCOME, YELLOW_SAFE]


def test_reclassify_in_small_batches_gives_the_same_result(tree):
    for n in range(7):
        make_household(tree.grid_a, f"H{n}", income_per_person=Decimal(1000 * (n + 1)), safe_family_years=3)
    assert services.households_reclassify(batch_size=2) == 3  # H0…H3 fell below the final average of 4,000
    colours = dict(Household.objects.values_list("number", "household_class"))
    assert colours == {"H0": "yellow", "H1": "yellow", "H2": "yellow", "H3": "green", "H4": "green", "H5": "green",
                       "H6": "green"}
    assert services.households_reclassify(batch_size=2) == 0


def test_reclassify_only_the_given_households(tree):
    a = make_household(tree.grid_a, "A", safe_family_years=3)
    b = make_household(tree.grid_b, "B", safe_family_years=3)
    Household.objects.filter(pk__in=[a.pk, b.pk]).update(safe_family_years=0)
    assert services.households_reclassify(queryset=Household.objects.filter(pk=a.pk)) == 1
    assert dict(Household.objects.values_list("number", "household_class")) == {"A": "yellow", "B": "green"}


def test_rules_set_by_a_non_superuser_is_refused(tree, users):
    rules = [{"colour": "red", "reason": "低保户", "when": [{"member_tag_in": ["dibao"]}]}]
    for role in ("county_operator", "town_admin_a", "village_staff_a", "leader", "nobody"):
        with pytest.raises(PermissionDenied):
            services.rules_set(actor=getattr(users, role), name="新规则", rules=rules)
    assert ClassRuleSet.objects.count() == 0
    rule_set = services.rules_set(actor=users.superuser, name=" 新规则 ", rules=rules)
    assert (rule_set.name, rule_set.rules) == ("新规则", rules)
    event = AuditEvent.objects.get(action="class_rules.set")
    assert (event.actor, event.data) == (users.superuser, {"rules": 1})


@pytest.mark.parametrize(("name", "rules", "field"), [
    ("", SHANGNAN_RULES, "name"), ("  ", SHANGNAN_RULES, "name"), ("空", [], "rules"),
    ("坏", [{"colour": "red", "reason": "x", "when": [{"nope": 1}]}], "rules"),
])
def test_rules_set_refuses_malformed_sets(tree, name, rules, field):
    with pytest.raises(ApplicationError) as exc:
        services.rules_set(actor=None, name=name, rules=rules)
    assert exc.value.code == "household_class_invalid"
    assert list(exc.value.fields) == [field]
    assert ClassRuleSet.objects.count() == 0
    assert services.active_rules() == SHANGNAN_RULES


def test_a_new_rule_set_takes_effect_in_the_batch(tree):
    household = make_household(tree.grid_a, "H1", income_per_person=Decimal("12000"), safe_family_years=3)
    person = make_person(tree.grid_a, "李低保", household=household, relation="head")
    services.person_tag_add(actor=None, person=person, tag=tag("dibao"))
    other = make_household(tree.grid_b, "H2", safe_family_years=0)
    household.refresh_from_db()
    assert household.household_class == "green"
    assert other.household_class == "yellow"
    rules = [{"colour": "red", "reason": "低保户（连心户）", "when": [{"member_tag_in": ["dibao"]}]}]
    services.rules_set(actor=None, name="低保优先", rules=rules)
    household.refresh_from_db()
    assert household.household_class == "green"  # nothing re-evaluated yet
    assert services.active_rules() == rules
    assert services.households_reclassify() == 2
    assert dict(Household.objects.values_list("number", "household_class")) == {"H1": "red", "H2": "green"}
    household.refresh_from_db()
    assert household.class_reasons == ["低保户（连心户）"]
    # The newest rule set is the one in force.
    services.rules_set(actor=None, name="回到商南", rules=SHANGNAN_RULES)
    assert services.households_reclassify() == 2
    assert dict(Household.objects.values_list("number", "household_class")) == {"H1": "green", "H2": "yellow"}
