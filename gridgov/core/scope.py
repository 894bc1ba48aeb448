"""Area scope as data: a set of subtrees (materialized-path prefixes), or everything.

Subtrees are path ranges (``path >= p AND path < next(p)``), which use the path index on SQLite and
PostgreSQL alike. Which subtrees a user holds is decided in ``gridgov.areas.scope``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.utils.module_loading import autodiscover_modules


class Perm(StrEnum):
    AREA_VIEW = "area.view"
    AREA_CHANGE = "area.change"
    STAFF_VIEW = "staff.view"
    STAFF_CHANGE = "staff.change"
    AUDIT_VIEW = "audit.view"
    STAFF_GRANT = "staff.grant"  # grant the roles that administer or watch a subtree
    RESIDENT_VIEW = "resident.view"  # persons, households, houses, places (masked)
    RESIDENT_CHANGE = "resident.change"
    RESIDENT_REVEAL = "resident.reveal"  # the full ID number or phone, audited
    RESIDENT_EXPORT = "resident.export"  # import and export of lists, audited
    SENSITIVE_TAGS = "resident.sensitive_tags"  # drug use, correction, serious mental disorder …
    CALENDAR_CHANGE = "calendar.change"  # the official holiday table; usable only over the whole tree
    CASE_VIEW = "case.view"  # cases placed, coordinated or handled in the subtree
    CASE_REPORT = "case.report"  # file a case (grid worker report, hotline form)
    CASE_DISPATCH = "case.dispatch"  # the desk: accept, register, dispatch, verify, close
    CASE_HANDLE = "case.handle"  # hold a case dispatched to the area: handle, report back, return, escalate
    CASE_SUPERVISE = "case.supervise"  # urge (催办) and supervise (督办)
    VISIT_VIEW = "visit.view"  # visits, due lists and completion rates of the subtree
    VISIT_LOG = "visit.log"  # record visits (走访) to the households of the subtree


def next_prefix(path: str) -> str:
    """The smallest string greater than every string that starts with ``path``."""
    return path[:-1] + chr(ord(path[-1]) + 1)


@dataclass(frozen=True)
class Scope:
    """A set of subtrees, or everything."""

    everything: bool = False
    roots: tuple[str, ...] = ()  # minimal set of path prefixes

    @classmethod
    def of_paths(cls, paths) -> Scope:
        roots: list[str] = []
        for p in sorted(set(paths)):
            if not roots or not p.startswith(roots[-1]):
                roots.append(p)
        return cls(roots=tuple(roots))

    @property
    def is_empty(self) -> bool:
        return not self.everything and not self.roots

    def contains(self, path: str) -> bool:
        return self.everything or any(path.startswith(r) for r in self.roots)

    def q(self, field: str = "path") -> Q:
        """A filter for rows whose ``field`` lies in the scope."""
        if self.everything:
            return Q()
        if not self.roots:
            return Q(pk__in=[])
        q = Q()
        for root in self.roots:
            q |= Q(**{f"{field}__gte": root, f"{field}__lt": next_prefix(root)})
        return q


# Whether a user holds a permission over the whole area tree (every top-level area). Decided by the app
# that owns the tree: ``gridgov.areas.scope`` registers its check when imported, as ``admin`` modules
# register with the admin site. The core cannot import it (core is the lowest layer).
_whole_tree_check: Callable[[object, Perm], bool] | None = None


def register_whole_tree_check(check: Callable[[object, Perm], bool]) -> None:
    global _whole_tree_check
    _whole_tree_check = check


def holds_on_whole_tree(user, perm: Perm) -> bool:
    """True for active superusers, and for users whose scope for ``perm`` covers every top-level area.

    For settings that are the same everywhere (the official calendar): a town's administrator must not
    change what the whole county works by.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if _whole_tree_check is None:
        autodiscover_modules("scope")  # imports each installed app's ``scope`` module, which registers
    if _whole_tree_check is None:
        raise ImproperlyConfigured("No app registered a whole-tree check (gridgov.areas.scope).")
    return _whole_tree_check(user, perm)
