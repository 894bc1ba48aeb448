from django.contrib import admin

from gridgov.areas.models import Area, AreaLevel, Department, Post, Staff
from gridgov.core.admin import ReadOnlyAdmin


@admin.register(AreaLevel)
class AreaLevelAdmin(ReadOnlyAdmin):
    """Read-only: levels are set with `gridgov levels`, which validates and audits."""

    list_display = ("depth", "name", "rank", "code_width")


@admin.register(Area)
class AreaAdmin(ReadOnlyAdmin):
    """Read-only here: the tree is changed through the pages and services, which validate and audit."""

    list_display = ("code", "name", "level", "kind", "path")
    list_filter = ("kind", "level")
    search_fields = ("code", "name")


@admin.register(Department)
class DepartmentAdmin(ReadOnlyAdmin):
    list_display = ("name", "area", "phone")
    search_fields = ("name",)
    raw_id_fields = ("area",)


@admin.register(Staff)
class StaffAdmin(ReadOnlyAdmin):
    list_display = ("name", "phone", "employment", "yearly_stipend", "active", "user")
    search_fields = ("name", "phone")
    raw_id_fields = ("user", "department")


@admin.register(Post)
class PostAdmin(ReadOnlyAdmin):
    list_display = ("staff", "area", "role", "slot", "start_date", "end_date")
    list_filter = ("role",)
    raw_id_fields = ("staff", "area")
