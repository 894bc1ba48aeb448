"""API of visits (走访): the current worker's due list, recording visits (idempotent by the client's ID),
corrections, photos, cases from findings, a household's visits, completion statistics and the visit rules.
Thin: parse, call one service or selector, return."""

import datetime as dt

from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from ninja import File, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import paginate
from ninja.responses import Status

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm
from gridgov.core.errors import ApplicationError, ErrorCode
from gridgov.core.pagination import Pagination
from gridgov.visits import selectors, services
from gridgov.visits.schemas import (
    CorrectionIn,
    DueListOut,
    FindingCaseIn,
    FindingCaseResult,
    PhotoOut,
    PolicyIn,
    PolicyOut,
    StatsOut,
    VisitDetail,
    VisitIn,
    VisitOut,
)

router = Router(tags=["visits"])


def _duty(state, reason) -> dict:
    return {"duty": state.duty, "every_days": state.every_days, "reason": reason, "due_date": state.due_date,
            "days_left": state.days_left, "status": str(state.status), "last_visit": state.last_visit}


def due_payload(due) -> dict:
    """The due list as the API (and the day list's JSON) gives it."""
    return {
        "policy": due.policy.name,
        "onsite": [{"case_id": r.case.pk, "case_number": r.case.number, "title": r.case.title,
                    "category": r.case.category.name if r.case.category else "", "grid_code": r.case.area.code,
                    "household_id": r.case.household_id, "created_at": r.case.created_at, "due_at": r.due_at,
                    "overdue": r.overdue} for r in due.onsite],
        "households": [{"household_id": r.household.pk, "number": r.household.number,
                        "address": r.household.address, "colour": r.household.household_class,
                        "grid_code": r.household.area.code, "status": str(r.status), "due_date": r.due.due_date,
                        "days_left": r.due.days_left, "duty": r.due.duty, "reason": r.reason,
                        "duties": [_duty(s, reason) for s, reason in r.states]} for r in due.households],
        "counts": {str(k): v for k, v in due.counts.items()},
    }


def _detail(request, visit):
    visit.photo_list = [{"id": p.pk, "url": reverse("api:visit_photo", args=[p.pk]), "content_type": p.content_type,
                         "size": p.size, "width": p.width, "height": p.height} for p in visit.photos.all()]
    visit.finding_case_list = [{"finding": f.finding, "case_id": f.case_id} for f in visit.finding_cases.all()]
    return visit


def _fields(payload) -> dict:
    return payload.dict(exclude={"uuid", "household_id", "case_id", "withdrawn"})


@router.get("/visits/due", response=DueListOut, summary="My due list: compulsory visits, overdue, today, this week")
def due(request, all: bool = False):  # noqa: A002  (the query parameter's name)
    return due_payload(selectors.due_list(actor=request.user, horizon=None if all else 6))


@router.post("/visits", response={200: VisitDetail, 201: VisitDetail},
             summary="Record a visit (idempotent: the same uuid and visit again returns the first record)")
def create_visit(request, payload: VisitIn):
    household = selectors.household_get(actor=request.user, pk=payload.household_id) if payload.household_id \
        else None
    case = selectors.case_get(actor=request.user, pk=payload.case_id) if payload.case_id else None
    visit, created = services.visit_create(actor=request.user, uuid=payload.uuid, household=household, case=case,
                                           **_fields(payload))
    return Status(201 if created else 200, _detail(request, selectors.visit_get(actor=request.user, pk=visit.pk)))


class StatsQuery(Schema):
    area: str
    start: dt.date | None = None
    end: dt.date | None = None
    group: str = "child"


@router.get("/visits/stats", response=StatsOut, summary="Completion of due visits by area and period")
def stats(request, q: Query[StatsQuery]):
    area = area_selectors.area_get(actor=request.user, code=q.area, perm=Perm.VISIT_VIEW)
    if q.group not in ("child", "grid", "worker"):
        raise ApplicationError(ErrorCode.INVALID_INPUT, "group is child, grid or worker.",
                               fields={"group": ["child, grid or worker"]})
    today = timezone.localdate()
    start = q.start or today.replace(day=1)
    end = q.end or today
    result = selectors.completion_stats(actor=request.user, area=area, start=start, end=end, group=q.group)
    return {"area_code": area.code, "start": result.start, "end": result.end, "policy": result.policy.name,
            "total": stats_row(result.total), "rows": [stats_row(r) for r in result.rows]}


def stats_row(row) -> dict:
    return {"code": row.area.code if row.area is not None else None,
            "name": row.area.name if row.area is not None else row.key, "households": row.households,
            "expected": row.expected, "done": row.done, "rate": row.rate, "helper_expected": row.helper_expected,
            "helper_done": row.helper_done, "helper_rate": row.helper_rate, "visits": row.visits,
            "visited_households": row.visited_households, "worker": row.worker, "worker_b": row.worker_b}


@router.get("/visits/policy", response=PolicyOut, summary="The visit rules in force")
def get_policy(request):
    return selectors.policy_in_force()


@router.post("/visits/policy", response={201: PolicyOut}, summary="Put visit rules in force (system administrator)")
def set_policy(request, payload: PolicyIn):
    return Status(201, services.visit_policy_set(actor=request.user, **payload.dict()))


@router.get("/visits/photos/{photo_id}", url_name="visit_photo", response={200: None},
            summary="A photo of a visit (the image itself)")
def photo(request, photo_id: int):
    item = selectors.photo_get(actor=request.user, pk=photo_id)
    return FileResponse(item.file.open("rb"), content_type=item.content_type)


@router.get("/visits/{visit_id}", response=VisitDetail, summary="One visit with its photos and the cases it opened")
def get_visit(request, visit_id: int):
    return _detail(request, selectors.visit_get(actor=request.user, pk=visit_id))


@router.post("/visits/{visit_id}/corrections", response={200: VisitDetail, 201: VisitDetail},
             summary="Correct a visit: a new record linked to it (idempotent by uuid); withdrawn: it did not happen")
def correct_visit(request, visit_id: int, payload: CorrectionIn):
    original = selectors.visit_get(actor=request.user, pk=visit_id)
    if payload.withdrawn:
        visit, created = services.visit_withdraw(actor=request.user, original=original, uuid=payload.uuid,
                                                 note=payload.note)
    else:
        visit, created = services.visit_correct(actor=request.user, original=original, uuid=payload.uuid,
                                                **_fields(payload))
    return Status(201 if created else 200, _detail(request, selectors.visit_get(actor=request.user, pk=visit.pk)))


@router.post("/visits/{visit_id}/photos", response={200: PhotoOut, 201: PhotoOut},
             summary="Add a photo to one's visit (JPEG, PNG or WebP; the same photo twice is kept once)")
def add_photo(request, visit_id: int, file: File[UploadedFile]):
    visit = selectors.visit_get(actor=request.user, pk=visit_id)
    item, created = services.visit_photo_add(actor=request.user, visit=visit, upload=file)
    return Status(201 if created else 200, {"id": item.pk, "url": reverse("api:visit_photo", args=[item.pk]),
                                            "content_type": item.content_type, "size": item.size,
                                            "width": item.width, "height": item.height})


@router.post("/visits/{visit_id}/findings/{finding}/case", response={200: FindingCaseResult, 201: FindingCaseResult},
             summary="Open a case from a finding of the visit, prefilled (once per finding)")
def finding_case(request, visit_id: int, finding: str, payload: FindingCaseIn):
    visit = selectors.visit_get(actor=request.user, pk=visit_id)
    category = selectors.category_get(code=payload.category) if payload.category else None
    case, created = services.finding_case_open(actor=request.user, visit=visit, finding=finding, title=payload.title,
                                               description=payload.description, category=category)
    return Status(201 if created else 200, {"case_id": case.pk, "tracking_code": case.tracking_code,
                                            "created": created})


@router.get("/households/{household_id}/visits", response=list[VisitOut], summary="A household's visits, newest first")
@paginate(Pagination, page_size=50)
def household_visits(request, household_id: int):
    household = selectors.household_get(actor=request.user, pk=household_id)
    return selectors.visit_list(actor=request.user, household=household)
