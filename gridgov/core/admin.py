from django.contrib import admin

from gridgov.core.models import ApiToken, AuditEvent


def superuser_only(request) -> bool:
    """The Django admin is for superusers only: they alone have the whole tree as their scope."""
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = superuser_only
admin.site.site_header = "gridgov"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never changed here: the services validate and audit every write."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_name", "ip", "action", "object_repr")
    list_filter = ("action",)
    search_fields = ("actor_name", "object_repr", "action")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("user", "key_hash", "prefix", "created_at", "expires_at", "created_ip", "last_used_at")

    def has_add_permission(self, request):
        return False
