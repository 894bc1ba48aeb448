"""Pages of the area tree, the people on duty and the audit log. Thin: parse, call, render."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridgov.areas import selectors, services
from gridgov.areas.forms import (
    AreaCreateForm,
    AreaEditForm,
    AreaMoveForm,
    AuditFilterForm,
    DepartmentForm,
    HandlerForm,
    PostCreateForm,
    StaffCreateForm,
)
from gridgov.areas.models import Role, Slot
from gridgov.areas.scope import Perm, scope_for
from gridgov.core import audit
from gridgov.core.errors import ApplicationError, NotFound
from gridgov.core.exports import csv_response, xlsx_response
from gridgov.core.forms import add_application_error
from gridgov.core.selectors import audit_list


def _area(request, code: str, perm: Perm = Perm.AREA_VIEW):
    try:
        return selectors.area_get(actor=request.user, code=code, perm=perm)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _can(request, perm: Perm, area) -> bool:
    return scope_for(request.user, perm).contains(area.path)


@login_required
def area_index(request):
    roots = list(selectors.area_children(actor=request.user, parent=None))
    if len(roots) == 1:
        return redirect("area_detail", code=roots[0].code)
    return render(request, "areas/index.html", {"roots": roots})


@login_required
def area_detail(request, code: str):
    area = _area(request, code)
    posts = list(selectors.area_posts(actor=request.user, area=area)) if _can(request, Perm.STAFF_VIEW, area) else []
    filled = {p.slot for p in posts if p.role == Role.GRID_WORKER}
    context = {
        "area": area,
        "vacant_slots": [s for s in Slot.values if s not in filled] if area.is_grid else [],
        "ancestors": selectors.area_ancestors(actor=request.user, area=area),
        "children": selectors.area_children(actor=request.user, parent=area)[:500],
        "counts": selectors.area_counts(area=area),
        "posts": posts,
        "can_change": _can(request, Perm.AREA_CHANGE, area),
        "can_staff": _can(request, Perm.STAFF_CHANGE, area),
        "can_view_staff": _can(request, Perm.STAFF_VIEW, area),
        "departments": selectors.department_list(actor=request.user, area=area),
    }
    return render(request, "areas/detail.html", context)


@login_required
def area_children(request, code: str):
    """htmx partial: the children of an area, loaded when its row is opened."""
    area = _area(request, code)
    children = selectors.area_children(actor=request.user, parent=area)[:500]
    return render(request, "areas/detail.html#children", {"area": area, "children": children})


@login_required
def area_map_data(request, code: str):
    """GeoJSON of an area and its children's boundaries, for the small map."""
    area = _area(request, code)
    features = []
    children = selectors.area_children(actor=request.user, parent=area)
    for item, role in [(area, "self")] + [(c, "child") for c in children]:
        if item.geometry:
            features.append({
                "type": "Feature",
                "geometry": item.geometry,
                "properties": {"code": item.code, "name": item.name, "kind": item.kind, "role": role},
            })
    return JsonResponse({"type": "FeatureCollection", "features": features})


@login_required
def area_create(request, code: str):
    parent = _area(request, code)
    if not _can(request, Perm.AREA_CHANGE, parent):
        raise Http404
    form = AreaCreateForm(request.POST or None, parent=parent)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            area = services.area_create(
                actor=request.user, code=data["code"], name=data["name"], level=data["level"], parent=parent,
                kind=data["kind"], dedicated_type=data["dedicated_type"], geometry=data["geometry"] or None,
            )
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("%(name)s has been created.") % {"name": area.name})
            return redirect("area_detail", code=area.code)
    return render(request, "areas/form.html", {"form": form, "area": parent, "title": _("New area under %(name)s")
                                               % {"name": parent.name}})


@login_required
def area_edit(request, code: str):
    area = _area(request, code)
    if not _can(request, Perm.AREA_CHANGE, area):
        raise Http404
    initial = {"name": area.name, "dedicated_type": area.dedicated_type,
               "geometry": json.dumps(area.geometry, ensure_ascii=False) if area.geometry else ""}
    form = AreaEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.area_update(actor=request.user, area=area, name=data["name"],
                                 dedicated_type=data["dedicated_type"], geometry=data["geometry"] or None)
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("The changes have been saved."))
            return redirect("area_detail", code=area.code)
    return render(request, "areas/form.html", {"form": form, "area": area, "title": _("Edit %(name)s")
                                               % {"name": area.name}})


@login_required
def area_move(request, code: str):
    area = _area(request, code)
    if not _can(request, Perm.AREA_CHANGE, area):
        raise Http404
    form = AreaMoveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new_parent = selectors.area_get(actor=request.user, code=data["new_parent_code"].strip())
            moved = services.area_move(actor=request.user, area=area, new_parent=new_parent,
                                       new_code=data["new_code"] or None)
        except ApplicationError as exc:
            if isinstance(exc, NotFound):
                form.add_error("new_parent_code", _("No such area in your scope."))
            else:
                add_application_error(form, exc)
        else:
            messages.success(request, _("%(name)s has been moved.") % {"name": moved.name})
            return redirect("area_detail", code=moved.code)
    return render(request, "areas/form.html", {
        "form": form, "area": area, "title": _("Move %(name)s") % {"name": area.name},
        "note": _("The whole subtree moves with it; codes below it are rewritten to extend the new code."),
    })


@login_required
def roster(request, code: str):
    area = _area(request, code, Perm.STAFF_VIEW)
    gaps = request.GET.get("gaps") == "1"
    grids = selectors.roster_grids(actor=request.user, area=area, only_gaps=gaps)
    page = Paginator(grids, 100).get_page(request.GET.get("page"))
    return render(request, "areas/roster.html", {
        "area": area, "page": page, "rows": selectors.roster_rows(page.object_list), "gaps": gaps,
        "counts": selectors.area_counts(area=area),
        "ancestors": selectors.area_ancestors(actor=request.user, area=area),
    })


@login_required
def staff_create(request, code: str):
    area = _area(request, code, Perm.STAFF_VIEW)
    if not _can(request, Perm.STAFF_CHANGE, area):
        raise Http404
    form = StaffCreateForm(request.POST or None, initial={"slot": request.GET.get("slot", ""),
                                                          "role": request.GET.get("role", "")})
    if request.method == "POST" and form.is_valid():
        try:
            staff = services.staff_create(actor=request.user, area=area, **form.cleaned_data)
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("%(name)s has been registered.") % {"name": staff.name})
            return redirect("area_detail", code=area.code)
    return render(request, "areas/form.html", {"form": form, "area": area,
                                               "title": _("New staff member on %(name)s") % {"name": area.name}})


@login_required
def department_create(request, code: str):
    area = _area(request, code)
    if not _can(request, Perm.AREA_CHANGE, area):
        raise Http404
    form = DepartmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            department = services.department_create(actor=request.user, area=area, **form.cleaned_data)
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("%(name)s has been created.") % {"name": department.name})
            return redirect("department_detail", department_id=department.pk)
    return render(request, "areas/form.html", {"form": form, "area": area,
                                               "title": _("New department of %(name)s") % {"name": area.name}})


@login_required
def department_detail(request, department_id: int):
    try:
        department = selectors.department_get(actor=request.user, pk=department_id)
        handlers = selectors.department_handlers(actor=request.user, department=department)
    except NotFound as exc:
        raise Http404 from exc
    can_change = _can(request, Perm.STAFF_CHANGE, department.area)
    form = HandlerForm(request.POST or None) if can_change else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            try:
                staff = services.department_handler_create(actor=request.user, department=department,
                                                           **form.cleaned_data)
            except ApplicationError as exc:
                add_application_error(form, exc)
            else:
                messages.success(request, _("%(name)s has been registered.") % {"name": staff.name})
                return redirect("department_detail", department_id=department.pk)
    return render(request, "areas/department.html", {"department": department, "handlers": handlers, "form": form})


@login_required
def staff_detail(request, staff_id: int):
    try:
        staff = selectors.staff_get(actor=request.user, pk=staff_id)
    except NotFound as exc:
        raise Http404 from exc
    form = PostCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            area = selectors.area_get(actor=request.user, code=data["area_code"].strip(), perm=Perm.STAFF_VIEW)
            services.post_create(actor=request.user, staff=staff, area=area, role=data["role"],
                                 slot=data["slot"], start_date=data["start_date"])
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("The post has been added."))
            return redirect("staff_detail", staff_id=staff.pk)
    posts = selectors.staff_posts(actor=request.user, staff=staff)
    changeable = {p.pk for p in posts if _can(request, Perm.STAFF_CHANGE, p.area)}
    return render(request, "areas/staff.html", {"staff": staff, "posts": posts, "form": form,
                                                "changeable": changeable})


@login_required
@require_POST
def post_end(request, post_id: int):
    try:
        post = selectors.post_get(actor=request.user, pk=post_id)
    except NotFound as exc:
        raise Http404 from exc
    try:
        services.post_end(actor=request.user, post=post)
        messages.success(request, _("The post has ended."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("area_detail", code=post.area.code)


AUDIT_HEADER = ["time", "actor", "address", "action", "object type", "object id", "object", "details"]


@login_required
def audit_log(request):
    scope = scope_for(request.user, Perm.AUDIT_VIEW)
    if scope.is_empty:
        raise Http404
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_list(scope=scope, actor_name=filters.get("actor", ""), action=filters.get("action", ""),
                        object_repr=filters.get("object", ""), date_from=filters.get("date_from"),
                        date_to=filters.get("date_to"))
    export = request.GET.get("export")
    if export in ("csv", "xlsx"):
        audit.record(actor=request.user, action="audit.export", data={"format": export, "filters": {
            k: str(v) for k, v in filters.items() if v}})
        rows = (
            [timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.actor_name, e.ip or "", e.action, e.object_type,
             e.object_id, e.object_repr, json.dumps(e.data, ensure_ascii=False)]
            for e in events.iterator(chunk_size=2000)
        )
        if export == "csv":
            return csv_response("audit.csv", AUDIT_HEADER, rows)
        return xlsx_response("audit.xlsx", "audit", AUDIT_HEADER, rows)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "areas/audit.html", {"form": form, "page": page, "query": query.urlencode()})
