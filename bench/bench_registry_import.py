"""Resident import benchmark: 1,000,000 persons in 350,000 households from CSV, checked and sealed.

Run with ``GRIDGOV_TESTING=1 .venv/bin/python bench/bench_registry_import.py [--rows N]`` (``--rows 100000``
for a quick run). The parent process writes the CSV once (valid ID numbers, phones, households of one to
six persons, some tags), then runs one child process per database (Django reads its settings once per
process): a fresh SQLite file in a temporary data directory, and a fresh PostgreSQL database
``gridgov_bench_import`` when a server answers on 127.0.0.1:5432 (or at GRIDGOV_BENCH_IMPORT_DATABASE_URL).

Each child migrates, builds a small area tree, then measures

- the reference: the raw insert rate of the same rows, read from the same CSV with ``csv.reader`` but not
  checked, sealed or hashed, into the same table with its indexes (executemany on SQLite, with the page cache
  the import uses; COPY on PostgreSQL), committed, then removed again;
- the import: ``residents_import`` of the file (every check, sealing, hashes, households, memberships,
  events, tags, colours, one transaction), with the time of its checking and writing passes.

It prints rows/s, the ratio to the raw rate, the peak memory of the child (ru_maxrss) and PASS/FAIL lines for
the targets of the issue (≥ 20,000 rows/s on PostgreSQL, ≥ 40 % of the raw rate). It never asserts.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import recreate_postgres_database  # noqa: E402  (bench/ is on the path when run)

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/gridgov_bench_import"
PERSONS_PER_HOUSEHOLD = 1_000_000 / 350_000
TARGET_ROWS_PER_S = 20_000
TARGET_RATIO = 0.40
GRIDS = 120
HEADER = ["姓名", "证件类型", "证件号码", "联系电话", "民族", "文化程度", "政治面貌", "居住类型", "网格编码", "户编号",
          "与户主关系", "户地址", "人均年收入", "平安家庭年数", "标签"]


# --- parent: the file, then one child process per database ---------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="persons in the file (default 1,000,000)")
    parser.add_argument("--database", help="(child) database URL to benchmark")
    parser.add_argument("--csv", help="(child) the file to import")
    parser.add_argument("--what-if-cached-keys", action="store_true",
                        help="also measure with gridgov.core.crypto's derived keys cached in memory (a proposed "
                             "change, patched in this process only)")
    args = parser.parse_args()
    if args.database:
        run(args.database, Path(args.csv), what_if=args.what_if_cached_keys)
        return 0
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-import-") as work:
        csv_path = Path(work) / "residents.csv"
        started = time.perf_counter()
        households = write_csv(csv_path, args.rows)
        print(f"CSV: {args.rows:,} persons in {households:,} households, "
              f"{csv_path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - started:.1f} s\n",
              flush=True)
        targets = [("SQLite", None)]
        pg_url = os.environ.get("GRIDGOV_BENCH_IMPORT_DATABASE_URL") or DEFAULT_PG_URL
        problem = recreate_postgres_database(pg_url)
        if problem:
            print(f"PostgreSQL skipped: {problem}\n")
        else:
            targets.append(("PostgreSQL", pg_url))
        failed = 0
        for label, url in targets:
            with tempfile.TemporaryDirectory(prefix="gridgov-bench-") as data_dir:
                url = url or f"sqlite:///{data_dir}/bench.sqlite3"
                env = {**os.environ, "GRIDGOV_DATA_DIR": data_dir, "GRIDGOV_DATABASE_URL": url,
                       "GRIDGOV_TESTING": "1", "GRIDGOV_DEBUG": "0", "DJANGO_SETTINGS_MODULE": "gridgov.settings"}
                print(f"=== {label} ===", flush=True)
                command = [sys.executable, __file__, "--database", url, "--csv", str(csv_path),
                           *(["--what-if-cached-keys"] if args.what_if_cached_keys else [])]
                child = subprocess.run(command, env=env, cwd=PROJECT_DIR, check=False)  # noqa: S603 (this script)
                failed += child.returncode != 0
                print(flush=True)
    return 1 if failed else 0


WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红梅玉兰小龙文博思雨欣怡子涵浩然宇轩"
RELATIONS = ["配偶", "子女", "子女", "父母", "孙子女", "兄弟姐妹"]
TAGS = ["留守儿童", "低保对象", "残疾人", "空巢老人", "left_behind_elderly", "重点青少年"]


def grid_code(index: int) -> str:
    return f"611023{100 + index // 12:03d}{201 + index % 12 // 4:03d}{index % 4 + 1:03d}"


def write_csv(path: Path, rows: int) -> int:
    """Writes ``rows`` persons in households of one to six; returns the number of households."""
    rng = random.Random(2026)
    base = dt.date(1940, 1, 1)
    days = (dt.date(2020, 12, 31) - base).days
    households = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        person = 0
        while person < rows:
            households += 1
            size = min(rows - person, max(1, round(rng.gauss(PERSONS_PER_HOUSEHOLD, 1.3))), 6)
            grid = grid_code(rng.randrange(GRIDS))
            number = f"H{households:07d}"
            address = f"某村{households % 97 + 1}组{households}号"
            income, years = rng.randrange(3000, 40000), rng.choice((0, 1, 2, 3, 4, 5))
            for member in range(size):
                birth = base + dt.timedelta(days=(person * 7919) % days)
                body = f"611023{birth:%Y%m%d}{(person // days) % 1000:03d}"
                check = "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]
                name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
                tags = rng.choice(TAGS) if rng.random() < 0.04 else ""
                if member == 0:
                    writer.writerow([name, "", body + check, f"13{person:09d}", "汉族", "初中", "群众", "户籍", grid,
                                     number, "户主", address, income, years, tags])
                else:
                    writer.writerow([name, "", body + check, "", "汉族", "", "", "", grid, number,
                                     rng.choice(RELATIONS), "", "", "", tags])
                person += 1
    return households


# --- child: build, reference, import ----------------------------------------------------------------


def run(database_url: str, csv_path: Path, what_if: bool = False) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    build_areas()
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version" if vendor == "postgresql" else "SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    print(f"{vendor} {version}", flush=True)

    load = os.getloadavg()[0]
    print(f"load average before: {load:.1f} on {os.cpu_count()} CPUs" + (" (busy: timings will be slower)"
                                                                        if load > 0.5 else ""), flush=True)
    raw_rows, raw_seconds = raw_insert(csv_path)
    raw_rate = raw_rows / raw_seconds
    print(f"raw insert (csv.reader → {'COPY' if vendor == 'postgresql' else 'executemany'} into "
          f"registry_person, no checks): {raw_rows:,} rows in {raw_seconds:.1f} s = {raw_rate:,.0f} rows/s",
          flush=True)

    if what_if:
        cache_derived_keys()
        print("WHAT IF: derived keys cached in crypto, IdType.values a constant in check_identity "
              "(proposed, not in the code base; see cache_derived_keys)")

    from gridgov.registry.importer import residents_import

    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(stage, time.perf_counter())

    started, cpu = time.perf_counter(), time.process_time()
    result = residents_import(actor=None, path=csv_path, progress=progress)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    writing = marks.get("writing", started + seconds)
    rate = result.imported_rows / seconds
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"import (residents_import): {result.imported_rows:,} persons, {result.households_created:,} households, "
          f"{result.tags_added:,} tags, {result.error_rows} bad rows in {seconds:.1f} s = {rate:,.0f} rows/s "
          f"(checking and sealing {writing - started:.1f} s, writing {started + seconds - writing:.1f} s)")
    print(f"CPU time of this process during the import: {cpu:.1f} s ({cpu / max(result.imported_rows, 1) * 1e6:.0f} µs "
          f"per row; the rest of the wall time is the database server and other processes)")
    print(f"ratio to raw: {rate / raw_rate:.0%}")
    print(f"peak memory of this process: {peak_mb:,.0f} MB")
    if result.error_rows:
        print(f"unexpected bad rows, first: {result.problems[:3]}")
    if vendor == "postgresql":
        verdict = "PASS" if rate >= TARGET_ROWS_PER_S else "FAIL"
        print(f"{verdict}: ≥ {TARGET_ROWS_PER_S:,} rows/s on PostgreSQL ({rate:,.0f})")
    verdict = "PASS" if rate >= TARGET_RATIO * raw_rate else "FAIL"
    print(f"{verdict}: ≥ {TARGET_RATIO:.0%} of the raw insert rate ({rate / raw_rate:.0%})", flush=True)


def cache_derived_keys() -> None:
    """Proposed changes, applied to this process only, to measure what they would give:

    - gridgov.core.crypto derives the AES/SM4 and HMAC keys with HKDF, and hashes the key for its id, again
      on every encrypt and every search hash (about 10 µs each, three or four per row); they never change,
      so cache them;
    - gridgov.registry.services.check_identity tests ``id_type not in IdType.values``, and Django rebuilds
      that list on every call (about 8 µs); test against a constant set.
    """
    import functools
    from types import SimpleNamespace

    from gridgov.core import crypto
    from gridgov.registry import services
    from gridgov.registry.models import IdType

    derive = functools.lru_cache(maxsize=64)(crypto.FieldKey.derived)
    key_id = functools.lru_cache(maxsize=64)(crypto.FieldKey.key_id.fget)
    crypto.FieldKey.derived = lambda self, purpose, length: derive(self, purpose, length)
    crypto.FieldKey.key_id = property(key_id)
    services.IdType = SimpleNamespace(values=frozenset(IdType.values), CITIZEN=IdType.CITIZEN)


def build_areas() -> None:
    from gridgov.areas import services
    from gridgov.areas.models import AreaKind, Rank

    levels = {lv.name: lv for lv in services.levels_configure(actor=None, levels=[
        ("县", Rank.COUNTY, None), ("镇办", Rank.TOWN, None), ("村/社区", Rank.VILLAGE, None),
        ("片", Rank.BELOW_VILLAGE, 3)])}
    county = services.area_create(actor=None, code="611023000000", name="商南县", level=levels["县"], parent=None)
    towns, villages = {}, {}
    for index in range(GRIDS):
        code = grid_code(index)
        town_code, village_code = code[:9] + "000", code[:12]
        if town_code not in towns:
            towns[town_code] = services.area_create(actor=None, code=town_code, name=f"镇{town_code[6:9]}",
                                                    level=levels["镇办"], parent=county)
        if village_code not in villages:
            villages[village_code] = services.area_create(actor=None, code=village_code, name=f"村{village_code[9:]}",
                                                          level=levels["村/社区"], parent=towns[town_code])
        services.area_create(actor=None, code=code, name=f"片{code[12:]}", level=levels["片"],
                             parent=villages[village_code], kind=AreaKind.GRID)


def raw_insert(csv_path: Path) -> tuple[int, float]:
    """The same rows into the same table, unchecked and unsealed, committed; then removed again."""
    from django.db import connection, transaction
    from django.utils import timezone

    from gridgov.areas.models import Area
    from gridgov.registry.models import Person

    grids = dict(Area.objects.filter(kind="grid").values_list("code", "pk"))
    now = timezone.now() if connection.vendor == "postgresql" else \
        connection.ops.adapt_datetimefield_value(timezone.now())
    columns = ("name", "id_type", "id_number_sealed", "id_number_hash", "id_number_masked", "phone_sealed",
               "phone_hash", "phone_masked", "sex", "ethnicity", "education", "political_status",
               "residence_type", "area_id", "relation", "alive", "moved_out", "created_at", "updated_at")
    table = Person._meta.db_table
    count = 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, csv_path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)

        def rows():
            nonlocal count
            for r in reader:
                count += 1
                yield (r[0], "citizen", r[2], r[2], r[2], r[3], r[3], r[3], "", r[4], r[5], r[6], "registered",
                       grids[r[8]], "", True, False, now, now)

        if connection.vendor == "sqlite":  # the same page cache as the import uses while writing
            from gridgov.registry.importer import SQLITE_IMPORT_CACHE_KIB

            cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for values in rows():
                    copy.write_row(values)
        else:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
            batch = []
            for values in rows():
                batch.append(values)
                if len(batch) == 5000:
                    cursor.executemany(sql, batch)
                    batch = []
            cursor.executemany(sql, batch)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} CASCADE")
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
            cursor.execute("VACUUM")
    return count, seconds


if __name__ == "__main__":
    sys.exit(main())
