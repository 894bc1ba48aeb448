"""Household-list benchmark for a county of 248,500 people: the colour-filtered list and the colour counts.

Run with ``GRIDGOV_TESTING=1 .venv/bin/python bench/bench_registry_list.py [--repeat N]``. The parent
process runs one child process per database (Django reads its settings once per process): a fresh SQLite
file in a temporary data directory, and a fresh PostgreSQL database ``gridgov_bench_list`` when a server
answers on 127.0.0.1:5432 (or at GRIDGOV_BENCH_LIST_DATABASE_URL). Each child migrates, loads the demo county
with its residents (93,000 households, 248,500 persons, as ``gridgov demo`` does), and times the registry's
selectors beside the statements they generate, run raw on the same connection, and beside a leaner
hand-written query. Each selector call starts with an empty scope cache, as a request does. SQLite is timed
as the load leaves it (no ANALYZE, as after ``make run``), then again after ANALYZE; PostgreSQL after the
ANALYZE the loader runs. A benchmark: it prints PASS or FAIL against the issue's target, it never asserts.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time

from common import PROJECT_DIR, run_per_database  # noqa: E402  (bench/ is on the path when run)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/gridgov_bench_list"
WARMUP, REPEAT, PAGE = 20, 200, 50
TARGET_MS = 50.0  # issue 3: household list filtered by colour, county of 250,000 people, p95


# --- parent: one child process per database -------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="(child) database URL to benchmark")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="timed repetitions per query")
    parser.add_argument("--scale", default="county", choices=["tiny", "county"],
                        help="demo size (tiny only to try the script out; the target is for the county)")
    args = parser.parse_args()
    if args.database:
        run(args.database, args.repeat, args.scale)
        return 0
    return run_per_database(__file__, ["--repeat", str(args.repeat), "--scale", args.scale],
                            env_var="GRIDGOV_BENCH_LIST_DATABASE_URL", default_url=DEFAULT_PG_URL,
                            prefix="gridgov-bench-list-")


# --- child: build, then time ----------------------------------------------------------------------


def run(database_url: str, repeat: int, scale: str) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Count

    from gridgov.areas import demo
    from gridgov.areas.models import Area
    from gridgov.areas.scope import next_prefix
    from gridgov.registry import demo as residents
    from gridgov.registry import selectors
    from gridgov.registry.models import Household

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrated = time.perf_counter()
    with transaction.atomic():
        demo.load(scale=scale)
        areas_done = time.perf_counter()
        loaded = residents.load_residents(scale=scale)
    built = time.perf_counter()
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version" if vendor == "postgresql" else "SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    counts, classes = loaded.counts, loaded.classes
    print(f"{vendor} {version}: migrate {migrated - started:.1f} s, demo {scale} {built - migrated:.1f} s "
          f"(areas and staff {areas_done - migrated:.1f} s, residents {built - areas_done:.1f} s): "
          f"{counts['households']:,} households, {counts['persons']:,} persons; "
          f"green {classes['green']:,}, yellow {classes['yellow']:,}, red {classes['red']:,}", flush=True)

    User = get_user_model()
    operator, town_admin = User.objects.get(username="county_operator"), User.objects.get(username="town_admin")
    county = Area.objects.get(parent=None)
    cursor = connection.cursor()

    def fresh(user):
        user.__dict__.pop("_gridgov_scopes", None)  # the scope is cached per request: start each run afresh
        return user

    def raw(sql: str, params) -> list:
        cursor.execute(sql, params)
        return cursor.fetchall()

    def page(user, colour):
        return list(selectors.household_list(actor=fresh(user), area=county, household_class=colour)[:PAGE])

    def page_and_count(user, colour):
        qs = selectors.household_list(actor=fresh(user), area=county, household_class=colour)
        return qs.count(), list(qs[:PAGE])

    def compiled(qs) -> tuple[str, list]:
        sql, params = qs.query.sql_with_params()
        return sql, list(params)

    page_sql = {
        (user.username, colour): compiled(
            selectors.household_list(actor=fresh(user), area=county, household_class=colour)[:PAGE])
        for user in (operator, town_admin) for colour in ("red", "yellow")
    }
    # The statement household_class_counts runs (it returns a dict, so it is rebuilt here the same way).
    counts_sql = compiled(
        Household.objects.filter(selectors._in_scope(fresh(operator))).filter(selectors._under(county))
        .values("household_class").annotate(n=Count("id")).order_by()
    )
    lean_params = [county.path, next_prefix(county.path), "red", PAGE]

    def lean(_arg):
        rows = raw(LEAN_PAGE_SQL, lean_params)
        ids = [row[0] for row in rows]
        marks = ", ".join(["%s"] * len(ids))
        raw(LEAN_MEMBERS_SQL.format(marks=marks), ids)  # noqa: S608 (placeholders only)
        return rows

    def measure() -> list:
        return [
            ("red, page 1 (county operator)",
             timed(lambda _a: page(operator, "red"), lambda _a: raw(*page_sql["county_operator", "red"]), repeat)),
            ("red, page 1 (town admin)",
             timed(lambda _a: page(town_admin, "red"), lambda _a: raw(*page_sql["town_admin", "red"]), repeat)),
            ("yellow, page 1 (county operator)",
             timed(lambda _a: page(operator, "yellow"), lambda _a: raw(*page_sql["county_operator", "yellow"]),
                   repeat)),
            ("red, page 1 + its count",
             timed(lambda _a: page_and_count(operator, "red"), None, repeat)),
            ("colour counts of the county",
             timed(lambda _a: selectors.household_class_counts(actor=fresh(operator), area=county),
                   lambda _a: raw(*counts_sql), repeat)),
            ("red, page 1: lean SQL (2 statements)", timed(None, lean, repeat)),
        ]

    verdict_rows = []
    phases = [("as loaded" + (", no ANALYZE" if vendor == "sqlite" else ", after ANALYZE"), measure())]
    if vendor == "sqlite":
        cursor.execute("ANALYZE")
        phases.append(("after ANALYZE", measure()))
    for phase, rows in phases:
        print(f"\n{phase}: {repeat} timed runs each after {WARMUP} warm-up runs, ORM and raw interleaved; "
              f"times in ms")
        print(f"{'query':<40} {'ORM p50':>8} {'ORM p95':>8} {'raw p50':>8} {'raw p95':>8}")
        for label, (orm_ms, raw_ms) in rows:
            o = f"{pct(orm_ms, 50):8.2f} {pct(orm_ms, 95):8.2f}" if orm_ms else f"{'':>8} {'':>8}"
            r = f"{pct(raw_ms, 50):8.2f} {pct(raw_ms, 95):8.2f}" if raw_ms else f"{'':>8} {'':>8}"
            print(f"{label:<40} {o} {r}")
        verdict_rows.append((phase, pct(rows[0][1][0], 95), pct(rows[4][1][0], 95)))
    print("ORM: the selector (scope lookup, query, model instances); raw: the statement it generates, on the same\n"
          "connection; lean SQL: the page by path range and colour, then the member counts of its 50 households.")

    print("\nquery plans:")
    explain = "EXPLAIN QUERY PLAN " if vendor == "sqlite" else "EXPLAIN "
    for label, (sql, params) in [("red page", page_sql["county_operator", "red"]), ("counts", counts_sql),
                                 ("lean page", (LEAN_PAGE_SQL, lean_params))]:
        plan = [re.sub(r"\s*\(cost=[^)]*\)", "", str(row[-1])).strip() for row in raw(explain + sql, params)]
        print(f"  {label}: " + " | ".join(plan))

    print()
    for phase, list_p95, counts_p95 in verdict_rows:
        verdict = "PASS" if list_p95 <= TARGET_MS else "FAIL"
        print(f"household list filtered by colour (red, page 1, county operator) p95 ≤ {TARGET_MS:.0f} ms on "
              f"{vendor} {phase}: {verdict} ({list_p95:.2f} ms; colour counts p95 {counts_p95:.2f} ms)")


def timed(orm, raw, repeat: int) -> tuple[list[float], list[float]]:
    """Runs ``orm`` and ``raw`` in turn; the times after the warm-up, in ms."""
    orm_ms: list[float] = []
    raw_ms: list[float] = []
    for i in range(WARMUP + repeat):
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


LEAN_PAGE_SQL = """
    SELECT h.id, h.number, h.address, h.household_class, h.class_reasons, h.income_per_person, a.code, a.name,
           p.name, p.id_number_masked
    FROM registry_household h
    JOIN areas_area a ON a.id = h.area_id
    LEFT JOIN registry_person p ON p.id = h.head_id
    WHERE a.path >= %s AND a.path < %s AND h.household_class = %s
    ORDER BY a.path, h.number
    LIMIT %s
"""
LEAN_MEMBERS_SQL = """
    SELECT household_id, COUNT(*) FROM registry_person
    WHERE household_id IN ({marks}) AND alive AND NOT moved_out
    GROUP BY household_id
"""

if __name__ == "__main__":
    sys.exit(main())
