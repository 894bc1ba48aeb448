"""Resident import benchmark: 1,000,000 persons in 350,000 households from CSV, checked and sealed.

Run with ``GRIDGOV_TESTING=1 .venv/bin/python bench/bench_registry_import.py [--rows N]`` (``--rows 100000``
for a quick run). The parent process writes the CSV once (valid ID numbers, phones, households of one to
six persons, some tags), then, for each database, a fresh SQLite file in a temporary data directory and a
fresh PostgreSQL database ``gridgov_bench_import`` when a server answers on 127.0.0.1:5432 (or at
GRIDGOV_BENCH_IMPORT_DATABASE_URL), runs two child processes one after the other (Django reads its settings
once per process, and each child's peak memory is its own):

1. *reference*: migrates, builds a small area tree, then inserts the rows raw: the same rows into the same
   tables as the import (households, persons, their "imported" and "tag added" events, memberships, person
   tags, one colour history row per household), read from the same CSV with ``csv.reader`` but neither
   checked, normalised, sealed nor hashed (the ID number and phone go into their columns in clear, codes stay
   as written, every household green), in batches (COPY on PostgreSQL, executemany on SQLite with the page
   cache the import uses), in one transaction, committed; it counts the rows of each table, then removes them
   again (TRUNCATE and VACUUM ANALYZE on PostgreSQL, DELETE and VACUUM on SQLite);
2. *import*: ``residents_import`` of the file (every check, sealing, hashes, households, memberships, events,
   tags, colours, one transaction), with the time of its checking and writing passes, and the same counts.

It prints rows/s, the ratio to the raw rate, the peak memory of each child (ru_maxrss), the load average, and
PASS/FAIL lines for the targets of the issue (≥ 20,000 rows/s on PostgreSQL, ≥ 40 % of the raw rate). It
never asserts.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PROJECT_DIR, database_run, databases  # noqa: E402  (bench/ is on the path when run)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/gridgov_bench_import"
PERSONS_PER_HOUSEHOLD = 1_000_000 / 350_000
TARGET_ROWS_PER_S = 20_000
TARGET_RATIO = 0.40
GRIDS = 120
RAW_BATCH = 5000
HEADER = ["姓名", "证件类型", "证件号码", "联系电话", "民族", "文化程度", "政治面貌", "居住类型", "网格编码", "户编号",
          "与户主关系", "户地址", "人均年收入", "平安家庭年数", "标签"]


# --- parent: the file, then two child processes per database --------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="persons in the file (default 1,000,000)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="benchmark one database only")
    parser.add_argument("--part", choices=("reference", "import"), help="(child) what to measure")
    parser.add_argument("--csv", help="(child) the file to import")
    parser.add_argument("--raw-rate", type=float, default=0.0, help="(child) the reference's rows/s")
    args = parser.parse_args()
    if args.part:
        if args.part == "reference":
            run_reference(Path(args.csv))
        else:
            run_import(Path(args.csv), args.raw_rate)
        return 0
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-import-") as work:
        csv_path = Path(work) / "residents.csv"
        started = time.perf_counter()
        households = write_csv(csv_path, args.rows)
        print(f"CSV: {args.rows:,} persons in {households:,} households, "
              f"{csv_path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - started:.1f} s\n",
              flush=True)
        failed = 0
        for label, url in databases("GRIDGOV_BENCH_IMPORT_DATABASE_URL", DEFAULT_PG_URL, args.only):
            with database_run(label, url, "gridgov-bench-") as (_url, env):
                command = [sys.executable, __file__, "--csv", str(csv_path), "--part"]
                reference = subprocess.run([*command, "reference"], env=env, cwd=PROJECT_DIR, check=False,  # noqa: S603
                                           stdout=subprocess.PIPE, text=True)
                sys.stdout.write(reference.stdout)
                raw_rate = next((float(line.split()[-1]) for line in reference.stdout.splitlines()
                                 if line.startswith("RAW-RATE ")), 0.0)
                child = subprocess.run([*command, "import", "--raw-rate", str(raw_rate)], env=env,  # noqa: S603
                                       cwd=PROJECT_DIR, check=False)
                failed += reference.returncode != 0 or child.returncode != 0
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


# --- children ----------------------------------------------------------------------------------------


def setup() -> str:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        return f"{connection.vendor} {cursor.fetchone()[0]}"


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs" + (
        " (busy: timings will be slower)" if one > 0.5 else "")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table_counts() -> dict[str, int]:
    return {m._meta.db_table.removeprefix("registry_"): m.objects.count() for m in reference_models()}


def run_reference(csv_path: Path) -> None:
    from django.core.management import call_command

    version = setup()
    call_command("migrate", verbosity=0, interactive=False)
    build_areas()
    print(version, flush=True)
    print(f"reference: {load_line()}", flush=True)
    rows, seconds = raw_insert(csv_path)
    counts = table_counts()
    remove_rows()
    rate = rows / seconds
    print(f"raw insert (csv.reader → {'COPY' if 'postgresql' in version else 'executemany'} into the import's six "
          f"tables, no checks): {rows:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s; peak memory {peak_mb():,.0f} MB")
    print(f"  rows written: {counts}")
    print(f"RAW-RATE {rate:.1f}", flush=True)


def run_import(csv_path: Path, raw_rate: float) -> None:
    version = setup()
    from gridgov.registry.importer import residents_import

    vendor = version.split()[0]
    print(f"import: {load_line()}", flush=True)
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(stage, time.perf_counter())

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu = time.perf_counter(), time.process_time()
    result = residents_import(actor=None, path=csv_path, progress=progress)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = workers.ru_utime + workers.ru_stime - children.ru_utime - children.ru_stime
    writing = marks.get("writing", started + seconds)
    rate = result.imported_rows / seconds
    print(f"import (residents_import): {result.imported_rows:,} persons, {result.households_created:,} households, "
          f"{result.tags_added:,} tags, {result.error_rows} bad rows in {seconds:.1f} s = {rate:,.0f} rows/s "
          f"(checking and sealing {writing - started:.1f} s, writing {started + seconds - writing:.1f} s)")
    print(f"  rows written: {table_counts()}")
    per_row = 1e6 / max(result.imported_rows, 1)
    print(f"CPU time during the import: this process {cpu:.1f} s ({cpu * per_row:.0f} µs per row), its worker "
          f"processes {worker_cpu:.1f} s ({worker_cpu * per_row:.0f} µs per row); the rest of the wall time is the "
          "database server and other processes")
    print(f"peak memory: this process {peak_mb():,.0f} MB, the largest worker process "
          f"{workers.ru_maxrss / 1024:,.0f} MB" if worker_cpu else f"peak memory of this process: {peak_mb():,.0f} MB")
    print(f"after: {load_line()}")
    if result.error_rows:
        print(f"unexpected bad rows, first: {result.problems[:3]}")
    if vendor == "postgresql":
        verdict = "PASS" if rate >= TARGET_ROWS_PER_S else "FAIL"
        print(f"{verdict}: ≥ {TARGET_ROWS_PER_S:,} rows/s on PostgreSQL ({rate:,.0f})")
    if raw_rate:
        verdict = "PASS" if rate >= TARGET_RATIO * raw_rate else "FAIL"
        print(f"ratio to raw: {rate / raw_rate:.0%} ({rate:,.0f} / {raw_rate:,.0f} rows/s)")
        print(f"{verdict}: ≥ {TARGET_RATIO:.0%} of the raw insert rate ({rate / raw_rate:.0%})", flush=True)


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


# --- the reference -------------------------------------------------------------------------------------


def reference_models():
    from gridgov.registry import models

    return models.Household, models.Person, models.PersonEvent, models.HouseholdMembership, models.PersonTag, \
        models.HouseholdClassChange


class _Table:
    """A table with the columns given by the reference, followed by the model defaults of all the others."""

    def __init__(self, model, given: tuple[str, ...]):
        from django.db import connection

        meta = model._meta
        rest = [f for f in meta.concrete_fields if f.name not in given and not f.primary_key]
        self.name = meta.db_table
        self.columns = ", ".join([meta.get_field(n).column for n in given] + [f.column for f in rest])
        self.defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in rest)
        self.rows: list[tuple] = []

    def write(self, cursor, vendor: str) -> None:
        rows, defaults, self.rows = self.rows, self.defaults, []
        if not rows:
            return
        if vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {self.name} ({self.columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + defaults)
        else:
            marks = ", ".join(["%s"] * (len(rows[0]) + len(defaults)))
            cursor.executemany(f"INSERT INTO {self.name} ({self.columns}) VALUES ({marks})",  # noqa: S608
                               [row + defaults for row in rows])


def raw_insert(csv_path: Path) -> tuple[int, float]:
    """The import's rows, unchecked and unsealed, into the import's tables in one transaction; returns
    (persons, seconds)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from gridgov.areas.models import Area
    from gridgov.registry.models import Tag

    vendor = connection.vendor
    grids = dict(Area.objects.filter(kind="grid").values_list("code", "pk"))
    tags = {}
    for pk, code, name in Tag.objects.values_list("pk", "code", "name"):
        tags[code] = tags[name] = pk
    now = timezone.now() if vendor == "postgresql" else connection.ops.adapt_datetimefield_value(timezone.now())
    today = timezone.localdate()
    household_model, person_model, event_model, membership_model, tag_model, change_model = reference_models()
    households_t = _Table(household_model, ("id", "number", "address", "area", "income_per_person",
                                            "safe_family_years", "head", "household_class", "class_reasons"))
    persons_t = _Table(person_model, ("id", "name", "id_type", "id_number_sealed", "id_number_hash",
                                      "id_number_masked", "phone_sealed", "phone_hash", "phone_masked", "birth_date",
                                      "sex", "ethnicity", "education", "political_status", "residence_type", "area",
                                      "household", "relation"))
    events_t = _Table(event_model, ("person", "kind", "date", "at", "actor", "actor_name", "data"))
    memberships_t = _Table(membership_model, ("person", "household", "relation", "start_date"))
    tags_t = _Table(tag_model, ("person", "tag", "start_date", "source"))
    changes_t = _Table(change_model, ("household", "from_class", "to_class", "reasons", "manual", "at",
                                      "actor_name"))
    tables = (households_t, persons_t, events_t, memberships_t, tags_t, changes_t)
    household_ids: dict[str, int] = {}
    person_id = household_id = count = 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, csv_path.open(encoding="utf-8", newline="") as f:
        if vendor == "sqlite":  # the same page cache as the import uses while writing
            from gridgov.registry.importer import SQLITE_IMPORT_CACHE_KIB

            cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
        reader = csv.reader(f)
        next(reader)
        for line, r in enumerate(reader, start=2):
            count += 1
            person_id += 1
            (name, id_type, id_number, phone, ethnicity, education, political, residence, grid, number, relation,
             address, income, years, tag_text) = r
            area_id = grids[grid]
            household = household_ids.get(number)
            if household is None:
                household_id += 1
                household = household_ids[number] = household_id
                households_t.rows.append((household, number, address, area_id, income or None, years or 0,
                                          person_id if relation == "户主" else None, "green", "[]"))
                changes_t.rows.append((household, "", "green", "[]", False, now, "raw"))
            birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
            persons_t.rows.append((person_id, name, id_type or "citizen", id_number, id_number, id_number, phone,
                                   phone, phone, birth, "F" if int(id_number[16]) % 2 == 0 else "M", ethnicity,
                                   education, political, residence or "registered", area_id, household, relation))
            events_t.rows.append((person_id, "imported", today, now, None, "raw",
                                  json.dumps({"grid": grid, "file": csv_path.name, "line": line})))
            memberships_t.rows.append((person_id, household, relation, today))
            if tag_text:
                tags_t.rows.append((person_id, tags[tag_text], today, "raw"))
                events_t.rows.append((person_id, "tag_added", today, now, None, "raw",
                                      json.dumps({"tag": tag_text, "sensitive": False})))
            if count % RAW_BATCH == 0:
                for table in tables:
                    table.write(cursor, vendor)
        for table in tables:
            table.write(cursor, vendor)
    return count, time.perf_counter() - started


def remove_rows() -> None:
    """Empties the reference's tables again, so that the import starts from empty tables."""
    from django.db import connection, transaction

    names = [m._meta.db_table for m in reference_models()]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(names)} CASCADE")
            cursor.execute("VACUUM ANALYZE")
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for name in reversed(names):
            cursor.execute(f"DELETE FROM {name}")  # noqa: S608  (a model's table)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")


if __name__ == "__main__":
    sys.exit(main())
