"""Audit rows. Every service writes one in the same transaction as the change it records."""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import models

from gridgov.core.models import AuditEvent

# The client address of the request being served; set by RequestContextMiddleware.
current_ip: ContextVar[str | None] = ContextVar("gridgov_current_ip", default=None)


def actor_label(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    staff = getattr(actor, "staff", None) if getattr(actor, "pk", None) else None
    name = getattr(actor, "username", "") or str(actor)
    return f"{name} ({staff.name})" if staff else name


def record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    area_path: str = "",
    data: dict[str, Any] | None = None,
    object_repr: str = "",
) -> AuditEvent:
    """Write one audit row. ``actor`` is a user, None (the system) or a label such as a CLI command."""
    user = actor if getattr(actor, "pk", None) and not isinstance(actor, str) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_name=actor_label(actor)[:150],
        ip=current_ip.get(),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=(object_repr or (str(obj) if obj is not None else ""))[:255],
        area_path=area_path,
        data=data or {},
    )


def client_ip(request) -> str | None:
    """The client address.

    REMOTE_ADDR, unless it is one of GRIDGOV_TRUSTED_PROXIES (the nginx in front of gunicorn): then the
    right-most address of X-Forwarded-For that is not itself a trusted proxy. A client cannot forge its
    address by sending the header itself, because only a trusted proxy's header is read.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = settings.TRUSTED_PROXIES
    if remote not in trusted:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    for address in reversed(forwarded):
        if address not in trusted:
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return remote
    return remote
