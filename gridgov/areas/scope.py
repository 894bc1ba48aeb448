"""Area scope: the one place that decides which areas an actor may read or change.

A user's scope for a permission is the union of the subtrees of their active posts whose role
grants that permission; superusers have the whole tree. Subtrees are path ranges
(``path >= p AND path < next(p)``), which use the path index on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from gridgov.core import authcache
from gridgov.core.scope import Perm, Scope, next_prefix, register_whole_tree_check  # noqa: F401  (re-exported)

_READ = {Perm.AREA_VIEW, Perm.STAFF_VIEW, Perm.RESIDENT_VIEW}
_GRID_TEAM = frozenset(_READ)
_KEEPERS = {Perm.RESIDENT_CHANGE, Perm.RESIDENT_REVEAL}  # keep the registry of their grid up to date
# Settings that hold everywhere (the official calendar): they take effect only through a post that covers the
# whole tree, that is an area administrator of the county (see holds_on_whole_tree).
_WHOLE_TREE = {Perm.CALENDAR_CHANGE}

_CASE_TEAM = {Perm.CASE_VIEW, Perm.CASE_REPORT}
_CASE_HANDLERS = _CASE_TEAM | {Perm.CASE_HANDLE}
_CASE_DESK = _CASE_HANDLERS | {Perm.CASE_DISPATCH, Perm.CASE_SUPERVISE}

# Which permissions each role grants on its post's subtree. Data, not scattered ifs.
ROLE_PERMS: dict[str, frozenset[Perm]] = {
    "area_admin": frozenset(_READ | _WHOLE_TREE | {Perm.AREA_CHANGE, Perm.STAFF_CHANGE, Perm.STAFF_GRANT,
                                                   Perm.AUDIT_VIEW, Perm.RESIDENT_CHANGE, Perm.RESIDENT_EXPORT,
                                                   Perm.CASE_VIEW}),
    "centre_operator": frozenset(_READ | _KEEPERS | _CASE_DESK | {Perm.STAFF_CHANGE, Perm.RESIDENT_EXPORT,
                                                                  Perm.SENSITIVE_TAGS}),
    "village_staff": frozenset(_READ | _KEEPERS | _CASE_DESK | {Perm.AREA_CHANGE, Perm.STAFF_CHANGE,
                                                                Perm.RESIDENT_EXPORT, Perm.SENSITIVE_TAGS}),
    "leader": frozenset(_READ | {Perm.CASE_VIEW, Perm.CASE_SUPERVISE}),
    "grid_leader": frozenset(_READ | _KEEPERS | _CASE_HANDLERS | {Perm.SENSITIVE_TAGS}),
    "grid_worker": frozenset(_READ | _KEEPERS | _CASE_HANDLERS),
    "grid_police": frozenset(_READ | _CASE_HANDLERS | {Perm.RESIDENT_REVEAL, Perm.SENSITIVE_TAGS}),
    "grid_doctor": frozenset(_GRID_TEAM | _CASE_TEAM),
    "grid_instructor": frozenset(_GRID_TEAM | _CASE_TEAM),
    "household_leader": frozenset(_GRID_TEAM | _CASE_TEAM),
    "security_head": frozenset(_GRID_TEAM | _CASE_TEAM),
    "supervisor": frozenset(_GRID_TEAM | {Perm.CASE_VIEW, Perm.CASE_SUPERVISE}),
    "legal_adviser": frozenset(_GRID_TEAM | {Perm.CASE_VIEW}),
}

# Visits (走访): every role that reads the residents reads their visits; the staff who go to the households
# record them (not the desks, administrators and leaders, who read the rates).
_VISIT_LOGGERS = ("village_staff", "grid_leader", "grid_worker", "grid_police", "grid_doctor", "grid_instructor",
                  "household_leader", "security_head")
ROLE_PERMS = {role: perms | {Perm.VISIT_VIEW} | ({Perm.VISIT_LOG} if role in _VISIT_LOGGERS else set())
              for role, perms in ROLE_PERMS.items()}


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
        cache[perm] = Scope.of_paths(p.area.path for p in posts_of(user) if perm in ROLE_PERMS.get(p.role, ()))
    return cache[perm]


def posts_of(user) -> list:
    """``user``'s active posts today, read once per request (cached on the user object with the scopes), from the
    process's cache while no change could have touched them (``gridgov.core.authcache``; a user authenticated by
    a bearer token brings the counter's value along, others read it here)."""
    cache = user.__dict__.setdefault("_gridgov_scopes", {})
    if "_posts" not in cache:
        gen = user.__dict__.get(authcache.USER_GENERATION)
        if gen is None:
            gen = authcache.generation()
        key = (user.pk, timezone.localdate())
        posts = authcache.posts.get(key, gen)
        if posts is None:
            posts = list(active_posts(user, key[1]))
            authcache.posts.put(key, gen, posts)
        cache["_posts"] = posts
    return cache["_posts"]


def has_perm_anywhere(user, perm: Perm) -> bool:
    return not scope_for(user, perm).is_empty


def holds_on_whole_tree(user, perm: Perm) -> bool:
    """Whether ``user``'s scope for ``perm`` covers every top-level area (and there is one).

    Superusers are answered by ``gridgov.core.scope.holds_on_whole_tree`` before this is asked.
    """
    from gridgov.areas.models import Area

    scope = scope_for(user, perm)
    if scope.everything:
        return True
    if scope.is_empty:
        return False
    tops = Area.objects.filter(parent__isnull=True).values_list("path", flat=True)
    found = False
    for path in tops:
        if not scope.contains(path):
            return False
        found = True
    return found


register_whole_tree_check(holds_on_whole_tree)
