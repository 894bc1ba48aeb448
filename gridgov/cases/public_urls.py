"""The resident's public pages, mounted at /report/ (no login)."""

from django.urls import path

from gridgov.cases import public_views as views

urlpatterns = [
    path("", views.report, name="report"),
    path("done/", views.report_done, name="report_done"),
    path("similar/", views.report_similar, name="report_similar"),
    path("outlines.json", views.report_outlines, name="report_outlines"),
    path("track/", views.track, name="track"),
    path("track/<str:code>/", views.track_case, name="track_case"),
    path("track/<str:code>/rate/", views.track_rate, name="track_rate"),
    path("track/<str:code>/photos/<int:pk>/", views.track_photo, name="track_photo"),
    path("track/<str:code>/photos/<int:pk>/thumb/", views.track_photo, {"size": "thumb"}, name="track_photo_thumb"),
]
