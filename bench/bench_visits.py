"""Visits benchmark: a grid worker's due list (300 households) and the county's completion statistics over
1,000,000 visits.

Run with ``GRIDGOV_TESTING=1 .venv/bin/python bench/bench_visits.py [--repeat N]``. The parent process runs one
child process per database (Django reads its settings once per process): a fresh SQLite file in a temporary data
directory, and a fresh PostgreSQL database ``gridgov_bench_visits`` when a server answers on 127.0.0.1:5432 (or
at GRIDGOV_BENCH_VISITS_DATABASE_URL). Each child migrates, loads the demo county with its residents (93,000
households, as ``gridgov demo`` does) and about a million visits under Shangnan's rules (the demo's visit loader,
gridgov/visits/demo.py, over as many days as it takes), then gives the demo login ``grid_worker`` 300 households
(households of its village are moved into its grid) and times

- the due list: ``selectors.due_list`` for that worker (the scope, the policy, the households, their last
  visits and colour changes, the due function on each, the 五必到 cases), beside the statements it runs for the
  households and their facts, raw, and beside a lean hand-written statement followed by the same due function;
- the completion statistics of the county for the last 30 days: ``selectors.completion_stats`` (by town),
  beside the statement it runs, raw, and beside a lean hand-written statement; the same for the last 365 days
  (all the visits), for information.

Each selector call starts with an empty scope cache, as a request does. SQLite is timed as the load leaves it
(no ANALYZE), then after ANALYZE; PostgreSQL after a VACUUM ANALYZE (what autovacuum does soon after a bulk
load: the statistics, and the visibility map that lets the statistics read their index alone). The statistics
statement runs as the selector runs it, with its two SET LOCAL on PostgreSQL. A benchmark: it prints PASS or
FAIL against the issue's targets, it never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time

from common import PROJECT_DIR, run_per_database  # noqa: E402  (bench/ is on the path when run)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/gridgov_bench_visits"
WARMUP, REPEAT = 10, 100
DUE_TARGET_MS, STATS_TARGET_MS = 30.0, 300.0  # issue 5, p95
WORKER_HOUSEHOLDS = 300
VISITS = 1_000_000


# --- parent: one child process per database -------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="(child) database URL to benchmark")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="timed repetitions per query")
    parser.add_argument("--scale", default="county", choices=["tiny", "county"],
                        help="demo size (tiny only to try the script out; the targets are for the county)")
    parser.add_argument("--visits", type=int, default=VISITS, help="visits to load (about)")
    args = parser.parse_args()
    if args.database:
        run(args.database, args.repeat, args.scale, args.visits)
        return 0
    return run_per_database(__file__, ["--repeat", str(args.repeat), "--scale", args.scale, "--visits",
                                       str(args.visits)],
                            env_var="GRIDGOV_BENCH_VISITS_DATABASE_URL", default_url=DEFAULT_PG_URL,
                            prefix="gridgov-bench-visits-")


# --- child: build, then time ----------------------------------------------------------------------


def run(database_url: str, repeat: int, scale: str, visits: int) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from gridgov.areas import demo
    from gridgov.areas.models import PATH_STEP, Area, Post, Role
    from gridgov.areas.scope import next_prefix
    from gridgov.registry import demo as residents
    from gridgov.registry.models import Household, Person
    from gridgov.visits import demo as visits_demo
    from gridgov.visits import selectors
    from gridgov.visits.due import due_state
    from gridgov.visits.models import Visit

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrated = time.perf_counter()
    with transaction.atomic():
        demo.load(scale=scale)
        loaded = residents.load_residents(scale=scale, verify=0)
    built = time.perf_counter()
    households = loaded.counts["households"]
    per_day = households * 2.5 / 60  # the demo loader's rate under Shangnan's rules, about
    days = max(30, round(visits / per_day))
    result = visits_demo.load_visits(days=days, demo_cases=False)
    if connection.vendor == "postgresql":  # what autovacuum does soon after a bulk load: statistics, visibility map
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    visited = time.perf_counter()
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version" if vendor == "postgresql" else "SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    print(f"{vendor} {version}: migrate {migrated - started:.1f} s, demo {scale} {built - migrated:.1f} s "
          f"({households:,} households), visits {visited - built:.1f} s ({result.visits:,} over {days} days)",
          flush=True)

    User = get_user_model()
    worker, operator = User.objects.get(username="grid_worker"), User.objects.get(username="county_operator")
    grid = Post.objects.get(staff__user=worker, role=Role.GRID_WORKER).area
    village = Area.objects.filter(path__in=grid.ancestor_paths(), level__rank="village").get()
    have = Household.objects.filter(area=grid).count()
    movers = list(Household.objects.filter(area__path__gte=village.path, area__path__lt=next_prefix(village.path))
                  .exclude(area=grid).order_by("pk").values_list("pk", flat=True)[:max(0, WORKER_HOUSEHOLDS - have)])
    with transaction.atomic():
        Household.objects.filter(pk__in=movers).update(area=grid)
        Person.objects.filter(household__in=movers).update(area=grid)
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE registry_household")
    worker_households = Household.objects.filter(area=grid).count()
    county = Area.objects.get(parent=None)
    today = timezone.localdate()
    month = (today - dt.timedelta(days=29), today)
    year = (today - dt.timedelta(days=364), today)
    in_month = Visit.objects.filter(visited_at__gte=selectors.period_bounds(*month)[0]).count()
    print(f"worker {worker.username}: {worker_households} households in {grid.name}; county: "
          f"{Visit.objects.count():,} visits, {in_month:,} in the last 30 days", flush=True)

    cursor = connection.cursor()

    def fresh(user):
        user.__dict__.pop("_gridgov_scopes", None)  # the scope is cached per request: start each run afresh
        return user

    def raw(sql: str, params) -> list:
        cursor.execute(sql, params)
        return cursor.fetchall()

    policy = selectors.policy_in_force()
    base = Household.objects.filter(area__in=[grid.pk])
    due_sql = [selectors._households(base).query.sql_with_params()] + [
        q.query.sql_with_params() for q in selectors.facts_queries(base, policy.rules, today).values()]
    now = timezone.now()

    def raw_due(_arg):
        return [raw(sql, params) for sql, params in due_sql]

    def lean_due(_arg):
        rows = raw(LEAN_DUE_SQL, [grid.pk])
        rules = {r["duty"]: r for r in policy.rules if r["when"].get("colour")}
        out = []
        for _pk, _number, colour, created, changed, last_visit, last_contact, last_helper in rows:
            anchor = max(as_moment(created), as_moment(changed) or as_moment(created))
            lasts = {"visit": last_visit, "contact": last_contact, "helper": last_helper}
            for duty, rule in rules.items():
                if colour in rule["when"]["colour"]:
                    out.append(due_state(duty=duty, every_days=rule["every_days"],
                                         last_visit=as_moment(lasts[duty]), anchor=anchor, now=now))
        return out

    def as_moment(value):
        if value is None or isinstance(value, dt.datetime):
            return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)

    def stats_args(period):
        sql, params = selectors.completion_queries(actor=fresh(operator), area=county, start=period[0], end=period[1])
        begin, finish = selectors.period_bounds(*period)
        days_ = (period[1] - period[0]).days + 1
        lean_params = [len(county.path) + PATH_STEP]
        for every in (7, 30, 7, 30):  # yellow visit, green and red visit, red contact, yellow helper
            lean_params.append(selectors.expected_visits(days_, every))
        lean_params += [connection.ops.adapt_datetimefield_value(begin),
                        connection.ops.adapt_datetimefield_value(finish), county.path, next_prefix(county.path)]
        return (sql, params), lean_params

    month_sql, month_lean = stats_args(month)

    def raw_stats(sql: str, params):  # as the selector runs it (PostgreSQL: its two SET LOCAL first)
        return selectors.run_statistics(sql, params)
    year_sql, year_lean = stats_args(year)

    def stats(period):
        return selectors.completion_stats(actor=fresh(operator), area=county, start=period[0], end=period[1])

    def measure() -> list:
        return [
            (f"due list ({worker_households} households)",
             timed(lambda _a: selectors.due_list(actor=fresh(worker), now=now), raw_due, repeat)),
            ("due list: lean SQL + due function", timed(None, lean_due, repeat)),
            ("county completion, 30 days", timed(lambda _a: stats(month), lambda _a: raw_stats(*month_sql), repeat)),
            ("county completion, 30 days: lean SQL",
             timed(None, lambda _a: raw_stats(LEAN_STATS_SQL, month_lean), repeat)),
            ("county completion, 365 days",
             timed(lambda _a: stats(year), lambda _a: raw_stats(*year_sql), repeat // 4)),
            ("county completion, 365 days: lean SQL",
             timed(None, lambda _a: raw_stats(LEAN_STATS_SQL, year_lean), repeat // 4)),
        ]

    check = selectors.due_list(actor=fresh(worker), now=now, horizon=None)
    assert len(check.households) == worker_households
    assert stats(month).total.households == households

    verdicts = []
    phases = [("as loaded" + (", no ANALYZE" if vendor == "sqlite" else ", after VACUUM ANALYZE"), measure())]
    if vendor == "sqlite":
        cursor.execute("ANALYZE")
        phases.append(("after ANALYZE", measure()))
    for phase, rows in phases:
        print(f"\n{phase}: timed runs after {WARMUP} warm-up runs, selector and raw interleaved; times in ms")
        print(f"{'query':<42} {'ORM p50':>8} {'ORM p95':>8} {'raw p50':>8} {'raw p95':>8}")
        for label, (orm_ms, raw_ms) in rows:
            o = f"{pct(orm_ms, 50):8.2f} {pct(orm_ms, 95):8.2f}" if orm_ms else f"{'':>8} {'':>8}"
            r = f"{pct(raw_ms, 50):8.2f} {pct(raw_ms, 95):8.2f}" if raw_ms else f"{'':>8} {'':>8}"
            print(f"{label:<42} {o} {r}")
        verdicts.append((phase, pct(rows[0][1][0], 95), pct(rows[2][1][0], 95)))
    print("ORM: the selector (scope, policy, queries, model instances, the due function); raw: the statements it\n"
          "runs for the households and their facts (the due list) or for the statistics, on the same connection;\n"
          "lean SQL: a hand-written statement (for the due list, followed by the same due function in Python).")

    print("\nquery plans:")
    explain = "EXPLAIN QUERY PLAN " if vendor == "sqlite" else "EXPLAIN "
    plans = [(f"due list {n}", statement, raw) for n, statement in enumerate(due_sql, start=1)]
    for label, (sql, params), run_ in [*plans, ("completion, 30 days", month_sql, raw_stats)]:
        plan = [re.sub(r"\s*\(cost=[^)]*\)", "", str(row[-1])).strip() for row in run_(explain + sql, params)]
        print(f"  {label}: " + " | ".join(plan))

    print()
    for phase, due_p95, stats_p95 in verdicts:
        print(f"due list of a worker with {worker_households} households p95 ≤ {DUE_TARGET_MS:.0f} ms on {vendor} "
              f"{phase}: {'PASS' if due_p95 <= DUE_TARGET_MS else 'FAIL'} ({due_p95:.2f} ms)")
        print(f"county completion statistics (30 days) over {result.visits:,} visits p95 ≤ {STATS_TARGET_MS:.0f} ms "
              f"on {vendor} {phase}: {'PASS' if stats_p95 <= STATS_TARGET_MS else 'FAIL'} ({stats_p95:.2f} ms)")


def timed(orm, raw, repeat: int) -> tuple[list[float], list[float]]:
    """Runs ``orm`` and ``raw`` in turn; the times after the warm-up, in ms."""
    orm_ms: list[float] = []
    raw_ms: list[float] = []
    for i in range(WARMUP + max(repeat, 2)):
        for fn, out in ((orm, orm_ms), (raw, raw_ms)):
            if fn is None:
                continue
            start = time.perf_counter()
            fn(i)
            if i >= WARMUP:
                out.append((time.perf_counter() - start) * 1000)
    return orm_ms, raw_ms


def pct(values: list[float], p: int) -> float:
    return statistics.median(values) if p == 50 else statistics.quantiles(values, n=100)[p - 1]


LEAN_DUE_SQL = """
    SELECT h.id, h.number, h.household_class, h.created_at,
           (SELECT MAX(c.at) FROM registry_householdclasschange c WHERE c.household_id = h.id),
           (SELECT MAX(v.visited_at) FROM visits_visit v WHERE v.household_id = h.id AND v.superseded_by_id IS NULL
                AND NOT v.withdrawn AND v.kind <> 'phone'),
           (SELECT MAX(v.visited_at) FROM visits_visit v WHERE v.household_id = h.id AND v.superseded_by_id IS NULL
                AND NOT v.withdrawn),
           (SELECT MAX(v.visited_at) FROM visits_visit v WHERE v.household_id = h.id AND v.superseded_by_id IS NULL
                AND NOT v.withdrawn AND v.with_helper AND v.kind <> 'phone')
    FROM registry_household h
    WHERE h.area_id = %s
"""
# Shangnan's rules written out: the visits expected in the period by colour and duty are parameters.
LEAN_STATS_SQL = """
    SELECT SUBSTR(a.path, 1, %s) AS g, COUNT(*),
           SUM(hh.e_visit), SUM(CASE WHEN COALESCE(v.n_visit, 0) < hh.e_visit THEN COALESCE(v.n_visit, 0)
                                     ELSE hh.e_visit END),
           SUM(hh.e_contact), SUM(CASE WHEN COALESCE(v.n_contact, 0) < hh.e_contact THEN COALESCE(v.n_contact, 0)
                                       ELSE hh.e_contact END),
           SUM(hh.e_helper), SUM(CASE WHEN COALESCE(v.n_helper, 0) < hh.e_helper THEN COALESCE(v.n_helper, 0)
                                      ELSE hh.e_helper END)
    FROM (SELECT h.id, h.area_id,
                 CASE h.household_class WHEN 'yellow' THEN %s ELSE %s END AS e_visit,
                 CASE h.household_class WHEN 'red' THEN %s END AS e_contact,
                 CASE h.household_class WHEN 'yellow' THEN %s END AS e_helper
          FROM registry_household h) hh
    JOIN areas_area a ON a.id = hh.area_id
    LEFT JOIN (SELECT household_id, COUNT(*) AS n_contact,
                      SUM(CASE WHEN kind <> 'phone' THEN 1 ELSE 0 END) AS n_visit,
                      SUM(CASE WHEN with_helper AND kind <> 'phone' THEN 1 ELSE 0 END) AS n_helper
               FROM visits_visit
               WHERE superseded_by_id IS NULL AND NOT withdrawn AND household_id IS NOT NULL
                 AND visited_at >= %s AND visited_at < %s
               GROUP BY household_id) v ON v.household_id = hh.id
    WHERE a.path >= %s AND a.path < %s
    GROUP BY g
"""

if __name__ == "__main__":
    sys.exit(main())
