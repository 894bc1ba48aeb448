"""Password policy: 3 of 4 character classes, no reuse of the last N, expiry after a number of days."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def character_classes(password: str) -> int:
    checks = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    return sum(checks)


class CharacterClassValidator:
    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        if character_classes(password) < self.min_classes:
            raise ValidationError(self.get_help_text(), code="password_too_simple")

    def get_help_text(self):
        return _(
            "Your password must contain at least %(n)d of: lower-case letters, upper-case letters, "
            "digits, symbols."
        ) % {"n": self.min_classes}


class PasswordHistoryValidator:
    """Refuses the user's last N passwords; records each new password's hash when it is set."""

    def __init__(self, history: int = 5):
        self.history = history

    def validate(self, password, user=None):
        if user is None or not user.pk:
            return
        recent = user.password_history.all()[: self.history]
        if any(check_password(password, entry.password) for entry in recent):
            raise ValidationError(self.get_help_text(), code="password_reused")

    def password_changed(self, password, user=None):
        if user is None or not user.pk:
            return
        from gridgov.core.models import PasswordHistory

        PasswordHistory.objects.create(user=user, password=user.password)
        keep = list(user.password_history.values_list("pk", flat=True)[: self.history])
        user.password_history.exclude(pk__in=keep).delete()

    def get_help_text(self):
        return ngettext(
            "Your password must differ from your last password.",
            "Your password must differ from your last %(n)d passwords.",
            self.history,
        ) % {"n": self.history}


def password_changed_at(user) -> datetime | None:
    entry = user.password_history.first()
    return entry.changed_at if entry else None


def password_expired(user, *, now: datetime) -> bool:
    """True when the newest password is older than PASSWORD_MAX_AGE_DAYS (0: never expires)."""
    days = settings.PASSWORD_MAX_AGE_DAYS
    if not days or not user.has_usable_password():
        return False
    changed = password_changed_at(user) or user.date_joined  # a first password set without history
    return now - changed > timedelta(days=days)
