"""Pages for importing and exporting residents: the template, the upload form, the job's progress (polled by
htmx every second), its error report, and the person list as .xlsx. Thin: parse, call, render."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm, scope_for
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.registry import exports, importer, selectors
from gridgov.registry.importer import MAX_UPLOAD_BYTES
from gridgov.registry.models import JobStatus


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File (.xlsx or .csv)"),
                           help_text=_("Laid out like the template; at most 200 MB."))
    dry_run = forms.BooleanField(label=_("Only check, import nothing"), required=False)
    skip_invalid = forms.BooleanField(label=_("Import the good rows even if some rows have problems"),
                                      required=False)


def _allowed(request) -> None:
    """Import pages need Perm.RESIDENT_EXPORT somewhere: without any view of residents 'not found', with a
    view but without the permission 'forbidden'."""
    user = request.user
    if scope_for(user, Perm.RESIDENT_EXPORT).is_empty:
        if scope_for(user, Perm.RESIDENT_VIEW).is_empty:
            raise Http404
        raise DjangoPermissionDenied


def _job(request, job_id: int):
    try:
        return importer.import_job_get(actor=request.user, pk=job_id)
    except NotFound as exc:
        raise Http404 from exc


@login_required
def import_upload(request):
    _allowed(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = importer.import_job_create(actor=request.user, upload=data["file"], dry_run=data["dry_run"],
                                             skip_invalid=data["skip_invalid"])
        except PermissionDenied as exc:
            raise DjangoPermissionDenied from exc
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("registry_import_job", job_id=job.pk)
    return render(request, "registry/import_upload.html", {
        "form": form, "jobs": importer.import_job_list(actor=request.user),
        "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
    })


@login_required
@require_GET
def import_template(request):
    _allowed(request)
    data = exports.template_workbook(actor=request.user)
    response = HttpResponse(data, content_type=exports.XLSX)
    response["Content-Disposition"] = 'attachment; filename="residents-template.xlsx"'
    return response


def _job_context(job) -> dict:
    running = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    percent = min(100, job.processed_rows * 100 // job.total_rows) if job.total_rows else (0 if running else 100)
    return {"job": job, "running": running, "percent": percent}


@login_required
@require_GET
def import_job(request, job_id: int):
    job = _job(request, job_id)
    return render(request, "registry/import_job.html", _job_context(job))


@login_required
@require_GET
def import_job_status(request, job_id: int):
    """htmx partial: the job's state, polled every second while it runs."""
    job = _job(request, job_id)
    return render(request, "registry/import_job.html#status", _job_context(job))


@login_required
@require_GET
def import_report(request, job_id: int):
    job = _job(request, job_id)
    try:
        handle = importer.import_report_open(actor=request.user, job=job)
    except NotFound as exc:
        raise Http404 from exc
    name = f"{job.file_name.rsplit('.', 1)[0]}-errors.xlsx"
    return FileResponse(handle, as_attachment=True, filename=name, content_type=exports.XLSX)


@login_required
@require_GET
def person_export(request):
    """The person list with the filters of its page (area, name, id_number, tag, residence_type, colour,
    all=1) as .xlsx, masked and audited."""
    _allowed(request)
    code = request.GET.get("area") or ""
    try:
        area = area_selectors.area_get(actor=request.user, code=code, perm=Perm.RESIDENT_VIEW) if code else None
        filters = selectors.PersonFilters(
            area=area, name_prefix=request.GET.get("name", ""), id_number=request.GET.get("id_number", ""),
            tag=request.GET.get("tag", ""), residence_type=request.GET.get("residence_type", ""),
            household_class=request.GET.get("colour", ""), include_inactive=request.GET.get("all") == "1",
        )
        return exports.person_export(actor=request.user, filters=filters)
    except NotFound as exc:
        raise Http404 from exc
    except PermissionDenied as exc:
        raise DjangoPermissionDenied from exc


def _list_filters(kind: str, params) -> dict:
    if kind == "households":
        return {"colour": params.get("colour", ""), "number_prefix": params.get("number", "")}
    if kind == "places":
        return {"place_type": params.get("type", "")}
    return {}


@login_required
@require_GET
def list_export(request, kind: str):
    """The household, house or place list with the filters of its page as .xlsx, masked and audited."""
    _allowed(request)
    code = request.GET.get("area") or ""
    try:
        area = area_selectors.area_get(actor=request.user, code=code, perm=Perm.RESIDENT_VIEW) if code else None
        return exports.list_export(actor=request.user, kind=kind, area=area, **_list_filters(kind, request.GET))
    except NotFound as exc:
        raise Http404 from exc
    except PermissionDenied as exc:
        raise DjangoPermissionDenied from exc
