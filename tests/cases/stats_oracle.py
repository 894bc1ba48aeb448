"""The statistics computed in Python from the case rows, independently of the selectors and of the day rows: what
``selectors.case_stats`` must answer, and the day rows (``CaseDayStat``) that describe the cases."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.utils import timezone

from gridgov.areas.models import PATH_STEP, Area
from gridgov.cases.models import Case, CaseDayStat, State

COUNTERS = ("total", "closed", "closed_on_time", "reworked", "rated", "satisfied")


def _counted() -> list[tuple[Case, dt.date, tuple[int, ...]]]:
    """Every case the statistics count, with its filing day (Asia/Shanghai) and its counters."""
    tz = timezone.get_default_timezone()
    out = []
    for case in Case.objects.select_related("area", "domain", "resolved_area__level").order_by("pk"):
        if case.state in (State.REFUSED, State.MERGED):
            continue
        closed = case.state == State.CLOSED
        counts = (1, int(closed), int(closed and case.closed_on_time is True),
                  int(closed and case.rework_count > 0), int(case.rating != ""),
                  int(case.rating in ("satisfied", "basically")))
        out.append((case, case.created_at.astimezone(tz).date(), counts))
    return out


def expected_stats(*, paths: list[str] | None, pks: set[int] | None = None, created_from: dt.date | None = None,
                   created_to: dt.date | None = None) -> dict[str, dict[str, tuple]]:
    """{group: {key: (label, *counters)}} of the cases placed under ``paths`` (None: everywhere), among ``pks``
    (None: all) and filed in the range; the total always has its row."""
    groups: dict[str, dict[str, list]] = {g: {} for g in ("total", "domain", "channel", "level")}
    groups["total"][""] = ["", *[0] * len(COUNTERS)]
    for case, day, counts in _counted():
        if paths is not None and not any(case.area.path.startswith(p) for p in paths):
            continue
        if pks is not None and case.pk not in pks:
            continue
        if (created_from and day < created_from) or (created_to and day > created_to):
            continue
        level = case.resolved_area.level.name if case.resolved_area else "—"
        for group, key, label in (("total", "", ""),
                                  ("domain", str(case.domain_id or ""), case.domain.name if case.domain else "—"),
                                  ("channel", case.channel, str(case.get_channel_display())),
                                  ("level", level, level)):
            row = groups[group].setdefault(key, [label, *[0] * len(COUNTERS)])
            for i, n in enumerate(counts):
                row[i + 1] += n
    return {group: {key: tuple(row) for key, row in rows.items()} for group, rows in groups.items()}


def as_found(stats: dict) -> dict[str, dict[str, tuple]]:
    """``case_stats``' answer in the shape of ``expected_stats``; checks the order of the rows on the way."""
    out = {}
    for group, rows in stats.items():
        assert [(-r.total, r.label) for r in rows] == sorted((-r.total, r.label) for r in rows), group
        out[group] = {r.key: (r.label, *(getattr(r, c) for c in COUNTERS)) for r in rows}
    return out


def expected_day_rows() -> set[tuple]:
    """The day rows the cases call for: (area id, day, dimension, key, *counters) for each area of the top two
    levels of the tree holding the case, without rows of zeros."""
    by_path = {path: pk for pk, path in Area.objects.values_list("pk", "path")}
    rows: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
    for case, day, counts in _counted():
        level = case.resolved_area.level_id if case.resolved_area else ""
        for area_id in {by_path[case.area.path[:PATH_STEP]], by_path[case.area.path[:2 * PATH_STEP]]}:
            for dimension, key in (("domain", case.domain_id or ""), ("channel", case.channel), ("level", level)):
                row = rows[(area_id, day, dimension, str(key))]
                for i, n in enumerate(counts):
                    row[i] += n
    return {(*unit, *counts) for unit, counts in rows.items()}


def day_rows() -> set[tuple]:
    """The day rows as they are, without rows of zeros (a case that left a row leaves its zeros behind)."""
    found = CaseDayStat.objects.values_list("area_id", "day", "dimension", "key", *COUNTERS)
    return {row for row in found if any(row[4:])}
