"""Writes of the core app: API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.utils import timezone

from gridgov.core import audit, authcache
from gridgov.core.audit import client_ip
from gridgov.core.errors import ApplicationError, ErrorCode, NotFound
from gridgov.core.models import ApiToken
from gridgov.core.passwords import password_expired


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, request, username: str, password: str) -> tuple[str, ApiToken]:
    """Checks the credentials (with lockout) and issues a bearer token. Returns the token once.

    Not one transaction as a whole: a failed attempt's audit row and lockout count must stay.
    """
    # Text with NUL cannot be a stored user name (and PostgreSQL refuses to compare it).
    user = None if "\x00" in username + password else authenticate(
        request=request, username=username, password=password
    )
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise ApplicationError(
                ErrorCode.LOCKED_OUT,
                "Too many failed logins: this account is locked for a while.",
                status=429,
            )
        raise ApplicationError(ErrorCode.INVALID_CREDENTIALS, "Wrong user name or password.", status=401)
    if password_expired(user, now=timezone.now()):
        raise ApplicationError(
            ErrorCode.PASSWORD_EXPIRED, "The password has expired: change it on the web page first.", status=403
        )
    with transaction.atomic():
        return _issue_token(request, user)


def _issue_token(request, user) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)
    api_token = ApiToken.objects.create(
        user=user,
        key_hash=hash_token(token),
        prefix=token[:8],
        expires_at=timezone.now() + timedelta(hours=settings.API_TOKEN_TTL_HOURS),
        created_ip=client_ip(request),
    )
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    audit.record(actor=user, action="token.create", obj=api_token)
    return token, api_token


def token_authenticate(token: str) -> ApiToken | None:
    """The active token for this bearer value, with its user and staff record, or None. Marks it used (at most once
    a minute). The rows come from this process's cache when no change since they were read could touch them
    (``gridgov.core.authcache``); the user carries the counter's value for the posts kept there too."""
    key_hash = hash_token(token)
    gen = authcache.generation()
    api_token = authcache.tokens.get(key_hash, gen)
    if api_token is None:
        api_token = (
            ApiToken.objects.select_related("user", "user__staff")
            .filter(key_hash=key_hash, revoked_at__isnull=True)
            .first()
        )
        if api_token is None:
            return None
        authcache.tokens.put(key_hash, gen, api_token)
    now = timezone.now()
    if api_token.expires_at <= now or not api_token.user.is_active:
        return None
    if api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)  # no trigger: the kept row stays good
        api_token.last_used_at = now
        authcache.tokens.put(key_hash, gen, api_token)
    api_token.user.__dict__[authcache.USER_GENERATION] = gen
    return api_token


@transaction.atomic
def token_revoke(*, actor, token_id: int) -> ApiToken:
    """Revokes one of the actor's own tokens (a superuser may revoke anyone's)."""
    tokens = ApiToken.objects.select_for_update()
    if not actor.is_superuser:
        tokens = tokens.filter(user=actor)
    api_token = tokens.filter(pk=token_id).first()
    if api_token is None:
        raise NotFound("No such token.")
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
        audit.record(actor=actor, action="token.revoke", obj=api_token)
    return api_token
