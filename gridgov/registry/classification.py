"""Household classification (三色管理) as data: one evaluator for every rule set.

A rule set is a list of rules, each {"colour": "red"|"yellow", "reason": text, "when": [conditions]}; a rule
matches when all its conditions hold, and the household takes the colour of the first matching rule in the
order red, yellow; no match is green. Conditions:

- {"member_tag_in": [tag codes]}: a current member carries one of these tags (active today);
- {"income_below_village_average": ratio}: yearly income per person below ratio × the average of the
  households of the same village (or community);
- {"safe_family_years_below": n}: fewer than n years as 平安家庭.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Q

from gridgov.areas.models import Area, Rank
from gridgov.registry.models import Household, PersonTag

# Shangnan's 红黄绿三色管理 (PRODUCT.md §4).
SHANGNAN_RULES: list[dict] = [
    {"colour": "red", "reason": "脱贫不稳定或纳入监测（连心户）",
     "when": [{"member_tag_in": ["unstable_after_poverty", "monitored"]}]},
    {"colour": "red", "reason": "家有三留守人员（连心户）",
     "when": [{"member_tag_in": ["left_behind_child", "left_behind_woman", "left_behind_elderly"]}]},
    # The reason does not name the (sensitive) tag: it is shown to everyone who sees the household.
    {"colour": "red", "reason": "家有需重点帮教人员（连心户）", "when": [{"member_tag_in": ["community_correction"]}]},
    {"colour": "red", "reason": "独居老人（连心户）", "when": [{"member_tag_in": ["living_alone_elderly"]}]},
    {"colour": "yellow", "reason": "人均收入低于本村平均水平（关心户）",
     "when": [{"income_below_village_average": 1.0}]},
    {"colour": "yellow", "reason": "连续两年未评为平安家庭（关心户）", "when": [{"safe_family_years_below": 2}]},
]
GREEN_REASON = "经济条件较好且为平安家庭（放心户）"
CONDITIONS = {"member_tag_in", "income_below_village_average", "safe_family_years_below"}
ORDER = {"red": 0, "yellow": 1}


def rules_problems(rules) -> list[str]:
    """What is wrong with a rule set (empty: usable)."""
    if not isinstance(rules, list) or not rules:
        return ["A rule set is a non-empty list of rules."]
    problems = []
    for i, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict) or rule.get("colour") not in ORDER or not rule.get("reason"):
            problems.append(f"Rule {i}: needs a colour (red or yellow) and a reason.")
            continue
        when = rule.get("when")
        if not isinstance(when, list) or not when:
            problems.append(f"Rule {i}: needs at least one condition.")
            continue
        for cond in when:
            if not isinstance(cond, dict) or len(cond) != 1 or next(iter(cond)) not in CONDITIONS:
                problems.append(f"Rule {i}: unknown condition {cond!r}.")
                continue
            (name, value), = cond.items()
            if name == "member_tag_in" and not (
                isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
            ):
                problems.append(f"Rule {i}: member_tag_in takes a list of tag codes.")
            elif name == "income_below_village_average" and not (
                isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 10
            ):
                problems.append(f"Rule {i}: income_below_village_average takes a ratio between 0 and 10.")
            elif name == "safe_family_years_below" and not (
                isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100
            ):
                problems.append(f"Rule {i}: safe_family_years_below takes a whole number of years.")
    return problems


def village_of(area: Area) -> Area | None:
    """The village or community an area lies in (the grid's ancestor at village rank)."""
    if area.level.rank == Rank.VILLAGE:
        return area
    return (
        Area.objects.filter(path__in=area.ancestor_paths(), level__rank=Rank.VILLAGE).order_by("-path").first()
    )


class VillageAverages:
    """Average yearly income per person of the households of each village, computed once per village."""

    def __init__(self):
        self._cache: dict[int, Decimal | None] = {}

    def for_area(self, area: Area) -> Decimal | None:
        village = village_of(area)
        if village is None:
            return None
        if village.pk not in self._cache:
            nxt = village.path[:-1] + chr(ord(village.path[-1]) + 1)
            self._cache[village.pk] = Household.objects.filter(
                area__path__gte=village.path, area__path__lt=nxt, income_per_person__isnull=False
            ).aggregate(avg=Avg("income_per_person"))["avg"]
        return self._cache[village.pk]


@dataclass(frozen=True)
class Verdict:
    colour: str
    reasons: list[str]


def evaluate(household, rules: list[dict], *, tag_codes: set[str], village_average, today: dt.date) -> Verdict:
    """The colour a household's data gives under ``rules`` (pure: the caller supplies tags and the average)."""
    matched: dict[str, list[str]] = {}
    for rule in rules:
        if all(_holds(c, household, tag_codes, village_average) for c in rule["when"]):
            matched.setdefault(rule["colour"], []).append(rule["reason"])
    for colour in sorted(matched, key=ORDER.get):
        return Verdict(colour, matched[colour])
    return Verdict("green", [GREEN_REASON])


def _holds(condition: dict, household, tag_codes: set[str], village_average) -> bool:
    (name, value), = condition.items()
    if name == "member_tag_in":
        return bool(tag_codes & set(value))
    if name == "income_below_village_average":
        if household.income_per_person is None or village_average is None:
            return False
        return household.income_per_person < Decimal(str(value)) * village_average
    if name == "safe_family_years_below":
        return household.safe_family_years < int(value)
    return False


def member_tag_codes(household, today: dt.date) -> set[str]:
    return set(
        PersonTag.objects.filter(
            person__household=household, person__alive=True, person__moved_out=False, start_date__lte=today
        ).filter(Q(end_date__isnull=True) | Q(end_date__gt=today)).values_list("tag__code", flat=True)
    )
