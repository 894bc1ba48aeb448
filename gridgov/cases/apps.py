from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "gridgov.cases"
    label = "cases"
    verbose_name = _("Cases")

    def ready(self):
        from gridgov.core import crypto

        crypto.register_sealed_column("cases.Case", "reporter_phone_sealed")
        crypto.register_sealed_column("cases.CaseSource", "secret_sealed")
        crypto.register_sealed_column("cases.CaseSubmission", "reporter_phone_sealed")
