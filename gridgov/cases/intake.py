"""Filing a case from what an API client sent, at once or later.

``case_file`` looks up what the body names (category, area, household, person) as the actor may see them, then calls
``services.case_create``. The synchronous ``POST /api/v1/cases`` and the submissions filed in the background both go
through it, so that a case filed later is checked, placed and refused exactly like one filed at once.

``submission_accept`` is the asynchronous door (``Prefer: respond-async``, RFC 7240). It checks only what costs no
lookup, that the actor may file cases at all, writes one ``CaseSubmission`` row and answers. ``submission_file``
files the row: a huey task runs it after the commit, and a task every minute files what a stopped consumer left.
A burst of reports (a storm, a video system's alarms, a hotline's backlog) is then taken at the rate of one insert
and filed as fast as the workers go.
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm, scope_for
from gridgov.cases import selectors, services
from gridgov.cases.models import Case, CaseSubmission, Category, SubmissionStatus
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
    from gridgov.cases.tasks import file_case_submission

    transaction.on_commit(lambda: file_case_submission(submission.pk))
    return submission


def submission_file(pk: int) -> CaseSubmission | None:
    """File one queued submission: the case, or the error a synchronous request would have been answered with.
    None when it is not queued (filed already, or being filed by another worker)."""
    with transaction.atomic():
        # The submission's row alone: locking the actor's row too would make a second worker skip every other
        # submission of the same reporter.
        submission = (
            CaseSubmission.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("actor")
            .filter(pk=pk, status=SubmissionStatus.QUEUED)
            .first()
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
        else:
            submission.status = SubmissionStatus.FILED
            submission.case = case
        submission.filed_at = timezone.now()
        submission.reporter_phone_sealed = ""  # the case keeps it now, or nobody does
        submission.save(update_fields=["status", "error", "case", "filed_at", "reporter_phone_sealed"])
    return submission


def submissions_file_left(*, older_than: dt.timedelta = dt.timedelta(minutes=1), limit: int = 10_000) -> int:
    """File the submissions still queued after ``older_than`` (their task was lost, or no consumer ran)."""
    left = (
        CaseSubmission.objects.filter(status=SubmissionStatus.QUEUED, received_at__lt=timezone.now() - older_than)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in list(left) if submission_file(pk) is not None)


def submissions_prune(*, keep: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Forget the submissions filed or refused longer than ``keep`` ago (a retry with the same key still finds the
    case by its key); queued ones stay."""
    deleted, _rows = (CaseSubmission.objects.exclude(status=SubmissionStatus.QUEUED)
                      .filter(filed_at__lt=timezone.now() - keep).delete())
    return deleted
