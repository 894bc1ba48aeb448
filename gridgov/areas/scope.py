"""Area scope: the one place that decides which areas an actor may read or change.

A user's scope for a permission is the union of the subtrees of their active posts whose role
grants that permission; superusers have the whole tree. Subtrees are path ranges
(``path >= p AND path < next(p)``), which use the path index on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from gridgov.core.scope import Perm, Scope, next_prefix  # noqa: F401  (re-exported)

_READ = {Perm.AREA_VIEW, Perm.STAFF_VIEW, Perm.RESIDENT_VIEW}
_GRID_TEAM = frozenset(_READ)
_KEEPERS = {Perm.RESIDENT_CHANGE, Perm.RESIDENT_REVEAL}  # keep the registry of their grid up to date

# Which permissions each role grants on its post's subtree. Data, not scattered ifs.
ROLE_PERMS: dict[str, frozenset[Perm]] = {
    "area_admin": frozenset(_READ | {Perm.AREA_CHANGE, Perm.STAFF_CHANGE, Perm.STAFF_GRANT, Perm.AUDIT_VIEW,
                                     Perm.RESIDENT_CHANGE, Perm.RESIDENT_EXPORT}),
    "centre_operator": frozenset(_READ | _KEEPERS | {Perm.STAFF_CHANGE, Perm.RESIDENT_EXPORT, Perm.SENSITIVE_TAGS}),
    "village_staff": frozenset(_READ | _KEEPERS | {Perm.AREA_CHANGE, Perm.STAFF_CHANGE, Perm.RESIDENT_EXPORT,
                                                   Perm.SENSITIVE_TAGS}),
    "leader": frozenset(_READ),
    "grid_leader": frozenset(_READ | _KEEPERS | {Perm.SENSITIVE_TAGS}),
    "grid_worker": frozenset(_READ | _KEEPERS),
    "grid_police": frozenset(_READ | {Perm.RESIDENT_REVEAL, Perm.SENSITIVE_TAGS}),
    "grid_doctor": _GRID_TEAM,
    "grid_instructor": _GRID_TEAM,
    "household_leader": _GRID_TEAM,
    "security_head": _GRID_TEAM,
    "supervisor": _GRID_TEAM,
    "legal_adviser": _GRID_TEAM,
}


def active_posts(user, day=None):
    from gridgov.areas.models import Post

    day = day or timezone.localdate()
    return (
        Post.objects.filter(staff__user=user, staff__active=True, start_date__lte=day)
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=day))
        .select_related("area", "area__level")
    )


def scope_for(user, perm: Perm) -> Scope:
    """The areas ``user`` holds ``perm`` on. Cached on the user object for the request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Scope()
    if user.is_superuser:
        return Scope(everything=True)
    cache = user.__dict__.setdefault("_gridgov_scopes", {})
    if perm not in cache:
        posts = cache.get("_posts")
        if posts is None:
            posts = cache["_posts"] = list(active_posts(user))
        cache[perm] = Scope.of_paths(p.area.path for p in posts if perm in ROLE_PERMS.get(p.role, ()))
    return cache[perm]


def has_perm_anywhere(user, perm: Perm) -> bool:
    return not scope_for(user, perm).is_empty
