from django.contrib import admin

from gridgov.areas.models import Area, AreaLevel, Department, Post, Staff


@admin.register(AreaLevel)
class AreaLevelAdmin(admin.ModelAdmin):
    """Read-only: levels are set with `gridgov levels`, which validates and audits."""

    list_display = ("depth", "name", "rank", "code_width")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    """Read-only here: the tree is changed through the pages and services, which validate and audit."""

    list_display = ("code", "name", "level", "kind", "path")
    list_filter = ("kind", "level")
    search_fields = ("code", "name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "area", "phone")
    search_fields = ("name",)
    raw_id_fields = ("area",)


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("name", "phone", "employment", "yearly_stipend", "active", "user")
    search_fields = ("name", "phone")
    raw_id_fields = ("user", "department")


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("staff", "area", "role", "slot", "start_date", "end_date")
    list_filter = ("role",)
    raw_id_fields = ("staff", "area")
