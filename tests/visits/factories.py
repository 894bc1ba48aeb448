"""Visits' test helpers: the authorization spec (written independently of gridgov.areas.scope.ROLE_PERMS), a world
of households on both sides of the test county with houses at known points, and before/after snapshots."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

from django.utils import timezone

from gridgov.cases import services as case_services
from gridgov.cases.models import Case, CaseAction, Category
from gridgov.core.models import AuditEvent
from gridgov.registry import services as registry_services
from gridgov.registry.models import Household, HouseholdClassChange
from gridgov.visits import services
from gridgov.visits.models import FindingCase, Visit, VisitPhoto, VisitPolicy
from tests.areas.matrix import ROLES, ROOTS, SIDES  # noqa: F401  (re-exported)
from tests.registry.factories import build_world

VIEW, LOG = "view", "log"
# Who may read and record visits on their subtree: everyone who reads residents reads visits; the village staff,
# the grid worker and the grid police record them; desks, administrators and leaders only read.
VISIT_PERMS = {
    "county_operator": {VIEW},
    "leader": {VIEW},
    "town_admin_a": {VIEW},
    "town_admin_b": {VIEW},
    "town_operator_a": {VIEW},
    "village_staff_a": {VIEW, LOG},
    "grid_worker_a": {VIEW, LOG},
    "grid_police_a": {VIEW, LOG},
    "dept_handler": set(),
    "nobody": set(),
}

# The houses of the world stand at these points (WGS-84), inside their grids' boundaries.
HOUSE_POINTS = {"a": (110.805, 33.505), "b": (110.905, 33.605)}


def holds(tree, role: str, perm: str, key: str) -> bool:
    if role == "superuser":
        return True
    if perm not in VISIT_PERMS[role]:
        return False
    path = getattr(tree, key).path
    return any(path.startswith(getattr(tree, root).path) for root in ROOTS[role])


def expected(tree, role: str, *, key: str, perm: str, ok: int) -> int:
    """Outside the view scope 404 (as if absent), inside without ``perm`` 403."""
    if not holds(tree, role, VIEW, key):
        return 404
    if not holds(tree, role, perm, key):
        return 403
    return ok


def now() -> dt.datetime:
    return timezone.now()


def days_ago(n: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def backdate(household: Household, days: float) -> None:
    """As if the household (and its colour) had been registered ``days`` ago."""
    moment = days_ago(days)
    Household.objects.filter(pk=household.pk).update(created_at=moment)
    HouseholdClassChange.objects.filter(household=household).update(at=moment)
    household.refresh_from_db()


def build_visit_world(tree):
    """The registry world (tests.registry.factories.build_world) with the houses placed, households dated back
    100 days, and a 五必到 case on each side."""
    world = build_world(tree)
    for side in SIDES:
        w = getattr(world, side)
        lng, lat = HOUSE_POINTS[side]
        w.house.lng, w.house.lat = lng, lat
        w.house.save(update_fields=["lng", "lat"])
        w.household.refresh_from_db()
        for household in (w.household, w.household2):
            backdate(household, 100)
        w.case = onsite_case(w.grid, household=w.household)
    return world


def onsite_case(area, *, household=None, code: str = "dispute_neighbour", title: str = "邻里纠纷") -> Case:
    category = Category.objects.get(code=code)
    assert category.onsite_required
    return case_services.case_create(actor=None, channel="self_report", title=title, description=f"{title}，请到场。",
                                     category=category, area=area, household=household)


def visit(household=None, *, actor=None, days: float = 0, **fields) -> Visit:
    fields.setdefault("uuid", uuid.uuid4())
    record, _created = services.visit_create(actor=actor, household=household, visited_at=days_ago(days), **fields)
    return record


def state() -> tuple:
    """Everything a refused write must leave as it was."""
    return (
        list(Visit.objects.order_by("pk").values_list("pk", "uuid", "superseded_by_id", "withdrawn", "findings")),
        VisitPhoto.objects.count(), FindingCase.objects.count(), Case.objects.count(), CaseAction.objects.count(),
        VisitPolicy.objects.count(), AuditEvent.objects.count(),
    )


def tag(person, code: str) -> None:
    from tests.registry.factories import tag as tag_of

    registry_services.person_tag_add(actor=None, person=person, tag=tag_of(code))


def namespace(**kw) -> SimpleNamespace:
    return SimpleNamespace(**kw)
