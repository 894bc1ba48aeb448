from django.urls import path

from gridgov.cases import views

urlpatterns = [
    path("", views.inbox, name="cases_inbox"),
    path("all/", views.case_list, name="cases_list"),
    path("new/", views.case_create, name="cases_new"),
    path("new/duplicates/", views.case_duplicates, name="cases_duplicates"),
    path("stats/", views.case_stats, name="cases_stats"),
    path("categories/", views.category_list, name="cases_categories"),
    path("categories/new/", views.category_create, name="cases_category_new"),
    path("categories/<slug:code>/", views.category_edit, name="cases_category_edit"),
    path("submissions/", views.submission_list, name="cases_submissions"),
    path("notifications/read/", views.notifications_read, name="cases_notifications_read"),
    path("<int:case_id>/", views.case_detail, name="cases_detail"),
    path("<int:case_id>/act/<slug:verb>/", views.case_act, name="cases_act"),
    path("<int:case_id>/reveal-phone/", views.case_reveal_phone, name="cases_reveal_phone"),
    path("<int:case_id>/files/<int:attachment_id>/", views.case_file, name="cases_file"),
    path("<int:case_id>/files/<int:attachment_id>/thumb/", views.case_file, {"variant": "thumb"},
         name="cases_file_thumb"),
]
