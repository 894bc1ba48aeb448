"""Factories, a small world of residents on both sides of the test county, before/after snapshots, and the
registry's authorization spec, written independently of gridgov.areas.scope.ROLE_PERMS."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

from django.utils import timezone

from gridgov.core.idnumber import check_char
from gridgov.core.models import AuditEvent
from gridgov.registry import services
from gridgov.registry.models import (
    House,
    Household,
    HouseholdClassChange,
    HouseholdHelper,
    HouseholdMembership,
    Person,
    PersonEvent,
    PersonTag,
    Place,
    Tag,
)
from tests.areas.factories import make_grid
from tests.areas.matrix import ROLES, ROOTS, SIDES  # noqa: F401  (re-exported for the registry tests)

# --- the registry's authorization spec -------------------------------------------------------------

VIEW, CHANGE, REVEAL, EXPORT, SENSITIVE = "view", "change", "reveal", "export", "sensitive"
# Who may do what with resident data on their subtree (ROOTS: the same users as tests/areas/matrix.py):
# a town's area admin keeps the registry but sees no full ID numbers nor sensitive tags; a leader only reads;
# the grid police reads, reveals and sees sensitive tags but does not edit; the grid worker edits and
# reveals but does not see sensitive tags.
REGISTRY_PERMS = {
    "county_operator": {VIEW, CHANGE, REVEAL, EXPORT, SENSITIVE},
    "leader": {VIEW},
    "town_admin_a": {VIEW, CHANGE, EXPORT},
    "town_admin_b": {VIEW, CHANGE, EXPORT},
    "town_operator_a": {VIEW, CHANGE, REVEAL, EXPORT, SENSITIVE},
    "village_staff_a": {VIEW, CHANGE, REVEAL, EXPORT, SENSITIVE},
    "grid_worker_a": {VIEW, CHANGE, REVEAL},
    "grid_police_a": {VIEW, REVEAL, SENSITIVE},
    "dept_handler": set(),
    "nobody": set(),
}


def holds(tree, role: str, perm: str, key: str) -> bool:
    if role == "superuser":
        return True
    if perm not in REGISTRY_PERMS[role]:
        return False
    path = getattr(tree, key).path
    return any(path.startswith(getattr(tree, root).path) for root in ROOTS[role])


def holds_anywhere(role: str, perm: str) -> bool:
    return role == "superuser" or (perm in REGISTRY_PERMS[role] and bool(ROOTS[role]))


def expected(tree, role: str, *, view: list[str], change: list[str], perm: str, ok: int) -> int:
    """The API's answer: outside the view scope 404 (as if absent), inside without ``perm`` 403."""
    if not all(holds(tree, role, VIEW, key) for key in view):
        return 404
    if not all(holds(tree, role, perm, key) for key in change):
        return 403
    return ok


# --- values ------------------------------------------------------------------------------------

_seq = itertools.count(1)


def id_number(seq: int | None = None, *, birth: dt.date | None = None, region: str = "611023",
              male: bool = True) -> str:
    """A valid 18-character citizen ID number (GB 11643), distinct for distinct ``seq``."""
    seq = next(_seq) if seq is None else seq
    birth = birth or dt.date(1950, 1, 1) + dt.timedelta(days=seq // 500)
    order = (seq % 500) * 2 + (1 if male else 0)
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + check_char(first17)


def phone(seq: int | None = None) -> str:
    return f"139{(next(_seq) if seq is None else seq):08d}"


def today() -> dt.date:
    return timezone.localdate()


def tag(code: str) -> Tag:
    return Tag.objects.get(code=code)


# --- factories (the system as actor) ---------------------------------------------------------------


def make_person(area, name: str | None = None, *, actor=None, **fields) -> Person:
    fields.setdefault("id_number", id_number())
    return services.person_create(actor=actor, name=name or f"居民{next(_seq)}", area=area, **fields)


def make_household(area, number: str | None = None, *, actor=None, address: str = "", **fields) -> Household:
    number = number or f"H{next(_seq):06d}"
    return services.household_create(actor=actor, area=area, number=number, address=address or f"{area.name}{number}号",
                                     **fields)


def make_house(area, address: str | None = None, **fields) -> House:
    return services.house_create(actor=None, area=area, address=address or f"{area.name}{next(_seq)}号", **fields)


def make_place(area, name: str | None = None, **fields) -> Place:
    fields.setdefault("place_type", "enterprise")
    return services.place_create(actor=None, area=area, name=name or f"场所{next(_seq)}", **fields)


@dataclass
class Side:
    grid: object
    move_to: object  # another grid of the same side, for grid changes
    move_key: str
    house: House
    household: Household
    household2: Household
    head: Person
    member: Person
    member_tag: PersonTag
    secret: Person  # carries a sensitive tag
    place: Place
    head_id: str
    head_phone: str
    member_id: str


def build_world(tree) -> SimpleNamespace:
    """On each side (grid_a in town A, grid_b in town B): a house, two households, a head with an ID number
    and a phone, a member with a tag, a person with a sensitive tag, a place."""
    tree.grid_b2 = make_grid(tree.group_b1, 2, name="下湾片")
    sides = {}
    for n, side in enumerate(SIDES):
        grid = getattr(tree, f"grid_{side}")
        house = make_house(grid, f"{grid.name}1号", owner_name="房东")
        household = make_household(grid, f"H{side.upper()}001", address=f"{grid.name}1号",
                                   income_per_person=Decimal("15000"), safe_family_years=3, house=house)
        household2 = make_household(grid, f"H{side.upper()}002", address=f"{grid.name}2号",
                                    income_per_person=Decimal("15000"), safe_family_years=5)
        head_id = id_number(n, birth=dt.date(1980, 1, 1), region="610102")
        member_id = id_number(n, birth=dt.date(1985, 6, 15), region="610102", male=False)
        head_phone = f"1380013{n:04d}"
        head = make_person(grid, f"户主{side}", id_number=head_id, phone=head_phone, household=household,
                           relation="head", house=house)
        member = make_person(grid, f"成员{side}", id_number=member_id, household=household, relation="spouse")
        member_tag = services.person_tag_add(actor=None, person=member, tag=tag("dibao"))
        secret = make_person(grid, f"矫正{side}", id_number=id_number(n, birth=dt.date(1990, 2, 2), region="610102"))
        services.person_tag_add(actor=None, person=secret, tag=tag("drug_user"))
        place = make_place(grid, f"{grid.name}商店", place_type="nine_small", credit_code="91350100M000100Y43")
        sides[side] = Side(grid=grid, move_to=tree.grid_a2 if side == "a" else tree.grid_b2,
                           move_key="grid_a2" if side == "a" else "grid_b2", house=house, household=household,
                           household2=household2, head=head, member=member, member_tag=member_tag, secret=secret,
                           place=place, head_id=head_id, head_phone=head_phone, member_id=member_id)
    return SimpleNamespace(**sides)


# --- snapshots ---------------------------------------------------------------------------------


def counts() -> dict[str, int]:
    return {
        "persons": Person.objects.count(),
        "households": Household.objects.count(),
        "person_tags": PersonTag.objects.count(),
        "person_events": PersonEvent.objects.count(),
        "audit": AuditEvent.objects.count(),
        "memberships": HouseholdMembership.objects.count(),
        "class_changes": HouseholdClassChange.objects.count(),
        "helpers": HouseholdHelper.objects.count(),
        "houses": House.objects.count(),
        "places": Place.objects.count(),
    }


def rows() -> list[tuple]:
    persons = list(Person.objects.order_by("pk").values_list(
        "pk", "name", "id_type", "id_number_sealed", "id_number_hash", "phone_sealed", "birth_date", "sex",
        "residence_type", "area_id", "household_id", "relation", "house_id", "alive", "moved_out", "updated_at"))
    households = list(Household.objects.order_by("pk").values_list(
        "pk", "number", "address", "area_id", "head_id", "income_per_person", "safe_family_years",
        "household_class", "class_reasons", "override_class", "override_reason", "override_until", "updated_at"))
    tags = list(PersonTag.objects.order_by("pk").values_list("pk", "person_id", "tag_id", "start_date", "end_date"))
    memberships = list(HouseholdMembership.objects.order_by("pk").values_list("pk", "person_id", "household_id",
                                                                              "relation", "end_date"))
    return persons + households + tags + memberships


def state() -> tuple:
    """Everything a refused write must leave as it was."""
    return counts(), rows()
