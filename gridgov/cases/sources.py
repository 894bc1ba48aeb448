"""Outside systems that file cases, and their keys.

An Open311 client authenticates with an API key sent as ``api_key``; only its SHA-256 is kept. A video-AI
system signs each webhook with a secret (HMAC-SHA256); the secret is kept sealed with the field key, because
checking a signature needs the secret itself. Either value is shown once, when the source is created.
Only system administrators (superusers) and the console (`gridgov open311-key`, `gridgov webhook-source`)
manage sources; every change leaves an audit row.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.cases.models import CaseSource, Channel
from gridgov.core import audit, crypto
from gridgov.core.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied

SOURCE_CHANNELS = (Channel.OPEN311, Channel.VIDEO_AI)
KEY_PREFIX_LENGTH = 8


class SourceKeyError(PermissionDenied):
    """An Open311 request whose api_key is missing, unknown or revoked (403 in GeoReport v2)."""


def _check_admin(actor) -> None:
    """The console (a label such as "gridgov open311-key") and the system may; of users, only superusers."""
    if actor is None or isinstance(actor, str):
        return
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied(_("Only system administrators manage outside systems and their keys."))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _invalid(message: str, field: str = "name") -> ApplicationError:
    return ApplicationError(ErrorCode.INVALID_INPUT, message, fields={field: [message]})


def source_create(*, actor, name: str, channel: str) -> tuple[CaseSource, str]:
    """Register an outside system. Returns the source and its API key (Open311) or webhook secret (video AI):
    the plain value exists only in this return value."""
    _check_admin(actor)
    name = (name or "").strip()
    if not name:
        raise _invalid(_("Give the outside system a name."))
    if len(name) > 100 or "\x00" in name or any(ch in name for ch in "\r\n\t"):
        raise _invalid(_("The name must be one line of at most 100 characters."))
    if channel not in SOURCE_CHANNELS:
        raise _invalid(_("An outside system files cases through Open311 or as video-AI alarms."), "channel")
    if CaseSource.objects.filter(name__iexact=name).exists():
        raise _invalid(_("An outside system with this name exists already."))
    if channel == Channel.OPEN311:
        plain = secrets.token_urlsafe(30)  # 40 characters, 240 bits
        source = CaseSource(name=name, channel=channel, key_hash=hash_key(plain), key_prefix=plain[:KEY_PREFIX_LENGTH])
    else:
        plain = secrets.token_hex(32)  # 256 bits, hex so that shell tools (openssl) take it as it is
        source = CaseSource(name=name, channel=channel, key_prefix=plain[:KEY_PREFIX_LENGTH],
                            secret_sealed=crypto.encrypt(plain))
    try:
        with transaction.atomic():
            source.save()
            audit.record(actor=actor, action="case_source.create", obj=source,
                         data={"name": name, "channel": channel, "key_prefix": source.key_prefix})
    except IntegrityError as exc:  # the same name created at the same moment
        raise _invalid(_("An outside system with this name exists already.")) from exc
    return source, plain


def source_revoke(*, actor, source: CaseSource) -> CaseSource:
    """Revoke a source's key or secret at once: its requests are refused from now on. Its cases stay."""
    _check_admin(actor)
    with transaction.atomic():
        locked = CaseSource.objects.select_for_update().get(pk=source.pk)
        if locked.revoked_at is None:
            locked.active = False
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["active", "revoked_at"])
            audit.record(actor=actor, action="case_source.revoke", obj=locked,
                         data={"name": locked.name, "channel": locked.channel, "key_prefix": locked.key_prefix})
    source.active, source.revoked_at = locked.active, locked.revoked_at
    return locked


def source_by_api_key(key: str | None) -> CaseSource:
    """The active Open311 source whose key this is. Raises ``SourceKeyError`` (403) otherwise.

    The key is looked up by its SHA-256, so no comparison of secrets happens in Python."""
    key = (key or "").strip()
    if not key:
        raise SourceKeyError(_("api_key was not provided: ask the system administrator for an Open311 key."))
    if len(key) > 200:
        raise SourceKeyError(_("Invalid api_key."))
    source = CaseSource.objects.filter(key_hash=hash_key(key), channel=Channel.OPEN311).first()
    if source is None:
        raise SourceKeyError(_("Invalid api_key."))
    if not source.active or source.revoked_at is not None:
        raise SourceKeyError(_("This api_key was revoked."))
    return source


def source_webhook_secret(source: CaseSource) -> str:
    """The plain webhook secret of a video-AI source (for checking signatures)."""
    return crypto.decrypt(source.secret_sealed) if source.secret_sealed else ""


# --- reads (system administrators only) ----------------------------------------------------------


def source_list(*, actor, channel: str | None = None) -> QuerySet[CaseSource]:
    _check_admin(actor)
    qs = CaseSource.objects.filter(channel__in=SOURCE_CHANNELS)
    if channel:
        qs = qs.filter(channel=channel)
    return qs.order_by("name")


def source_get(*, actor, pk: int | None = None, name: str | None = None, channel: str | None = None) -> CaseSource:
    qs = source_list(actor=actor, channel=channel)
    source = qs.filter(pk=pk).first() if pk is not None else qs.filter(name__iexact=(name or "").strip()).first()
    if source is None:
        raise NotFound(_("No such outside system."))
    return source
