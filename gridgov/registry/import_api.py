"""API for importing and exporting residents: upload a file (a background job), follow the job, fetch its
error report, the template, and the person list as .xlsx. Thin: parse, call, return."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import FileResponse, HttpResponse
from ninja import File, Form, Query, Router, Schema, UploadedFile
from ninja.responses import Status

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm
from gridgov.registry import exports, importer, selectors

router = Router(tags=["registry import and export"])


class JobCreated(Schema):
    job_id: int


class JobOut(Schema):
    id: int
    file_name: str
    status: str
    dry_run: bool
    skip_invalid: bool
    progress: int  # percent of the rows checked
    total_rows: int
    processed_rows: int
    imported_rows: int
    error_rows: int
    message: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    report_url: str | None


def _job_out(request, job) -> dict:
    progress = min(100, job.processed_rows * 100 // job.total_rows) if job.total_rows else 0
    if job.finished_at is not None:
        progress = 100
    # GET …/registry/imports/{id} → …/registry/imports/{id}/report, wherever the router is mounted
    report = f"{request.path.rstrip('/')}/report" if job.report_path else None
    return {
        "id": job.pk, "file_name": job.file_name, "status": job.status, "dry_run": job.dry_run,
        "skip_invalid": job.skip_invalid, "progress": progress, "total_rows": job.total_rows,
        "processed_rows": job.processed_rows, "imported_rows": job.imported_rows, "error_rows": job.error_rows,
        "message": job.message, "created_at": job.created_at, "finished_at": job.finished_at,
        "report_url": report,
    }


@router.post("/registry/imports", response={202: JobCreated},
             summary="Upload residents (.xlsx or .csv) to be checked and imported in the background")
def create_import(request, file: File[UploadedFile], dry_run: Form[bool] = False, skip_invalid: Form[bool] = False):
    job = importer.import_job_create(actor=request.user, upload=file, dry_run=dry_run, skip_invalid=skip_invalid)
    return Status(202, {"job_id": job.pk})


@router.get("/registry/imports/{job_id}", response=JobOut, summary="An import job: status, progress, counts")
def get_import(request, job_id: int):
    return _job_out(request, importer.import_job_get(actor=request.user, pk=job_id))


@router.get("/registry/imports/{job_id}/report",
            summary="The error report of an import (.xlsx): the rows with problems and a summary")
def get_import_report(request, job_id: int):
    job = importer.import_job_get(actor=request.user, pk=job_id)
    handle = importer.import_report_open(actor=request.user, job=job)
    return FileResponse(handle, as_attachment=True, filename=f"{job.file_name.rsplit('.', 1)[0]}-errors.xlsx",
                        content_type=exports.XLSX)


@router.get("/registry/template.xlsx", summary="The import template: header, example row, dictionaries")
def get_template(request):
    response = HttpResponse(exports.template_workbook(actor=request.user), content_type=exports.XLSX)
    response["Content-Disposition"] = 'attachment; filename="residents-template.xlsx"'
    return response


class ExportQuery(Schema):
    """The filters of GET /persons."""

    area: str | None = None
    name: str = ""
    id_number: str = ""
    id_type: str = "citizen"
    tag: str = ""
    residence_type: str = ""
    colour: str = ""
    include_inactive: bool = False


@router.get("/registry/persons/export.xlsx",
            summary="The filtered person list as .xlsx (ID numbers and phones masked; audited)")
def export_persons(request, q: Query[ExportQuery]):
    area = area_selectors.area_get(actor=request.user, code=q.area, perm=Perm.RESIDENT_VIEW) if q.area else None
    filters = selectors.PersonFilters(
        area=area, name_prefix=q.name, id_number=q.id_number, id_type=q.id_type, tag=q.tag,
        residence_type=q.residence_type, household_class=q.colour, include_inactive=q.include_inactive,
    )
    return exports.person_export(actor=request.user, filters=filters)


class ListExportQuery(Schema):
    """The filters of the household (colour, number), house and place (type) lists."""

    area: str | None = None
    colour: str = ""
    number: str = ""
    type: str = ""


@router.get("/registry/{kind}/export.xlsx",
            summary="The filtered household, house or place list as .xlsx (phones masked; audited)")
def export_list(request, kind: Literal["households", "houses", "places"], q: Query[ListExportQuery]):
    area = area_selectors.area_get(actor=request.user, code=q.area, perm=Perm.RESIDENT_VIEW) if q.area else None
    filters = {"households": {"colour": q.colour, "number_prefix": q.number}, "houses": {},
               "places": {"place_type": q.type}}[kind]
    return exports.list_export(actor=request.user, kind=kind, area=area, **filters)
