"""Background work of cases (huey): the deadline sweep."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from gridgov.cases.services import cases_sweep_deadlines


@db_periodic_task(crontab(minute="*/15"))
def sweep_case_deadlines() -> dict[str, int]:
    """Every quarter of an hour: warn before the deadline, urge the day after it, escalate what is still overdue
    after the grace. Each step shows in the case's timeline."""
    return cases_sweep_deadlines()
