"""Open311 GeoReport v2, mounted at open311/v2/. Every resource comes as .json and as .xml."""

from django.urls import path, re_path

from gridgov.cases import open311

FMT = r"\.(?P<fmt>json|xml)"

urlpatterns = [
    path("", open311.root, name="open311_root"),
    re_path(rf"^discovery{FMT}$", open311.discovery, name="open311_discovery"),
    re_path(rf"^services{FMT}$", open311.service_list, name="open311_services"),
    re_path(rf"^services/(?P<code>[^/]+?){FMT}$", open311.service_definition, name="open311_service"),
    re_path(rf"^requests{FMT}$", open311.service_requests, name="open311_requests"),
    re_path(rf"^requests/(?P<request_id>[^/]+?){FMT}$", open311.service_request, name="open311_request"),
    re_path(rf"^tokens/(?P<token>[^/]+?){FMT}$", open311.token, name="open311_token"),
    re_path(r"^(?P<path>.*)$", open311.not_found),
]
