"""Audit rows for logins and failed logins (Django's authentication signals)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from gridgov.core import audit


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit.record(actor=user, action="login.ok", obj=user, data={"via": _via(request)})


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record(actor=user, action="logout", obj=user)


@receiver(user_login_failed)
def audit_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    user = get_user_model().objects.filter(username=username).first()
    locked = bool(getattr(request, "axes_locked_out", False))
    audit.record(
        actor=username or "anonymous",
        action="login.locked" if locked else "login.failed",
        obj=user,
        object_repr=username,
        data={"via": _via(request)},
    )


def _via(request) -> str:
    path = getattr(request, "path", "") or ""
    return "api" if path.startswith("/api/") else "page"
