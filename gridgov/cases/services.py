"""Every write to cases: intake, the workflow actions, the deadline sweep, the taxonomy.

``case_act`` is the one door for workflow actions: it locks the case row, checks the action against
``workflow.TRANSITIONS`` for the actor, applies it and appends the ``CaseAction`` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import secrets
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.areas.models import Area, Department, Post, Rank
from gridgov.areas.scope import ROLE_PERMS, Perm, scope_for
from gridgov.areas.selectors import locate_point
from gridgov.cases import derived, workflow
from gridgov.cases.attachments import attachment_create, discard_on_error
from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.models import (
    OPEN_STATES,
    AssignmentRole,
    Case,
    CaseAction,
    CaseAssignment,
    CaseSource,
    Category,
    Channel,
    Domain,
    Mode,
    Notification,
    Outcome,
    Rating,
    State,
    Urgency,
)
from gridgov.cases.workflow import BY_VERB, Party
from gridgov.core import audit, calendar, crypto
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.idnumber import mask_phone

TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone
# Channels only staff file (on a page or through the API); the others come from residents and outside systems.
STAFF_CHANNELS = (Channel.HOTLINE, Channel.PETITION, Channel.DEPUTIES, Channel.GRID_WORKER)


def _invalid(message: str, field: str | None = None) -> ApplicationError:
    return ApplicationError(CaseErrorCode.INVALID_CASE, message, fields={field: [message]} if field else None)


def new_tracking_code() -> str:
    """Ten letters of the 32-letter alphabet: 50 random bits, five a letter."""
    bits = secrets.randbits(50)
    return "".join(TRACKING_ALPHABET[(bits >> shift) & 31] for shift in range(0, 50, 5))


# --- places and desks ----------------------------------------------------------------------------


def tree_root() -> Area:
    root = Area.objects.filter(parent__isnull=True).order_by("path").first()
    if root is None:
        raise _invalid(_("The area tree is empty: load the areas first."))
    return root


def _ancestor_of_rank(area: Area, ranks: Sequence[str]) -> Area | None:
    """The nearest area at or above ``area`` whose level has one of ``ranks``."""
    from gridgov.areas.models import PATH_STEP

    prefixes = [area.path[:i] for i in range(PATH_STEP, len(area.path) + 1, PATH_STEP)]
    candidates = Area.objects.filter(path__in=prefixes, level__rank__in=ranks).select_related("level")
    return max(candidates, key=lambda a: len(a.path), default=None)


def intake_desk(area: Area, channel: str, placed: bool) -> Area:
    """Who coordinates a new case: a grid worker's report goes to the village's desk; everything the public
    files goes to the county centre (小事不出格: the grid can still handle its own report directly).
    A case that could not be placed lands with the centre at the root for triage."""
    if not placed:
        return area
    ranks = [Rank.VILLAGE] if channel == Channel.GRID_WORKER else [Rank.COUNTY]
    return _ancestor_of_rank(area, ranks) or _ancestor_of_rank(area, [Rank.COUNTY, Rank.CITY]) or tree_root()


def _place(*, actor, area: Area | None, lng: float | None, lat: float | None) -> tuple[Area, bool]:
    if (lng is None) != (lat is None):
        raise _invalid(_("Give both longitude and latitude, or neither."), "lng" if lng is None else "lat")
    if lng is not None and not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise _invalid(_("The location is not a valid WGS-84 point."), "lng")
    if area is not None:
        return area, True
    if lng is not None:
        found = locate_point(lng=lng, lat=lat)
        if found is not None:
            return found, True
    grids = [p.area for p in _reporter_posts(actor)]
    if len(grids) == 1:
        return grids[0], True
    return tree_root(), False


def _reporter_posts(actor) -> list[Post]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return []
    from gridgov.areas.scope import posts_of

    return [p for p in posts_of(actor) if p.role in ("grid_worker", "grid_leader", "grid_police")]


# --- deadlines -----------------------------------------------------------------------------------

# Urgency caps the category's deadline: 特急 the same day, 紧急 at most one working day.
URGENCY_MAX_DAYS = {Urgency.CRITICAL: 0, Urgency.URGENT: 1}


def case_deadline(*, category: Category | None, urgency: str, start: dt.datetime) -> dt.datetime:
    days = category.deadline_days if category is not None else None
    hours = category.deadline_hours if category is not None else None
    if category is None:
        days = settings.CASE_DEFAULT_DEADLINE_DAYS
    cap = URGENCY_MAX_DAYS.get(urgency)
    if cap is not None and (days is None or days > cap):
        days = cap if hours is None else None
    if hours is not None:
        return calendar.deadline(start, hours=hours)
    return calendar.deadline(start, days=days)


# --- intake --------------------------------------------------------------------------------------


def case_create(
    *,
    actor,
    channel: str,
    description: str,
    title: str = "",
    category: Category | None = None,
    urgency: str | None = None,
    area: Area | None = None,
    lng: float | None = None,
    lat: float | None = None,
    address: str = "",
    reporter_name: str = "",
    reporter_phone: str = "",
    household=None,
    person=None,
    client_key: str | None = None,
    source: CaseSource | None = None,
    uploads: Iterable = (),
    handle_directly: bool = False,
    tracking_code: str | None = None,
    at: dt.datetime | None = None,
) -> Case:
    """File a case from any channel. Idempotent by ``client_key``: a retry returns the case already filed
    (found when the insert meets the unique key, so that a first submission costs no lookup).

    ``tracking_code`` and ``at`` (when it was reported) come from a submission accepted earlier and filed now.

    The case returned carries its area, desk, category and domain, so that the answer needs no query."""
    if channel not in Channel.values:
        raise _invalid(_("Unknown channel."), "channel")
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    if channel in STAFF_CHANNELS and (not is_user or scope_for(actor, Perm.CASE_REPORT).is_empty):
        raise PermissionDenied(_("You may not file cases."))
    description = (description or "").strip()
    if not description:
        raise _invalid(_("Describe the problem."), "description")
    if len(description) > 5000:
        raise _invalid(_("The description is too long (at most 5,000 characters)."), "description")
    title = (title or "").strip() or description.splitlines()[0][:60]
    if len(title) > 120:
        raise _invalid(_("The title is too long (at most 120 characters)."), "title")
    if category is not None and not category.active:
        raise _invalid(_("This category is no longer in use."), "category")
    urgency = urgency or (category.urgency if category is not None else Urgency.NORMAL)
    if urgency not in Urgency.values:
        raise _invalid(_("Unknown urgency."), "urgency")
    if client_key is not None and not (1 <= len(client_key) <= 64):
        raise _invalid(_("The client key must have 1 to 64 characters."), "client_key")
    reporter_phone = (reporter_phone or "").strip()
    if reporter_phone and not (reporter_phone.replace("-", "").replace("+", "").isdigit()
                               and 5 <= len(reporter_phone) <= 20):
        raise _invalid(_("The phone number is not valid."), "reporter_phone")
    if len(reporter_name or "") > 50 or len(address or "") > 200:
        raise _invalid(_("The name or address is too long."), "reporter_name")

    area, placed = _place(actor=actor, area=area, lng=lng, lat=lat)
    if is_user and channel == Channel.GRID_WORKER and placed and not scope_for(actor, Perm.CASE_REPORT).contains(
        area.path
    ):
        raise NotFound(_("No such area."))
    if handle_directly and not (channel == Channel.GRID_WORKER and placed
                                and scope_for(actor, Perm.CASE_HANDLE).contains(area.path)):
        raise PermissionDenied(_("Only the grid's own staff can handle a report directly."))

    now = at or timezone.now()
    case = Case(
        tracking_code=tracking_code or new_tracking_code(),
        title=title,
        description=description,
        category=category,
        domain=category.domain if category is not None else None,
        urgency=urgency,
        channel=channel,
        source=source,
        area=area,
        placed=placed,
        desk_area=intake_desk(area, channel, placed),
        lng=lng,
        lat=lat,
        address=(address or "").strip(),
        reporter=actor if is_user else None,
        reporter_name=(reporter_name or "").strip(),
        reporter_phone_sealed=crypto.encrypt(reporter_phone) if reporter_phone else "",
        reporter_phone_masked=mask_phone(reporter_phone) if reporter_phone else "",
        household=household,
        person=person,
        client_key=client_key or None,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            case.save()
            derived.reach_sync(case, new=True)
            action = _append(case, actor=actor, verb="create", from_state="", to_state=State.SUBMITTED,
                             note="", data={"channel": channel, "placed": placed}, at=now)
            counted = derived.day_stat_share(case)
            for upload in uploads:
                attachment_create(case=case, upload=upload, action=action)
            if handle_directly:
                case = case_act(actor=actor, case=case, verb="self_handle")
            else:
                _notify_desk(case)
            # Last: the day rows are shared by every case of the day, locked from here to the commit.
            derived.day_stats_apply(None, counted)
    except IntegrityError:
        if client_key:
            existing = _existing_for_key(actor=actor, source=source, client_key=client_key)
            if existing is not None:
                return existing
        raise
    return case


def _existing_for_key(*, actor, source, client_key: str) -> Case | None:
    case = Case.objects.filter(client_key=client_key).first()
    if case is None:
        return None
    same = (source is not None and case.source_id == source.pk) or (
        source is None and case.source_id is None
        and (case.reporter_id == getattr(actor, "pk", None))
    )
    if not same:
        raise ApplicationError(CaseErrorCode.CONFLICT, _("This client key was already used for another case."),
                               fields={"client_key": [_("Already used.")]}, status=409)
    return case


# --- the workflow --------------------------------------------------------------------------------


def _append(case: Case, *, actor, verb: str, from_state: str, to_state: str, note: str = "",
            data: dict | None = None, at: dt.datetime | None = None, actor_name: str = "") -> CaseAction:
    action = CaseAction.objects.create(
        case=case,
        verb=verb,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=(actor_name or audit.actor_label(actor))[:150],
        from_state=from_state,
        to_state=to_state,
        note=note,
        data=data or {},
        at=at or timezone.now(),
    )
    if action.actor_id is not None:
        derived.participant_touch(case_id=case.pk, user_id=action.actor_id, at=action.at)
    return action


def case_act(
    *,
    actor,
    case: Case | int,
    verb: str,
    note: str = "",
    public: bool = False,
    uploads: Iterable = (),
    **params,
) -> Case:
    """Take one workflow action. Raises 404 for a case the actor cannot see, 403 for an action they may not
    take, and 409 when the case has moved on (another handler acted first).

    ``uploads`` (photos or files, for an action whose transition takes ``files``) are attached to the action in
    the same transaction: a refused file refuses the whole action, and no file it wrote is left in storage."""
    transition = BY_VERB.get(verb)
    if transition is None:
        raise _invalid(_("Unknown action."), "verb")
    note = (note or "").strip()
    if transition.note_required and not note:
        raise _invalid(_("Give a reason or a note for this action."), "note")
    if len(note) > 5000:
        raise _invalid(_("The note is too long (at most 5,000 characters)."), "note")
    uploads = list(uploads)
    if uploads and not transition.files:
        raise _invalid(_("This action takes no photos or files."), "files")
    if transition.files_required and not uploads:
        raise _invalid(_("Choose at least one photo or file."), "files")
    pk = case.pk if isinstance(case, Case) else case
    with discard_on_error(), transaction.atomic():
        locked = (Case.objects.select_for_update(of=("self",))
                  .select_related("area", "desk_area", "holder_area", "category").filter(pk=pk).first())
        if locked is None:
            raise NotFound(_("No such case."))
        if public:
            found = {Party.PUBLIC}
        elif actor is None:
            found = {Party.SYSTEM}
        else:
            found = workflow.parties(actor, locked)
            if not found:
                raise NotFound(_("No such case."))
        if locked.state not in transition.sources or not workflow._guard(verb, locked):
            raise ApplicationError(
                CaseErrorCode.CONFLICT,
                _("This action is not possible now: the case is %(state)s.") % {"state": locked.get_state_display()},
                status=409,
            )
        if not transition.parties & found:
            raise PermissionDenied(_("You may not take this action on this case."))
        from_state = locked.state
        handler = HANDLERS.get(verb, _no_change)
        unexpected = sorted(set(params) - _handler_params(handler))
        if unexpected and handler is not _no_change:
            raise _invalid(_("Unexpected input: %(names)s.") % {"names": ", ".join(unexpected)})
        counted = derived.day_stat_share(locked)
        data = handler(actor, locked, note=note, **params) or {}
        if transition.target is not None:
            locked.state = transition.target
        locked.updated_at = timezone.now()
        locked.save()
        derived.reach_sync(locked)
        action = _append(locked, actor=actor, verb=verb, from_state=from_state, to_state=locked.state, note=note,
                         data=data, actor_name=_("reporter") if public else "")
        for upload in uploads:
            attachment_create(case=locked, upload=upload, action=action)
        derived.day_stats_apply(counted, derived.day_stat_share(locked))  # last: shared rows, locked to the commit
    if isinstance(case, Case) and case is not locked:  # the caller's object follows the saved case
        case.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
        case.__dict__.pop("_assists", None)
        case._state.fields_cache = dict(locked._state.fields_cache)
    return locked


@functools.cache
def _handler_params(handler) -> frozenset[str]:
    """The keyword arguments a handler takes besides the note."""
    return frozenset(name for name, p in inspect.signature(handler).parameters.items()
                     if p.kind is p.KEYWORD_ONLY and name != "note")


def _no_change(actor, case, *, note, **params):
    if params:
        raise _invalid(_("Unexpected input: %(names)s.") % {"names": ", ".join(sorted(params))})
    return {}


def _accept(actor, case, *, note, category=None, urgency=None):
    _set_taxonomy(case, category=category, urgency=urgency)
    return {}


def _set_taxonomy(case: Case, *, category: Category | None, urgency: str | None) -> dict:
    changed = {}
    if category is not None:
        if not category.active:
            raise _invalid(_("This category is no longer in use."), "category")
        if category.pk != case.category_id:
            changed["category"] = category.code
        case.category = category
        case.domain_id = category.domain_id
    if urgency:
        if urgency not in Urgency.values:
            raise _invalid(_("Unknown urgency."), "urgency")
        if urgency != case.urgency:
            changed["urgency"] = urgency
        case.urgency = urgency
    return changed


def _register(actor, case, *, note, category=None, urgency=None):
    changed = _set_taxonomy(case, category=category, urgency=urgency)
    if case.category_id is None:
        raise _invalid(_("Choose a category before registering the case."), "category")
    case.deadline_at = case_deadline(category=case.category, urgency=case.urgency, start=timezone.now())
    return {**changed, "deadline_at": case.deadline_at.isoformat()}


def _self_handle(actor, case, *, note):
    case.holder_area = case.area
    case.holder_department = None
    case.mode = Mode.DIRECT
    if case.category_id is not None or case.deadline_at is None:
        case.deadline_at = case_deadline(category=case.category, urgency=case.urgency, start=timezone.now())
    CaseAssignment.objects.create(case=case, role=AssignmentRole.LEAD, area=case.area)
    return {"holder": _unit_label(case.area, None)}


def _unit_label(area: Area | None, department: Department | None) -> str:
    return area.name if area is not None else department.name if department is not None else ""


def _check_target(case: Case, *, area: Area | None, department: Department | None, field: str):
    if (area is None) == (department is None):
        raise _invalid(_("Choose one unit: an area or a department."), field)
    if area is not None and not area.path.startswith(case.desk_area.path):
        raise _invalid(_("A case can be dispatched only within the desk's own area; escalate it instead."), field)


def _dispatch(actor, case, *, note, target_area=None, target_department=None, assist_areas=(),
              assist_departments=(), category=None, urgency=None):
    changed = _set_taxonomy(case, category=category, urgency=urgency)
    _check_target(case, area=target_area, department=target_department, field="target")
    assists = [(a, None) for a in assist_areas] + [(None, d) for d in assist_departments]
    seen = {(getattr(target_area, "pk", None), getattr(target_department, "pk", None))}
    for a, d in assists:
        _check_target(case, area=a, department=d, field="assist")
        key = (getattr(a, "pk", None), getattr(d, "pk", None))
        if key in seen:
            raise _invalid(_("A unit appears twice among the lead and assisting units."), "assist")
        seen.add(key)
    CaseAssignment.objects.filter(case=case, active=True).update(active=False)
    case.holder_area, case.holder_department = target_area, target_department
    if assists:
        case.mode = Mode.ASSIST
    elif target_area is not None and target_area.pk == case.desk_area_id:
        case.mode = Mode.DIRECT
    else:
        case.mode = Mode.TRANSFER
    CaseAssignment.objects.create(case=case, role=AssignmentRole.LEAD, area=target_area, department=target_department)
    for a, d in assists:
        CaseAssignment.objects.create(case=case, role=AssignmentRole.ASSIST, area=a, department=d)
    case.__dict__.pop("_assists", None)
    if case.deadline_at is None or changed:
        case.deadline_at = case_deadline(category=case.category, urgency=case.urgency, start=timezone.now())
    for a, d in [(target_area, target_department), *assists]:
        _notify_unit(case, area=a, department=d,
                     message=_("Case %(number)s was dispatched to you: %(title)s")
                     % {"number": case.number, "title": case.title})
    return {
        **changed,
        "mode": case.mode,
        "lead": _unit_label(target_area, target_department),
        "assist": [_unit_label(a, d) for a, d in assists],
        "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
    }


def _clear_holder(case: Case):
    CaseAssignment.objects.filter(case=case, active=True).update(active=False)
    case.holder_area = case.holder_department = None
    case.mode = ""
    case.__dict__.pop("_assists", None)


def _send_back(actor, case, *, note):
    holder = _unit_label(case.holder_area, case.holder_department)
    _clear_holder(case)
    _notify_desk(case, message=_("Case %(number)s was sent back: %(note)s") % {"number": case.number, "note": note})
    return {"from": holder}


def _escalate(actor, case, *, note):
    target = workflow.escalation_target(case)
    if target is None:
        raise _invalid(_("There is no level above to escalate to."))
    previous = case.desk_area.name
    _clear_holder(case)
    case.desk_area = target
    case.escalation_count += 1
    _notify_desk(case, message=_("Case %(number)s was escalated to you: %(title)s")
                 % {"number": case.number, "title": case.title})
    return {"from": previous, "to": target.name, "automatic": actor is None}


def _assist_report(actor, case, *, note):
    now = timezone.now()
    mine = [a for a in workflow._active_assists(case)
            if workflow._holds_unit(actor, area=a.area, department_id=a.department_id)]
    for assignment in mine:
        CaseAssignment.objects.filter(pk=assignment.pk).update(reported_at=now, report=note)
    return {"units": [_unit_label(a.area, a.department) for a in mine]}


def _report(actor, case, *, note):
    CaseAssignment.objects.filter(case=case, active=True, role=AssignmentRole.LEAD).update(
        reported_at=timezone.now(), report=note
    )
    _notify_desk(case, message=_("Case %(number)s was reported done; verify it.") % {"number": case.number})
    return {}


def _rework(actor, case, *, note):
    case.rework_count += 1
    _notify_unit(case, area=case.holder_area, department=case.holder_department,
                 message=_("Case %(number)s was sent back for rework: %(note)s")
                 % {"number": case.number, "note": note})
    return {"rework": case.rework_count}


def _close(actor, case, *, note, outcome=Outcome.FIXED):
    if outcome not in Outcome.values:
        raise _invalid(_("Unknown outcome."), "outcome")
    if outcome == Outcome.FIXED and case.state != State.REPORTED:
        raise _invalid(_("Only a case reported done can be closed as fixed."), "outcome")
    if outcome != Outcome.FIXED and not note:
        raise _invalid(_("Say why the case is closed without being fixed."), "note")
    now = timezone.now()
    case.outcome = outcome
    case.closed_at = now
    case.closed_on_time = case.deadline_at is None or now <= case.deadline_at
    case.resolved_area = case.holder_area or case.desk_area
    CaseAssignment.objects.filter(case=case, active=True).update(active=False)
    return {"outcome": outcome, "on_time": case.closed_on_time, "resolved_at": case.resolved_area.name}


def _rate(actor, case, *, note, rating=""):
    if rating not in Rating.values:
        raise _invalid(_("Choose satisfied, basically satisfied or unsatisfied."), "rating")
    case.rating = rating
    case.rated_at = timezone.now()
    if rating == Rating.UNSATISFIED:
        _notify_desk(case, message=_("Case %(number)s was rated unsatisfied; consider reopening it.")
                     % {"number": case.number})
    return {"rating": rating}


def _reopen(actor, case, *, note):
    previous = {"outcome": case.outcome, "rating": case.rating}
    case.outcome = case.rating = ""
    case.closed_at = case.rated_at = case.closed_on_time = None
    case.resolved_area = None
    case.holder_area = case.holder_department = None
    case.mode = ""
    case.deadline_at = case_deadline(category=case.category, urgency=case.urgency, start=timezone.now())
    return previous


def _urge(actor, case, *, note):
    case.urge_count += 1
    _notify_unit(case, area=case.holder_area, department=case.holder_department,
                 message=_("Case %(number)s is urged (催办).") % {"number": case.number})
    if case.holder_area is None and case.holder_department is None:
        _notify_desk(case, message=_("Case %(number)s is urged (催办).") % {"number": case.number})
    return {"urged": case.urge_count}


def _attach(actor, case, *, note):
    """New photos or files: the desk and the unit holding the case hear of it, except whoever added them."""
    users = {*desk_users(case).values_list("pk", flat=True),
             *unit_users(area=case.holder_area, department=case.holder_department).values_list("pk", flat=True)}
    users.discard(getattr(actor, "pk", None))
    message = _("Case %(number)s has new photos or files.") % {"number": case.number}
    Notification.objects.bulk_create([Notification(case=case, user_id=pk, message=message[:255])
                                      for pk in sorted(users)])


def _supervise(actor, case, *, note, deadline_at: dt.datetime | None = None):
    if deadline_at is None:
        raise _invalid(_("Give the date by which the supervised unit must report."), "deadline_at")
    if deadline_at <= timezone.now():
        raise _invalid(_("The supervision deadline must lie in the future."), "deadline_at")
    case.supervision_deadline_at = deadline_at
    _notify_unit(case, area=case.holder_area, department=case.holder_department,
                 message=_("Case %(number)s is under formal supervision (督办).") % {"number": case.number})
    return {"deadline_at": deadline_at.isoformat()}


def _suspend(actor, case, *, note, review_on: dt.date | None = None):
    if review_on is None:
        raise _invalid(_("Give the date on which the suspension is reviewed."), "review_on")
    if review_on <= timezone.localdate():
        raise _invalid(_("The review date must lie in the future."), "review_on")
    _clear_holder(case)
    case.review_on = review_on
    return {"review_on": review_on.isoformat()}


def _resume(actor, case, *, note):
    """Back to the desk with a fresh deadline: the time it lay suspended does not count against it."""
    case.review_on = None
    case.deadline_at = case_deadline(category=case.category, urgency=case.urgency, start=timezone.now())
    case.warned_at = case.auto_urged_at = None
    return {"deadline_at": case.deadline_at.isoformat()}


def _merge(actor, case, *, note, duplicate_of: Case | None = None):
    if duplicate_of is None:
        raise _invalid(_("Choose the case this one duplicates."), "duplicate_of")
    original = duplicate_of
    while original.duplicate_of_id is not None:
        original = original.duplicate_of
    if original.pk == case.pk:
        raise _invalid(_("A case cannot duplicate itself."), "duplicate_of")
    if original.state == State.REFUSED:
        raise _invalid(_("A refused case cannot be the original."), "duplicate_of")
    if not workflow.can_view(actor, original):
        raise NotFound(_("No such case."))
    _clear_holder(case)
    case.duplicate_of = original
    return {"original": original.number}


def _visit(actor, case, *, note, visit_id: int | None = None):
    return {"visit_id": visit_id}


HANDLERS = {
    "accept": _accept,
    "register": _register,
    "self_handle": _self_handle,
    "dispatch": _dispatch,
    "reassign": _dispatch,
    "send_back": _send_back,
    "escalate": _escalate,
    "assist_report": _assist_report,
    "report": _report,
    "rework": _rework,
    "close": _close,
    "rate": _rate,
    "reopen": _reopen,
    "urge": _urge,
    "attach": _attach,
    "supervise": _supervise,
    "suspend": _suspend,
    "resume": _resume,
    "merge": _merge,
    "visit": _visit,
}


def case_note_visit(*, actor, case: Case, visit_id: int, summary: str) -> Case:
    """An on-site visit (五必到) was made for this case: it shows in the timeline."""
    return case_act(actor=actor, case=case, verb="visit", note=summary, visit_id=visit_id)


def case_rate_public(*, tracking_code: str, rating: str, note: str = "") -> Case:
    """The resident rates a closed case through its tracking code. A merged case is rated through its original."""
    case = Case.objects.filter(tracking_code=(tracking_code or "").strip().upper()).first()
    if case is None:
        raise NotFound(_("No case has this tracking code."))
    while case.duplicate_of_id is not None:
        case = case.duplicate_of
    return case_act(actor=None, case=case, verb="rate", note=note, rating=rating, public=True)


# --- notifications ---------------------------------------------------------------------------------


def unit_users(*, area: Area | None, department: Department | None):
    """The users who work a unit: handlers posted on that very area, or the department's staff."""
    User = get_user_model()
    if department is not None:
        return User.objects.filter(is_active=True, staff__active=True, staff__department=department)
    if area is None:
        return User.objects.none()
    day = timezone.localdate()
    roles = [role for role, perms in ROLE_PERMS.items() if Perm.CASE_HANDLE in perms]
    return User.objects.filter(
        is_active=True, staff__active=True, staff__posts__area=area, staff__posts__role__in=roles,
        staff__posts__start_date__lte=day,
    ).filter(Q(staff__posts__end_date__isnull=True) | Q(staff__posts__end_date__gt=day)).distinct()


def desk_users(case: Case):
    User = get_user_model()
    day = timezone.localdate()
    roles = [role for role, perms in ROLE_PERMS.items() if Perm.CASE_DISPATCH in perms]
    return User.objects.filter(
        is_active=True, staff__active=True, staff__posts__area=case.desk_area_id, staff__posts__role__in=roles,
        staff__posts__start_date__lte=day,
    ).filter(Q(staff__posts__end_date__isnull=True) | Q(staff__posts__end_date__gt=day)).distinct()


def _notify(case: Case, users, message: str) -> None:
    """One in-app notification per user (a queryset of users: only their ids are read)."""
    Notification.objects.bulk_create([Notification(case=case, user_id=pk, message=message[:255])
                                      for pk in users.values_list("pk", flat=True).order_by()])


def _notify_unit(case: Case, *, area, department, message: str) -> None:
    _notify(case, unit_users(area=area, department=department), message)


def _notify_desk(case: Case, message: str | None = None) -> None:
    _notify(case, desk_users(case), message or _("New case %(number)s: %(title)s")
            % {"number": case.number, "title": case.title})


def notification_mark_read(*, actor, pks: Iterable[int] | None = None) -> int:
    qs = Notification.objects.filter(user=actor, read_at__isnull=True)
    if pks is not None:
        qs = qs.filter(pk__in=list(pks))
    return qs.update(read_at=timezone.now())


# --- the deadline sweep ----------------------------------------------------------------------------


def cases_sweep_deadlines(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Warn before the deadline, urge the day after it, escalate what is still overdue after the grace.

    Run by a periodic task; each step happens once per case (the escalation again after each grace)."""
    now = now or timezone.now()
    counts = {"warned": 0, "urged": 0, "escalated": 0}
    live = Case.objects.filter(state__in=OPEN_STATES - {State.SUSPENDED, State.REPORTED}, deadline_at__isnull=False)
    warn_before = dt.timedelta(hours=settings.CASE_WARN_HOURS)
    for pk in live.filter(deadline_at__gt=now, deadline_at__lte=now + warn_before, warned_at__isnull=True) \
            .values_list("pk", flat=True).iterator():
        with transaction.atomic():
            case_act(actor=None, case=pk, verb="warn", note=_("The deadline is near."))
            Case.objects.filter(pk=pk).update(warned_at=now)
            counts["warned"] += 1
    for pk in live.filter(deadline_at__lt=now, auto_urged_at__isnull=True).exclude(state=State.SUBMITTED) \
            .values_list("pk", flat=True).iterator():
        with transaction.atomic():
            case_act(actor=None, case=pk, verb="urge", note=_("Overdue: urged automatically."))
            Case.objects.filter(pk=pk).update(auto_urged_at=now)
            counts["urged"] += 1
    grace = settings.CASE_ESCALATION_GRACE_DAYS
    for case in live.filter(deadline_at__lt=now).select_related("desk_area", "holder_area").iterator():
        # The grace counts from the deadline in force: an escalation gives the new desk a fresh deadline.
        since = max(case.deadline_at, case.auto_escalated_at or case.deadline_at)
        if calendar.deadline(since, days=grace) > now:
            continue
        if workflow.escalation_target(case) is None or case.state not in BY_VERB["escalate"].sources:
            continue
        with transaction.atomic():
            case_act(actor=None, case=case.pk, verb="escalate", note=_("Still overdue: escalated automatically."))
            Case.objects.filter(pk=case.pk).update(
                auto_escalated_at=now,
                deadline_at=case_deadline(category=case.category, urgency=case.urgency, start=now),
                auto_urged_at=None, warned_at=None,
            )
            counts["escalated"] += 1
    return counts


# --- taxonomy ------------------------------------------------------------------------------------


def _check_taxonomy_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_superuser", False):
        raise PermissionDenied(_("Only system administrators edit the case taxonomy."))


def category_save(
    *,
    actor,
    domain: Domain,
    code: str,
    name: str,
    urgency: str = Urgency.NORMAL,
    deadline_days: int | None = None,
    deadline_hours: int | None = None,
    onsite_required: bool = False,
    default_level=None,
    active: bool = True,
) -> Category:
    """Create or update (by code) a category."""
    _check_taxonomy_admin(actor)
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ApplicationError(CaseErrorCode.INVALID_TAXONOMY, _("A category needs a name of at most 60 characters."),
                               fields={"name": [_("Required.")]})
    if deadline_days is None and deadline_hours is None:
        raise ApplicationError(CaseErrorCode.INVALID_TAXONOMY, _("Give a deadline in working days or in hours."),
                               fields={"deadline_days": [_("Required.")]})
    if urgency not in Urgency.values:
        raise ApplicationError(CaseErrorCode.INVALID_TAXONOMY, _("Unknown urgency."), fields={"urgency": ["?"]})
    if not (isinstance(code, str) and 1 <= len(code) <= 48 and code.isascii()
            and code.replace("_", "").replace("-", "").isalnum()):
        raise ApplicationError(CaseErrorCode.INVALID_TAXONOMY,
                               _("A category code has 1 to 48 letters, digits, hyphens or underscores."),
                               fields={"code": [_("Not a valid code.")]})
    if Category.objects.filter(domain=domain, name=name).exclude(code=code).exists():
        raise ApplicationError(CaseErrorCode.INVALID_TAXONOMY, _("This domain already has a category of that name."),
                               fields={"name": [_("Already used.")]})
    if (deadline_days is not None and not 0 <= deadline_days <= 365) or (
        deadline_hours is not None and not 1 <= deadline_hours <= 720
    ):
        raise ApplicationError(CaseErrorCode.INVALID_TAXONOMY, _("The deadline is out of range."),
                               fields={"deadline_days": [_("Out of range.")]})
    with transaction.atomic():
        category, created = Category.objects.update_or_create(
            code=code,
            defaults=dict(domain=domain, name=name, urgency=urgency, deadline_days=deadline_days,
                          deadline_hours=deadline_hours, onsite_required=onsite_required,
                          default_level=default_level, active=active),
        )
        audit.record(actor=actor, action="case_category.create" if created else "case_category.update",
                     obj=category, data={"code": code, "name": name})
    return category


# --- the reporter's phone --------------------------------------------------------------------------


def case_reveal_phone(*, actor, case: Case) -> str:
    """The reporter's full phone number, for a user who may reveal residents' data where the case is placed,
    or who coordinates it (the desk calls back). Every reveal is audited."""
    found = workflow.parties(actor, case)
    if not found:
        raise NotFound(_("No such case."))
    if Party.DESK not in found and not scope_for(actor, Perm.RESIDENT_REVEAL).contains(case.area.path):
        raise PermissionDenied(_("You may not see the reporter's phone number."))
    if not case.reporter_phone_sealed:
        raise ApplicationError(CaseErrorCode.INVALID_CASE, _("No phone number was given for this case."),
                               status=404)
    phone = crypto.decrypt(case.reporter_phone_sealed)
    audit.record(actor=actor, action="case.reveal.reporter_phone", obj=case, area_path=case.area.path)
    return phone
