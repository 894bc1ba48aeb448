"""The demo county's visits: the last weeks of grid workers' visits under Shangnan's rules, and a few 五必到 cases.

``load_visits`` runs after the demo residents (gridgov.registry.demo). It

- puts Shangnan's visit rules in force (gridgov.visits.policy, preset "shangnan");
- dates the demo registry back to before the visit history (the residents are loaded "now", but a county
  with weeks of visits has had its households, and their colours, for longer: the colour changes re-anchor
  due dates, gridgov/visits/due.py);
- gives every grid a diligence (most grids visit nine in ten of the visits due, a few barely half) and walks
  each household's duties through the history: visits by the grid's A worker (sometimes the B worker),
  phone contacts with red households, party-member visits to yellow ones, a few findings, locations near the
  house (a few far from it);
- files two open 五必到 cases in the grid of the demo's grid worker, so that the day list starts with
  compulsory visits.

Rows are written in batches by one prepared INSERT (SQLite) or COPY (PostgreSQL), each value prepared by its
model field; the county's 93,000 households get about 200,000 visits over 60 days in a few seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from gridgov.areas.models import Post, Role, Slot
from gridgov.cases.models import Category
from gridgov.core import audit
from gridgov.core.errors import ApplicationError
from gridgov.core.geo import distance_m
from gridgov.registry.models import Household, HouseholdClassChange, HouseholdHelper
from gridgov.visits import policy as rules_
from gridgov.visits import services
from gridgov.visits.models import Finding, Visit, VisitKind, VisitPolicy

ACTOR = "gridgov demo"
BATCH_SIZE = 5000
DEFAULT_DAYS = 60
FINDING_SHARE = 0.03
FAR_SHARE = 0.02
B_WORKER_SHARE = 0.12
DEMO_GRID_DILIGENCE = 0.75
MONITORING_SHARE = 0.1  # of the visits to red and yellow households
PHONE_SHARE = 0.8  # of the contacts with red households
FINDINGS = Finding.values
PARTY_NAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["建国", "秀英", "志强", "桂兰", "德明", "玉梅", "永福", "春燕"]


class VisitsNotEmpty(ApplicationError):
    def __init__(self):
        super().__init__("demo_visits_not_empty", "The database already holds visits; the demo adds none.")


@dataclass
class VisitsResult:
    visits: int
    households: int
    cases: int
    onsite: int
    seconds: float


def load_visits(*, days: int = DEFAULT_DAYS, seed: int = 2026, now: dt.datetime | None = None,
                demo_cases: bool = True, policy_preset: str = "shangnan") -> VisitsResult:
    """Visits for the last ``days`` days of every household of the tree, in one transaction."""
    started = time.perf_counter()
    now = now or timezone.now()
    rng = random.Random(seed)
    with transaction.atomic():
        if Visit.objects.exists():
            raise VisitsNotEmpty()
        if not VisitPolicy.objects.exists():
            services.visit_policy_set(actor=ACTOR, preset=policy_preset)
        policy = VisitPolicy.objects.first()
        start = now - dt.timedelta(days=days)
        _date_registry_back(before=start - dt.timedelta(days=30))
        writer = _Writer()
        with _large_page_cache():
            households = _walk(rng, policy, start, now, writer)
            writer.flush()
        answered = _answer_onsite_cases(rng, policy, now)
        cases = _demo_cases(now) if demo_cases else 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(Visit._meta.db_table)}")
        seconds = time.perf_counter() - started
        audit.record(actor=ACTOR, action="demo.visits",
                     data={"visits": writer.count + answered, "households": households, "days": days,
                           "cases": cases, "onsite_visits": answered})
    return VisitsResult(visits=writer.count + answered, households=households, cases=cases, onsite=answered,
                        seconds=seconds)


def _date_registry_back(*, before: dt.datetime) -> None:
    """The demo's households and their colours, as if registered and classified before the visit history."""
    Household.objects.filter(created_at__gt=before).update(created_at=before, updated_at=before)
    HouseholdClassChange.objects.filter(actor_name=ACTOR, at__gt=before).update(at=before)


def _walk(rng: random.Random, policy: VisitPolicy, start: dt.datetime, now: dt.datetime, writer: _Writer) -> int:
    rules = policy.rules
    duties = rules_.duties_of(rules)
    today = timezone.localdate(now)
    workers = _workers()
    party = defaultdict(list)
    for household_id, name in HouseholdHelper.objects.filter(
            kind__in=services.HELPER_KINDS, end_date__isnull=True).values_list("household_id", "name"):
        party[household_id].append(name)
    diligence: dict[int, float] = {}
    for area_id in _demo_grids():  # the demo login's grid: a worker with some catching up to do
        diligence[area_id] = DEMO_GRID_DILIGENCE
    qs = (Household.objects.order_by("pk")
          .annotate(**{f"every_{d}": rules_.interval_case(rules, d, today=today) for d in duties})
          .values_list("pk", "area_id", "household_class", "house__lng", "house__lat",
                       *[f"every_{d}" for d in duties]))
    count = 0
    for row in qs.iterator(chunk_size=5000):
        pk, area_id, colour, h_lng, h_lat, *every = row
        if area_id not in diligence:
            diligence[area_id] = min(1.0, 0.5 + 0.5 * rng.betavariate(5, 1.2))
        worker = workers.get(area_id)
        if worker is None:
            continue
        count += 1
        for duty, days in zip(duties, every, strict=True):
            if days is None:
                continue
            for moment in _moments(rng, days, diligence[area_id], start, now):
                writer.add(rng, moment=moment, household=pk, area=area_id, duty=duty, colour=colour,
                           worker=worker, house=(h_lng, h_lat), party=party.get(pk), far_metres=policy.far_metres)
    return count


def _demo_grids() -> list[int]:
    return list(Post.objects.filter(staff__user__username="grid_worker", role=Role.GRID_WORKER)
                .values_list("area_id", flat=True))


def _moments(rng: random.Random, every_days: int, diligence: float, start: dt.datetime, now: dt.datetime):
    """When the visits of one duty fell: one interval apart when done in time, later after a miss; in working
    hours of the deployment's time zone."""
    zone = timezone.get_default_timezone()
    t = start + dt.timedelta(days=rng.uniform(0, every_days))
    while t < now:
        if rng.random() < diligence:
            day = t.astimezone(zone).replace(hour=rng.randrange(8, 19), minute=rng.randrange(60), second=0,
                                             microsecond=0)
            if start <= day < now:  # the working hour drawn may fall before the history starts, or after now
                yield day
            t += dt.timedelta(days=every_days * rng.uniform(0.7, 1.0))
        else:
            t += dt.timedelta(days=every_days * rng.uniform(0.4, 0.9))


def _workers() -> dict[int, tuple]:
    """Each grid's A and B grid workers: (user id, name) pairs."""
    today = timezone.localdate()
    posts = (Post.objects.filter(role=Role.GRID_WORKER, start_date__lte=today)
             .filter(Q(end_date__isnull=True) | Q(end_date__gt=today))
             .values_list("area_id", "slot", "staff__user_id", "staff__name"))
    slots: dict[int, dict[str, tuple]] = defaultdict(dict)
    for area_id, slot, user_id, name in posts:
        slots[area_id][slot] = (user_id, name)
    return {area: (s.get(Slot.A) or s.get(Slot.B), s.get(Slot.B) or s.get(Slot.A)) for area, s in slots.items()}


def _party_name(rng: random.Random) -> str:
    return rng.choice(PARTY_NAMES) + rng.choice(GIVEN)


class _Writer:
    """Visit rows, written as bulk_create writes them without building model instances."""

    def __init__(self):
        fields = [f for f in Visit._meta.concrete_fields if not f.primary_key]
        self.fields = {f.attname: f for f in fields}
        self.columns = [f.attname for f in fields]
        quote = connection.ops.quote_name
        table, columns = quote(Visit._meta.db_table), ", ".join(quote(f.column) for f in fields)
        self.sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
        self.copy = f"COPY {table} ({columns}) FROM STDIN"
        self.postgres = connection.vendor == "postgresql"
        self.received_at = self._moment(timezone.now())
        self.empty = self._prep("findings", [])
        self.rows: list[list] = []
        self.count = 0

    def _prep(self, name: str, value):
        return self.fields[name].get_db_prep_save(value, connection)

    def _moment(self, value: dt.datetime):
        """An aware datetime as the database column takes it (what DateTimeField would prepare, faster)."""
        return value if self.postgres else str(value.astimezone(dt.UTC).replace(tzinfo=None))

    def _uuid(self, value: uuid.UUID):
        return value if self.postgres else value.hex

    def add(self, rng: random.Random, *, moment, household, area, duty, colour, worker, house, party,
            far_metres) -> None:
        a_worker, b_worker = worker
        user_id, name = b_worker if rng.random() < B_WORKER_SHARE else a_worker
        kind, companions = VisitKind.ROUTINE, []
        if duty == "contact" and rng.random() < PHONE_SHARE:
            kind = VisitKind.PHONE
        elif duty == "helper":
            companions = [{"name": rng.choice(party) if party else _party_name(rng), "kind": "party_member"}]
        elif colour != "green" and rng.random() < MONITORING_SHARE:
            kind = VisitKind.MONITORING
        lng = lat = distance = None
        far = False
        h_lng, h_lat = house
        if kind != VisitKind.PHONE and h_lng is not None:
            spread = 0.006 if rng.random() < FAR_SHARE else 0.00015
            angle = rng.uniform(0, 2 * math.pi)
            lng = round(h_lng + spread * math.cos(angle) * rng.random(), 7)
            lat = round(h_lat + spread * math.sin(angle) * rng.random(), 7)
            distance = round(distance_m(lng, lat, h_lng, h_lat))
            far = distance > far_metres
        findings = [rng.choice(FINDINGS)] if kind != VisitKind.PHONE and rng.random() < FINDING_SHARE else []
        values = {
            "uuid": self._uuid(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "fingerprint": "demo", "household_id": household, "area_id": area, "kind": kind,
            "visited_at": self._moment(moment), "received_at": self.received_at,
            "visitor_id": user_id, "visitor_name": name,
            "companions": self._prep("companions", companions) if companions else self.empty,
            "with_helper": bool(companions), "lng": lng, "lat": lat, "accuracy_m": 12 if lng is not None else None,
            "source_crs": "wgs84" if lng is not None else "", "distance_m": distance, "far_from_house": far,
            "findings": self._prep("findings", findings) if findings else self.empty, "note": "",
            "case_id": None, "corrects_id": None, "superseded_by_id": None, "withdrawn": False,
        }
        self.rows.append([values[c] for c in self.columns])
        if len(self.rows) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(self.copy) as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, self.rows)
        self.count += len(self.rows)
        self.rows = []


@contextlib.contextmanager
def _large_page_cache():
    """On SQLite, a page cache of 256 MB for this connection while the rows are written (the default 2 MB
    spills the transaction's pages to the write-ahead log and reads them back). Durability is unchanged."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        cursor.execute("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")


# --- 五必到 cases ----------------------------------------------------------------------------------------

ONSITE_DONE_SHARE = 0.8


def _answer_onsite_cases(rng: random.Random, policy: VisitPolicy, now: dt.datetime) -> int:
    """Most open cases of a 五必到 category already filed (gridgov.cases.demo) got their on-site visit in time,
    by the grid's A worker, recorded through the service so that it shows in the case's timeline."""
    from gridgov.cases.models import OPEN_STATES, Case

    workers = _workers()
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in={w[0][0] for w in workers.values()})}
    oldest = now - dt.timedelta(days=services.MAX_AGE_DAYS - 1)
    cases = (Case.objects.filter(category__onsite_required=True, state__in=OPEN_STATES, created_at__gte=oldest,
                                 created_at__lt=now - dt.timedelta(hours=policy.onsite_hours))
             .select_related("category", "area", "household__house").order_by("pk"))
    done = 0
    for case in cases:
        worker = workers.get(case.area_id)
        user = users.get(worker[0][0]) if worker else None
        if user is None or rng.random() >= ONSITE_DONE_SHARE:
            continue
        if case.household is not None and case.household.area_id != case.area_id:
            continue
        at = case.created_at + dt.timedelta(hours=rng.uniform(0.5, policy.onsite_hours * 0.9))
        services.visit_create(actor=user, uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
                              household=case.household, case=case, kind=VisitKind.ONSITE, visited_at=min(at, now),
                              note="已到场了解情况。")
        done += 1
    return done


# --- 五必到 cases for the demo's grid worker -------------------------------------------------------------

DEMO_CASES = [
    ("dispute_neighbour", "邻里因宅基地排水沟起纠纷", "两户因排水沟走向发生争吵，需网格员到场了解情况、调解。", True),
    ("risk_emergency", "村道旁山体落石", "群众反映村道旁有落石，影响通行，需到场查看并设置警示。", False),
]


def _demo_cases(now: dt.datetime) -> int:
    """Two open cases of 五必到 categories in the grid of the demo login "grid_worker", filed by the county
    centre's hotline operator."""
    from gridgov.cases import services as case_services

    User = get_user_model()
    worker = User.objects.filter(username="grid_worker").first()
    operator = User.objects.filter(username="county_operator").first()
    if worker is None or operator is None:
        return 0
    post = Post.objects.filter(staff__user=worker, role=Role.GRID_WORKER).select_related("area").first()
    if post is None:
        return 0
    grid = post.area
    households = list(Household.objects.filter(area=grid).order_by("number")[:1])
    filed = 0
    for code, title, description, with_household in DEMO_CASES:
        category = Category.objects.filter(code=code, onsite_required=True).first()
        if category is None:
            continue
        household = households[0] if with_household and households else None
        case_services.case_create(actor=operator, channel="hotline", title=title, description=description,
                                  category=category, area=grid, household=household,
                                  client_key=f"demo-onsite-{code}")
        filed += 1
    return filed
