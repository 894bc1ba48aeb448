"""Background work of cases (huey): filing the submissions accepted for later, the deadline sweep, the nightly
rebuild of the rows derived from the cases, the nightly prune of intake rows."""

import datetime as dt

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from gridgov.cases import derived, intake
from gridgov.cases.services import cases_sweep_deadlines
from gridgov.cases.webhooks import webhook_deliveries_prune

# In a burst a consumer's worker rests this many times as long as each filing took (``submissions_file_queued``).
BURST_REST = 3.0


@db_task()
def file_queued_submissions() -> int:
    """File the submissions accepted with ``Prefer: respond-async`` until none is queued (``intake.wake``),
    giving way to the requests while a burst lasts (not when tasks run within the request, as in tests)."""
    return intake.submissions_file_queued(rest=0.0 if file_queued_submissions.huey.immediate else BURST_REST)


@db_periodic_task(crontab(minute="*"))
def file_left_submissions() -> int:
    """Every minute: file the submissions still queued a minute after they came (a consumer was down)."""
    return intake.submissions_file_queued(older_than=dt.timedelta(minutes=1))


@db_periodic_task(crontab(minute="*/15"))
def sweep_case_deadlines() -> dict[str, int]:
    """Every quarter of an hour: warn before the deadline, urge the day after it, escalate what is still overdue
    after the grace. Each step shows in the case's timeline."""
    return cases_sweep_deadlines()


@db_periodic_task(crontab(hour="3", minute="10"))
def rebuild_case_rows() -> dict[str, int]:
    """Every night: the day rows of the statistics written anew, so that they follow the area tree by the next day
    (a village moved to another town counts there; the services keep the rows as cases change). The reach and
    participant rows do not depend on the tree's shape: rewriting them (minutes at 500,000 cases, with their rows
    locked) is left to ``gridgov cases-rebuild``."""
    return {"day_stats": derived.day_stats_rebuild()}


@db_periodic_task(crontab(hour="3", minute="40"))
def prune_intake_rows() -> dict[str, int]:
    """Every night: forget webhook signatures too old to be replayed (a replay is refused as stale anyway) and the
    submissions filed or refused more than 30 days ago."""
    return {"webhook_deliveries": webhook_deliveries_prune(), "submissions": intake.submissions_prune()}
