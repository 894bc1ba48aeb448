"""API of cases: intake, lists and the inbox, the detail with its timeline, one POST per workflow action,
the taxonomy and the statistics. Thin: parse, look up what the body names, call one service or selector."""

import datetime as dt

from django.http import HttpResponse
from django.utils import timezone
from ninja import File, Form, Path, Query, Router
from ninja.files import UploadedFile
from ninja.pagination import paginate
from ninja.responses import Status

from gridgov.areas import selectors as area_selectors
from gridgov.cases import selectors, services, workflow
from gridgov.cases.intake import area_named, case_file, category_named, submission_accept, unknown
from gridgov.cases.models import Case, Domain
from gridgov.cases.schemas import (
    MAX_ID,
    CaseCreated,
    CaseCreateIn,
    CaseDetail,
    CaseOut,
    CaseQuery,
    CategoryIn,
    CategoryOut,
    CloseIn,
    DispatchIn,
    DomainOut,
    InboxCountsOut,
    InboxTab,
    MarkedOut,
    MergeIn,
    Note,
    NoteIn,
    NotificationOut,
    NotificationReadIn,
    PhoneOut,
    RateIn,
    StatsOut,
    StatsQuery,
    SubmissionOut,
    SubmissionStatusName,
    SuperviseIn,
    SuspendIn,
    TaxonomyIn,
)
from gridgov.core.errors import NotFound
from gridgov.core.pagination import Counted, Pagination

router = Router(tags=["cases"])

CaseId = Path(..., ge=1, le=MAX_ID, description="the case's id")
FormNote = Form("", description="a note to the files (optional)")


# --- looking up what a body names -----------------------------------------------------------------------


def _domain(code: str | None) -> Domain | None:
    if code is None:
        return None
    domain = selectors.taxonomy().filter(code=code).first()
    if domain is None:
        raise unknown("domain", "Unknown domain.")
    return domain


def _unit_area(case: Case, code: str, field: str):
    try:
        return selectors.dispatch_area(case=case, code=code)
    except NotFound:
        raise unknown(field, "No such area below the case's desk.") from None


def _unit_department(pk: int, field: str, departments: list):
    found = next((d for d in departments if d.pk == pk), None)
    if found is None:
        raise unknown(field, "No such department within the reach of the case's desk.")
    return found


def _search_text(text: str) -> tuple[str, bool]:
    """The search words, and whether they can match at all: a case number is 8 digits of date and the id."""
    text = text.strip()
    if text.isdigit() and len(text) > 8 and selectors.pk_from_number(text) is None:
        return text, False
    return text, True


def _aware(moment: dt.datetime) -> dt.datetime:
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


# --- the detail ------------------------------------------------------------------------------------------


def _detail(request, case: Case) -> Case:
    case.assignment_list = list(selectors.case_assignments(case=case))
    case.attachment_list = list(case.attachments.order_by("created_at", "id"))
    case.timeline = list(selectors.case_timeline(case=case))
    case.action_list = [
        {"verb": t.verb, "endpoint": t.verb.replace("_", "-"), "label": str(t.label), "note_required": t.note_required}
        for t in workflow.allowed_verbs(request.user, case)
    ]
    return case


def _fresh_detail(request, case: Case) -> Case:
    """The case as the caller now sees it. One they just acted on or filed but can no longer see (an
    escalation took it out of their subtree, a hotline call placed it elsewhere) shows as it was saved."""
    try:
        return _detail(request, selectors.case_get(actor=request.user, pk=case.pk))
    except NotFound:
        return _detail(request, case)


# --- intake and reads ----------------------------------------------------------------------------------


@router.post("/cases", response={200: CaseCreated, 201: CaseCreated, 202: SubmissionOut},
             summary="File a case (grid worker, hotline, petition, deputies); a retry with the same client_key "
                     "returns the same case with 200. The answer is the case as lists show it; its detail with "
                     "the timeline is at the Location.",
             description="With the header `Prefer: respond-async` the case is only accepted here and filed in the "
                         "background: the answer is 202 with the submission (its tracking code at once; its status, "
                         "then the case or the error, at the Location: /api/v1/cases/submissions/{id}). A retry with "
                         "the same client_key answers with the same submission.")
def create_case(request, response: HttpResponse, payload: CaseCreateIn):
    if "respond-async" in request.headers.get("Prefer", ""):
        submission = submission_accept(actor=request.user, data=payload.model_dump())
        response["Location"] = f"/api/v1/cases/submissions/{submission.pk}"
        response["Preference-Applied"] = "respond-async"
        return Status(202, submission)
    started = timezone.now()
    case = case_file(actor=request.user, data=payload.model_dump())
    response["Location"] = f"/api/v1/cases/{case.pk}"
    # A retry finds the case filed by an earlier request, so before this one started.
    return Status(200 if case.created_at < started else 201, case)


@router.get("/cases/submissions", response=list[SubmissionOut],
            summary="My cases sent with Prefer: respond-async, newest first (kept 30 days after filing); "
                    "status=refused lists those that could not be filed")
@paginate(Pagination, page_size=50)
def list_submissions(request, status: SubmissionStatusName | None = None):
    return selectors.submissions(actor=request.user, status=status or "")


@router.get("/cases/submissions/{submission_id}", response=SubmissionOut,
            summary="A case accepted with Prefer: respond-async: queued, filed (with the case) or refused (with the "
                    "error a synchronous request would have been answered with)")
def get_submission(request, submission_id: int = Path(..., ge=1, le=MAX_ID, description="the submission's id")):
    return selectors.submission_get(actor=request.user, pk=submission_id)


@router.get("/cases", response=list[CaseOut], summary="The cases I may see, filtered, newest first")
@paginate(Pagination, page_size=50)
def list_cases(request, q: Query[CaseQuery]):
    text, possible = _search_text(q.q)
    filters = selectors.CaseFilters(
        state=list(q.state) or None, domain=_domain(q.domain), category=category_named(q.category),
        area=area_named(request.user, q.area), overdue=q.overdue, channel=q.channel or "", created_from=q.created_from,
        created_to=q.created_to, text=text if possible else "",
    )
    cases = selectors.case_list(actor=request.user, filters=filters)
    return cases if possible else cases.none()


@router.get("/cases/inbox", response=InboxCountsOut, summary="How many cases wait in each tab of my inbox")
def inbox_counts(request):
    return selectors.inbox_counts(actor=request.user)


@router.get("/cases/inbox/{tab}", response=list[CaseOut],
            summary="One tab of my inbox: pending (待受理), todo (待办), done (已办), overdue (超时), "
                    "supervised (督办)")
@paginate(Pagination, page_size=50)
def inbox(request, tab: InboxTab):
    return Counted(selectors.inbox(actor=request.user, tab=tab), selectors.inbox_count(actor=request.user, tab=tab))


@router.get("/cases/stats", response=StatsOut,
            summary="结案率, 按期结案率, 返工率, 满意率 in total and by domain, channel and level resolved")
def stats(request, q: Query[StatsQuery]):
    found = selectors.case_stats(actor=request.user, area=area_named(request.user, q.area), created_from=q.created_from,
                                 created_to=q.created_to)
    return {"total": found["total"][0], "domain": found["domain"], "channel": found["channel"],
            "level": found["level"]}


@router.get("/cases/{case_id}", response=CaseDetail,
            summary="One case with its units, files, timeline and the actions I may take now")
def get_case(request, case_id: int = CaseId):
    return _detail(request, selectors.case_get(actor=request.user, pk=case_id))


@router.post("/cases/{case_id}/reveal-phone", response=PhoneOut, summary="The reporter's full phone number (audited)")
def reveal_phone(request, case_id: int = CaseId):
    case = selectors.case_get(actor=request.user, pk=case_id)
    return {"phone": services.case_reveal_phone(actor=request.user, case=case)}


# --- the workflow: one POST per action -------------------------------------------------------------------


def _done(request, case: Case, verb: str, note: str, params: dict) -> Case:
    acted = services.case_act(actor=request.user, case=case, verb=verb, note=note, **params)
    return _fresh_detail(request, acted)


def _simple(request, case_id: int, verb: str, payload: NoteIn | None) -> Case:
    case = selectors.case_get(actor=request.user, pk=case_id)
    return _done(request, case, verb, payload.note if payload is not None else "", {})


def _taxonomy(payload: TaxonomyIn) -> dict:
    """The optional corrections of an accept, a register or a dispatch, looked up."""
    params = {"category": category_named(payload.category), "urgency": payload.urgency}
    return {k: v for k, v in params.items() if v is not None}


@router.post("/cases/{case_id}/accept", response=CaseDetail, summary="Accept (受理), optionally correcting the "
                                                                      "category and the urgency")
def accept(request, payload: TaxonomyIn | None = None, case_id: int = CaseId):
    case, payload = selectors.case_get(actor=request.user, pk=case_id), payload or TaxonomyIn()
    return _done(request, case, "accept", payload.note, _taxonomy(payload))


@router.post("/cases/{case_id}/refuse", response=CaseDetail, summary="Refuse as invalid (不予受理), with the reason")
def refuse(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "refuse", payload)


@router.post("/cases/{case_id}/register", response=CaseDetail, summary="Register (立案); the deadline starts")
def register(request, payload: TaxonomyIn | None = None, case_id: int = CaseId):
    case, payload = selectors.case_get(actor=request.user, pk=case_id), payload or TaxonomyIn()
    return _done(request, case, "register", payload.note, _taxonomy(payload))


@router.post("/cases/{case_id}/self-handle", response=CaseDetail,
             summary="Handle my own grid report directly (直办)")
def self_handle(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "self_handle", payload)


def _dispatch(request, case_id: int, verb: str, payload: DispatchIn) -> Case:
    case = selectors.case_get(actor=request.user, pk=case_id)
    params = _taxonomy(payload)
    departments = []
    if payload.target_department is not None or payload.assist_departments:
        departments = selectors.dispatch_units(case=case)[1]
    params["target_area"] = (_unit_area(case, payload.target_area, "target_area")
                             if payload.target_area is not None else None)
    params["target_department"] = (_unit_department(payload.target_department, "target_department", departments)
                                   if payload.target_department is not None else None)
    params["assist_areas"] = [_unit_area(case, code, "assist_areas") for code in payload.assist_areas]
    params["assist_departments"] = [_unit_department(pk, "assist_departments", departments)
                                    for pk in payload.assist_departments]
    return _done(request, case, verb, payload.note, params)


@router.post("/cases/{case_id}/dispatch", response=CaseDetail,
             summary="Dispatch (派遣) to one lead unit (an area below the desk or a department), with assisting units")
def dispatch(request, payload: DispatchIn, case_id: int = CaseId):
    return _dispatch(request, case_id, "dispatch", payload)


@router.post("/cases/{case_id}/reassign", response=CaseDetail, summary="Reassign (改派) to another unit, with "
                                                                        "the reason")
def reassign(request, payload: DispatchIn, case_id: int = CaseId):
    return _dispatch(request, case_id, "reassign", payload)


@router.post("/cases/{case_id}/start", response=CaseDetail, summary="Take the case on (签收)")
def start(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "start", payload)


@router.post("/cases/{case_id}/send-back", response=CaseDetail,
             summary="Send it back to the dispatcher (退回), with the reason")
def send_back(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "send_back", payload)


@router.post("/cases/{case_id}/escalate", response=CaseDetail,
             summary="Escalate to the level above (上报), with the reason")
def escalate(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "escalate", payload)


@router.post("/cases/{case_id}/assist-report", response=CaseDetail,
             summary="Report back as an assisting unit (协办反馈)")
def assist_report(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "assist_report", payload)


@router.post("/cases/{case_id}/report", response=CaseDetail, summary="Report done (反馈), with what was done")
def report(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "report", payload)


@router.post("/cases/{case_id}/rework", response=CaseDetail, summary="Send back for rework (返工), with the reason")
def rework(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "rework", payload)


@router.post("/cases/{case_id}/close", response=CaseDetail,
             summary="Verify and close (核查结案): fixed, or closed not fixed with the reason")
def close(request, payload: CloseIn | None = None, case_id: int = CaseId):
    case, payload = selectors.case_get(actor=request.user, pk=case_id), payload or CloseIn()
    return _done(request, case, "close", payload.note, {"outcome": payload.outcome})


@router.post("/cases/{case_id}/rate", response=CaseDetail, summary="Record the reporter's rating (回访评价)")
def rate(request, payload: RateIn, case_id: int = CaseId):
    case = selectors.case_get(actor=request.user, pk=case_id)
    return _done(request, case, "rate", payload.note, {"rating": payload.rating})


@router.post("/cases/{case_id}/reopen", response=CaseDetail, summary="Reopen a case rated unsatisfied")
def reopen(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "reopen", payload)


@router.post("/cases/{case_id}/urge", response=CaseDetail, summary="Urge (催办)")
def urge(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "urge", payload)


@router.post("/cases/{case_id}/supervise", response=CaseDetail,
             summary="Supervise formally (督办), with the time by which the unit must report")
def supervise(request, payload: SuperviseIn, case_id: int = CaseId):
    case = selectors.case_get(actor=request.user, pk=case_id)
    return _done(request, case, "supervise", payload.note, {"deadline_at": _aware(payload.deadline_at)})


@router.post("/cases/{case_id}/supervision-report", response=CaseDetail, summary="Report to the supervisor")
def supervision_report(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "supervision_report", payload)


@router.post("/cases/{case_id}/suspend", response=CaseDetail,
             summary="Suspend (挂起), with the reason and the date of review")
def suspend(request, payload: SuspendIn, case_id: int = CaseId):
    case = selectors.case_get(actor=request.user, pk=case_id)
    return _done(request, case, "suspend", payload.note, {"review_on": payload.review_on})


@router.post("/cases/{case_id}/resume", response=CaseDetail, summary="Resume a suspended case")
def resume(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "resume", payload)


@router.post("/cases/{case_id}/merge", response=CaseDetail,
             summary="Merge into the case it duplicates; its reporter follows the original")
def merge(request, payload: MergeIn, case_id: int = CaseId):
    case = selectors.case_get(actor=request.user, pk=case_id)
    number = payload.duplicate_of
    if int(number[8:]) > MAX_ID:
        raise unknown("duplicate_of", "No such case.")
    try:
        original = selectors.case_get_by_number(actor=request.user, number=number)
    except NotFound:
        raise unknown("duplicate_of", "No such case.") from None
    return _done(request, case, "merge", payload.note, {"duplicate_of": original})


@router.post("/cases/{case_id}/comment", response=CaseDetail, summary="Add a note to the timeline")
def comment(request, payload: NoteIn | None = None, case_id: int = CaseId):
    return _simple(request, case_id, "comment", payload)


@router.post("/cases/{case_id}/attach", response=CaseDetail,
             summary="Add photos or files (补充照片) to the timeline: multipart/form-data with one or more `files` "
                     "(JPEG, PNG or WebP photos, PDF documents) and an optional `note`",
             description="The only action endpoint that takes multipart form data; the others take JSON. A refused "
                         "file refuses the whole action: nothing is saved. The files show in the answer's "
                         "`attachments` and under the action in its `timeline`.")
def attach(request, files: File[list[UploadedFile]], note: Note = FormNote, case_id: int = CaseId):
    case = selectors.case_get(actor=request.user, pk=case_id)
    return _done(request, case, "attach", note, {"uploads": files})


# --- notifications ------------------------------------------------------------------------------------


@router.get("/notifications", response=list[NotificationOut], summary="My unread notices, newest first")
@paginate(Pagination, page_size=50)
def notifications(request):
    return selectors.notifications_unread(actor=request.user)


@router.post("/notifications/read", response=MarkedOut, summary="Mark my notices read (the ones given, or all)")
def notifications_read(request, payload: NotificationReadIn):
    return {"marked": services.notification_mark_read(actor=request.user, pks=payload.ids)}


# --- the taxonomy -------------------------------------------------------------------------------------


@router.get("/case-domains", response=list[DomainOut],
            summary="The eight domains (八抓八防) with their categories: deadline, urgency, on-site visit")
def case_domains(request):
    return selectors.taxonomy()


@router.put("/case-categories/{code}", response=CategoryOut,
            summary="Create or change a category (system administrator)")
def put_category(request, code: str, payload: CategoryIn):
    domain = _domain(payload.domain)
    level = None
    if payload.default_level is not None:
        level = area_selectors.level_list().filter(name=payload.default_level).first()
        if level is None:
            raise unknown("default_level", "Unknown area level.")
    category = services.category_save(
        actor=request.user, domain=domain, code=code, name=payload.name, urgency=payload.urgency,
        deadline_days=payload.deadline_days, deadline_hours=payload.deadline_hours,
        onsite_required=payload.onsite_required, default_level=level, active=payload.active,
    )
    return category
