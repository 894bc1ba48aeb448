from django.urls import path

from gridgov.visits import views

app_name = "visits"
urlpatterns = [
    path("", views.day, name="day"),
    path("households/<int:household_id>/", views.household, name="household"),
    path("households/<int:household_id>/quick/", views.quick, name="quick"),
    path("households/<int:household_id>/log/", views.log, name="log"),
    path("cases/<int:case_id>/", views.case_visit, name="case_visit"),
    path("<int:visit_id>/", views.detail, name="detail"),
    path("<int:visit_id>/correct/", views.correct, name="correct"),
    path("<int:visit_id>/findings/<slug:finding>/case/", views.finding_case, name="finding_case"),
    path("photos/<int:photo_id>/", views.photo, name="photo"),
    path("supervise/", views.supervise, name="supervise"),
    path("supervise/map.json", views.supervise_map, name="supervise_map"),
    path("policy/", views.policy, name="policy"),
]
