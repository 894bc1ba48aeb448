"""Area scope as data: a set of subtrees (materialized-path prefixes), or everything.

Subtrees are path ranges (``path >= p AND path < next(p)``), which use the path index on SQLite and
PostgreSQL alike. Which subtrees a user holds is decided in ``gridgov.areas.scope``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Q


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
