"""The authorization matrix as data: each test user's subtree and rights, written independently of
gridgov.areas.scope.ROLE_PERMS so that the tests check the code against the spec."""

from __future__ import annotations

ROLES = ["superuser", "county_operator", "leader", "town_admin_a", "town_admin_b", "town_operator_a",
         "village_staff_a", "grid_worker_a", "grid_police_a", "dept_handler", "nobody"]
SIDES = ["a", "b"]  # the target lies in town A's subtree (grid_a …) or in town B's (grid_b …)

# The spec of the matrix, written independently of gridgov.areas.scope.ROLE_PERMS.
VIEW, AREA_CHANGE, STAFF_CHANGE, AUDIT = "view", "area_change", "staff_change", "audit"
ROOTS = {
    "county_operator": ["county"], "leader": ["county"], "town_admin_a": ["town_a"], "town_admin_b": ["town_b"],
    "town_operator_a": ["town_a"], "village_staff_a": ["village_a1"], "grid_worker_a": ["grid_a"],
    "grid_police_a": ["grid_a"], "dept_handler": [], "nobody": [],
}
PERMS = {
    "county_operator": {VIEW, STAFF_CHANGE}, "leader": {VIEW},
    "town_admin_a": {VIEW, AREA_CHANGE, STAFF_CHANGE, AUDIT}, "town_admin_b": {VIEW, AREA_CHANGE, STAFF_CHANGE, AUDIT},
    "town_operator_a": {VIEW, STAFF_CHANGE}, "village_staff_a": {VIEW, AREA_CHANGE, STAFF_CHANGE},
    "grid_worker_a": {VIEW}, "grid_police_a": {VIEW}, "dept_handler": set(), "nobody": set(),
}


def holds(tree, role: str, perm: str, key: str) -> bool:
    if role == "superuser":
        return True
    if perm not in PERMS[role]:
        return False
    path = getattr(tree, key).path
    return any(path.startswith(getattr(tree, root).path) for root in ROOTS[role])


def expected(tree, role, *, view: list[str], change: list[str], perm: str, ok: int) -> int:
    if not all(holds(tree, role, VIEW, key) for key in view):
        return 404
    if not all(holds(tree, role, perm, key) for key in change):
        return 403
    return ok
