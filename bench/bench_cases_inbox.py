"""Inbox and statistics benchmark for a county with 500,000 cases: the inbox counts, the first page of each tab,
and the statistics of a year.

Run with ``GRIDGOV_TESTING=1 .venv/bin/python bench/bench_cases_inbox.py [--cases N] [--repeat N]``. The parent
process runs one child process per database (Django reads its settings once per process): a fresh SQLite file in
a temporary data directory, and a fresh PostgreSQL database ``gridgov_bench_inbox`` when a server answers on
127.0.0.1:5432 (or at GRIDGOV_BENCH_INBOX_DATABASE_URL). Each child migrates, loads the demo county's areas,
staff and logins (``gridgov.areas.demo``) and a year of demo cases (``gridgov.cases.demo``, 500,000 by default,
each with its timeline, assignments and the recent notifications), then times, for the demo's county operator,
town operator, village staff and grid worker:

- ``inbox_counts`` (the five tab counts the inbox page shows);
- each tab's first page as the inbox page takes it: the tab's count (the paginator's) and its first 50 rows;
- for the county operator, ``case_stats`` for the county over the last year (the statistics page).

Each selector call starts with an empty scope cache, as a request does. Beside each, "raw" runs the very
statements the selector sent (captured once, with their parameters) on the same connection, so the difference is
the ORM's own work. Timing starts with the load's writes synced and its leftover objects frozen out of the garbage
collector (a server process never holds them). SQLite is timed as the load leaves it (no ANALYZE, as after
``make run``) and again after
ANALYZE; PostgreSQL after VACUUM ANALYZE (autovacuum's work soon after a load). Query plans are printed for each line
whose p95 misses the target. A benchmark: it prints PASS or FAIL against the issue's target (p95 ≤ 100 ms), it
never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import re
import statistics
import sys
import time

from common import PROJECT_DIR, run_per_database  # noqa: E402  (bench/ is on the path when run)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/gridgov_bench_inbox"
CASES, WARMUP, REPEAT, PAGE = 500_000, 3, 30, 50
BUDGET_S = 20.0  # at most this long per line (at least 5 runs)
TARGET_MS = 100.0  # issue 4: inbox and statistics page for a county with 500,000 cases, p95
USERS = [("county_operator", "county operator"), ("town_operator", "town operator"),
         ("village_staff", "village staff"), ("grid_worker", "grid worker")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="(child) database URL to benchmark")
    parser.add_argument("--cases", type=int, default=CASES, help="demo cases to load (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="timed runs per line (within its time budget)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    args = parser.parse_args()
    if args.database:
        run(args.database, args.cases, args.repeat)
        return 0
    return run_per_database(__file__, ["--cases", str(args.cases), "--repeat", str(args.repeat)],
                            env_var="GRIDGOV_BENCH_INBOX_DATABASE_URL", default_url=DEFAULT_PG_URL,
                            prefix="gridgov-bench-inbox-", only=args.only)


# --- child: build, then time ----------------------------------------------------------------------


def run(database_url: str, cases: int, repeat: int) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.paginator import Paginator
    from django.db import connection, transaction
    from django.utils import timezone

    from gridgov.areas import demo
    from gridgov.areas.models import Area
    from gridgov.cases import selectors
    from gridgov.cases.demo import load_cases

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrated = time.perf_counter()
    with transaction.atomic():
        demo.load(scale="county")
    areas_done = time.perf_counter()
    loaded = load_cases(scale="county", count=cases)
    built = time.perf_counter()
    vendor = connection.vendor
    cursor = connection.cursor()
    if vendor == "postgresql":
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does soon after a load
    else:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as the load's last connection leaves it
    os.sync()  # the load's writes on disk before the timing, as long before a user opens the inbox
    gc.collect()  # and the load's objects out of the collector's way: a server process never held them
    gc.freeze()
    cursor.execute("SHOW server_version" if vendor == "postgresql" else "SELECT sqlite_version()")
    version = cursor.fetchone()[0]
    counts = loaded.counts
    open_cases = sum(n for state, n in loaded.states.items() if state not in ("closed", "refused", "merged"))
    print(f"{vendor} {version}: migrate {migrated - started:.1f} s, demo areas and staff "
          f"{areas_done - migrated:.1f} s, {counts['cases']:,} cases with {counts['actions']:,} actions in "
          f"{built - areas_done:.1f} s ({counts['cases'] / (built - areas_done):,.0f} cases/s); {open_cases:,} open",
          flush=True)

    User = get_user_model()
    users = {name: User.objects.select_related("staff").get(username=name) for name, _label in USERS}
    county = Area.objects.get(parent=None)
    today = timezone.localdate()
    year_ago = today - dt.timedelta(days=365)

    def fresh(user):
        for key in ("_gridgov_scopes", "_gridgov_cases"):  # cached per request: start each run afresh
            user.__dict__.pop(key, None)
        return user

    def tab_page(user, tab):
        """A tab as the API answers it: the tab's count (``inbox_count``) and its first page, with what a list
        shows of each case."""
        user = fresh(user)
        paginator = Paginator(selectors.inbox(actor=user, tab=tab), PAGE)
        paginator.count = selectors.inbox_count(actor=user, tab=tab)
        page = paginator.get_page(1)
        return page.paginator.count, [(case.pk, case.area.name, case.desk_area.name, case.category_id and
                                       case.category.name) for case in page.object_list]

    lines = []  # (label, orm callable)
    for name, label in USERS:
        user = users[name]
        lines.append((f"{label}: inbox counts", lambda u=user: selectors.inbox_counts(actor=fresh(u))))
        for tab in selectors.INBOX_TABS:
            lines.append((f"{label}: {tab}, page 1 + count", lambda u=user, t=tab: tab_page(u, t)))
    operator = users["county_operator"]
    lines.append(("county operator: statistics of a year",
                  lambda: selectors.case_stats(actor=fresh(operator), area=county, created_from=year_ago,
                                               created_to=today)))

    def stats_rows(stats):
        return {group: {r.key: (r.label, r.total, r.closed, r.closed_on_time, r.reworked, r.rated, r.satisfied)
                        for r in stats[group]} for group in stats}

    # The county's statistics add up its day rows (CaseDayStat); check them once against a count of the cases.
    counted = selectors._stats_of_cases(selectors.apply_filters(  # the count the day rows stand in for
        selectors.case_visible(actor=fresh(operator)),
        selectors.CaseFilters(area=county, created_from=year_ago, created_to=today)))
    same = stats_rows(lines[-1][1]()) == stats_rows(counted)
    print(f"case_stats from the day rows returns the count of the cases: {'yes' if same else 'NO'}")

    def capture(fn) -> list[tuple[str, tuple]]:
        statements = []

        def wrapper(execute, sql, params, many, context):
            statements.append((sql, tuple(params) if params is not None else ()))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            fn()
        return statements

    def raw_of(statements):
        def replay():
            for sql, params in statements:
                cursor.execute(sql, params)
                cursor.fetchall()
        return replay

    def measure(phase: str) -> list:
        print(f"\n{phase}: up to {repeat} timed runs each (at most {BUDGET_S:.0f} s a line) after {WARMUP} "
              f"warm-up runs, ORM and raw interleaved; times in ms", flush=True)
        print(f"{'query':<46} {'stmts':>5} {'runs':>4} {'ORM p50':>8} {'ORM p95':>8} {'raw p50':>8} {'raw p95':>8}")
        rows = []
        for label, fn in lines:
            statements = capture(fn)
            orm_ms, raw_ms = timed(fn, raw_of(statements), repeat)
            rows.append((label, statements, orm_ms, raw_ms))
            print(f"{label:<46} {len(statements):>5} {len(orm_ms):>4} {pct(orm_ms, 50):8.1f} {pct(orm_ms, 95):8.1f} "
                  f"{pct(raw_ms, 50):8.1f} {pct(raw_ms, 95):8.1f}", flush=True)
        return rows

    first = "as loaded" + (", no ANALYZE" if vendor == "sqlite" else ", after VACUUM ANALYZE")
    phases = [(first, measure(first))]
    if vendor == "sqlite":
        cursor.execute("ANALYZE")
        phases.append(("after ANALYZE", measure("after ANALYZE")))
    print("\nORM: the selector (scope lookups, queries, model instances); raw: the statements it sent, on the same "
          "connection; stmts: how many.")

    explain = "EXPLAIN QUERY PLAN " if vendor == "sqlite" else "EXPLAIN "
    print("\nquery plans of the lines over the target (last phase), slowest statement first:")
    last = phases[-1][1]
    slow = [row for row in last if pct(row[2], 95) > TARGET_MS]
    if not slow:
        print("  (none)")
    for label, statements, _orm, _raw in slow:
        timings = []
        for sql, params in statements:
            start = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            timings.append(((time.perf_counter() - start) * 1000, sql, params))
        timings.sort(key=lambda item: -item[0])
        ms, sql, params = timings[0]
        cursor.execute(explain + sql, params)
        plan = [re.sub(r"\s*\(cost=[^)]*\)", "", str(row[-1])).strip() for row in cursor.fetchall()]
        print(f"  {label} ({ms:.0f} ms): {shorten(sql)}")
        print("    " + "\n    ".join(plan[:25]))

    print()
    for phase, rows in phases:
        worst = max(rows, key=lambda row: pct(row[2], 95))
        misses = sum(1 for row in rows if pct(row[2], 95) > TARGET_MS)
        verdict = "PASS" if not misses else "FAIL"
        print(f"inbox and statistics, {cases:,} cases, every line p95 ≤ {TARGET_MS:.0f} ms on {vendor} {phase}: "
              f"{verdict} ({misses} of {len(rows)} lines over; worst: {worst[0]}, p95 {pct(worst[2], 95):.1f} ms)")


def shorten(sql: str, limit: int = 400) -> str:
    sql = re.sub(r"\s+", " ", sql)
    return sql if len(sql) <= limit else sql[:limit] + " …"


def timed(orm, raw, repeat: int) -> tuple[list[float], list[float]]:
    """Runs ``orm`` and ``raw`` in turn; the times after the warm-up, in ms (at least 5 runs, else within budget)."""
    orm_ms: list[float] = []
    raw_ms: list[float] = []
    began = time.perf_counter()
    for i in range(WARMUP + repeat):
        for fn, out in ((orm, orm_ms), (raw, raw_ms)):
            start = time.perf_counter()
            fn()
            if i >= WARMUP:
                out.append((time.perf_counter() - start) * 1000)
        if len(orm_ms) >= 5 and time.perf_counter() - began > BUDGET_S:
            break
    return orm_ms, raw_ms


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.median(values) if p == 50 else statistics.quantiles(values, n=100)[p - 1]


if __name__ == "__main__":
    sys.exit(main())
