"""Rows derived from the cases, kept so that the inbox reads few rows: who may see a case (``CaseReach``) and who
acted on it (``CaseParticipant``).

The services keep them with every change (``reach_sync``, ``participant_touch``); ``rebuild`` writes them anew
from the cases, their assignments and their timelines, in one statement per table: after a bulk load (the demo),
by the migration that added them, and by ``gridgov cases-rebuild`` if they were ever doubted.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

from gridgov.cases.models import OPEN_STATES, Case, CaseAssignment, CaseParticipant, CaseReach


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
    """Writes every reach and participant row anew from the cases; returns how many of each."""
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
    return {"reach": reach, "participants": participants}
