from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from gridgov import views
from gridgov.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("api/v1/", api.urls),  # before the pages included at "", which every other URL would be tried against
    path("", include("gridgov.core.urls")),
    path("areas/", include("gridgov.areas.urls")),
    path("registry/", include("gridgov.registry.urls")),
    path("registry/", include("gridgov.registry.import_urls")),
    path("cases/sources/", include("gridgov.cases.source_urls")),
    path("cases/", include("gridgov.cases.urls")),
    path("report/", include("gridgov.cases.public_urls")),
    path("open311/v2/", include("gridgov.cases.open311_urls")),
    path("visits/", include("gridgov.visits.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=static("gridgov/favicon.svg"))),
]
