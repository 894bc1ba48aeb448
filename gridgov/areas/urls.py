from django.urls import path

from gridgov.areas import views

urlpatterns = [
    path("", views.area_index, name="area_index"),
    path("audit/", views.audit_log, name="audit_log"),
    path("staff/<int:staff_id>/", views.staff_detail, name="staff_detail"),
    path("departments/<int:department_id>/", views.department_detail, name="department_detail"),
    path("posts/<int:post_id>/end/", views.post_end, name="post_end"),
    path("<str:code>/", views.area_detail, name="area_detail"),
    path("<str:code>/children/", views.area_children, name="area_children"),
    path("<str:code>/map.geojson", views.area_map_data, name="area_map_data"),
    path("<str:code>/new/", views.area_create, name="area_create"),
    path("<str:code>/edit/", views.area_edit, name="area_edit"),
    path("<str:code>/move/", views.area_move, name="area_move"),
    path("<str:code>/roster/", views.roster, name="roster"),
    path("<str:code>/staff/new/", views.staff_create, name="staff_create"),
    path("<str:code>/departments/new/", views.department_create, name="department_create"),
]
