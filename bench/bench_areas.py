"""Area-tree benchmark at city scale (8 counties, ~9,000 grids): children, descendant counts, point location.

Run with ``make bench``. The parent process runs one child process per database (Django reads its settings
once per process): a fresh SQLite file in a temporary data directory, and a fresh PostgreSQL database
``gridgov_bench`` when a server answers on 127.0.0.1:5432 (or at GRIDGOV_BENCH_DATABASE_URL). Each child
migrates, loads the demo at city scale, and times each selector beside the same query in raw SQL on the
same connection. A benchmark: it prints, it never asserts.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time

from common import PROJECT_DIR, run_per_database  # noqa: E402  (bench/ is on the path when run)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/gridgov_bench"
WARMUP, REPEAT = 20, 200
TARGET_MS = 20.0


# --- parent: one child process per database -------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="(child) database URL to benchmark")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="timed repetitions per query")
    args = parser.parse_args()
    if args.database:
        run(args.database, args.repeat)
        return 0
    return run_per_database(__file__, ["--repeat", str(args.repeat)], env_var="GRIDGOV_BENCH_DATABASE_URL",
                            default_url=DEFAULT_PG_URL, prefix="gridgov-bench-")


# --- child: build, then time ----------------------------------------------------------------------


def run(database_url: str, repeat: int) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from gridgov.areas import demo, selectors
    from gridgov.areas.models import Area, AreaKind
    from gridgov.areas.scope import next_prefix

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrated = time.perf_counter()
    result = demo.load(scale="city")
    built = time.perf_counter()
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("ANALYZE")  # what autovacuum does soon after a bulk load
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    counts = result.counts
    analyzed = ", then ANALYZE" if vendor == "postgresql" else ", no ANALYZE"
    print(f"{vendor} {version}: migrate {migrated - started:.1f} s, city demo {built - migrated:.1f} s "
          f"({counts['areas']:,} areas, {counts['grids']:,} grids, {counts['staff']:,} staff, "
          f"{counts['posts']:,} posts){analyzed}")

    superuser = get_user_model().objects.get(username="admin")
    towns = list(Area.objects.filter(level__depth=1))
    counties = list(Area.objects.filter(parent=None))
    bbox = [min(c.min_lng for c in counties), min(c.min_lat for c in counties),
            max(c.max_lng for c in counties), max(c.max_lat for c in counties)]
    rng = random.Random(2026)
    n = WARMUP + repeat
    town_args = [rng.choice(towns) for _i in range(n)]
    county_args = [rng.choice(counties) for _i in range(n)]
    point_args = [(rng.uniform(bbox[0], bbox[2]), rng.uniform(bbox[1], bbox[3])) for _i in range(n)]
    cursor = connection.cursor()

    def raw(sql: str, params) -> list:
        cursor.execute(sql, params)
        return cursor.fetchall()

    def raw_count(county) -> int:
        (path,) = raw("SELECT path FROM areas_area WHERE code = %s", [county.code])[0]
        return raw(COUNT_SQL, [path, next_prefix(path)])[0][0] - 1

    rows = [
        ("children of a town", "area_children",
         timed(lambda t: list(selectors.area_children(actor=superuser, parent=t)),
               lambda t: raw(CHILDREN_SQL, [t.pk]), town_args)),
        ("descendant count of a county", "descendant_count",
         timed(lambda c: selectors.descendant_count(actor=superuser, code=c.code), raw_count, county_args)),
        ("point location", "locate_point",
         timed(lambda p: selectors.locate_point(lng=p[0], lat=p[1]),
               lambda p: raw(LOCATE_SQL, [p[0], p[0], p[1], p[1]]), point_args)),
    ]
    count_only = timed(None, lambda c: raw(COUNT_SQL, [c.path, next_prefix(c.path)]), county_args)[1]
    located = sum(selectors.locate_point(lng=x, lat=y).kind in (AreaKind.GRID, AreaKind.DEDICATED_GRID)
                  for x, y in point_args[:50])

    print(f"\n{repeat} timed runs each after {WARMUP} warm-up runs, ORM and raw interleaved; times in ms")
    print(f"{'query':<30} {'selector':<17} {'ORM p50':>8} {'ORM p95':>8} {'raw p50':>8} {'raw p95':>8} "
          f"{'ORM/raw':>8}")
    for label, selector, (orm_ms, raw_ms) in rows:
        o50, o95, r50, r95 = pct(orm_ms, 50), pct(orm_ms, 95), pct(raw_ms, 50), pct(raw_ms, 95)
        print(f"{label:<30} {selector:<17} {o50:8.2f} {o95:8.2f} {r50:8.2f} {r95:8.2f} {o50 / r50:7.1f}x")
    alone = f"{pct(count_only, 50):8.2f} {pct(count_only, 95):8.2f}"
    print(f"{'  the raw range count alone':<48} {'':>8} {'':>8} {alone}")
    print("raw: the same statements on the same connection: the children with their level and child count;\n"
          "     the code lookup and the range count; the bounding-box SELECT (the ORM tests polygons too).")
    print(f"{located}/50 random points located in a grid.")

    print("\nquery plans:")
    for label, sql, params in [
        ("count", COUNT_SQL, [counties[0].path, next_prefix(counties[0].path)]),
        ("locate", LOCATE_SQL, [point_args[0][0]] * 2 + [point_args[0][1]] * 2),
    ]:
        explain = "EXPLAIN QUERY PLAN " if vendor == "sqlite" else "EXPLAIN "
        plan = [re.sub(r"\s*\(cost=[^)]*\)", "", str(row[-1])).strip() for row in raw(explain + sql, params)]
        print(f"  {label}: " + " | ".join(plan))

    count_p95 = pct(rows[1][2][0], 95)
    if vendor == "sqlite":
        verdict = "PASS" if count_p95 <= TARGET_MS else "FAIL"
        print(f"\ncounty descendant count p95 ≤ {TARGET_MS:.0f} ms on SQLite: {verdict} ({count_p95:.2f} ms)")
    else:
        print(f"\ncounty descendant count p95 on PostgreSQL: {count_p95:.2f} ms (the target is for SQLite)")


def timed(orm, raw, args) -> tuple[list[float], list[float]]:
    """Runs ``orm`` and ``raw`` on each argument in turn; the times after the warm-up, in ms."""
    orm_ms: list[float] = []
    raw_ms: list[float] = []
    for i, arg in enumerate(args):
        for fn, out in ((orm, orm_ms), (raw, raw_ms)):
            if fn is None:
                continue
            start = time.perf_counter()
            fn(arg)
            if i >= WARMUP:
                out.append((time.perf_counter() - start) * 1000)
    return orm_ms, raw_ms


def pct(values: list[float], p: int) -> float:
    return statistics.median(values) if p == 50 else statistics.quantiles(values, n=100)[p - 1]


CHILDREN_SQL = """
    SELECT a.id, a.code, a.name, a.parent_id, a.level_id, a.kind, a.dedicated_type, a.path, a.geometry,
           a.min_lng, a.min_lat, a.max_lng, a.max_lat, a.created_at, a.updated_at,
           l.id, l.depth, l.name, l.rank, l.code_width, COUNT(c.id) AS child_count
    FROM areas_area a
    JOIN areas_arealevel l ON l.id = a.level_id
    LEFT OUTER JOIN areas_area c ON c.parent_id = a.id
    WHERE a.parent_id = %s
    GROUP BY a.id, l.id
    ORDER BY a.path
"""
COUNT_SQL = "SELECT count(*) FROM areas_area WHERE path >= %s AND path < %s"
LOCATE_SQL = """
    SELECT id, path, geometry FROM areas_area
    WHERE min_lng <= %s AND max_lng >= %s AND min_lat <= %s AND max_lat >= %s
"""

if __name__ == "__main__":
    sys.exit(main())
