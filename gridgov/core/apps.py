from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "gridgov.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from gridgov.core import checks, receivers  # noqa: F401  (deployment checks, audit of logins)
