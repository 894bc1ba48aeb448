"""Input and output shapes of the cases API. Validation of meaning stays in the services; here only types,
bounds the database can hold, and no NUL characters (PostgreSQL cannot store them in text)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel

from gridgov.cases.models import OPEN_STATES

MAX_ID = 2**63 - 1  # the largest primary key every database holds
MIN_YEAR, MAX_YEAR = 2000, 2199  # the years the working-day calendar covers


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _calendar_year(value: dt.date) -> dt.date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Code = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Day = Annotated[dt.date, AfterValidator(_calendar_year)]
Moment = Annotated[dt.datetime, AfterValidator(_calendar_year)]
Note = Annotated[str, Field(max_length=5000), AfterValidator(_no_nul)]

StaffChannel = Literal["grid_worker", "hotline", "petition", "deputies"]
ChannelName = Literal["grid_worker", "hotline", "self_report", "petition", "deputies", "video_ai", "open311"]
StateName = Literal["submitted", "accepted", "registered", "dispatched", "handling", "reported", "suspended",
                    "closed", "refused", "merged"]
UrgencyName = Literal["normal", "urgent", "critical"]
OutcomeName = Literal["fixed", "not_responsible", "cannot_fix", "duplicate", "referred"]
RatingName = Literal["satisfied", "basically", "unsatisfied"]
InboxTab = Literal["pending", "todo", "done", "overdue", "supervised"]
SubmissionStatusName = Literal["queued", "filed", "refused"]


# --- input ---------------------------------------------------------------------------------------------


class CaseCreateIn(BaseModel):
    """A case filed by staff: a grid worker's report, or one taken by the hotline, a petition office or a
    deputies' office. Give the place as an area code, as a point (WGS-84), or not at all (the reporter's own
    grid, or the county centre for triage)."""

    # A plain pydantic model, not a ninja Schema: a body is a JSON object, never a model instance, and the
    # intake's hottest path then skips ninja's attribute getter (about 60 µs of a request's 2–3 ms).

    channel: StaffChannel
    description: Annotated[str, Field(min_length=1, max_length=5000), AfterValidator(_no_nul)]
    title: Annotated[str, Field(max_length=120), AfterValidator(_no_nul)] = ""
    category: Code | None = None
    urgency: UrgencyName | None = None
    area: Code | None = None
    lng: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    address: Annotated[str, Field(max_length=200), AfterValidator(_no_nul)] = ""
    reporter_name: Annotated[str, Field(max_length=50), AfterValidator(_no_nul)] = ""
    reporter_phone: Annotated[str, Field(max_length=20), AfterValidator(_no_nul)] = ""
    household_id: Id | None = None
    person_id: Id | None = None
    client_key: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)] | None = None
    handle_directly: bool = False


class CaseQuery(Schema):
    state: list[StateName] = Field(default_factory=list, max_length=10)
    domain: Code | None = None
    category: Code | None = None
    area: Code | None = Field(None, description="an area code: the cases placed in its subtree")
    overdue: bool | None = None
    channel: ChannelName | None = None
    created_from: Day | None = None
    created_to: Day | None = Field(None, description="inclusive")
    q: Annotated[str, Field(max_length=100), AfterValidator(_no_nul)] = Field(
        "", description="words of the title, a tracking code or a case number")


class StatsQuery(Schema):
    area: Code | None = None
    created_from: Day | None = None
    created_to: Day | None = None


class NoteIn(Schema):
    note: Note = ""


class TaxonomyIn(NoteIn):
    """Accept or register, optionally correcting the category and the urgency."""

    category: Code | None = None
    urgency: UrgencyName | None = None


class DispatchIn(TaxonomyIn):
    """The lead unit (an area code under the desk, or a department id) and any assisting units (协办)."""

    target_area: Code | None = None
    target_department: Id | None = None
    assist_areas: list[Code] = Field(default_factory=list, max_length=20)
    assist_departments: list[Id] = Field(default_factory=list, max_length=20)


class CloseIn(NoteIn):
    outcome: OutcomeName = "fixed"


class RateIn(NoteIn):
    rating: RatingName


class SuperviseIn(NoteIn):
    deadline_at: Moment = Field(..., description="the time by which the unit must report (local time if no offset)")


class SuspendIn(NoteIn):
    review_on: Day


class MergeIn(NoteIn):
    duplicate_of: Annotated[str, Field(pattern=r"^[0-9]{9,27}$")] = Field(
        ..., description="the number of the original case")


class NotificationReadIn(Schema):
    ids: list[Id] | None = Field(None, max_length=1000, description="the notices to mark read; none: all of mine")


class CategoryIn(Schema):
    domain: Code
    name: Annotated[str, Field(min_length=1, max_length=60), AfterValidator(_no_nul)]
    urgency: UrgencyName = "normal"
    deadline_days: Annotated[int, Field(ge=0, le=365)] | None = None
    deadline_hours: Annotated[int, Field(ge=1, le=720)] | None = None
    onsite_required: bool = False
    default_level: Code | None = Field(None, description="the name of an area level")
    active: bool = True


# --- output --------------------------------------------------------------------------------------------


def _code(obj, name: str) -> str | None:
    related = getattr(obj, name)
    return related.code if related is not None else None


def _name(obj, name: str) -> str | None:
    related = getattr(obj, name)
    return related.name if related is not None else None


class CaseOut(Schema):
    """A case as lists show it."""

    id: int
    number: str
    title: str
    state: str
    state_label: str
    channel: str
    urgency: str
    domain: str | None
    category: str | None
    category_name: str | None
    area_code: str
    area_name: str
    desk_code: str
    desk_name: str
    holder_area_code: str | None
    holder_area_name: str | None
    holder_department_id: int | None
    holder_department_name: str | None
    mode: str
    deadline_at: dt.datetime | None
    overdue: bool
    supervised: bool
    urge_count: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_state_label(obj) -> str:
        return str(obj.get_state_display())

    @staticmethod
    def resolve_domain(obj) -> str | None:
        return _code(obj, "domain")

    @staticmethod
    def resolve_category(obj) -> str | None:
        return _code(obj, "category")

    @staticmethod
    def resolve_category_name(obj) -> str | None:
        return _name(obj, "category")

    @staticmethod
    def resolve_area_code(obj) -> str:
        return obj.area.code

    @staticmethod
    def resolve_area_name(obj) -> str:
        return obj.area.name

    @staticmethod
    def resolve_desk_code(obj) -> str:
        return obj.desk_area.code

    @staticmethod
    def resolve_desk_name(obj) -> str:
        return obj.desk_area.name

    @staticmethod
    def resolve_holder_area_code(obj) -> str | None:
        return _code(obj, "holder_area")

    @staticmethod
    def resolve_holder_area_name(obj) -> str | None:
        return _name(obj, "holder_area")

    @staticmethod
    def resolve_holder_department_name(obj) -> str | None:
        return _name(obj, "holder_department")

    @staticmethod
    def resolve_overdue(obj) -> bool:
        return obj.is_overdue

    @staticmethod
    def resolve_supervised(obj) -> bool:
        return obj.state in OPEN_STATES and obj.supervision_deadline_at is not None


class AssignmentOut(Schema):
    role: str
    area_code: str | None
    area_name: str | None
    department_id: int | None
    department_name: str | None
    active: bool
    created_at: dt.datetime
    reported_at: dt.datetime | None
    report: str

    @staticmethod
    def resolve_area_code(obj) -> str | None:
        return _code(obj, "area")

    @staticmethod
    def resolve_area_name(obj) -> str | None:
        return _name(obj, "area")

    @staticmethod
    def resolve_department_name(obj) -> str | None:
        return _name(obj, "department")


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    url: str
    thumbnail_url: str | None
    taken_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_url(obj) -> str:
        return obj.file.url

    @staticmethod
    def resolve_thumbnail_url(obj) -> str | None:
        return obj.thumbnail.url if obj.thumbnail else None


class TimelineOut(Schema):
    id: int
    verb: str
    actor_name: str
    from_state: str
    to_state: str
    note: str
    data: dict
    at: dt.datetime
    attachments: list[int]

    @staticmethod
    def resolve_attachments(obj) -> list[int]:
        return [a.pk for a in obj.attachments.all()]


class ActionOut(Schema):
    """An action the caller may take now: POST /cases/{id}/{endpoint}."""

    verb: str
    endpoint: str
    label: str
    note_required: bool


class CaseCreated(CaseOut):
    """A case just filed: the list's columns and what the reporter is given back."""

    tracking_code: str
    placed: bool
    reporter_phone: str = Field(..., alias="reporter_phone_masked")
    household_id: int | None
    person_id: int | None


class CaseDetail(CaseOut):
    description: str
    tracking_code: str
    address: str
    lng: float | None
    lat: float | None
    placed: bool
    resolved_area_code: str | None
    resolved_area_name: str | None
    reporter_name: str
    reporter_phone: str = Field(..., alias="reporter_phone_masked")
    household_id: int | None
    person_id: int | None
    outcome: str
    closed_at: dt.datetime | None
    closed_on_time: bool | None
    rating: str
    rated_at: dt.datetime | None
    duplicate_of: str | None
    supervision_deadline_at: dt.datetime | None
    review_on: dt.date | None
    rework_count: int
    escalation_count: int
    assignments: list[AssignmentOut] = Field(..., alias="assignment_list")
    attachments: list[AttachmentOut] = Field(..., alias="attachment_list")
    timeline: list[TimelineOut]
    actions: list[ActionOut] = Field(..., alias="action_list")

    @staticmethod
    def resolve_resolved_area_code(obj) -> str | None:
        return _code(obj, "resolved_area")

    @staticmethod
    def resolve_resolved_area_name(obj) -> str | None:
        return _name(obj, "resolved_area")

    @staticmethod
    def resolve_duplicate_of(obj) -> str | None:
        return obj.duplicate_of.number if obj.duplicate_of_id else None


class InboxCountsOut(Schema):
    pending: int
    todo: int
    done: int
    overdue: int
    supervised: int


class NotificationOut(Schema):
    id: int
    case_id: int | None = Field(..., description="none for a submission that could not be filed (see "
                                                 "/cases/submissions)")
    case_number: str | None
    case_title: str | None
    message: str
    created_at: dt.datetime
    read_at: dt.datetime | None

    @staticmethod
    def resolve_case_number(obj) -> str | None:
        return obj.case.number if obj.case_id else None

    @staticmethod
    def resolve_case_title(obj) -> str | None:
        return obj.case.title if obj.case_id else None


class MarkedOut(Schema):
    marked: int


class CategoryOut(Schema):
    code: str
    name: str
    domain: str
    urgency: str
    deadline_days: int | None
    deadline_hours: int | None
    onsite_required: bool
    default_level: str | None
    active: bool

    @staticmethod
    def resolve_domain(obj) -> str:
        return obj.domain.code

    @staticmethod
    def resolve_default_level(obj) -> str | None:
        return _name(obj, "default_level")


class DomainOut(Schema):
    code: str
    name: str
    categories: list[CategoryOut]

    @staticmethod
    def resolve_categories(obj) -> list:
        return list(obj.categories.all())


class StatsRowOut(Schema):
    key: str
    label: str
    total: int
    closed: int
    closed_on_time: int
    reworked: int
    rated: int
    satisfied: int
    close_rate: float | None
    on_time_rate: float | None
    rework_rate: float | None
    satisfaction_rate: float | None


class StatsOut(Schema):
    """结案率 (closed/total), 按期结案率 (closed on time/closed), 返工率 (reworked/closed), 满意率
    (satisfied or basically satisfied/rated); refused and merged cases are not counted."""

    total: StatsRowOut
    domain: list[StatsRowOut]
    channel: list[StatsRowOut]
    level: list[StatsRowOut]


class PhoneOut(Schema):
    phone: str


class SubmissionError(Schema):
    status: int
    code: str
    message: str
    fields: dict[str, list[str]]


class SubmissionOut(Schema):
    """A case accepted for filing in the background (``Prefer: respond-async``)."""

    id: int
    status: SubmissionStatusName
    tracking_code: str = Field(..., description="the case's tracking code once it is filed")
    client_key: str | None
    received_at: dt.datetime
    filed_at: dt.datetime | None
    case_id: int | None
    case_number: str | None
    error: SubmissionError | None = Field(None, description="why it was refused: the answer a synchronous request "
                                                            "would have had")

    @staticmethod
    def resolve_case_number(obj) -> str | None:
        return obj.case.number if obj.case_id else None

    @staticmethod
    def resolve_error(obj) -> dict | None:
        return obj.error or None
