"""Rows derived from the cases, kept so that the inbox reads few rows: who may see a case (``CaseReach``) and who
acted on it (``CaseParticipant``); and the statistics' counts by filing day (``CaseDayStat``, kept with
``day_stat_share`` and ``day_stats_apply``).

The services keep them with every change (``reach_sync``, ``participant_touch``); ``rebuild`` writes them anew
from the cases, their assignments and their timelines, in one statement per table: after a bulk load (the demo),
by the migration that added them, and by ``gridgov cases-rebuild`` if they were ever doubted.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.utils import timezone

from gridgov.areas.models import PATH_STEP, Area
from gridgov.cases.models import (
    OPEN_STATES,
    Case,
    CaseAssignment,
    CaseDayStat,
    CaseParticipant,
    CaseReach,
    Rating,
    StatDimension,
    State,
)


def _units(case: Case) -> set[tuple[int | None, int | None]]:
    """(area, department) pairs ``case`` is visible through."""
    units = {(case.area_id, None), (case.desk_area_id, None)}
    if case.holder_area_id is not None:
        units.add((case.holder_area_id, None))
    if case.holder_department_id is not None:
        units.add((None, case.holder_department_id))
    units.update(CaseAssignment.objects.filter(case=case).values_list("area_id", "department_id"))
    return units


def reach_sync(case: Case, *, new: bool = False) -> None:
    """Brings ``case``'s reach rows in line with the case as saved. ``new``: the case was just inserted and has
    neither rows nor assignments yet (one insert, no reads)."""
    is_open = case.state in OPEN_STATES
    if new:
        units = {(case.area_id, None), (case.desk_area_id, None)}
        CaseReach.objects.bulk_create([CaseReach(case=case, area_id=a, department_id=d, open=is_open)
                                       for a, d in sorted(units)])
        return
    want = _units(case)
    have = {(a, d): (pk, was_open) for pk, a, d, was_open
            in CaseReach.objects.filter(case=case).values_list("pk", "area_id", "department_id", "open")}
    gone = [pk for unit, (pk, _open) in have.items() if unit not in want]
    if gone:
        CaseReach.objects.filter(pk__in=gone).delete()
    added = sorted(want - set(have), key=lambda unit: (unit[0] or 0, unit[1] or 0))
    if added:
        CaseReach.objects.bulk_create([CaseReach(case=case, area_id=a, department_id=d, open=is_open)
                                       for a, d in added])
    if any(was_open != is_open for unit, (_pk, was_open) in have.items() if unit in want):
        CaseReach.objects.filter(case=case).exclude(open=is_open).update(open=is_open)


def participant_touch(*, case_id: int, user_id: int, at: dt.datetime) -> None:
    """Records that ``user_id`` acted on the case at ``at`` (an insert, or the time of their last action)."""
    CaseParticipant.objects.bulk_create([CaseParticipant(case_id=case_id, user_id=user_id, last_at=at)],
                                        update_conflicts=True, unique_fields=["user", "case"],
                                        update_fields=["last_at"])


def _tables() -> dict[str, str]:
    from gridgov.cases.models import CaseAction

    return {"case": Case._meta.db_table, "assignment": CaseAssignment._meta.db_table,
            "action": CaseAction._meta.db_table, "reach": CaseReach._meta.db_table,
            "participant": CaseParticipant._meta.db_table}


def rebuild() -> dict[str, int]:
    """Writes every reach, participant and day row anew from the cases; returns how many of each."""
    t = _tables()
    states = sorted(OPEN_STATES)
    is_open = f"state IN ({', '.join(['%s'] * len(states))})"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {t['reach']}")  # noqa: S608  (table names from the models)
        cursor.execute(
            f"""INSERT INTO {t['reach']} (case_id, area_id, department_id, open)
                SELECT c.id, u.area_id, u.department_id, c.{is_open}
                FROM {t['case']} c JOIN (
                    SELECT id AS case_id, area_id, CAST(NULL AS BIGINT) AS department_id FROM {t['case']}
                    UNION SELECT id, desk_area_id, CAST(NULL AS BIGINT) FROM {t['case']}
                    UNION SELECT id, holder_area_id, CAST(NULL AS BIGINT) FROM {t['case']}
                          WHERE holder_area_id IS NOT NULL
                    UNION SELECT id, CAST(NULL AS BIGINT), holder_department_id FROM {t['case']}
                          WHERE holder_department_id IS NOT NULL
                    UNION SELECT case_id, area_id, department_id FROM {t['assignment']}
                ) u ON u.case_id = c.id""",  # noqa: S608
            states,
        )
        reach = cursor.rowcount
        cursor.execute(f"DELETE FROM {t['participant']}")  # noqa: S608
        cursor.execute(
            f"""INSERT INTO {t['participant']} (user_id, case_id, last_at)
                SELECT actor_id, case_id, MAX(at) FROM {t['action']} WHERE actor_id IS NOT NULL
                GROUP BY actor_id, case_id""",  # noqa: S608
        )
        participants = cursor.rowcount
        # Migration 0004 runs this before 0005 creates the day rows' table (0006 fills it).
        has_day_stats = CaseDayStat._meta.db_table in connection.introspection.table_names(cursor)
        day_stats = day_stats_rebuild() if has_day_stats else 0
    return {"reach": reach, "participants": participants, "day_stats": day_stats}


# --- the statistics by day (CaseDayStat) ----------------------------------------------------------------------

# The areas with day rows: the top two levels of the tree (a county and its towns). The rows of such an area count
# every case placed in its subtree, so that the statistics of the county read the county's rows alone.
SUMMARY_PATH_LENGTHS = (PATH_STEP, 2 * PATH_STEP)
SUMMARY_PATH_LENGTH = SUMMARY_PATH_LENGTHS[-1]
DAY_STAT_COUNTERS = ("total", "closed", "closed_on_time", "reworked", "rated", "satisfied")
_SATISFIED = (Rating.SATISFIED, Rating.BASICALLY)
_NOT_COUNTED = (State.REFUSED, State.MERGED)


class DayStatShare(NamedTuple):
    """What one case adds to the day rows: the areas it counts in (``summary_area_ids``), its filing day, its key
    in each dimension and its counters (``DAY_STAT_COUNTERS``)."""

    area_ids: tuple[int, ...]
    day: dt.date
    keys: dict[str, str]
    counts: tuple[int, ...]


def summary_area_ids(area: Area) -> tuple[int, ...]:
    """The areas with day rows whose subtree holds ``area``: its ancestors (or itself) at the top two levels.
    Remembered on the instance (one lookup for the before and after of a change)."""
    found = area.__dict__.get("_gridgov_summary_areas")
    if found is None:
        paths = {area.path[:length] for length in SUMMARY_PATH_LENGTHS}
        found = (area.pk,) if paths == {area.path} else tuple(
            Area.objects.filter(path__in=sorted(paths)).order_by("path").values_list("pk", flat=True))
        area.__dict__["_gridgov_summary_areas"] = found
    return found


def day_stat_share(case: Case) -> DayStatShare | None:
    """What ``case`` as it stands adds to the day rows; None for a refused or merged case."""
    if case.state in _NOT_COUNTED:
        return None
    closed = case.state == State.CLOSED
    counts = (1, int(closed), int(closed and case.closed_on_time is True), int(closed and case.rework_count > 0),
              int(bool(case.rating)), int(case.rating in _SATISFIED))
    level = case.resolved_area.level_id if case.resolved_area_id is not None else None
    keys = {StatDimension.DOMAIN: str(case.domain_id or ""), StatDimension.CHANNEL: case.channel or "",
            StatDimension.LEVEL: str(level or "")}
    day = timezone.localdate(case.created_at, timezone.get_default_timezone())
    return DayStatShare(summary_area_ids(case.area), day, keys, counts)


def day_stats_apply(before: DayStatShare | None, after: DayStatShare | None) -> None:
    """Moves a case's counts from the rows of ``before`` to those of ``after`` (``day_stat_share`` before and after
    a change), as increments in one upsert (rows in key order, so that concurrent writers lock them in the same
    order). Nothing when nothing changed."""
    if before == after:
        return
    deltas: dict[tuple, list[int]] = {}
    for share, sign in ((before, -1), (after, 1)):
        if share is None:
            continue
        for area_id in share.area_ids:
            for dimension, key in share.keys.items():
                acc = deltas.setdefault((area_id, share.day, str(dimension), key), [0] * len(DAY_STAT_COUNTERS))
                for i, n in enumerate(share.counts):
                    acc[i] += sign * n
    rows = sorted((unit, counts) for unit, counts in deltas.items() if any(counts))
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(CaseDayStat._meta.db_table)
    unique = ", ".join(qn(c) for c in ("area_id", "day", "dimension", "key"))
    counters = [qn(c) for c in DAY_STAT_COUNTERS]
    one = "(" + ", ".join(["%s"] * (4 + len(counters))) + ")"
    params: list = []
    for (area_id, day, dimension, key), counts in rows:
        params += [area_id, connection.ops.adapt_datefield_value(day), dimension, key, *counts]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({unique}, {', '.join(counters)}) VALUES {', '.join([one] * len(rows))} "  # noqa: S608
            f"ON CONFLICT ({unique}) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters),
            params,
        )


def _constant_offset(tz: dt.tzinfo, first: dt.datetime, last: dt.datetime) -> int | None:
    """The UTC offset of ``tz`` in seconds if it is the same from ``first`` to ``last`` (checked hourly), else
    None. Asia/Shanghai has had one since 1991."""
    offset = first.astimezone(tz).utcoffset()
    moment = first
    while moment < last:
        moment = min(moment + dt.timedelta(hours=1), last)
        if moment.astimezone(tz).utcoffset() != offset:
            return None
    return int(offset.total_seconds())


def _local_day():
    """The filing day of a case in the deployment's time zone, as an expression. On SQLite, Django computes it
    in Python for each row (30 µs: 15 s for 500,000 cases), so where the zone's offset is the same all over the
    cases' time span, SQLite's own ``date()`` shifts the stored UTC time by it."""
    from django.db.models import DateField, Func, Max, Min
    from django.db.models.functions import TruncDate

    tz = timezone.get_default_timezone()
    if connection.vendor == "sqlite":
        span = Case.objects.order_by().aggregate(first=Min("created_at"), last=Max("created_at"))
        offset = _constant_offset(tz, span["first"], span["last"]) if span["first"] is not None else 0
        if offset is not None:
            return Func(F("created_at"), Value(f"{offset:+d} seconds"), function="DATE", output_field=DateField())
    return TruncDate("created_at", tzinfo=tz)


def _day_stats_base() -> QuerySet:
    """One row per counted case: its filing day, the path of its area cut to the top two levels, its keys and its
    counters (0 or 1), as the ORM writes them for the database in use."""
    from django.db import models
    from django.db.models.functions import Substr

    def flag(*condition, **conditions):
        return models.Case(models.When(*condition, then=1, **conditions), default=0,
                           output_field=models.IntegerField())

    return (Case.objects.order_by().exclude(state__in=_NOT_COUNTED)
            .values(s_day=_local_day(), s_path=Substr("area__path", 1, SUMMARY_PATH_LENGTH),
                    s_domain=F("domain_id"), s_channel=F("channel"), s_level=F("resolved_area__level_id"),
                    c_total=Value(1, output_field=models.IntegerField()), c_closed=flag(state=State.CLOSED),
                    c_closed_on_time=flag(state=State.CLOSED, closed_on_time=True),
                    c_reworked=flag(state=State.CLOSED, rework_count__gt=0),
                    c_rated=flag(~Q(rating="")), c_satisfied=flag(rating__in=_SATISFIED)))


def day_stats_rebuild() -> int:
    """Writes every day row anew from the cases, in one statement; returns how many rows.

    The cases are counted by the path of their area cut to the top two levels (a town, or the county itself),
    day and key of each dimension; the towns' counts are then added up for the county (the first level)."""
    base, params = _day_stats_base().query.sql_with_params()
    qn = connection.ops.quote_name
    table, areas = qn(CaseDayStat._meta.db_table), qn(Area._meta.db_table)
    columns = ", ".join(qn(c) for c in ("area_id", "day", "dimension", "key", *DAY_STAT_COUNTERS))
    counters = ", ".join(f"c_{c}" for c in DAY_STAT_COUNTERS)
    sums = ", ".join(f"SUM(c_{c}) AS c_{c}" for c in DAY_STAT_COUNTERS)
    by_path = " UNION ALL ".join(
        f"""SELECT s_path AS p, s_day AS d, %s AS dimension, COALESCE(CAST({column} AS VARCHAR(32)), '') AS k, {sums}
            FROM base GROUP BY s_path, s_day, {column}"""  # noqa: S608
        for column in ("s_domain", "s_channel", "s_level"))
    top = SUMMARY_PATH_LENGTHS[0]
    sql = f"""INSERT INTO {table} ({columns})
        WITH base AS ({base}), by_path AS ({by_path}),
             summary AS (SELECT p, d, dimension, k, {counters} FROM by_path WHERE LENGTH(p) > {top:d}
                         UNION ALL SELECT SUBSTR(p, 1, {top:d}), d, dimension, k, {sums} FROM by_path
                         GROUP BY SUBSTR(p, 1, {top:d}), d, dimension, k)
        SELECT a.id, s.d, s.dimension, s.k, {counters} FROM summary s JOIN {areas} a ON a.path = s.p"""  # noqa: S608
    dimensions = [str(d) for d in (StatDimension.DOMAIN, StatDimension.CHANNEL, StatDimension.LEVEL)]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Writers wait until the new rows are in, then add their changes to them (on SQLite a write
            # transaction excludes the others anyway); readers go on reading the old rows.
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            # The cases' rows and their groups in memory rather than on disk: 4.5 s instead of 6.6 s for 500,000.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608  (table names from the models)
        cursor.execute(sql, [*params, *dimensions])
        return cursor.rowcount
