"""Pages staff use for cases: the inbox, the list, the case page with its actions, the hotline form, the
statistics and the taxonomy. Thin: parse, call one service or selector, render."""

from __future__ import annotations

import datetime as dt
import mimetypes

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gridgov.areas import selectors as area_selectors
from gridgov.areas.models import AreaLevel
from gridgov.areas.scope import ROLE_PERMS, Perm, active_posts, scope_for
from gridgov.cases import attachments, selectors, services, workflow
from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.forms import (
    CaseCreateForm,
    CaseFilterForm,
    CategoryForm,
    StatsFilterForm,
    action_form,
    area_choice_label,
)
from gridgov.cases.models import (
    OPEN_STATES,
    Category,
    Channel,
    Domain,
    Mode,
    Outcome,
    Rating,
    State,
    SubmissionStatus,
    Urgency,
)
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.forms import add_application_error
from gridgov.registry import selectors as registry_selectors

PAGE_SIZE = 50
TAB_LABELS = {
    "pending": gettext_lazy("Awaiting acceptance (待受理)"),
    "todo": gettext_lazy("To do (待办)"),
    "done": gettext_lazy("Done (已办)"),
    "overdue": gettext_lazy("Overdue (超时)"),
    "supervised": gettext_lazy("Supervised (督办)"),
}

# The next step of the loop comes first on the case page; the other actions follow in the table's order.
PRIMARY = ("accept", "register", "dispatch", "start", "report", "assist_report", "close", "rate", "resume", "reopen",
           "supervision_report")


# --- helpers ---------------------------------------------------------------------------------------


def _require_case_user(request) -> None:
    if not selectors.may_use_cases(actor=request.user):
        raise DjangoPermissionDenied


def _case(request, case_id: int):
    try:
        return selectors.case_get(actor=request.user, pk=case_id)
    except NotFound as exc:
        raise Http404 from exc


def _page(request, qs, count: int | None = None):
    paginator = Paginator(qs, PAGE_SIZE)
    if count is not None:
        paginator.count = count  # known already (the inbox's tab counts)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def _deadline_mark(case, now: dt.datetime) -> str:
    if case.state not in OPEN_STATES or case.deadline_at is None or case.state == State.SUSPENDED:
        return ""
    if case.deadline_at < now:
        return "overdue"
    if case.deadline_at <= now + dt.timedelta(hours=settings.CASE_WARN_HOURS):
        return "soon"
    return ""


def _marked(page):
    now = timezone.now()
    rows = list(page.object_list)
    for case in rows:
        case.mark = _deadline_mark(case, now)
    page.object_list = rows
    return page


def _area_datalist(scope) -> list[tuple[str, str]]:
    areas = selectors.area_options(scope=scope)
    top = min((len(a.path) for a in areas), default=0)
    return [(a.code, area_choice_label(a, top)) for a in areas]


def _tabs(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    return [(tab, TAB_LABELS[tab], counts.get(tab, 0)) for tab in selectors.INBOX_TABS]


# --- the inbox, the list, notifications --------------------------------------------------------------


@login_required
def inbox(request):
    _require_case_user(request)
    user = request.user
    counts = selectors.inbox_counts(actor=user)
    tab = request.GET.get("tab", "")
    if tab not in selectors.INBOX_TABS:
        tab = next((t for t in ("pending", "todo") if counts.get(t)), "todo")
    page, query = _page(request, selectors.inbox(actor=user, tab=tab), counts[tab])
    notifications = selectors.notifications_unread(actor=user)
    return render(request, "cases/inbox.html", {
        "tab": tab, "tabs": _tabs(counts), "page": _marked(page), "query": query,
        "notifications": notifications[:20], "unread": notifications.count(),
        "can_report": not scope_for(user, Perm.CASE_REPORT).is_empty,
    })


@login_required
def case_list(request):
    _require_case_user(request)
    user = request.user
    domains = list(Domain.objects.all())
    categories = list(selectors.categories_active())
    form = CaseFilterForm(request.GET or None, domains=domains, categories=categories)
    filters = selectors.CaseFilters()
    qs = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        state = data["state"]
        filters = selectors.CaseFilters(
            state=sorted(OPEN_STATES) if state == "open" else [state] if state else None,
            domain=form._domains.get(data["domain"]) if data["domain"] else None,
            category=form._categories.get(data["category"]) if data["category"] else None,
            overdue={"yes": True, "no": False}.get(data["overdue"]),
            channel=data["channel"], created_from=data["created_from"], created_to=data["created_to"],
            text=data["q"],
        )
        if data["area"]:
            try:
                filters.area = area_selectors.area_get(actor=user, code=data["area"].strip(), perm=Perm.CASE_VIEW)
            except NotFound:
                form.add_error("area", _("No such area in your areas."))
    if form.is_bound and form.errors:
        qs = selectors.case_visible(actor=user).none()
    if qs is None:
        qs = selectors.case_list(actor=user, filters=filters)
    page, query = _page(request, qs)
    return render(request, "cases/list.html", {
        "form": form, "page": _marked(page), "query": query,
        "areas": _area_datalist(scope_for(user, Perm.CASE_VIEW)),
        "can_report": not scope_for(user, Perm.CASE_REPORT).is_empty,
    })


@login_required
@require_POST
def notifications_read(request):
    """Marks one notification (``pk``) or all of the user's unread notifications as read."""
    pks = [int(p) for p in request.POST.getlist("pk") if p.isascii() and p.isdigit() and len(p) < 19]
    services.notification_mark_read(actor=request.user, pks=pks or None)
    if request.headers.get("HX-Request"):
        notifications = selectors.notifications_unread(actor=request.user)
        return render(request, "cases/inbox.html#notifications",
                      {"notifications": notifications[:20], "unread": notifications.count()})
    return redirect("cases_inbox")


@login_required
def submission_list(request):
    """The user's own cases sent with ``Prefer: respond-async``: queued, filed (with the case) or refused (why)."""
    status = request.GET.get("status", "")
    if status not in SubmissionStatus.values:
        status = ""
    page, query = _page(request, selectors.submissions(actor=request.user, status=status))
    channels = dict(Channel.choices)
    for submission in page.object_list:
        submission.channel_label = channels.get(submission.data.get("channel"), "")
    return render(request, "cases/submissions.html", {
        "page": page, "query": query, "status": status,
        "statuses": [("", _("All")), *SubmissionStatus.choices],
    })


# --- the case page and its actions -------------------------------------------------------------------


def _label(choices, value) -> str:
    return str(dict(choices).get(value, value))


def _when(value: str) -> str:
    moment = parse_datetime(value or "")
    if moment is None:
        return value
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _describe(data: dict, categories: dict[str, str], verb: str = "") -> list[tuple[str, str, str]]:
    """A timeline step's data as (label, value, link) rows people can read."""
    rows: list[tuple[str, str, str]] = []
    for key, value in (data or {}).items():
        if value in (None, "", [], {}):
            continue
        link = ""
        if key == "channel":
            label, value = _("Channel"), _label(Channel.choices, value)
        elif key == "placed":
            if value:
                continue
            label, value = _("Place"), _("could not be placed; landed with the centre")
        elif key == "category":
            label, value = _("Category"), categories.get(value, value)
        elif key == "urgency":
            label, value = _("Urgency"), _label(Urgency.choices, value)
        elif key == "mode":
            label, value = _("Handling mode"), _label(Mode.choices, value)
        elif key == "lead":
            label = _("Lead unit")
        elif key in ("assist", "units"):
            label, value = _("Assisting units"), "、".join(value)
        elif key == "deadline_at":
            label, value = _("Report back by") if verb == "supervise" else _("Deadline"), _when(value)
        elif key == "holder":
            label = _("Handled by")
        elif key == "from":
            label = _("Escalated from") if verb == "escalate" else _("Returned by")
        elif key == "to":
            label = _("Escalated to")
        elif key == "automatic":
            label, value = _("Automatic"), _("yes")
        elif key == "rework":
            label = _("Times sent back for rework")
        elif key == "outcome":
            label, value = _("Outcome"), _label(Outcome.choices, value)
        elif key == "on_time":
            label, value = _("Closed on time"), _("yes") if value else _("no")
        elif key == "resolved_at":
            label = _("Resolved at")
        elif key == "rating":
            label, value = _("Rating"), _label(Rating.choices, value)
        elif key == "urged":
            label = _("Times urged")
        elif key == "review_on":
            day = parse_date(str(value))
            label, value = _("Review on"), day.isoformat() if day else value
        elif key == "original":
            label = _("Original case")
            number = str(value)
            if selectors.pk_from_number(number):
                link = reverse("cases_detail", args=[selectors.pk_from_number(number)])
        elif key == "visit_id":
            label = _("Visit")
        else:
            label = key
        rows.append((str(label), str(value), link))
    return rows


def _timeline(case) -> list:
    categories = dict(Category.objects.values_list("code", "name"))
    steps = list(selectors.case_timeline(case=case))
    labels = {t.verb: t.label for t in workflow.TRANSITIONS}
    for step in steps:
        step.label = labels.get(step.verb, _("Filed") if step.verb == "create" else step.verb)
        step.from_label = _label(State.choices, step.from_state) if step.from_state else ""
        step.to_label = _label(State.choices, step.to_state) if step.to_state != step.from_state else ""
        step.rows = _describe(step.data, categories, step.verb)
        if step.actor_id or step.actor_name not in ("", "system"):
            step.who = step.actor_name
        elif step.verb == "create":  # filed from outside: the resident, or another system
            step.who = case.source.name if case.source_id else _("the reporter")
        else:
            step.who = _("System")
    return steps


def _render_case(request, case, *, bound=None, status: int = 200):
    user = request.user
    transitions = workflow.allowed_verbs(user, case)
    categories = list(selectors.categories_active())
    units = None
    if any(t.verb in ("dispatch", "reassign") for t in transitions):
        units = selectors.dispatch_units(case=case)
    forms = []
    for t in transitions:
        if bound is not None and bound.verb == t.verb:
            forms.append(bound)
        else:
            forms.append(action_form(t, case=case, actor=user, categories=categories, units=units))
    forms.sort(key=lambda f: PRIMARY.index(f.verb) if f.verb in PRIMARY else len(PRIMARY))
    merge_candidates = []
    if any(t.verb == "merge" for t in transitions):
        merge_candidates = selectors.duplicates_visible(actor=user, category=case.category, lng=case.lng,
                                                        lat=case.lat, exclude=case.pk)
    attachments = list(case.attachments.all())
    now = timezone.now()
    can_reveal_phone = bool(case.reporter_phone_masked) and (
        workflow.Party.DESK in workflow.parties(user, case)
        or scope_for(user, Perm.RESIDENT_REVEAL).contains(case.area.path))
    return render(request, "cases/detail.html", {
        "case": case,
        "mark": _deadline_mark(case, now),
        "forms": forms,
        "open_verb": bound.verb if bound is not None else "",
        "assignments": selectors.case_assignments(case=case),
        "timeline": _timeline(case),
        "photos": [a for a in attachments if a.is_image],
        "files": [a for a in attachments if not a.is_image],
        "dispatch_areas": [(a.code, area_choice_label(a, len(case.desk_area.path))) for a in units[0]]
        if units else [],
        "merge_candidates": merge_candidates,
        "can_see_household": case.household_id is not None
        and scope_for(user, Perm.RESIDENT_VIEW).contains(case.household.area.path),
        "can_reveal_phone": can_reveal_phone,
        "supervision_overdue": case.supervision_deadline_at is not None and case.supervision_deadline_at < now
        and case.state in OPEN_STATES,
    }, status=status)


@login_required
def case_detail(request, case_id: int):
    return _render_case(request, _case(request, case_id))


@login_required
@require_POST
def case_act(request, case_id: int, verb: str):
    """One workflow action. Not the user's to take: 403; not possible any more: a message; bad input: the form
    again with its errors. Nothing is saved unless the service accepts the whole action."""
    case = _case(request, case_id)
    transition = workflow.BY_VERB.get(verb)
    if transition is None or verb in workflow.INTERNAL_VERBS:
        raise Http404
    user = request.user
    found = workflow.parties(user, case)
    if not transition.parties & found:
        raise DjangoPermissionDenied
    if not workflow.allowed(transition, case, found):
        messages.error(request, _("This action is not possible now: the case is %(state)s.")
                       % {"state": case.get_state_display()})
        return redirect("cases_detail", case_id=case.pk)
    form = action_form(transition, case=case, actor=user, data=request.POST, files=request.FILES)
    if form.is_valid():
        try:
            services.case_act(actor=user, case=case, verb=verb, note=form.cleaned_data["note"], uploads=form.uploads(),
                              **form.params())
        except NotFound as exc:
            raise Http404 from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied from exc
        except ApplicationError as exc:
            if exc.status == 409:
                messages.error(request, exc.message)
                return redirect("cases_detail", case_id=case.pk)
            add_application_error(form, exc)
        else:
            messages.success(request, _("Done: %(action)s.") % {"action": transition.label})
            if selectors.case_visible(actor=user).filter(pk=case.pk).exists():
                return redirect("cases_detail", case_id=case.pk)
            return redirect("cases_inbox")
        case = _case(request, case_id)  # the service refused: show the case as it is saved
    return _render_case(request, case, bound=form)


@login_required
@require_POST
def case_reveal_phone(request, case_id: int):
    """htmx: swaps the reporter's masked phone for the full number (audited). Refused: the masked one stays."""
    case = _case(request, case_id)
    try:
        phone = services.case_reveal_phone(actor=request.user, case=case)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from exc
        return HttpResponse(f'<span class="error">{escape(exc.message)}</span>', status=403)
    return HttpResponse(f'<span class="revealed">{escape(phone)}</span>')


@login_required
def case_file(request, case_id: int, attachment_id: int, variant: str = "file"):
    """A case's photo or file, only to those who may see the case, streamed through the storage API."""
    case = _case(request, case_id)
    try:
        attachment = selectors.case_attachment_get(case=case, pk=attachment_id)
    except NotFound as exc:
        raise Http404 from exc
    thumb = variant == "thumb" and bool(attachment.thumbnail)
    field = attachment.thumbnail if thumb else attachment.file
    if not field:
        raise Http404
    try:
        handle = field.storage.open(field.name, "rb")
    except OSError as exc:
        raise Http404 from exc
    image = attachment.is_image
    content_type = (mimetypes.guess_type(field.name)[0] if thumb else None) or attachment.content_type
    if not image:
        content_type = "application/octet-stream"
    response = FileResponse(handle, content_type=content_type, as_attachment=not image, filename=attachment.name)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- filing a case -----------------------------------------------------------------------------------


def _grid_staff(user) -> bool:
    return any(p.area.is_grid and Perm.CASE_HANDLE in ROLE_PERMS.get(p.role, ()) for p in active_posts(user))


@login_required
def case_create(request):
    user = request.user
    scope = scope_for(user, Perm.CASE_REPORT)
    if scope.is_empty:
        raise DjangoPermissionDenied
    categories = list(selectors.categories_active())
    form = CaseCreateForm(request.POST or None, request.FILES or None, categories=categories,
                          grid_staff=_grid_staff(user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        area = household = None
        if data["area"].strip():
            try:
                area = area_selectors.area_get(actor=user, code=data["area"].strip(), perm=Perm.CASE_REPORT)
            except NotFound:
                form.add_error("area", _("No such area in your areas."))
        if data["household"].strip():
            household = registry_selectors.household_list(actor=user).filter(number=data["household"].strip()).first()
            if household is None:
                form.add_error("household", _("No such household in your areas."))
        if not form.errors:
            try:
                with attachments.discard_on_error():
                    case = services.case_create(
                        actor=user, channel=data["channel"], description=data["description"], title=data["title"],
                        category=form.chosen_category(), urgency=data["urgency"] or None, area=area, lng=data["lng"],
                        lat=data["lat"], address=data["address"], reporter_name=data["reporter_name"],
                        reporter_phone=data["reporter_phone"], household=household, client_key=data["client_key"],
                        handle_directly=data.get("handle_directly", False), uploads=data["photos"],
                    )
            except NotFound:
                form.add_error("area", _("No such area in your areas."))
            except ApplicationError as exc:
                if exc.code == CaseErrorCode.INVALID_ATTACHMENT:
                    form.add_error("photos", exc.message)
                else:
                    add_application_error(form, exc)
            else:
                messages.success(request, _("Case %(number)s has been filed.") % {"number": case.number})
                if selectors.case_visible(actor=user).filter(pk=case.pk).exists():
                    return redirect("cases_detail", case_id=case.pk)
                return redirect("cases_inbox")
    return render(request, "cases/create.html", {
        "form": form,
        "areas": _area_datalist(scope),
        "map_area": area_selectors.area_roots(actor=user).filter(geometry__isnull=False).first(),
    })


@login_required
def case_duplicates(request):
    """htmx: open cases of the chosen category near the chosen point, before the new one is filed."""
    _require_case_user(request)
    found = []
    category_id, lng, lat = request.GET.get("category", ""), request.GET.get("lng", ""), request.GET.get("lat", "")
    try:
        point = (float(lng), float(lat))
    except ValueError:
        point = None
    if point is not None and not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):  # also NaN, infinity
        point = None
    if category_id.isascii() and category_id.isdigit() and len(category_id) < 19 and point is not None:
        category = selectors.categories_active().filter(pk=int(category_id)).first()
        found = selectors.duplicates_visible(actor=request.user, category=category, lng=point[0], lat=point[1])
    return render(request, "cases/create.html#duplicates", {"duplicates": found, "asked": point is not None})


# --- statistics ----------------------------------------------------------------------------------------


BAR_STEP = 5


def _pct(value: float | None) -> dict | None:
    if value is None:
        return None
    return {"text": f"{value * 100:.1f}%", "width": int(round(value * 100 / BAR_STEP)) * BAR_STEP}


def _stats_rows(rows, blank: str = "—") -> list[dict]:
    """Rows with their rates as text and bar widths; the row without a key (no domain, not resolved) last."""
    out = []
    for r in sorted(rows, key=lambda r: not r.key or r.key == "—"):
        label = blank if not r.key or r.key == "—" else r.label
        row = {"label": label, "total": r.total, "closed": r.closed, "close": _pct(r.close_rate),
               "on_time": _pct(r.on_time_rate), "rework": _pct(r.rework_rate),
               "satisfied": _pct(r.satisfaction_rate)}
        row["rates"] = [(row["close"], "close"), (row["on_time"], "on-time"), (row["rework"], "rework"),
                        (row["satisfied"], "satisfied")]
        out.append(row)
    return out


@login_required
def case_stats(request):
    _require_case_user(request)
    user = request.user
    form = StatsFilterForm(request.GET or None)
    area = created_from = created_to = None
    valid = not form.is_bound or form.is_valid()
    if form.is_bound and valid:
        created_from, created_to = form.cleaned_data["created_from"], form.cleaned_data["created_to"]
        code = form.cleaned_data["area"].strip()
        if code:
            try:
                area = area_selectors.area_get(actor=user, code=code, perm=Perm.CASE_VIEW)
            except NotFound:
                form.add_error("area", _("No such area in your areas."))
                valid = False
    stats = selectors.case_stats(actor=user, area=area, created_from=created_from, created_to=created_to) \
        if valid else None
    groups = []
    total = None
    if stats is not None:
        total = _stats_rows(stats["total"])[0]
        groups = [(_("By domain"), _stats_rows(stats["domain"], _("not yet categorized"))),
                  (_("By channel"), _stats_rows(stats["channel"])),
                  (_("By level resolved"), _stats_rows(stats["level"], _("not resolved yet")))]
    return render(request, "cases/stats.html", {
        "form": form, "area": area, "total": total, "groups": groups,
        "areas": _area_datalist(scope_for(user, Perm.CASE_VIEW)),
    })


# --- the taxonomy ------------------------------------------------------------------------------------


@login_required
def category_list(request):
    _require_case_user(request)
    return render(request, "cases/categories.html", {"domains": selectors.taxonomy(),
                                                     "can_edit": request.user.is_superuser})


def _category_form_page(request, category: Category | None):
    if not request.user.is_superuser:
        raise DjangoPermissionDenied
    domains = list(Domain.objects.all())
    levels = list(AreaLevel.objects.all())
    initial = {}
    if category is not None:
        initial = {"domain": category.domain_id, "code": category.code, "name": category.name,
                   "urgency": category.urgency, "deadline_days": category.deadline_days,
                   "deadline_hours": category.deadline_hours, "default_level": category.default_level_id,
                   "onsite_required": category.onsite_required, "active": category.active}
    form = CategoryForm(request.POST or None, initial=initial, domains=domains, levels=levels,
                        editing=category is not None)
    if request.method == "POST" and form.is_valid():
        kwargs = form.service_kwargs()
        if category is None and Category.objects.filter(code=kwargs["code"]).exists():
            form.add_error("code", _("This code is taken."))
        else:
            try:
                saved = services.category_save(actor=request.user, **kwargs)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied from exc
            except ApplicationError as exc:
                add_application_error(form, exc)
            else:
                messages.success(request, _("%(name)s has been saved.") % {"name": saved.name})
                return redirect("cases_categories")
    title = _("Edit %(name)s") % {"name": category.name} if category is not None else _("New category")
    return render(request, "cases/category_form.html", {"form": form, "title": title, "category": category})


@login_required
def category_create(request):
    return _category_form_page(request, None)


@login_required
def category_edit(request, code: str):
    if not request.user.is_superuser:
        raise DjangoPermissionDenied
    category = Category.objects.select_related("domain").filter(code=code).first()
    if category is None:
        raise Http404
    return _category_form_page(request, category)
