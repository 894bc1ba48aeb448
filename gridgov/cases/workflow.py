"""The case workflow as data: which action moves a case from which states to which state, and who may take it.

``TRANSITIONS`` is the one table; ``gridgov.cases.services.case_act`` enforces it under a row lock, and the
pages and the API offer a user exactly the actions ``allowed_verbs`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from gridgov.areas.models import PATH_STEP, Area, Rank
from gridgov.areas.scope import Perm, scope_for
from gridgov.cases.models import OPEN_STATES, Case, CaseAssignment, State


class Party(StrEnum):
    """Who stands in which relation to a case."""

    DESK = "desk"  # CASE_DISPATCH on the coordinating area: accepts, dispatches, verifies, closes
    HOLDER = "holder"  # the lead unit it is dispatched to (its area's handlers, or the department's staff)
    ASSISTANT = "assistant"  # an assisting unit (协办)
    SUPERIOR = "superior"  # CASE_SUPERVISE over the desk or the place: urges and supervises
    REPORTER = "reporter"  # the user who filed it
    PUBLIC = "public"  # the resident, through the tracking code
    VIEWER = "viewer"  # anyone who may see it
    SYSTEM = "system"  # the periodic deadline sweep


@dataclass(frozen=True)
class Transition:
    verb: str
    sources: frozenset[str]
    target: str | None  # None: the state does not change
    parties: frozenset[Party]
    label: str
    note_required: bool = False
    files: bool = False  # the action may carry photos or files (反馈 photos of the work done, 核查 photos …)
    files_required: bool = False  # … and needs at least one (it does nothing else)


def _t(verb, sources, target, parties, label, note_required=False, files=False, files_required=False) -> Transition:
    return Transition(verb, frozenset(sources), target, frozenset(parties), label, note_required, files,
                      files_required)


S = State
P = Party
WORKING = {S.DISPATCHED, S.HANDLING}
EARLY = {S.SUBMITTED, S.ACCEPTED, S.REGISTERED}

TRANSITIONS: tuple[Transition, ...] = (
    _t("accept", {S.SUBMITTED}, S.ACCEPTED, {P.DESK}, _("Accept (受理)")),
    _t("refuse", {S.SUBMITTED}, S.REFUSED, {P.DESK}, _("Refuse as invalid"), note_required=True),
    _t("register", {S.ACCEPTED}, S.REGISTERED, {P.DESK}, _("Register (立案)")),
    _t("self_handle", {S.SUBMITTED}, S.HANDLING, {P.REPORTER}, _("Handle it myself (直办)")),
    _t("dispatch", {S.REGISTERED}, S.DISPATCHED, {P.DESK}, _("Dispatch (派遣)")),
    _t("reassign", WORKING, S.DISPATCHED, {P.DESK}, _("Reassign (改派)"), note_required=True),
    _t("start", {S.DISPATCHED}, S.HANDLING, {P.HOLDER}, _("Take on (签收)")),
    _t("send_back", WORKING, S.REGISTERED, {P.HOLDER}, _("Send back to the dispatcher (退回)"), note_required=True),
    _t("escalate", {S.ACCEPTED, S.REGISTERED} | WORKING, S.REGISTERED, {P.DESK, P.HOLDER, P.SYSTEM},
       _("Escalate to the level above (上报)"), note_required=True),
    _t("assist_report", WORKING | {S.REPORTED}, None, {P.ASSISTANT}, _("Report back as assisting unit"),
       note_required=True, files=True),
    _t("report", WORKING, S.REPORTED, {P.HOLDER}, _("Report done (反馈)"), note_required=True, files=True),
    _t("rework", {S.REPORTED}, S.HANDLING, {P.DESK, P.SUPERIOR}, _("Send back for rework (返工)"),
       note_required=True, files=True),
    _t("close", {S.REPORTED, S.ACCEPTED, S.REGISTERED, S.SUSPENDED}, S.CLOSED, {P.DESK, P.SUPERIOR},
       _("Verify and close (核查结案)"), files=True),
    _t("rate", {S.CLOSED}, None, {P.PUBLIC, P.REPORTER, P.DESK}, _("Record the rating (回访评价)")),
    _t("reopen", {S.CLOSED}, S.REGISTERED, {P.DESK}, _("Reopen"), note_required=True),
    _t("urge", OPEN_STATES - {S.SUBMITTED}, None, {P.SUPERIOR, P.DESK, P.SYSTEM}, _("Urge (催办)")),
    _t("supervise", OPEN_STATES - {S.SUBMITTED}, None, {P.SUPERIOR}, _("Supervise formally (督办)"),
       note_required=True),
    _t("supervision_report", OPEN_STATES - {S.SUBMITTED}, None, {P.HOLDER}, _("Report to the supervisor"),
       note_required=True, files=True),
    _t("suspend", {S.REGISTERED} | WORKING, S.SUSPENDED, {P.DESK}, _("Suspend (挂起)"), note_required=True),
    _t("resume", {S.SUSPENDED}, S.REGISTERED, {P.DESK}, _("Resume")),
    _t("merge", EARLY, S.MERGED, {P.DESK}, _("Merge into another case")),
    _t("comment", OPEN_STATES, None, {P.DESK, P.HOLDER, P.ASSISTANT, P.SUPERIOR}, _("Add a note"),
       note_required=True, files=True),
    _t("attach", OPEN_STATES, None, {P.DESK, P.HOLDER, P.ASSISTANT, P.SUPERIOR, P.REPORTER},
       _("Add photos or files (补充照片)"), files=True, files_required=True),
    _t("visit", OPEN_STATES | {S.CLOSED}, None, {P.VIEWER}, _("On-site visit done")),
    _t("warn", OPEN_STATES, None, {P.SYSTEM}, _("Deadline approaching")),
)
BY_VERB: dict[str, Transition] = {t.verb: t for t in TRANSITIONS}
# Verbs with their own form or flow: they are not offered as plain buttons.
INTERNAL_VERBS = frozenset({"visit", "warn"})


def _staff_department_id(user) -> int | None:
    staff = getattr(user, "staff", None) if user is not None and user.is_authenticated else None
    return staff.department_id if staff is not None and staff.active else None


def _holds_unit(user, *, area, department_id) -> bool:
    if area is not None:
        return scope_for(user, Perm.CASE_HANDLE).contains(area.path)
    return department_id is not None and department_id == _staff_department_id(user)


def parties(user, case: Case) -> set[Party]:
    """The relations ``user`` has to ``case``. The public and the system are never users."""
    if user is None or not user.is_authenticated:
        return set()
    found: set[Party] = set()
    if scope_for(user, Perm.CASE_DISPATCH).contains(case.desk_area.path):
        found.add(Party.DESK)
    if (case.holder_area_id or case.holder_department_id) and _holds_unit(
        user, area=case.holder_area, department_id=case.holder_department_id
    ):
        found.add(Party.HOLDER)
    supervise = scope_for(user, Perm.CASE_SUPERVISE)
    if supervise.contains(case.desk_area.path) or supervise.contains(case.area.path):
        found.add(Party.SUPERIOR)
    if case.reporter_id == user.pk:
        found.add(Party.REPORTER)
    for assignment in _active_assists(case):
        if _holds_unit(user, area=assignment.area, department_id=assignment.department_id):
            found.add(Party.ASSISTANT)
            break
    if found or can_view(user, case):
        found.add(Party.VIEWER)
    return found


def _active_assists(case: Case) -> list[CaseAssignment]:
    cache = case.__dict__.get("_assists")
    if cache is None:
        cache = list(case.assignments.filter(role="assist", active=True).select_related("area"))
        case.__dict__["_assists"] = cache
    return cache


def can_view(user, case: Case) -> bool:
    scope = scope_for(user, Perm.CASE_VIEW)
    if any(a is not None and scope.contains(a.path) for a in (case.area, case.desk_area, case.holder_area)):
        return True
    dept = _staff_department_id(user)
    if dept is not None and (case.holder_department_id == dept
                             or case.assignments.filter(department_id=dept).exists()):
        return True
    return case.assignments.filter(area__isnull=False).exists() and any(
        scope.contains(a.area.path) for a in case.assignments.filter(area__isnull=False).select_related("area")
    )


def allowed(transition: Transition, case: Case, found: set[Party]) -> bool:
    return case.state in transition.sources and bool(transition.parties & found) and _guard(transition.verb, case)


def _guard(verb: str, case: Case) -> bool:
    """Conditions beyond the state: a rating once per closure, reopening only after 不满意, and so on."""
    if verb == "rate":
        return not case.rating
    if verb == "reopen":
        return case.rating == "unsatisfied"
    if verb == "self_handle":
        return case.channel == "grid_worker"
    if verb == "escalate":
        return escalation_target(case) is not None
    return True


def _escalation_base(case: Case):
    """The level that gives up: the holding area while it is being worked, the desk otherwise."""
    if case.state in WORKING:
        return case.holder_area  # a department sends back instead of escalating
    return case.desk_area


def escalation_target(case: Case):
    """The level above that has a desk (片 → 村 → 镇 → 县): the nearest ancestor of the base that is a division
    (a group or other sub-village level has no desk of its own), or None at the top."""
    base = _escalation_base(case)
    if base is None or base.parent_id is None:
        return None
    cached = case.__dict__.get("_escalation_target")
    if cached is not None and cached[0] == base.pk:
        return cached[1]
    prefixes = [base.path[:i] for i in range(PATH_STEP, len(base.path), PATH_STEP)]
    above = Area.objects.filter(path__in=prefixes).exclude(level__rank=Rank.BELOW_VILLAGE)
    target = max(above, key=lambda a: len(a.path), default=None)
    case.__dict__["_escalation_target"] = (base.pk, target)
    return target


def allowed_verbs(user, case: Case) -> list[Transition]:
    """The actions ``user`` may take on ``case`` now, in table order."""
    found = parties(user, case)
    return [t for t in TRANSITIONS if t.verb not in INTERNAL_VERBS and allowed(t, case, found)]
