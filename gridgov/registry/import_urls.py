"""Pages for importing and exporting residents; mounted under registry/ beside gridgov.registry.urls."""

from django.urls import path

from gridgov.registry import import_views

urlpatterns = [
    path("import/", import_views.import_upload, name="registry_import"),
    path("import/template.xlsx", import_views.import_template, name="registry_import_template"),
    path("import/jobs/<int:job_id>/", import_views.import_job, name="registry_import_job"),
    path("import/jobs/<int:job_id>/status/", import_views.import_job_status, name="registry_import_job_status"),
    path("import/jobs/<int:job_id>/report.xlsx", import_views.import_report, name="registry_import_report"),
    path("persons/export.xlsx", import_views.person_export, name="registry_person_export"),
    *[path(f"{kind}/export.xlsx", import_views.list_export, {"kind": kind}, name=f"registry_{kind}_export")
      for kind in ("households", "houses", "places")],
]
