"""Every read of cases, scoped to the actor.

A user sees a case placed, coordinated or held in their CASE_VIEW subtree, or dispatched to their department
or to an assisting unit they work in. The inbox is narrower: the desks and units a user actually staffs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from gridgov.areas.models import Area
from gridgov.areas.scope import ROLE_PERMS, Perm, Scope, active_posts, scope_for
from gridgov.core.errors import NotFound
from gridgov.cases.models import (
    OPEN_STATES,
    Case,
    CaseAction,
    CaseAssignment,
    Category,
    Domain,
    Notification,
    State,
)

_LIST_RELATED = ("area", "desk_area", "holder_area", "holder_department", "category", "domain")


def _department_id(actor) -> int | None:
    staff = getattr(actor, "staff", None) if actor is not None and actor.is_authenticated else None
    return staff.department_id if staff is not None and staff.active else None


def _covers_everything(scope: Scope) -> bool:
    if scope.everything:
        return True
    if not scope.roots:
        return False
    roots = Area.objects.filter(parent__isnull=True).values_list("path", flat=True)
    return all(scope.contains(path) for path in roots)


def visible_q(actor) -> Q:
    """The cases ``actor`` may see, as a filter."""
    scope = scope_for(actor, Perm.CASE_VIEW)
    if _covers_everything(scope):
        return Q()
    q = Q(pk__in=[])
    if not scope.is_empty:
        q = scope.q("area__path") | scope.q("desk_area__path") | scope.q("holder_area__path")
        q |= Q(Exists(CaseAssignment.objects.filter(scope.q("area__path"), case=OuterRef("pk"))))
    dept = _department_id(actor)
    if dept is not None:
        q |= Q(holder_department_id=dept) | Q(Exists(CaseAssignment.objects.filter(case=OuterRef("pk"),
                                                                                    department_id=dept)))
    return q


def case_visible(*, actor) -> QuerySet[Case]:
    return Case.objects.filter(visible_q(actor))


def case_get(*, actor, pk: int) -> Case:
    case = case_visible(actor=actor).select_related(*_LIST_RELATED, "resolved_area", "source").filter(pk=pk).first()
    if case is None:
        raise NotFound("No such case.")
    return case


def case_get_by_number(*, actor, number: str) -> Case:
    number = (number or "").strip()
    if not (number.isdigit() and len(number) > 8):
        raise NotFound("No such case.")
    case = case_get(actor=actor, pk=int(number[8:]))
    if case.number != number:
        raise NotFound("No such case.")
    return case


def case_timeline(*, case: Case) -> QuerySet[CaseAction]:
    return case.actions.select_related("actor").prefetch_related("attachments").order_by("at", "id")


# --- lists ---------------------------------------------------------------------------------------


@dataclass
class CaseFilters:
    state: list[str] | None = None
    domain: Domain | None = None
    category: Category | None = None
    area: Area | None = None  # a subtree
    overdue: bool | None = None
    channel: str = ""
    created_from: dt.date | None = None
    created_to: dt.date | None = None  # inclusive
    text: str = ""


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def apply_filters(qs: QuerySet[Case], filters: CaseFilters) -> QuerySet[Case]:
    f = filters
    if f.state:
        qs = qs.filter(state__in=f.state)
    if f.domain is not None:
        qs = qs.filter(domain=f.domain)
    if f.category is not None:
        qs = qs.filter(category=f.category)
    if f.area is not None:
        qs = qs.filter(Scope.of_paths([f.area.path]).q("area__path"))
    if f.overdue is True:
        qs = qs.filter(state__in=OPEN_STATES, deadline_at__lt=timezone.now())
    elif f.overdue is False:
        qs = qs.exclude(state__in=OPEN_STATES, deadline_at__lt=timezone.now())
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.created_from:
        qs = qs.filter(created_at__gte=_day_start(f.created_from))
    if f.created_to:
        qs = qs.filter(created_at__lt=_day_start(f.created_to + dt.timedelta(days=1)))
    if f.text:
        text = f.text.strip()
        if text.isdigit() and len(text) > 8:
            qs = qs.filter(pk=int(text[8:]))
        else:
            qs = qs.filter(Q(title__icontains=text) | Q(tracking_code=text.upper()))
    return qs


def case_list(*, actor, filters: CaseFilters | None = None) -> QuerySet[Case]:
    qs = apply_filters(case_visible(actor=actor), filters or CaseFilters())
    return qs.select_related(*_LIST_RELATED).order_by("-created_at", "-id")


# --- the inbox -----------------------------------------------------------------------------------

INBOX_TABS = ("pending", "todo", "done", "overdue", "supervised")


def _staffed(actor, perm: Perm) -> list[int]:
    """The areas where ``actor`` holds a post granting ``perm`` (the posts themselves, not their subtrees)."""
    if actor is None or not actor.is_authenticated:
        return []
    cache = actor.__dict__.setdefault("_gridgov_staffed", {})
    if perm not in cache:
        cache[perm] = sorted({p.area_id for p in active_posts(actor) if perm in ROLE_PERMS.get(p.role, ())})
    return cache[perm]


def _mine_q(actor) -> dict[str, Q]:
    desks = _staffed(actor, Perm.CASE_DISPATCH)
    units = _staffed(actor, Perm.CASE_HANDLE)
    dept = _department_id(actor)
    holder = Q(holder_area_id__in=units) if units else Q(pk__in=[])
    assist = Q(area_id__in=units) if units else Q(pk__in=[])
    if dept is not None:
        holder |= Q(holder_department_id=dept)
        assist |= Q(department_id=dept)
    working = [State.DISPATCHED, State.HANDLING]
    desk_q = Q(desk_area_id__in=desks) if desks else Q(pk__in=[])
    return {
        "pending": desk_q & Q(state=State.SUBMITTED),
        "todo": (desk_q & Q(state__in=[State.ACCEPTED, State.REGISTERED, State.REPORTED]))
        | (holder & Q(state__in=working))
        | (Q(state__in=working + [State.REPORTED])
           & Q(Exists(CaseAssignment.objects.filter(assist, case=OuterRef("pk"), role="assist", active=True,
                                                     reported_at__isnull=True)))),
    }


def inbox(*, actor, tab: str) -> QuerySet[Case]:
    if tab not in INBOX_TABS:
        raise NotFound("No such inbox tab.")
    now = timezone.now()
    if tab in ("pending", "todo"):
        qs = Case.objects.filter(_mine_q(actor)[tab])
    elif tab == "done":
        qs = Case.objects.filter(Exists(CaseAction.objects.filter(case=OuterRef("pk"), actor=actor)))
        qs = qs.filter(visible_q(actor))
    elif tab == "overdue":
        qs = case_visible(actor=actor).filter(state__in=OPEN_STATES - {State.SUSPENDED}, deadline_at__lt=now)
    else:
        qs = case_visible(actor=actor).filter(state__in=OPEN_STATES, supervision_deadline_at__isnull=False)
    order = ("deadline_at", "id") if tab in ("todo", "overdue", "supervised") else ("-created_at", "-id")
    return qs.select_related(*_LIST_RELATED).order_by(*order)


def inbox_counts(*, actor) -> dict[str, int]:
    now = timezone.now()
    mine = _mine_q(actor)
    counts = {tab: Case.objects.filter(q).count() for tab, q in mine.items()}
    visible = case_visible(actor=actor).filter(state__in=OPEN_STATES)
    agg = visible.aggregate(
        overdue=Count("pk", filter=Q(deadline_at__lt=now) & ~Q(state=State.SUSPENDED)),
        supervised=Count("pk", filter=Q(supervision_deadline_at__isnull=False)),
    )
    counts["overdue"] = agg["overdue"]
    counts["supervised"] = agg["supervised"]
    counts["done"] = inbox(actor=actor, tab="done").count()
    return counts


def notifications_unread(*, actor) -> QuerySet[Notification]:
    return Notification.objects.filter(user=actor, read_at__isnull=True).select_related("case")


# --- duplicates ----------------------------------------------------------------------------------


def _distance_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def duplicate_candidates(*, category: Category | None, lng: float | None, lat: float | None,
                         exclude: int | None = None, limit: int = 5) -> list[Case]:
    """Open cases of the same category within the radius and time window, nearest first.

    Shown to a reporter before filing (titles and distance only) and to the desk for merging."""
    if category is None or lng is None or lat is None:
        return []
    radius = settings.CASE_DUPLICATE_RADIUS_M
    dlat = radius / 111_320.0
    dlng = radius / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    since = timezone.now() - dt.timedelta(days=settings.CASE_DUPLICATE_DAYS)
    qs = Case.objects.filter(
        category=category, state__in=OPEN_STATES, created_at__gte=since,
        lng__range=(lng - dlng, lng + dlng), lat__range=(lat - dlat, lat + dlat),
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    found = [(d, c) for c in qs[:200] if (d := _distance_m(lng, lat, c.lng, c.lat)) <= radius]
    found.sort(key=lambda pair: pair[0])
    return [c for _d, c in found[:limit]]


# --- statistics ----------------------------------------------------------------------------------


@dataclass
class StatsRow:
    key: str
    label: str
    total: int
    closed: int
    closed_on_time: int
    reworked: int
    rated: int
    satisfied: int

    @property
    def close_rate(self) -> float | None:
        return self.closed / self.total if self.total else None

    @property
    def on_time_rate(self) -> float | None:
        return self.closed_on_time / self.closed if self.closed else None

    @property
    def rework_rate(self) -> float | None:
        return self.reworked / self.closed if self.closed else None

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


_AGG = dict(
    total=Count("pk"),
    closed=Count("pk", filter=Q(state=State.CLOSED)),
    closed_on_time=Count("pk", filter=Q(state=State.CLOSED, closed_on_time=True)),
    reworked=Count("pk", filter=Q(state=State.CLOSED, rework_count__gt=0)),
    rated=Count("pk", filter=~Q(rating="")),
    satisfied=Count("pk", filter=Q(rating__in=["satisfied", "basically"])),
)


def case_stats(*, actor, area: Area | None = None, created_from: dt.date | None = None,
               created_to: dt.date | None = None) -> dict[str, list[StatsRow]]:
    """结案率, 按期结案率, 返工率, 满意率 in total and by domain, channel and level resolved.

    Refused and merged cases are not counted: they were never the platform's work."""
    from gridgov.cases.models import Channel

    qs = apply_filters(case_visible(actor=actor), CaseFilters(area=area, created_from=created_from,
                                                              created_to=created_to))
    qs = qs.exclude(state__in=[State.REFUSED, State.MERGED]).order_by()

    def rows(field: str, labels: dict) -> list[StatsRow]:
        out = []
        for row in qs.values(field).annotate(**_AGG).order_by(field):
            key = row.pop(field)
            out.append(StatsRow(key=str(key or ""), label=str(labels.get(key, key or "—")), **row))
        out.sort(key=lambda r: -r.total)
        return out

    total = qs.aggregate(**_AGG)
    domains = dict(Domain.objects.values_list("pk", "name"))
    levels = {}
    for pk, name in Area.objects.filter(pk__in=qs.exclude(resolved_area=None).values("resolved_area")) \
            .values_list("pk", "level__name"):
        levels[pk] = name
    by_level: dict[str, StatsRow] = {}
    for row in rows("resolved_area", levels):
        label = row.label if row.key else "—"
        acc = by_level.setdefault(label, StatsRow(key=label, label=label, total=0, closed=0, closed_on_time=0,
                                                  reworked=0, rated=0, satisfied=0))
        for name in ("total", "closed", "closed_on_time", "reworked", "rated", "satisfied"):
            setattr(acc, name, getattr(acc, name) + getattr(row, name))
    return {
        "total": [StatsRow(key="", label="", **total)],
        "domain": rows("domain", domains),
        "channel": rows("channel", dict(Channel.choices)),
        "level": sorted(by_level.values(), key=lambda r: -r.total),
    }
