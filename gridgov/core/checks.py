"""Deployment checks of gridgov's own settings (run by `gridgov check --deploy`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def field_key_check(app_configs, **kwargs):
    from django.core.exceptions import ImproperlyConfigured

    from gridgov.core import crypto

    if not settings.FIELD_KEY:
        return [checks.Error("GRIDGOV_FIELD_KEY is not set: sensitive resident data cannot be stored.",
                             hint="32 random bytes in base64; see docs/deploy.md.", id="gridgov.E001")]
    try:
        crypto.reset_caches()
        crypto.current_key()
        crypto.known_keys()
        crypto.cipher_name()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="gridgov.E002")]
    return []
