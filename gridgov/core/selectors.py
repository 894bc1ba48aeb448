"""Reads of the core app: API tokens and the audit log."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from gridgov.core.models import ApiToken, AuditEvent
from gridgov.core.scope import Scope


def token_list(*, actor) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=actor)


def audit_list(
    *,
    scope: Scope,
    actor_name: str = "",
    action: str = "",
    object_repr: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events inside ``scope`` (the areas whose audit the actor may read), newest first.

    Events tied to no area (logins, tokens, level set-up) are visible with the whole-tree scope only.
    """
    qs = AuditEvent.objects.all() if scope.everything else AuditEvent.objects.filter(scope.q("area_path"))
    if actor_name:
        qs = qs.filter(actor_name__icontains=actor_name)
    if action:
        qs = qs.filter(action__startswith=action)
    if object_repr:
        qs = qs.filter(object_repr__icontains=object_repr)
    if date_from:
        qs = qs.filter(at__date__gte=date_from)
    if date_to:
        qs = qs.filter(at__date__lte=date_to)
    return qs.order_by("-at", "-id")
