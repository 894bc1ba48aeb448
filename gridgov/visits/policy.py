"""Visit rules as data: which households must be visited how often, by whom, and why.

A policy's ``rules`` is a list of rules, each

    {"duty": "visit" | "contact" | "helper", "every_days": n, "reason": text, "when": {conditions}}

- duty "visit": an on-site visit by the grid's staff (any kind but a phone call);
- duty "contact": any contact, a phone call included (Shangnan's 热线联系 with red households);
- duty "helper": a visit with a paired party member or people's deputy among the visitors.

``when`` holds up to three conditions, all of which must hold (an empty ``when`` matches every household):
``{"colour": [colours]}`` the household's colour (三色) is one of these; ``{"tags": [tag codes]}`` a current
member carries one of these tags; ``{"residence": [residence types]}`` a current member has one of these
residence types (temporary, floating …).

A household owes each duty at the interval of the strictest (shortest) matching rule; on a tie the first rule
gives the reason. ``requirements`` evaluates a household in Python (the due lists, from facts read in bulk);
``interval_case`` compiles the same rules into one SQL expression for the completion statistics, which count
over a whole county in the database (the tests hold the two to the same answers).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.registry.models import HouseholdClass, Person, PersonTag, ResidenceType

DUTIES = ("visit", "contact", "helper")
DUTY_LABELS = {
    "visit": _("visit"),
    "contact": _("contact (a phone call counts)"),
    "helper": _("visit with a party member or deputy"),
}
CONDITIONS = ("colour", "tags", "residence")
MAX_DAYS = 3660

# Shangnan's 红黄绿三色管理 (PRODUCT.md §4): 放心户 visited monthly by the grid worker; 关心户 weekly by the grid
# worker and at least monthly by the party members or deputies nearby; 连心户 in continuous contact (the minimum
# interval is a parameter) and, like every household, visited at least monthly.
RED_CONTACT_DAYS = 7


def shangnan_rules(red_contact_days: int = RED_CONTACT_DAYS) -> list[dict]:
    return [
        {"duty": "visit", "every_days": 30, "reason": "放心户：片长每月走访一次", "when": {"colour": ["green"]}},
        {"duty": "visit", "every_days": 7, "reason": "关心户：片长每周走访一次", "when": {"colour": ["yellow"]}},
        {"duty": "helper", "every_days": 30, "reason": "关心户：党员、人大代表每月至少走访一次",
         "when": {"colour": ["yellow"]}},
        {"duty": "visit", "every_days": 30, "reason": "连心户：每月至少上门走访一次", "when": {"colour": ["red"]}},
        {"duty": "contact", "every_days": red_contact_days,
         "reason": f"连心户：保持热线联系，至少每{red_contact_days}天一次", "when": {"colour": ["red"]}},
    ]


# Qingyang's 三必访 (seed report 004): ordinary households yearly; hardship, disabled, temporary residents,
# unemployed and key-assistance households quarterly; elderly living alone and 五保 monthly.
QINGYANG_RULES: list[dict] = [
    {"duty": "visit", "every_days": 365, "reason": "普通家庭每年必访", "when": {}},
    {"duty": "visit", "every_days": 90, "reason": "困难群众、残疾家庭、失业人员、重点帮扶人员每季度必访",
     "when": {"tags": ["dibao", "disabled", "unemployed", "unstable_after_poverty", "monitored"]}},
    {"duty": "visit", "every_days": 90, "reason": "暂住人口每季度必访",
     "when": {"residence": ["temporary", "floating"]}},
    {"duty": "visit", "every_days": 30, "reason": "独居老人、五保户每月必访",
     "when": {"tags": ["living_alone_elderly", "wubao"]}},
]

PRESETS = {
    "shangnan": {"name": "商南县三色管理走访", "onsite_hours": 24, "far_metres": 300},
    "qingyang": {"name": "庆阳市三必访", "onsite_hours": 24, "far_metres": 300},
}
DEFAULT_PRESET = "shangnan"


def preset_rules(preset: str, *, red_contact_days: int = RED_CONTACT_DAYS) -> list[dict]:
    if preset == "shangnan":
        return shangnan_rules(red_contact_days)
    if preset == "qingyang":
        return [dict(rule, when=dict(rule["when"])) for rule in QINGYANG_RULES]
    raise KeyError(preset)


def default_policy():
    """The policy in force when none has been set: Shangnan's, unsaved."""
    from gridgov.visits.models import VisitPolicy

    preset = PRESETS[DEFAULT_PRESET]
    return VisitPolicy(name=preset["name"], preset=DEFAULT_PRESET, rules=preset_rules(DEFAULT_PRESET),
                       onsite_hours=preset["onsite_hours"], far_metres=preset["far_metres"])


def rules_problems(rules) -> list[str]:
    """What is wrong with a list of rules (empty: usable)."""
    if not isinstance(rules, list) or not rules:
        return ["The rules are a non-empty list."]
    problems = []
    colours, residences = set(HouseholdClass.values), set(ResidenceType.values)
    for i, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict) or set(rule) - {"duty", "every_days", "reason", "when"}:
            problems.append(f"Rule {i}: a rule has a duty, every_days, a reason and when.")
            continue
        if rule.get("duty") not in DUTIES:
            problems.append(f"Rule {i}: the duty is one of {', '.join(DUTIES)}.")
        days = rule.get("every_days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
            problems.append(f"Rule {i}: every_days is a whole number of days from 1 to {MAX_DAYS}.")
        reason = rule.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 100:
            problems.append(f"Rule {i}: a reason (at most 100 characters) is required.")
        when = rule.get("when", {})
        if not isinstance(when, dict) or set(when) - set(CONDITIONS):
            problems.append(f"Rule {i}: when holds only {', '.join(CONDITIONS)}.")
            continue
        for name, values in when.items():
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
                problems.append(f"Rule {i}: {name} takes a non-empty list of codes.")
            elif name == "colour" and set(values) - colours:
                problems.append(f"Rule {i}: colours are {', '.join(sorted(colours))}.")
            elif name == "residence" and set(values) - residences:
                problems.append(f"Rule {i}: residence types are {', '.join(sorted(residences))}.")
            elif name == "tags" and not all(v.replace("_", "").replace("-", "").isalnum() for v in values):
                problems.append(f"Rule {i}: tag codes are letters, digits, - and _.")
    return problems


# --- one household, in Python ----------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    duty: str
    every_days: int
    reason: str


def matches(when: dict, *, colour: str, tags: set[str], residences: set[str]) -> bool:
    if "colour" in when and colour not in when["colour"]:
        return False
    if "tags" in when and not tags & set(when["tags"]):
        return False
    return not ("residence" in when and not residences & set(when["residence"]))


def requirements(rules: list[dict], *, colour: str, tags: set[str], residences: set[str]) -> dict[str, Requirement]:
    """Each duty the household owes, at the interval of its strictest matching rule."""
    owed: dict[str, Requirement] = {}
    for rule in rules:
        if not matches(rule.get("when", {}), colour=colour, tags=tags, residences=residences):
            continue
        duty, days = rule["duty"], rule["every_days"]
        if duty not in owed or days < owed[duty].every_days:
            owed[duty] = Requirement(duty, days, rule["reason"])
    return owed


# --- many households, in SQL --------------------------------------------------------------------------


def _condition(when: dict, today) -> Q:
    """The rule's conditions as a filter on households."""
    q = Q()
    ref = OuterRef("pk")
    if "colour" in when:
        q &= Q(household_class__in=when["colour"])
    if "tags" in when:
        carriers = PersonTag.objects.filter(
            person__household=ref, person__alive=True, person__moved_out=False, tag__code__in=when["tags"],
            start_date__lte=today,
        ).filter(Q(end_date__isnull=True) | Q(end_date__gt=today))
        q &= Exists(carriers)
    if "residence" in when:
        q &= Exists(Person.objects.filter(household=ref, alive=True, moved_out=False,
                                          residence_type__in=when["residence"]))
    return q


def strictest_first(rules: list[dict], duty: str) -> list[tuple[int, dict]]:
    """The rules of one duty with their positions, strictest first (ties in their written order)."""
    return sorted(((i, r) for i, r in enumerate(rules) if r["duty"] == duty), key=lambda ir: (ir[1]["every_days"],
                                                                                               ir[0]))


def interval_case(rules: list[dict], duty: str, *, value=None, today=None):
    """A SQL expression over households: ``value(rule)`` of the strictest rule of ``duty`` that matches, else NULL.

    By default the value is the rule's interval in days; statistics pass the number of visits the rule
    expects in a period, lists the rule's position (to name the reason).
    """
    today = today or timezone.localdate()
    value = value or (lambda index, rule: rule["every_days"])
    whens = []
    for index, rule in strictest_first(rules, duty):
        condition = _condition(rule.get("when", {}), today)
        result = Value(value(index, rule), output_field=IntegerField())
        if condition == Q():
            whens.append(When(Q(pk__isnull=False), then=result))
            break  # an unconditional rule: nothing stricter follows
        whens.append(When(condition, then=result))
    if not whens:  # typed, so that PostgreSQL can sum the column of a derived table
        return Cast(Value(None), output_field=IntegerField())
    return Case(*whens, default=Value(None, output_field=IntegerField()), output_field=IntegerField())


def duties_of(rules: list[dict]) -> list[str]:
    return [duty for duty in DUTIES if any(r["duty"] == duty for r in rules)]
