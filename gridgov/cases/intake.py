"""Filing a case from what an API client sent, at once or later.

``case_file`` looks up what the body names (category, area, household, person) as the actor may see them, then calls
``services.case_create``. The synchronous ``POST /api/v1/cases`` and the submissions filed in the background both go
through it, so that a case filed later is checked, placed and refused exactly like one filed at once.

``submission_accept`` is the asynchronous door (``Prefer: respond-async``, RFC 7240). It checks only what costs no
lookup, that the actor may file cases at all, writes one ``CaseSubmission`` row and answers. ``submission_file``
files a row: after the commit ``wake`` queues a huey task that files until nothing is left (at most a few such
tasks a second per process, however many requests come), and a task every minute files what a stopped consumer left.
A burst of reports (a storm, a video system's alarms, a hotline's backlog) is then taken at the rate of one insert
and filed as fast as the workers go.
"""

from __future__ import annotations

import datetime as dt
import time
from contextlib import nullcontext

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm, scope_for
from gridgov.cases import selectors, services
from gridgov.cases.models import Case, CaseSubmission, Category, Notification, SubmissionStatus
from gridgov.core import crypto
from gridgov.core.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied
from gridgov.registry import selectors as registry_selectors

# --- what a body names ------------------------------------------------------------------------------------------


def unknown(field: str, message: str) -> ApplicationError:
    return ApplicationError(ErrorCode.INVALID_INPUT, message, fields={field: [message]}, status=422)


def absent(field: str, message: str) -> ApplicationError:
    """Something named by the body that the caller cannot see: 404, as if absent, with the field."""
    return ApplicationError(ErrorCode.NOT_FOUND, message, fields={field: [message]}, status=404)


def category_named(code: str | None, field: str = "category") -> Category | None:
    if code is None:
        return None
    category = selectors.categories_active().filter(code=code).first()
    if category is None:
        raise unknown(field, "Unknown or retired category.")
    return category


def area_named(actor, code: str | None, field: str = "area"):
    if code is None:
        return None
    try:
        return area_selectors.area_get(actor=actor, code=code, perm=Perm.CASE_VIEW)
    except NotFound:
        raise absent(field, "No such area.") from None


def looked_up(getter, field: str, **kwargs):
    try:
        return getter(**kwargs)
    except NotFound as exc:
        raise absent(field, exc.message) from None


# --- filing ------------------------------------------------------------------------------------------------------


def case_file(*, actor, data: dict, tracking_code: str | None = None, at: dt.datetime | None = None) -> Case:
    """File the case a body (``schemas.CaseCreateIn`` as a dict) describes, for ``actor``."""
    household = (
        looked_up(registry_selectors.household_get, "household_id", actor=actor, pk=data["household_id"])
        if data.get("household_id")
        else None
    )
    person = (
        looked_up(registry_selectors.person_get, "person_id", actor=actor, pk=data["person_id"])
        if data.get("person_id")
        else None
    )
    return services.case_create(
        actor=actor,
        channel=data["channel"],
        description=data["description"],
        title=data.get("title", ""),
        category=category_named(data.get("category")),
        urgency=data.get("urgency"),
        area=area_named(actor, data.get("area")),
        lng=data.get("lng"),
        lat=data.get("lat"),
        address=data.get("address", ""),
        reporter_name=data.get("reporter_name", ""),
        reporter_phone=data.get("reporter_phone", ""),
        household=household,
        person=person,
        client_key=data.get("client_key"),
        handle_directly=data.get("handle_directly", False),
        tracking_code=tracking_code,
        at=at,
    )


def submission_accept(*, actor, data: dict) -> CaseSubmission:
    """Take a case for filing later. A retry with the same client key answers with the first submission."""
    if scope_for(actor, Perm.CASE_REPORT).is_empty:
        raise PermissionDenied(_("You may not file cases."))
    data = dict(data)
    phone = (data.pop("reporter_phone", "") or "").strip()
    submission = CaseSubmission(
        actor=actor,
        client_key=data.get("client_key"),
        tracking_code=services.new_tracking_code(),
        data=data,
        reporter_phone_sealed=crypto.encrypt(phone) if phone else "",
    )
    try:
        # Outside a transaction the insert is one statement of its own (no BEGIN and COMMIT around it), and a
        # refused one leaves nothing to roll back; inside one, a savepoint keeps the transaction usable.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            submission.save()
    except IntegrityError:
        existing = CaseSubmission.objects.filter(actor=actor, client_key=submission.client_key).first()
        if existing is None:
            raise
        return existing
    transaction.on_commit(wake)
    return submission


# While submissions stream in, each process wakes the consumer at most this often (seconds): a task at once, then
# one more at the end of the interval for what came in the meantime. Each task files until nothing is queued.
WAKE_EVERY = 0.25
_woken = {"next": 0.0, "trailing": 0.0}  # monotonic times, this process


def wake() -> None:
    """Have the queued submissions filed, with a huey task now or at the end of this process's wake interval."""
    from gridgov.cases.tasks import file_queued_submissions

    now = time.monotonic()
    if now >= _woken["next"] or file_queued_submissions.huey.immediate:  # immediate: no consumer, run it now
        _woken["next"] = now + WAKE_EVERY
        file_queued_submissions()
    elif _woken["trailing"] != _woken["next"]:
        _woken["trailing"] = _woken["next"]
        file_queued_submissions.schedule(delay=_woken["next"] - now)


def submission_file(*, received_before: dt.datetime | None = None) -> CaseSubmission | None:
    """File the oldest queued submission no other worker holds (received before ``received_before`` if given):
    the case, or the error a synchronous request would have been answered with. None when none is left."""
    queued = CaseSubmission.objects.filter(status=SubmissionStatus.QUEUED).order_by("received_at", "pk")
    if received_before is not None:
        queued = queued.filter(received_at__lt=received_before)
    with transaction.atomic():
        # The submission's row alone: locking the actor's row too would make a second worker skip every other
        # submission of the same reporter.
        submission = (
            queued.select_for_update(skip_locked=True, of=("self",)).select_related("actor", "actor__staff").first()
        )
        if submission is None:
            return None
        data = dict(submission.data)
        if submission.reporter_phone_sealed:
            data["reporter_phone"] = crypto.decrypt(submission.reporter_phone_sealed)
        try:
            with transaction.atomic():
                case = case_file(
                    actor=submission.actor, data=data, tracking_code=submission.tracking_code, at=submission.received_at
                )
        except ApplicationError as exc:
            submission.status = SubmissionStatus.REFUSED
            submission.error = {
                "status": exc.status,
                "code": exc.code,
                "message": exc.message,
                "fields": {k: [str(m) for m in v] for k, v in exc.fields.items()},
            }
            # Nobody may be polling the status: the reporter hears of it in the inbox too.
            Notification.objects.create(user_id=submission.actor_id, message=(
                _("A case you sent for filing in the background was not filed: %(message)s")
                % {"message": _(exc.message)})[:255])  # some services' messages are plain English
        else:
            submission.status = SubmissionStatus.FILED
            submission.case = case
        submission.filed_at = timezone.now()
        submission.reporter_phone_sealed = ""  # the case keeps it now, or nobody does
        submission.save(update_fields=["status", "error", "case", "filed_at", "reporter_phone_sealed"])
    return submission


def submissions_file_queued(*, older_than: dt.timedelta | None = None, limit: int = 10_000,
                            rest: float = 0.0) -> int:
    """File queued submissions, oldest first, until none is left (or ``limit``; with ``older_than``, only those
    received longer ago). Workers doing this at once take different rows. How many were filed or refused.

    With ``rest``, while submissions keep coming (one received within the last second), the worker rests after
    each filing ``rest`` times as long as the filing took: in a burst the database serves the requests first and
    the filing catches up once it is over (the consumer's nice level does not reach the database's processes)."""
    before = timezone.now() - older_than if older_than is not None else None
    done = 0
    while done < limit:
        started = time.monotonic()
        if submission_file(received_before=before) is None:
            break
        done += 1
        if rest and submissions_coming():
            time.sleep((time.monotonic() - started) * rest)
    return done


def submissions_coming(within: dt.timedelta = dt.timedelta(seconds=1)) -> bool:
    """Whether a submission still queued was received within ``within`` (the partial index of queued rows)."""
    return CaseSubmission.objects.filter(status=SubmissionStatus.QUEUED,
                                         received_at__gte=timezone.now() - within).exists()


def submissions_prune(*, keep: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Forget the submissions filed or refused longer than ``keep`` ago (a retry with the same key still finds the
    case by its key); queued ones stay."""
    deleted, _rows = (CaseSubmission.objects.exclude(status=SubmissionStatus.QUEUED)
                      .filter(filed_at__lt=timezone.now() - keep).delete())
    return deleted
