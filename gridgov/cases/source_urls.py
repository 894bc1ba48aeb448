"""The page of outside systems and their keys; mounted at cases/sources/ (before cases/)."""

from django.urls import path

from gridgov.cases import source_views

urlpatterns = [
    path("", source_views.source_list, name="cases_sources"),
    path("<int:source_id>/revoke/", source_views.source_revoke, name="cases_source_revoke"),
]
