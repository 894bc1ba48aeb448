"""Every read of the resident registry, already scoped to the actor (and masked: sealed values never leave
here except through services.person_reveal)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from gridgov.areas.models import Area
from gridgov.areas.scope import Perm, scope_for
from gridgov.core.errors import NotFound
from gridgov.registry.models import (
    ClassRuleSet,
    House,
    Household,
    HouseholdClass,
    HouseholdClassChange,
    Person,
    PersonEvent,
    PersonTag,
    Place,
    Tag,
)
from gridgov.registry.services import identity_hash


def _in_scope(actor, perm: Perm = Perm.RESIDENT_VIEW) -> Q:
    return scope_for(actor, perm).q("area__path")


def _under(area: Area | None) -> Q:
    if area is None:
        return Q()
    nxt = area.path[:-1] + chr(ord(area.path[-1]) + 1)
    return Q(area__path__gte=area.path, area__path__lt=nxt)


def visible_tags(*, actor, area: Area | None = None) -> QuerySet[Tag]:
    """The dictionary entries the actor may see: sensitive tags only with the permission for them."""
    scope = scope_for(actor, Perm.SENSITIVE_TAGS)
    if scope.everything or (scope.contains(area.path) if area is not None else not scope.is_empty):
        return Tag.objects.all()
    return Tag.objects.filter(sensitive=False)


def active_tags_q(day=None) -> Q:
    day = day or timezone.localdate()
    return Q(start_date__lte=day) & (Q(end_date__isnull=True) | Q(end_date__gt=day))


@dataclass
class PersonFilters:
    area: Area | None = None
    name_prefix: str = ""
    id_number: str = ""
    id_type: str = "citizen"
    tag: str = ""
    residence_type: str = ""
    household_class: str = ""
    include_inactive: bool = False


def person_list(*, actor, filters: PersonFilters | None = None) -> QuerySet[Person]:
    f = filters or PersonFilters()
    qs = Person.objects.filter(_in_scope(actor)).filter(_under(f.area))
    if not f.include_inactive:
        qs = qs.filter(alive=True, moved_out=False)
    if f.name_prefix:
        qs = qs.filter(name__startswith=f.name_prefix.strip())
    if f.id_number:
        qs = qs.filter(id_number_hash=identity_hash(f.id_type, f.id_number) or "-")
    if f.residence_type:
        qs = qs.filter(residence_type=f.residence_type)
    if f.household_class:
        qs = qs.filter(household__household_class=f.household_class)
    if f.tag:
        tag = visible_tags(actor=actor).filter(code=f.tag).first()
        # A tag the actor may not see filters to nothing, exactly like an unknown tag.
        carriers = PersonTag.objects.filter(active_tags_q(), tag=tag, person=OuterRef("pk")) if tag else None
        qs = qs.filter(Exists(carriers)) if carriers is not None else qs.none()
        if tag is not None and tag.sensitive:  # only where the actor may see who carries it
            qs = qs.filter(scope_for(actor, Perm.SENSITIVE_TAGS).q("area__path"))
    return qs.select_related("area", "household").order_by("area__path", "name", "pk")


def person_get(*, actor, pk: int) -> Person:
    person = Person.objects.filter(_in_scope(actor)).select_related("area__level", "household", "house") \
        .filter(pk=pk).first()
    if person is None:
        raise NotFound("No such person.")
    return person


def person_tags(*, actor, person: Person, current_only: bool = False) -> QuerySet[PersonTag]:
    qs = PersonTag.objects.filter(person=person, tag__in=visible_tags(actor=actor, area=person.area))
    if current_only:
        qs = qs.filter(active_tags_q())
    return qs.select_related("tag")


def person_timeline(*, actor, person: Person) -> list[PersonEvent]:
    """The person's events (一人一档); events about tags the actor may not see are left out."""
    names = dict(visible_tags(actor=actor, area=person.area).values_list("code", "name"))
    hidden = set(Tag.objects.filter(sensitive=True).values_list("code", flat=True)) - set(names)
    events = [e for e in person.events.all() if e.data.get("tag") not in hidden]
    for event in events:
        data = dict(event.data)
        if "tag" in data:
            data["tag"] = names.get(data["tag"], data["tag"])
        event.summary = "；".join(
            f"{v}" if k in ("tag", "note") else f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in data.items() if v not in (None, "", [], False) and k != "sensitive"
        )
    return events


def household_list(*, actor, area: Area | None = None, household_class: str = "", number_prefix: str = "") \
        -> QuerySet[Household]:
    qs = Household.objects.filter(_in_scope(actor)).filter(_under(area))
    if household_class:
        qs = qs.filter(household_class=household_class)
    if number_prefix:
        qs = qs.filter(number__startswith=number_prefix.strip())
    # The member count as a subquery, so that paging happens before counting (no GROUP BY over the page's
    # joins); boundaries and sealed fields are not read for a list.
    members = (Person.objects.filter(household=OuterRef("pk"), alive=True, moved_out=False).order_by()
               .values("household").annotate(n=Count("pk")).values("n"))
    return qs.select_related("area", "head").defer(
        "area__geometry", "head__id_number_sealed", "head__phone_sealed"
    ).annotate(member_count=Coalesce(Subquery(members), 0)).order_by("area__path", "number")


def household_class_counts(*, actor, area: Area | None = None) -> dict[str, int]:
    rows = Household.objects.filter(_in_scope(actor)).filter(_under(area)).values("household_class") \
        .annotate(n=Count("id")).order_by()
    counts = {c: 0 for c in HouseholdClass.values}
    counts.update({r["household_class"]: r["n"] for r in rows})
    return counts


def household_get(*, actor, pk: int) -> Household:
    household = Household.objects.filter(_in_scope(actor)).select_related("area__level", "house", "head",
                                                                          "joint_defense_group").filter(pk=pk).first()
    if household is None:
        raise NotFound("No such household.")
    return household


def household_members(*, actor, household: Household) -> QuerySet[Person]:
    tags = PersonTag.objects.filter(active_tags_q(), tag__in=visible_tags(actor=actor, area=household.area))
    return household.members.filter(alive=True, moved_out=False).select_related("area").prefetch_related(
        Prefetch("person_tags", queryset=tags.select_related("tag"), to_attr="current_tags")
    ).order_by("relation", "birth_date")


def household_history(*, household: Household) -> QuerySet[HouseholdClassChange]:
    return household.class_changes.all()


def rules_in_force_name() -> str:
    current = ClassRuleSet.objects.first()
    return current.name if current else "商南县三色管理（默认）"


def house_list(*, actor, area: Area | None = None) -> QuerySet[House]:
    return House.objects.filter(_in_scope(actor)).filter(_under(area)).select_related("area").order_by("address")


def house_get(*, actor, pk: int) -> House:
    house = house_list(actor=actor).filter(pk=pk).first()
    if house is None:
        raise NotFound("No such house.")
    return house


def place_list(*, actor, area: Area | None = None, place_type: str = "") -> QuerySet[Place]:
    qs = Place.objects.filter(_in_scope(actor)).filter(_under(area))
    if place_type:
        qs = qs.filter(place_type=place_type)
    return qs.select_related("area").order_by("name")


def place_get(*, actor, pk: int) -> Place:
    place = place_list(actor=actor).filter(pk=pk).first()
    if place is None:
        raise NotFound("No such place.")
    return place
