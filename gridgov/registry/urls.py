from django.urls import path

from gridgov.registry import views

urlpatterns = [
    path("households/", views.household_list, name="household_list"),
    path("households/new/", views.household_create, name="household_create"),
    path("households/<int:household_id>/", views.household_detail, name="household_detail"),
    path("households/<int:household_id>/edit/", views.household_edit, name="household_edit"),
    path("households/<int:household_id>/override/", views.household_override, name="household_override"),
    path("households/<int:household_id>/helpers/", views.household_helper, name="household_helper"),
    path("persons/", views.person_list, name="person_list"),
    path("persons/new/", views.person_create, name="person_create"),
    path("persons/<int:person_id>/", views.person_detail, name="person_detail"),
    path("persons/<int:person_id>/edit/", views.person_edit, name="person_edit"),
    path("persons/<int:person_id>/reveal/<str:field>/", views.person_reveal, name="person_reveal"),
    path("persons/<int:person_id>/events/", views.person_event, name="person_event"),
    path("persons/<int:person_id>/tags/", views.person_tag_add, name="person_tag_add"),
    path("persons/<int:person_id>/tags/<int:person_tag_id>/end/", views.person_tag_end, name="person_tag_end"),
    path("tags/", views.tag_list, name="tag_list"),
    path("rules/", views.rules, name="household_rules"),
    path("houses/", views.house_list, name="house_list"),
    path("houses/new/", views.house_create, name="house_create"),
    path("places/", views.place_list, name="place_list"),
    path("places/new/", views.place_create, name="place_create"),
]
