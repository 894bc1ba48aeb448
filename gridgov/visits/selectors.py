"""Every read of visits, scoped to the actor (Perm.VISIT_VIEW over the area subtree): visit lists, the day's
due list, the compulsory on-site visits (五必到), completion statistics, overdue households and the map.

Due dates are computed here by ``gridgov.visits.due.due_state`` from the household's last visits, its anchor
and the interval the policy in force gives it (``gridgov.visits.policy``); they are never stored.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone

from gridgov.areas.models import GRID_KINDS, PATH_STEP, Area, Post, Role, Slot
from gridgov.areas.scope import Perm, active_posts, next_prefix, scope_for
from gridgov.cases.models import OPEN_STATES, Case, Category
from gridgov.core.errors import ApplicationError, NotFound
from gridgov.registry.models import (
    Household,
    HouseholdClass,
    HouseholdClassChange,
    Person,
    PersonTag,
    ResidenceType,
)
from gridgov.registry.selectors import visible_tags
from gridgov.visits import policy as rules_
from gridgov.visits.due import WEEK_DAYS, DueState, Status, due_state, local_date, onsite_due_at
from gridgov.visits.errors import VisitErrorCode
from gridgov.visits.models import Visit, VisitKind, VisitPhoto, VisitPolicy

COLOUR_RANK = {HouseholdClass.RED: 0, HouseholdClass.YELLOW: 1, HouseholdClass.GREEN: 2}
# Which visits serve each duty (see gridgov.visits.policy).
DUTY_FILTERS = {
    "visit": ~Q(kind=VisitKind.PHONE),
    "contact": Q(),
    "helper": Q(with_helper=True) & ~Q(kind=VisitKind.PHONE),
}
MAP_LIMIT = 5000  # households on one map, and in one overdue list
MAX_PERIOD_DAYS = 366


def policy_in_force() -> VisitPolicy:
    return VisitPolicy.objects.first() or rules_.default_policy()


def policy_history() -> QuerySet[VisitPolicy]:
    return VisitPolicy.objects.all()


def rules_described(*, actor, rules: list[dict]) -> list[dict]:
    """The rules as people read them: duty, colours, tag and residence names (a tag the actor may not see is
    shown by its code)."""
    names = dict(visible_tags(actor=actor).values_list("code", "name"))
    colours, residences = dict(HouseholdClass.choices), dict(ResidenceType.choices)
    return [{**rule, "duty_label": rules_.DUTY_LABELS.get(rule["duty"], rule["duty"]),
             "colours": [(c, colours.get(c, c)) for c in rule["when"].get("colour", [])],
             "tag_names": [names.get(t, t) for t in rule["when"].get("tags", [])],
             "residence_names": [residences.get(r, r) for r in rule["when"].get("residence", [])]}
            for rule in rules]


def _scope(actor, perm: Perm = Perm.VISIT_VIEW, field: str = "area__path") -> Q:
    return scope_for(actor, perm).q(field)


def _under(area: Area | None, field: str = "area__path") -> Q:
    if area is None:
        return Q()
    return Q(**{f"{field}__gte": area.path, f"{field}__lt": next_prefix(area.path)})


def can(actor, perm: Perm, area: Area) -> bool:
    return scope_for(actor, perm).contains(area.path)


# --- visits ----------------------------------------------------------------------------------------


def visit_list(*, actor, household=None, area: Area | None = None) -> QuerySet[Visit]:
    """Visits in the actor's scope, newest first; corrected and withdrawn ones included (marked)."""
    qs = Visit.objects.filter(_scope(actor)).filter(_under(area))
    if household is not None:
        qs = qs.filter(household=household)
    return qs.select_related("area", "household").order_by("-visited_at", "-pk")


def visit_get(*, actor, pk: int) -> Visit:
    visit = (Visit.objects.filter(_scope(actor)).filter(pk=pk)
             .select_related("area", "household", "household__house", "case", "corrects", "superseded_by")
             .prefetch_related("photos", "finding_cases__case").first())
    if visit is None:
        raise NotFound("No such visit.")
    return visit


def visit_get_by_uuid(*, actor, uuid) -> Visit | None:
    return Visit.objects.filter(_scope(actor)).filter(uuid=uuid).first()


def household_get(*, actor, pk: int) -> Household:
    """A household whose visits the actor may see."""
    household = (Household.objects.filter(_scope(actor)).filter(pk=pk)
                 .select_related("area__level", "house", "head").defer("area__geometry").first())
    if household is None:
        raise NotFound("No such household.")
    return household


def case_get(*, actor, pk: int) -> Case:
    """A case placed in the actor's visit scope (for the on-site visit that answers it)."""
    case = Case.objects.filter(_scope(actor)).filter(pk=pk).select_related("category", "area", "household").first()
    if case is None:
        raise NotFound("No such case.")
    return case


def case_categories() -> QuerySet[Category]:
    """The active case categories, for a case opened from a finding."""
    return Category.objects.filter(active=True).select_related("domain")


def category_get(*, code: str) -> Category:
    category = case_categories().filter(code=code).first()
    if category is None:
        raise ApplicationError(VisitErrorCode.INVALID_VISIT, "Unknown category.", fields={"category": ["unknown"]})
    return category


def visit_chain(*, visit: Visit) -> list[Visit]:
    """The record and every record it corrects, or that corrects it, oldest first."""
    root = visit
    while root.corrects_id is not None:
        root = Visit.objects.get(pk=root.corrects_id)
    chain = [root]
    while chain[-1].superseded_by_id is not None:
        chain.append(Visit.objects.get(pk=chain[-1].superseded_by_id))
    return chain


def photo_get(*, actor, pk: int):
    photo = VisitPhoto.objects.filter(_scope(actor, field="visit__area__path")).filter(pk=pk).first()
    if photo is None:
        raise NotFound("No such photo.")
    return photo


# --- due ----------------------------------------------------------------------------------------------


@dataclass
class DueHousehold:
    """What a due list shows of a household (a list has hundreds: plain rows, not model instances)."""

    pk: int
    number: str
    address: str
    household_class: str
    created_at: dt.datetime
    area_id: int
    area: Area | None = None

    def get_household_class_display(self) -> str:
        return str(HouseholdClass(self.household_class).label)


@dataclass
class DueRow:
    household: DueHousehold
    states: list[tuple[DueState, str]]  # every duty owed, with its reason, most urgent first

    @property
    def due(self) -> DueState:
        return self.states[0][0]

    @property
    def reason(self) -> str:
        return self.states[0][1]

    @property
    def status(self) -> Status:
        return self.due.status


@dataclass
class OnsiteRow:
    case: Case
    due_at: dt.datetime
    now: dt.datetime

    @property
    def overdue(self) -> bool:
        return self.now > self.due_at

    @property
    def hours_left(self) -> int:
        return int((self.due_at - self.now).total_seconds() // 3600)


@dataclass
class DueList:
    onsite: list[OnsiteRow]
    households: list[DueRow]
    grids: list[Area]
    policy: VisitPolicy
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Facts:
    """What the due function needs of each household of a list, read in a few flat queries (no per-row
    subqueries to compile): the last visit serving each duty, the last change of colour, and the current
    members' tags and residence types where the rules look at them."""

    last: dict[int, dict[str, dt.datetime | None]]
    changed: dict[int, dt.datetime]
    tags: dict[int, set[str]]
    residences: dict[int, set[str]]


def facts_queries(base: QuerySet[Household], rules: list[dict], today: dt.date) -> dict[str, QuerySet]:
    """The reads behind ``household_facts`` (``base`` becomes a subquery of each); tags and residences only
    where the rules look at them."""
    ids = base.order_by().values("pk")
    aggregates = {duty: Max("visited_at", filter=DUTY_FILTERS[duty]) if DUTY_FILTERS[duty] else Max("visited_at")
                  for duty in rules_.duties_of(rules)}
    queries = {
        "last": Visit.objects.effective().filter(household__in=ids).order_by().values("household_id")
        .annotate(**aggregates),
        "changed": HouseholdClassChange.objects.filter(household__in=ids).order_by().values("household_id")
        .annotate(at=Max("at")).values_list("household_id", "at"),
    }
    codes = {code for r in rules for code in r.get("when", {}).get("tags", [])}
    if codes:
        queries["tags"] = (PersonTag.objects.filter(person__household__in=ids, person__alive=True,
                                                    person__moved_out=False, tag__code__in=codes,
                                                    start_date__lte=today)
                           .filter(Q(end_date__isnull=True) | Q(end_date__gt=today)).order_by()
                           .values_list("person__household_id", "tag__code").distinct())
    kinds = {kind for r in rules for kind in r.get("when", {}).get("residence", [])}
    if kinds:
        queries["residences"] = (Person.objects.filter(household__in=ids, alive=True, moved_out=False,
                                                       residence_type__in=kinds).order_by()
                                 .values_list("household_id", "residence_type").distinct())
    return queries


def household_facts(base: QuerySet[Household], rules: list[dict], today: dt.date) -> Facts:
    """The facts of the households of ``base``, in three to five flat queries."""
    queries = facts_queries(base, rules, today)
    tags: dict[int, set[str]] = defaultdict(set)
    for household_id, code in queries.get("tags", ()):
        tags[household_id].add(code)
    residences: dict[int, set[str]] = defaultdict(set)
    for household_id, kind in queries.get("residences", ()):
        residences[household_id].add(kind)
    return Facts(last={row.pop("household_id"): row for row in queries["last"]}, changed=dict(queries["changed"]),
                 tags=tags, residences=residences)


def due_rows(households, facts: Facts, rules: list[dict], now: dt.datetime) -> list[DueRow]:
    """The due state of each duty of each household (``due_state``), most urgent first; households the rules
    ask nothing of are left out."""
    rows = []
    for household in households:
        owed = rules_.requirements(rules, colour=household.household_class, tags=facts.tags.get(household.pk, set()),
                                   residences=facts.residences.get(household.pk, set()))
        if not owed:
            continue
        changed = facts.changed.get(household.pk)
        anchor = max(household.created_at, changed) if changed else household.created_at
        last = facts.last.get(household.pk, {})
        states = [(due_state(duty=duty, every_days=req.every_days, last_visit=last.get(duty), anchor=anchor, now=now),
                   req.reason) for duty, req in owed.items()]
        states.sort(key=lambda s: (s[0].due_date, rules_.DUTIES.index(s[0].duty)))
        rows.append(DueRow(household, states))
    rows.sort(key=lambda r: (r.due.days_left, COLOUR_RANK.get(r.household.household_class, 3),
                             r.household.number))
    return rows


def _due_rows_of(base: QuerySet[Household], policy: VisitPolicy, now: dt.datetime) -> list[DueRow]:
    facts = household_facts(base, policy.rules, local_date(now))
    households = [DueHousehold(*row) for row in _households(base)]
    # The grids once each, not once per household (a list has hundreds of households and a few grids).
    grids = {a.pk: a for a in Area.objects.filter(pk__in={h.area_id for h in households})
             .only("id", "code", "name", "path", "kind")}
    for household in households:
        household.area = grids[household.area_id]
    return due_rows(households, facts, policy.rules, now)


def _households(qs: QuerySet[Household]) -> QuerySet[Household]:
    """The columns of ``DueHousehold``."""
    return qs.order_by().values_list("id", "number", "address", "household_class", "created_at", "area_id")


def worker_grids(*, actor) -> list[Area]:
    """The grids the actor works on as a grid worker (A or B post), today."""
    grids = {p.area_id: p.area for p in active_posts(actor) if p.role == Role.GRID_WORKER and p.area.is_grid}
    return sorted(grids.values(), key=lambda a: a.path)


def onsite_pending(*, actor, areas: list[Area], now: dt.datetime | None = None,
                   policy: VisitPolicy | None = None) -> list[OnsiteRow]:
    """Open cases of a 五必到 category in these areas with no on-site visit yet: compulsory visits."""
    if not areas:
        return []
    now = now or timezone.now()
    policy = policy or policy_in_force()
    within = Q()
    for area in areas:
        within |= _under(area)
    done = Visit.objects.effective().filter(case=OuterRef("pk"))
    cases = (Case.objects.filter(within).filter(_scope(actor, Perm.VISIT_VIEW))
             .filter(category__onsite_required=True, state__in=OPEN_STATES).exclude(Exists(done))
             .select_related("category", "household", "area")
             .only("id", "title", "created_at", "state", "tracking_code", "household_id", "area_id", "category_id",
                   "category__name", "category__onsite_required", "household__number", "household__address",
                   "area__code", "area__name", "area__path")
             .order_by("created_at", "pk"))
    return [OnsiteRow(case, onsite_due_at(case.created_at, policy.onsite_hours), now) for case in cases]


def due_list(*, actor, now: dt.datetime | None = None, grids: list[Area] | None = None,
             horizon: int | None = WEEK_DAYS) -> DueList:
    """The grid worker's day: compulsory visits first, then overdue, due today, due this week (``horizon``
    days ahead; None: every household of the grids, whenever due)."""
    now = now or timezone.now()
    policy = policy_in_force()
    # A grid worker's own posts grant visit.view (gridgov.areas.scope); grids given are checked.
    grids = worker_grids(actor=actor) if grids is None else [g for g in grids if can(actor, Perm.VISIT_VIEW, g)]
    if not grids:
        return DueList(onsite=[], households=[], grids=[], policy=policy)
    rows = _due_rows_of(Household.objects.filter(area__in=[g.pk for g in grids]), policy, now)
    counts = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
    if horizon is not None:
        rows = [r for r in rows if r.due.days_left <= horizon]
    onsite = onsite_pending(actor=actor, areas=grids, now=now, policy=policy)
    counts["onsite"] = len(onsite)
    return DueList(onsite=onsite, households=rows, grids=grids, policy=policy, counts=dict(counts))


@dataclass
class HouseholdDue:
    states: list[tuple[DueState, str]]  # each duty the household owes, with its reason, most urgent first
    policy: VisitPolicy


def household_due(*, actor, household: Household, now: dt.datetime | None = None) -> HouseholdDue:
    """One household's duties under the policy in force, with the reasons and the due state of each."""
    if not can(actor, Perm.VISIT_VIEW, household.area):
        raise NotFound("No such household.")
    now = now or timezone.now()
    policy = policy_in_force()
    row = _due_rows_of(Household.objects.filter(pk=household.pk), policy, now)
    return HouseholdDue(states=row[0].states if row else [], policy=policy)


def grid_count(*, area: Area) -> int:
    return Area.objects.filter(_under(area, "path"), kind__in=GRID_KINDS).count()


def household_count(*, actor, area: Area) -> int:
    return Household.objects.filter(_scope(actor)).filter(_under(area)).count()


def overdue_households(*, actor, area: Area, now: dt.datetime | None = None,
                       limit: int = MAP_LIMIT) -> list[DueRow] | None:
    """The overdue households under an area, most overdue first; None when the area holds more than ``limit``
    households (choose a smaller area)."""
    now = now or timezone.now()
    qs = Household.objects.filter(_scope(actor)).filter(_under(area))
    if qs.count() > limit:
        return None
    rows = _due_rows_of(qs, policy_in_force(), now)
    return [r for r in rows if r.status == Status.OVERDUE]


# --- completion statistics ---------------------------------------------------------------------------


def expected_visits(period_days: int, every_days: int) -> int:
    """Visits a rule expects in a period: the period over the interval, rounded half up (a 28-day February
    expects one monthly visit, a week none)."""
    return (2 * period_days + every_days) // (2 * every_days)


@dataclass
class StatsRow:
    key: str
    area: Area | None
    households: int = 0
    expected: int = 0
    done: int = 0
    helper_expected: int = 0
    helper_done: int = 0
    visits: int = 0
    visited_households: int = 0
    worker: str = ""
    worker_b: str = ""

    @property
    def rate(self) -> float | None:
        return round(self.done / self.expected, 4) if self.expected else None

    @property
    def helper_rate(self) -> float | None:
        return round(self.helper_done / self.helper_expected, 4) if self.helper_expected else None

    def add(self, other: StatsRow) -> None:
        for name in ("households", "expected", "done", "helper_expected", "helper_done", "visits",
                     "visited_households"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Stats:
    area: Area
    start: dt.date
    end: dt.date
    total: StatsRow
    rows: list[StatsRow]
    policy: VisitPolicy


def period_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The moments a period of whole days (both ends included) begins and ends, in the deployment's zone."""
    if end < start:
        raise ApplicationError(VisitErrorCode.INVALID_PERIOD, "The period ends before it starts.",
                               fields={"end": ["before start"]})
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ApplicationError(VisitErrorCode.INVALID_PERIOD, "A period is at most a year long.",
                               fields={"end": ["too long"]})
    zone = timezone.get_default_timezone()
    begin = timezone.make_aware(dt.datetime.combine(start, dt.time()), zone)
    finish = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()), zone)
    return begin, finish


STATS_SQL = """
    SELECT hh.g, COUNT(*),
           SUM(hh.e_visit), SUM(CASE WHEN COALESCE(v.n_visit, 0) < hh.e_visit THEN COALESCE(v.n_visit, 0)
                                     ELSE hh.e_visit END),
           SUM(hh.e_contact), SUM(CASE WHEN COALESCE(v.n_contact, 0) < hh.e_contact THEN COALESCE(v.n_contact, 0)
                                       ELSE hh.e_contact END),
           SUM(hh.e_helper), SUM(CASE WHEN COALESCE(v.n_helper, 0) < hh.e_helper THEN COALESCE(v.n_helper, 0)
                                      ELSE hh.e_helper END),
           SUM(COALESCE(v.n_contact, 0)), SUM(CASE WHEN v.n_contact > 0 THEN 1 ELSE 0 END)
    FROM ({households}) hh LEFT JOIN ({visits}) v ON v.household_id = hh.id
    GROUP BY hh.g
"""


def completion_queries(*, actor, area: Area, start: dt.date, end: dt.date, group: str = "child",
                       policy: VisitPolicy | None = None) -> tuple[str, list]:
    """The statement behind ``completion_stats``: the households (scoped, each with the visits the policy
    expects of it in the period, per duty) left-joined to their effective visits in the period, counted by
    household, summed by group with each household's visits capped at what it was expected to get.

    The area must lie in the actor's scope, so its whole subtree does: the subtree is the only filter (the
    same range twice would make PostgreSQL expect a handful of rows and size its hash tables for them)."""
    if not can(actor, Perm.VISIT_VIEW, area):
        raise NotFound("No such area.")
    policy = policy or policy_in_force()
    begin, finish = period_bounds(start, end)
    days = (end - start).days + 1
    rules = policy.rules
    key = F("area_id") if group == "grid" else Substr("area__path", 1, len(area.path) + PATH_STEP)
    expected = {f"e_{duty}": rules_.interval_case(rules, duty, today=end,
                                                  value=lambda i, r: expected_visits(days, r["every_days"]))
                for duty in rules_.DUTIES}
    households = Household.objects.filter(_under(area)).order_by().values("id", g=key, **expected)
    # Counted by a column of the index (not the primary key): PostgreSQL can answer from the index alone.
    visits = (Visit.objects.effective().filter(_under(area))
              .filter(household__isnull=False, visited_at__gte=begin, visited_at__lt=finish)
              .order_by().values("household_id")
              .annotate(n_visit=Count("household_id", filter=DUTY_FILTERS["visit"]), n_contact=Count("household_id"),
                        n_helper=Count("household_id", filter=DUTY_FILTERS["helper"])))
    h_sql, h_params = households.query.sql_with_params()
    v_sql, v_params = visits.query.sql_with_params()
    return STATS_SQL.format(households=h_sql, visits=v_sql), [*h_params, *v_params]


# PostgreSQL, for this one statement: the per-household aggregate of a month's visits needs about 16 MB to stay
# in memory (the default work_mem of 4 MB spills it to disk), and a parallel plan makes every worker compute that
# aggregate again in full (measured slower on two cores, bench/bench_visits.py).
POSTGRES_STATISTICS_SETTINGS = ("SET LOCAL work_mem = '64MB'", "SET LOCAL max_parallel_workers_per_gather = 0")


def run_statistics(sql: str, params: list) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for setting in POSTGRES_STATISTICS_SETTINGS:
                cursor.execute(setting)
        cursor.execute(sql, params)
        return cursor.fetchall()


def completion_stats(*, actor, area: Area, start: dt.date, end: dt.date, group: str = "child") -> Stats:
    """Visits done against visits due per area (``group`` "child": the area's children; "grid": every grid
    under it; "worker": every grid, summed by its A-post grid worker). A household's visits in the period
    count up to the number its duties expect (a household visited ten times does not make up for nine not
    visited). The visit and contact duties make the rate; the party-member/deputy duty is reported apart."""
    if not can(actor, Perm.VISIT_VIEW, area):
        raise NotFound("No such area.")
    policy = policy_in_force()
    sql, params = completion_queries(actor=actor, area=area, start=start, end=end,
                                     group="grid" if group in ("grid", "worker") else "child", policy=policy)
    raw = run_statistics(sql, params)
    rows: dict[str, StatsRow] = {}
    for g, *sums in raw:  # PostgreSQL sums integers as numeric: back to int
        n, ev, dv, ec, dc, eh, dh, visits, visited = (int(v or 0) for v in sums)
        rows[str(g)] = StatsRow(key=str(g), area=None, households=n, expected=ev + ec, done=dv + dc,
                                helper_expected=eh, helper_done=dh, visits=visits, visited_households=visited)
    if group in ("grid", "worker"):
        grids = Area.objects.filter(_under(area, "path"), kind__in=GRID_KINDS).select_related("parent") \
            .defer("geometry").order_by("path")
        by_key = {str(a.pk): a for a in grids}
    else:
        children = Area.objects.filter(parent=area).defer("geometry").order_by("path") if not area.is_grid else []
        by_key = {a.path: a for a in children} or {area.path: area}
    table = []
    for key_, obj in by_key.items():
        row = rows.pop(key_, None) or StatsRow(key=key_, area=None)
        row.area = obj
        table.append(row)
    _name_workers(table)
    if group == "worker":
        table = _by_worker(table)
    total = StatsRow(key=area.path, area=area)
    for row in table:
        total.add(row)
    for row in rows.values():  # households outside any listed area (none in a well-formed tree)
        total.add(row)
    return Stats(area=area, start=start, end=end, total=total, rows=table, policy=policy)


def _grid_posts(grid_ids) -> dict[int, dict[str, Post]]:
    today = timezone.localdate()
    posts = (Post.objects.filter(area_id__in=grid_ids, role=Role.GRID_WORKER, start_date__lte=today)
             .filter(Q(end_date__isnull=True) | Q(end_date__gt=today)).select_related("staff"))
    by_grid: dict[int, dict[str, Post]] = defaultdict(dict)
    for post in posts:
        by_grid[post.area_id][post.slot] = post
    return by_grid


def _name_workers(table: list[StatsRow]) -> None:
    grids = [row for row in table if row.area is not None and row.area.is_grid]
    posts = _grid_posts([row.area.pk for row in grids])
    for row in grids:
        slots = posts.get(row.area.pk, {})
        row.worker = slots[Slot.A].staff.name if Slot.A in slots else ""
        row.worker_b = slots[Slot.B].staff.name if Slot.B in slots else ""


def _by_worker(table: list[StatsRow]) -> list[StatsRow]:
    workers: dict[str, StatsRow] = {}
    for row in table:
        key = row.worker or "—"
        if key not in workers:
            workers[key] = StatsRow(key=key, area=None, worker=key)
        workers[key].add(row)
    return sorted(workers.values(), key=lambda r: (r.rate if r.rate is not None else 2, r.key))


# --- the map ------------------------------------------------------------------------------------------


def visit_map(*, actor, area: Area, start: dt.date, end: dt.date, limit: int = MAP_LIMIT) -> list[dict] | None:
    """Households under the area with a known house location, each marked visited or not in the period;
    None when there are more than ``limit``."""
    if not can(actor, Perm.VISIT_VIEW, area):
        raise NotFound("No such area.")
    begin, finish = period_bounds(start, end)
    qs = Household.objects.filter(_scope(actor)).filter(_under(area))
    if qs.count() > limit:
        return None
    visited = Visit.objects.effective().filter(household=OuterRef("pk"), visited_at__gte=begin,
                                               visited_at__lt=finish)
    rows = (qs.filter(house__lng__isnull=False, house__lat__isnull=False).order_by("number")
            .values("id", "number", "household_class", "house__lng", "house__lat")
            .annotate(visited=Exists(visited)))
    return [{"id": r["id"], "number": r["number"], "colour": r["household_class"], "lng": r["house__lng"],
             "lat": r["house__lat"], "visited": r["visited"]} for r in rows]
