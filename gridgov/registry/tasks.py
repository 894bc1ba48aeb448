"""Background work of the registry (huey): importing an uploaded file of residents; the nightly colours."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from gridgov.registry.importer import import_job_run
from gridgov.registry.services import households_reclassify


@db_task()
def run_import_job(job_id: int) -> None:
    """Checks and imports the file of an ImportJob; progress, counts and the report end up on the job."""
    import_job_run(job_id=job_id)


@db_periodic_task(crontab(hour="2", minute="30"))
def reclassify_households() -> None:
    """The nightly batch (三色): every household re-evaluated under the rules in force, expired manual
    colours returned to the rules."""
    households_reclassify(actor="nightly classification")
