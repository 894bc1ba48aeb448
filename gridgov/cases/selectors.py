"""Every read of cases, scoped to the actor.

A user sees a case placed, coordinated or held in their CASE_VIEW subtree, or dispatched to their department
or to an assisting unit they work in. The inbox is narrower: the desks and units a user actually staffs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from gridgov.areas.models import Area, AreaLevel
from gridgov.areas.scope import ROLE_PERMS, Perm, Scope, posts_of, scope_for
from gridgov.cases.models import (
    OPEN_STATES,
    Case,
    CaseAction,
    CaseAssignment,
    CaseDayStat,
    CaseParticipant,
    CaseReach,
    CaseSubmission,
    Category,
    Channel,
    Domain,
    Notification,
    StatDimension,
    State,
)
from gridgov.core.errors import NotFound


def _listed(qs: QuerySet[Case], *more: str) -> QuerySet[Case]:
    """``qs`` with what a list shows of each case: its areas (without their boundaries), department, category and
    domain (and ``more``), each read by one small query for the whole page. Joined instead, they cost PostgreSQL
    more time to plan (up to 60 ms with eight tables) than the page takes to read, and were joined to every row
    before the page was cut."""
    areas = Area.objects.defer("geometry")
    return qs.prefetch_related(Prefetch("area", queryset=areas), Prefetch("desk_area", queryset=areas),
                               Prefetch("holder_area", queryset=areas), "holder_department", "category", "domain",
                               *more)


def _department_id(actor) -> int | None:
    staff = getattr(actor, "staff", None) if actor is not None and actor.is_authenticated else None
    return staff.department_id if staff is not None and staff.active else None


def _per_request(actor) -> dict:
    """What the inbox works out about ``actor`` once per request, remembered on the user object (as ``scope_for``
    remembers the scopes)."""
    return actor.__dict__.setdefault("_gridgov_cases", {})


def _covers_everything(actor, scope: Scope) -> bool:
    if scope.everything:
        return True
    if not scope.roots:
        return False
    cache, key = _per_request(actor), ("everything", scope.roots)
    if key not in cache:
        roots = Area.objects.filter(parent__isnull=True).values_list("path", flat=True)
        cache[key] = all(scope.contains(path) for path in roots)
    return cache[key]


def _reach_q(actor) -> Q | None:
    """The reach rows (``CaseReach``) through which ``actor`` sees a case: those on an area of their CASE_VIEW
    subtree or on their department. None: they see every case."""
    scope = scope_for(actor, Perm.CASE_VIEW)
    if _covers_everything(actor, scope):
        return None
    units = Q(pk__in=[]) if scope.is_empty else scope.q("area__path")
    dept = _department_id(actor)
    if dept is not None:
        units |= Q(department_id=dept)
    return units


def visible_q(actor, *, open_only: bool = False) -> Q:
    """The cases ``actor`` may see, as a filter: those with a reach row (``CaseReach``: placed, coordinated,
    held or dispatched there) on an area of their CASE_VIEW subtree or on their department. ``open_only``
    narrows it to open cases through the open rows alone (the inbox's tabs of open cases)."""
    is_open = Q(state__in=sorted(OPEN_STATES)) if open_only else Q()  # also said on the case: for the planner
    reach = _reach_q(actor)
    if reach is None:
        return is_open
    rows = CaseReach.objects.filter(reach)
    if open_only:
        # Not open=True: Django writes that as the bare column, and SQLite then looks up the (area, open) index
        # by the area alone, reading every row of the area instead of its few open ones.
        rows = rows.filter(open__in=[True])
    return is_open & Q(pk__in=rows.values("case_id"))


def case_visible(*, actor) -> QuerySet[Case]:
    return Case.objects.filter(visible_q(actor))


def case_get(*, actor, pk: int) -> Case:
    case = _listed(case_visible(actor=actor).filter(pk=pk), "resolved_area__level", "source").first()
    if case is None:
        raise NotFound("No such case.")
    return case


MAX_CASE_ID = 2**62


def pk_from_number(number: str) -> int | None:
    """The id inside a case number (8 digits of date, then the id), or None if ``number`` cannot be one."""
    number = (number or "").strip()
    if not (number.isascii() and number.isdigit() and 8 < len(number) <= 20):
        return None
    pk = int(number[8:])
    return pk if 0 < pk <= MAX_CASE_ID else None


def case_get_by_number(*, actor, number: str) -> Case:
    number = (number or "").strip()
    pk = pk_from_number(number)
    if pk is None:
        raise NotFound("No such case.")
    case = case_get(actor=actor, pk=pk)
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
            qs = qs.filter(pk=pk_from_number(text) or 0)
        else:
            qs = qs.filter(Q(title__icontains=text) | Q(tracking_code=text.upper()))
    return qs


def case_list(*, actor, filters: CaseFilters | None = None) -> QuerySet[Case]:
    qs = apply_filters(case_visible(actor=actor), filters or CaseFilters())
    return _listed(qs).order_by("-created_at", "-id")


# --- the inbox -----------------------------------------------------------------------------------

INBOX_TABS = ("pending", "todo", "done", "overdue", "supervised")


def _staffed(actor, perm: Perm) -> list[int]:
    """The areas where ``actor`` holds a post granting ``perm`` (the posts themselves, not their subtrees)."""
    if actor is None or not actor.is_authenticated:
        return []
    cache = _per_request(actor)
    if perm not in cache:
        cache[perm] = sorted({p.area_id for p in posts_of(actor) if perm in ROLE_PERMS.get(p.role, ())})
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
    # The cases the units assist on and have not reported back: a list read once by the (area, active) index (not
    # active=True, which SQLite could look up by the area alone), not a test of each case's assignments (SQLite
    # looked up all the assignments of the unit for each open case).
    assisting = CaseAssignment.objects.filter(assist, role="assist", active__in=[True], reported_at__isnull=True)
    return {
        "pending": desk_q & Q(state=State.SUBMITTED),
        "todo": (desk_q & Q(state__in=[State.ACCEPTED, State.REGISTERED, State.REPORTED]))
        | (holder & Q(state__in=working))
        | (Q(state__in=working + [State.REPORTED]) & Q(pk__in=assisting.values("case_id"))),
    }


def _open_tab_q(actor, tab: str) -> Q:
    """The cases of a tab of open cases, as a filter."""
    if tab in ("pending", "todo"):
        return _mine_q(actor)[tab]
    visible = visible_q(actor, open_only=True)
    if tab == "overdue":
        return visible & Q(deadline_at__lt=timezone.now()) & ~Q(state=State.SUSPENDED)
    return visible & Q(supervision_deadline_at__isnull=False)


# The done tab lists the cases the user acted on most recently, among their last this many (a county operator acts
# on hundreds of thousands in a year; the list is for picking up recent work, the case list searches the rest).
DONE_LIMIT = 1000


def inbox(*, actor, tab: str) -> QuerySet[Case]:
    if tab not in INBOX_TABS:
        raise NotFound("No such inbox tab.")
    if tab == "done":
        return _listed(_done(actor)).order_by("-participants__last_at", "-id")
    order = ("-created_at", "-id") if tab == "pending" else ("deadline_at", "id")
    return _listed(Case.objects.filter(_open_tab_q(actor, tab))).order_by(*order)


def _done(actor) -> QuerySet[Case]:
    """The cases of the actor's first ``DONE_LIMIT`` participations in the tab's order (the latest first, then by
    case id downwards) that they may still see.

    The last of those participations is looked up first, by the (user, -last_at) index; the tab then reads the
    participations from it on by the same index (at most ``DONE_LIMIT``) and tests the visibility of their cases one
    by one (``EXISTS`` over a case's reach rows, by its id), never the reach rows of a whole subtree."""
    mine = Q(participants__user=actor)
    participations = CaseParticipant.objects.filter(user=actor).order_by("-last_at", "-case_id")
    last = participations.values_list("last_at", "case_id")[DONE_LIMIT - 1:DONE_LIMIT].first()
    if last is not None:
        at, case_id = last
        # From (at, case_id) on in the tab's order; the first condition is the range the index reads.
        mine &= Q(participants__last_at__gte=at) & (Q(participants__last_at__gt=at) | Q(pk__gte=case_id))
    reach = _reach_q(actor)
    visible = Q() if reach is None else Exists(CaseReach.objects.filter(reach, case=OuterRef("pk")))
    return Case.objects.filter(mine, visible)


def inbox_count(*, actor, tab: str) -> int:
    """The number of rows of one tab, counted without ordering them."""
    return inbox(actor=actor, tab=tab).order_by().count()


def inbox_counts(*, actor) -> dict[str, int]:
    """The count of each tab (the done tab's at most ``DONE_LIMIT``), one statement each: each finds its few rows
    by its own indexes. (One aggregate over all the open cases was no faster, and after ANALYZE SQLite reads the
    whole table for it.)"""
    return {tab: inbox_count(actor=actor, tab=tab) for tab in INBOX_TABS}


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
    """结案率, 按期结案率, 返工率, 满意率 in total and by domain, channel and level resolved, of the cases placed in
    ``area`` (default: the actor's CASE_VIEW areas; an area reaching outside them counts only its part inside) and
    filed from ``created_from`` to ``created_to`` (days in the deployment's time zone, both included). Rows by
    ``-total``, then label.

    Cases coordinated or handled in the areas but placed elsewhere are not counted (they are the statistics of
    the area they happen in). Refused and merged cases are not counted: they were never the platform's work.
    A user with no area but a department (a department's handler) gets the statistics of the cases they see.

    The statistics of the whole tree, or of areas of its top two levels (a county, its towns), add up the day
    rows of those areas (``CaseDayStat``, kept by the services); those of deeper areas (a village, a grid: few
    cases) count the cases themselves. Both give the same numbers."""
    from gridgov.cases.derived import SUMMARY_PATH_LENGTH

    scope = scope_for(actor, Perm.CASE_VIEW)
    dates = {"created_from": created_from, "created_to": created_to}
    if scope.is_empty:
        return _stats_of_cases(apply_filters(case_visible(actor=actor), CaseFilters(area=area, **dates)))
    roots = None if scope.everything and area is None else list(scope.roots)  # None: the whole tree
    if area is not None and not scope.contains(area.path):
        roots = [root for root in roots if root.startswith(area.path)]
    elif area is not None:
        roots = [area.path]
    if roots is not None and any(len(root) > SUMMARY_PATH_LENGTH for root in roots):
        cases = Case.objects.filter(Scope.of_paths(roots).q("area__path"))
        return _stats_of_cases(apply_filters(cases, CaseFilters(**dates)))
    # The rows of an area count its whole subtree: those of the areas asked, or of the tree's top areas.
    areas = Area.objects.filter(parent__isnull=True) if roots is None else Area.objects.filter(path__in=roots)
    rows = CaseDayStat.objects.order_by().filter(area_id__in=list(areas.values_list("pk", flat=True)))
    if created_from is not None:
        rows = rows.filter(day__gte=created_from)
    if created_to is not None:
        rows = rows.filter(day__lte=created_to)
    sums = rows.values("dimension", "key").annotate(**{name: Sum(name) for name in _AGG})
    return _stats_rows((row.pop("dimension"), row.pop("key"), row) for row in sums)


def _stats_of_cases(qs: QuerySet[Case]) -> dict[str, list[StatsRow]]:
    """``case_stats`` of the cases of ``qs``, counted in one grouped query."""
    qs = qs.exclude(state__in=[State.REFUSED, State.MERGED]).order_by()

    def keyed():
        for row in qs.values("domain", "channel", "resolved_area__level").annotate(**_AGG):
            domain, channel, level = row.pop("domain"), row.pop("channel"), row.pop("resolved_area__level")
            yield StatDimension.DOMAIN, str(domain or ""), row
            yield StatDimension.CHANNEL, channel or "", row
            yield StatDimension.LEVEL, str(level or ""), row

    return _stats_rows(keyed())


def _stats_rows(counts) -> dict[str, list[StatsRow]]:
    """The rows of ``case_stats`` from (dimension, key, counters) triples keyed as ``CaseDayStat`` keys them (a
    key may come more than once: its counters add up). The total is the sum of the channels (every case has
    one); keys whose cases all left them (counters of 0) are left out."""
    domains = {str(pk): name for pk, name in Domain.objects.values_list("pk", "name")}
    levels = {str(pk): name for pk, name in AreaLevel.objects.values_list("pk", "name")}
    channels = dict(Channel.choices)
    labels = {StatDimension.DOMAIN: lambda key: (key, domains.get(key, key) if key else "—"),
              StatDimension.CHANNEL: lambda key: (key, str(channels.get(key, key or "—"))),
              StatDimension.LEVEL: lambda key: (levels.get(key, key), levels.get(key, key)) if key else ("—", "—")}
    groups: dict[str, dict[str, StatsRow]] = {"total": {}, "domain": {}, "channel": {}, "level": {}}
    total = groups["total"][""] = StatsRow(key="", label="", **dict.fromkeys(_AGG, 0))

    def add(acc: StatsRow, row: dict) -> None:
        for name in _AGG:
            setattr(acc, name, getattr(acc, name) + row[name])

    for dimension, key, row in counts:
        key, label = labels[dimension](key)
        acc = groups[dimension].get(key)
        if acc is None:
            acc = groups[dimension][key] = StatsRow(key=key, label=label, **dict.fromkeys(_AGG, 0))
        add(acc, row)
        if dimension == StatDimension.CHANNEL:
            add(total, row)
    return {group: sorted((r for r in rows.values() if r.total or group == "total"), key=lambda r: (-r.total, r.label))
            for group, rows in groups.items()}


# --- for the staff pages -------------------------------------------------------------------------


def may_use_cases(*, actor) -> bool:
    """Whether ``actor`` works with cases at all: a case permission somewhere, or a department's staff."""
    return not scope_for(actor, Perm.CASE_VIEW).is_empty or _department_id(actor) is not None


def area_options(*, scope: Scope, limit: int = 300) -> list[Area]:
    """The areas of ``scope`` top down, as many whole levels as fit in ``limit`` (a county's towns and villages,
    not its thousands of grids): the choices of a select or a datalist. Deeper areas are still taken by code."""
    from django.db.models.functions import Length

    if scope.is_empty:
        return []
    qs = Area.objects.filter(scope.q("path")).annotate(path_len=Length("path"))
    total, deepest = 0, 0
    for row in qs.order_by().values("path_len").annotate(n=Count("pk")).order_by("path_len"):
        if deepest and total + row["n"] > limit:
            break
        total, deepest = total + row["n"], row["path_len"]
    return list(qs.filter(path_len__lte=deepest).select_related("level").order_by("path")[:limit])


def dispatch_units(*, case: Case) -> tuple[list[Area], list]:
    """Where the desk may send ``case``: its own area and the areas below it, and the departments of its own
    area, of the areas above it and below it (网格吹哨、部门报到)."""
    from gridgov.areas.models import Department

    desk = case.desk_area
    below = Scope.of_paths([desk.path])
    departments = Department.objects.filter(Q(area__path__in=[*desk.ancestor_paths(), desk.path])
                                            | below.q("area__path"))
    return area_options(scope=below), list(departments.select_related("area").order_by("area__path", "name"))


def dispatch_area(*, case: Case, code: str) -> Area:
    """An area of the desk's subtree by its code (or by its name, when only one area there has it); anything
    else is absent."""
    text = (code or "").strip()
    below = Area.objects.filter(Scope.of_paths([case.desk_area.path]).q("path"))
    area = below.filter(code=text).first()
    if area is None and text:
        named = list(below.filter(name=text)[:2])
        area = named[0] if len(named) == 1 else None
    if area is None:
        raise NotFound("No such area below the desk.")
    return area


def case_assignments(*, case: Case) -> QuerySet[CaseAssignment]:
    return case.assignments.select_related("area", "department").order_by("created_at", "id")


def case_attachment_get(*, case: Case, pk: int):
    """An attachment of a case the caller already got through ``case_get`` (which checked the actor)."""
    attachment = case.attachments.filter(pk=pk).first()
    if attachment is None:
        raise NotFound("No such file.")
    return attachment


def categories_active() -> QuerySet[Category]:
    return Category.objects.filter(active=True).select_related("domain").order_by("domain__order", "code")


def taxonomy() -> QuerySet[Domain]:
    """The domains with all their categories (active or not)."""
    from django.db.models import Prefetch

    return Domain.objects.prefetch_related(
        Prefetch("categories", queryset=Category.objects.select_related("default_level").order_by("code"))
    )


def duplicates_visible(*, actor, category: Category | None, lng: float | None, lat: float | None,
                       exclude: int | None = None) -> list[Case]:
    """``duplicate_candidates`` narrowed to the cases ``actor`` may see."""
    found = duplicate_candidates(category=category, lng=lng, lat=lat, exclude=exclude)
    if not found:
        return []
    seen = set(case_visible(actor=actor).filter(pk__in=[c.pk for c in found]).values_list("pk", flat=True))
    return [c for c in found if c.pk in seen]


# --- for the resident's public pages (no actor: the tracking code is the key) ------------------------


def case_get_public(*, tracking_code: str) -> Case:
    """The case a resident follows with its tracking code. Merged cases are followed to their original by
    ``case_public_original``."""
    code = (tracking_code or "").strip().upper()
    if not (code.isascii() and code.isalnum() and 4 <= len(code) <= 16):
        raise NotFound("No case has this tracking code.")
    case = Case.objects.select_related("category", "domain").filter(tracking_code=code).first()
    if case is None:
        raise NotFound("No case has this tracking code.")
    return case


def case_public_original(*, case: Case) -> Case:
    """The case whose progress a merged report shows: the end of its ``duplicate_of`` chain."""
    seen = {case.pk}
    while case.duplicate_of_id is not None and case.duplicate_of_id not in seen:
        seen.add(case.duplicate_of_id)
        case = Case.objects.select_related("category", "domain").get(pk=case.duplicate_of_id)
    return case


def case_public_photos(*, case: Case) -> QuerySet:
    """The photos the case was filed with, as their public copies (metadata stripped); originals, PDFs and the
    photos staff attach to later actions (internal work) never show."""
    return (case.attachments.exclude(public_file="").filter(Q(action__isnull=True) | Q(action__verb="create"))
            .order_by("created_at", "id"))


def public_area_outlines(*, depth: int = 2, limit: int = 200) -> list[Area]:
    """The top areas with a boundary (the county and its towns, as far as ``limit`` allows): the outline a
    resident picks a place on when the map has no tiles. Names and boundaries of divisions are public."""
    from django.db.models.functions import Length

    from gridgov.areas.models import PATH_STEP

    return list(Area.objects.annotate(path_len=Length("path"))
                .filter(geometry__isnull=False, path_len__lte=PATH_STEP * depth)
                .order_by("path").only("name", "code", "path", "geometry")[:limit])


# --- submissions -------------------------------------------------------------------------------------------------


def submissions(*, actor, status: str = "") -> QuerySet[CaseSubmission]:
    """The actor's own submissions (``Prefer: respond-async``), newest first; of one status if given."""
    found = CaseSubmission.objects.select_related("case").filter(actor_id=getattr(actor, "pk", None))
    if status:
        found = found.filter(status=status)
    return found.order_by("-received_at", "-pk")


def submission_get(*, actor, pk: int) -> CaseSubmission:
    """One of the actor's own submissions (nobody else's: another's looks absent)."""
    found = CaseSubmission.objects.select_related("case").filter(pk=pk, actor_id=getattr(actor, "pk", None)).first()
    if found is None:
        raise NotFound("No such submission.")
    return found
