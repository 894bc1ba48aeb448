"""Pages of visits (走访): the grid worker's day (phone-sized), a household's visit page with the three-tap
"nothing to report", the visit form, a visit with its corrections and the cases its findings opened, the
supervisor's completion rates, overdue households and map, and the visit rules. Thin: parse, call one service
or selector, render."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm, scope_for
from gridgov.core.errors import ApplicationError, NotFound
from gridgov.core.forms import add_application_error
from gridgov.visits import selectors, services
from gridgov.visits.forms import CorrectionForm, FindingCaseForm, LocationForm, PeriodForm, PolicyForm, VisitForm
from gridgov.visits.models import Finding, VisitKind

WORKER_TABLE_GRIDS = 1000  # above this many grids (a county), the per-worker table is left to the drill-down
WORKER_ROWS = 50  # the weakest shown
SECTIONS = [("overdue", gettext_lazy("Overdue")), ("today", gettext_lazy("Due today")),
            ("week", gettext_lazy("Due this week")), ("later", gettext_lazy("Later"))]


def _get(selector, request, **kwargs):
    try:
        return selector(actor=request.user, **kwargs)
    except NotFound as exc:
        raise Http404 from exc


def _may_view(request) -> bool:
    return not scope_for(request.user, Perm.VISIT_VIEW).is_empty


def _area(request, code: str):
    try:
        return area_selectors.area_get(actor=request.user, code=code, perm=Perm.VISIT_VIEW)
    except NotFound as exc:
        raise Http404 from exc


# --- the grid worker's day ------------------------------------------------------------------------------


@login_required
def day(request):
    """Compulsory visits first, then overdue, due today, due this week (``?all=1``: every household)."""
    if not _may_view(request):
        raise Http404
    code = request.GET.get("grid", "")
    if code:
        grid = _area(request, code)
        if not grid.is_grid:
            raise Http404
        grids = [grid]
    else:
        grids = selectors.worker_grids(actor=request.user)
        if not grids:
            return redirect("visits:supervise")
    show_all = request.GET.get("all") == "1"
    due = selectors.due_list(actor=request.user, grids=grids, horizon=None if show_all else 6)
    sections = [(key, label, [r for r in due.households if r.status == key]) for key, label in SECTIONS]
    return render(request, "visits/day.html", {
        "due": due, "sections": [s for s in sections if s[2]], "show_all": show_all, "grid_code": code,
        "today": timezone.localdate(), "nothing_due": not due.onsite and not due.households,
    })


# --- a household ------------------------------------------------------------------------------------------


def _household_page(request, household, **extra):
    due = selectors.household_due(actor=request.user, household=household)
    visits = list(selectors.visit_list(actor=request.user, household=household)[:10])
    onsite = [r for r in selectors.onsite_pending(actor=request.user, areas=[household.area])
              if r.case.household_id == household.pk]
    return render(request, "visits/household.html", {
        "household": household, "due": due, "visits": visits, "onsite": onsite,
        "can_log": selectors.can(request.user, Perm.VISIT_LOG, household.area), **extra,
    })


@login_required
def household(request, household_id: int):
    return _household_page(request, _get(selectors.household_get, request, pk=household_id))


@login_required
def quick(request, household_id: int):
    """Nothing to report: GET shows the confirmation (in place, with htmx), POST records a routine visit."""
    household = _get(selectors.household_get, request, pk=household_id)
    if not selectors.can(request.user, Perm.VISIT_LOG, household.area):
        raise Http404
    form = LocationForm(request.POST or None) if request.method == "POST" else LocationForm.fresh()
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.visit_create(actor=request.user, uuid=d["uuid"], household=household,
                                      kind=VisitKind.ROUTINE, lng=d.get("lng"), lat=d.get("lat"), crs=d["crs"],
                                      accuracy_m=d.get("accuracy_m"))
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return redirect("visits:household", household_id=household.pk)
            messages.success(request, _("Visit to %(number)s recorded: nothing to report.") % {
                "number": household.number})
            return redirect("visits:day")
        messages.error(request, _("The visit could not be recorded; try again."))
        return redirect("visits:household", household_id=household.pk)
    template = "visits/household.html#quick" if request.headers.get("HX-Request") else "visits/quick.html"
    return render(request, template, {"household": household, "form": form})


def _visit_form_page(request, *, household, case=None):
    area = household.area if household is not None else case.area
    if not selectors.can(request.user, Perm.VISIT_LOG, area):
        raise Http404
    helpers = list(household.helpers.filter(end_date__isnull=True)) if household is not None else []
    onsite = case is not None
    if request.method == "POST":
        form = VisitForm(request.POST, request.FILES, helpers=helpers, onsite=onsite)
    else:
        form = VisitForm(initial=LocationForm.fresh().initial, helpers=helpers, onsite=onsite)
    if request.method == "POST" and form.is_valid():
        try:
            visit, _created = services.visit_create(actor=request.user, uuid=form.cleaned_data["uuid"],
                                                    household=household, case=case, **form.service_fields())
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("The visit has been recorded."))
            if visit.findings:
                return redirect("visits:detail", visit_id=visit.pk)
            return redirect("visits:day")
    return render(request, "visits/form.html", {"form": form, "household": household, "case": case,
                                                "title": _("Compulsory on-site visit") if onsite else _("Log a visit")})


@login_required
def log(request, household_id: int):
    return _visit_form_page(request, household=_get(selectors.household_get, request, pk=household_id))


@login_required
def case_visit(request, case_id: int):
    """The compulsory on-site visit (五必到) a case calls for."""
    case = _get(selectors.case_get, request, pk=case_id)
    if case.category is None or not case.category.onsite_required:
        raise Http404
    return _visit_form_page(request, household=case.household, case=case)


# --- one visit ---------------------------------------------------------------------------------------------


@login_required
def detail(request, visit_id: int):
    visit = _get(selectors.visit_get, request, pk=visit_id)
    opened = {f.finding: f.case for f in visit.finding_cases.all()}
    categories = list(selectors.case_categories())
    may_report = not scope_for(request.user, Perm.CASE_REPORT).is_empty
    findings = []
    for code in visit.findings:
        form = None
        if code not in opened and visit.counts and may_report:
            form = FindingCaseForm(initial=services.finding_case_defaults(visit, code), categories=categories,
                                   prefix=code)
        findings.append({"code": code, "label": Finding(code).label, "case": opened.get(code), "form": form})
    return render(request, "visits/detail.html", {
        "visit": visit, "findings": findings, "chain": selectors.visit_chain(visit=visit),
        "can_correct": visit.counts and selectors.can(request.user, Perm.VISIT_LOG, visit.area),
    })


@login_required
@require_POST
def finding_case(request, visit_id: int, finding: str):
    visit = _get(selectors.visit_get, request, pk=visit_id)
    if finding not in visit.findings:
        raise Http404
    form = FindingCaseForm(request.POST, categories=selectors.case_categories(), prefix=finding)
    if not form.is_valid():
        messages.error(request, " ".join(" ".join(e) for e in form.errors.values()))
        return redirect("visits:detail", visit_id=visit.pk)
    try:
        category = selectors.category_get(code=form.cleaned_data["category"]) if form.cleaned_data["category"] \
            else None
        case, _created = services.finding_case_open(actor=request.user, visit=visit, finding=finding,
                                                    title=form.cleaned_data["title"],
                                                    description=form.cleaned_data["description"], category=category)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Case %(number)s opened (tracking code %(code)s).") % {
            "number": case.number, "code": case.tracking_code})
    return redirect("visits:detail", visit_id=visit.pk)


@login_required
def correct(request, visit_id: int):
    original = _get(selectors.visit_get, request, pk=visit_id)
    if not selectors.can(request.user, Perm.VISIT_LOG, original.area):
        raise Http404
    helpers = list(original.household.helpers.filter(end_date__isnull=True)) if original.household else []
    onsite = original.kind == VisitKind.ONSITE
    if request.method == "POST":
        form = CorrectionForm(request.POST, request.FILES, helpers=helpers, onsite=onsite)
    else:
        initial = {**LocationForm.fresh().initial, "kind": original.kind, "findings": original.findings,
                   "note": original.note, "visited_at": timezone.localtime(original.visited_at),
                   "lng": original.lng, "lat": original.lat, "accuracy_m": original.accuracy_m,
                   "companions": "，".join(c["name"] for c in original.companions)}
        form = CorrectionForm(initial=initial, helpers=helpers, onsite=onsite)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["withdrawn"]:
                visit, _created = services.visit_withdraw(actor=request.user, original=original,
                                                          uuid=form.cleaned_data["uuid"],
                                                          note=form.cleaned_data["note"])
            else:
                fields = form.service_fields()
                visit, _created = services.visit_correct(actor=request.user, original=original,
                                                         uuid=form.cleaned_data["uuid"], **fields)
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("The correction has been recorded."))
            return redirect("visits:detail", visit_id=visit.pk)
    return render(request, "visits/form.html", {"form": form, "household": original.household, "case": original.case,
                                                "original": original, "title": _("Correct a visit")})


@login_required
def photo(request, photo_id: int):
    item = _get(selectors.photo_get, request, pk=photo_id)
    response = FileResponse(item.file.open("rb"), content_type=item.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- the supervisor's view ----------------------------------------------------------------------------------


def _period(request) -> tuple[dt.date, dt.date]:
    today = timezone.localdate()
    form = PeriodForm(request.GET)
    start = end = None
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    return start or today.replace(day=1), end or today


def _supervised_area(request):
    code = request.GET.get("area", "")
    if code:
        return _area(request, code)
    roots = scope_for(request.user, Perm.VISIT_VIEW)
    if roots.everything:
        return area_selectors.area_roots(actor=request.user).first()
    if not roots.roots:
        raise Http404
    area = area_selectors.visible_areas(request.user, Perm.VISIT_VIEW).filter(path=roots.roots[0]).first()
    if area is None:
        raise Http404
    return area


@login_required
def supervise(request):
    """Completion rates per area below and per worker, overdue households and a map, for a period."""
    if not _may_view(request):
        raise Http404
    area = _supervised_area(request)
    if area is None:
        raise Http404
    start, end = _period(request)
    try:
        stats = selectors.completion_stats(actor=request.user, area=area, start=start, end=end)
        workers = None
        if selectors.grid_count(area=area) <= WORKER_TABLE_GRIDS:
            workers = selectors.completion_stats(actor=request.user, area=area, start=start, end=end,
                                                 group="worker").rows[:WORKER_ROWS]
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(f"{request.path}?area={area.code}")
    overdue = selectors.overdue_households(actor=request.user, area=area)
    return render(request, "visits/supervise.html", {
        "area": area, "start": start, "end": end, "stats": stats, "workers": workers,
        "overdue": overdue[:200] if overdue is not None else None, "overdue_total": len(overdue or []),
        "ancestors": area_selectors.area_ancestors(actor=request.user, area=area),
        "form": PeriodForm(initial={"area": area.code, "start": start, "end": end}),
    })


@login_required
def supervise_map(request):
    """GeoJSON of the households under an area, visited or not in the period."""
    if not _may_view(request):
        raise Http404
    area = _area(request, request.GET.get("area", ""))
    start, end = _period(request)
    try:
        points = selectors.visit_map(actor=request.user, area=area, start=start, end=end)
    except ApplicationError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    if points is None:
        return JsonResponse({"type": "FeatureCollection", "features": [], "too_many": True})
    return JsonResponse({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [p["lng"], p["lat"]]},
         "properties": {"id": p["id"], "number": p["number"], "colour": p["colour"], "visited": p["visited"]}}
        for p in points]})


# --- the rules -------------------------------------------------------------------------------------------


@login_required
def policy(request):
    if not _may_view(request) and not request.user.is_superuser:
        raise Http404
    form = PolicyForm(request.POST or None) if request.user.is_superuser else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            try:
                services.visit_policy_set(actor=request.user, **{k: v for k, v in form.cleaned_data.items()
                                                                 if v not in (None, "")})
            except ApplicationError as exc:
                add_application_error(form, exc)
            else:
                messages.success(request, _("The new visit rules are in force; the due lists follow at once."))
                return redirect("visits:policy")
    current = selectors.policy_in_force()
    return render(request, "visits/policy.html", {
        "policy": current, "form": form, "history": selectors.policy_history()[:10],
        "rules": selectors.rules_described(actor=request.user, rules=current.rules),
    })
