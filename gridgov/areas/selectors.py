"""Every read of the areas app, already scoped to the actor."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from gridgov.areas.geo import covers
from gridgov.areas.models import GRID_KINDS, Area, AreaKind, AreaLevel, Department, Post, Role, Slot, Staff
from gridgov.areas.scope import Perm, Scope, active_posts, next_prefix, scope_for
from gridgov.core.errors import NotFound


def visible_areas(actor, perm: Perm = Perm.AREA_VIEW) -> QuerySet[Area]:
    return Area.objects.filter(scope_for(actor, perm).q("path"))


def area_get(*, actor, code: str, perm: Perm = Perm.AREA_VIEW) -> Area:
    """The area with this code, if the actor may see it; otherwise NotFound, exactly as if absent."""
    area = visible_areas(actor, perm).select_related("level", "parent").filter(code=code).first()
    if area is None:
        raise NotFound("No such area.")
    return area


def area_roots(*, actor) -> QuerySet[Area]:
    """The tops of the actor's scope (for a superuser: the roots of the tree)."""
    scope = scope_for(actor, Perm.AREA_VIEW)
    if scope.everything:
        return Area.objects.filter(parent__isnull=True).select_related("level")
    return Area.objects.filter(path__in=scope.roots).select_related("level")


def area_children(*, actor, parent: Area | None) -> QuerySet[Area]:
    """Direct children of a visible area, with their own child counts; no parent: the scope roots."""
    qs = area_roots(actor=actor) if parent is None else Area.objects.filter(parent=parent)
    return qs.select_related("level", "parent").annotate(child_count=Count("children")).order_by("path")


def area_ancestors(*, actor, area: Area) -> list[Area]:
    """The area's ancestors, top down, that the actor may see (its breadcrumbs)."""
    scope = scope_for(actor, Perm.AREA_VIEW)
    paths = [p for p in area.ancestor_paths() if scope.contains(p)]
    return list(Area.objects.filter(path__in=paths).order_by("path"))


def subtree(area: Area) -> Q:
    return Q(path__gte=area.path, path__lt=next_prefix(area.path))


@dataclass
class AreaCounts:
    descendants: int
    by_level: dict[str, int]
    grids: int
    dedicated_grids: int
    joint_defense_groups: int
    staff_posts: int
    grids_without_worker_a: int
    grids_without_worker_b: int


def area_counts(*, area: Area) -> AreaCounts:
    """Counts over the subtree of an area the caller has already been allowed to see."""
    below = Area.objects.filter(subtree(area)).exclude(pk=area.pk)
    by_kind = dict(below.values_list("kind").annotate(n=Count("id")).order_by())
    by_level = {
        name: n
        for name, n in below.values_list("level__name").annotate(n=Count("id")).order_by("level__depth")
    }
    today = timezone.localdate()
    active = Post.objects.filter(start_date__lte=today).filter(Q(end_date__isnull=True) | Q(end_date__gt=today))
    grids = Area.objects.filter(subtree(area), kind__in=GRID_KINDS)
    grid_total = grids.count()
    staffed = active.filter(role=Role.GRID_WORKER, area__path__gte=area.path, area__path__lt=next_prefix(area.path))
    with_a = staffed.filter(slot=Slot.A).values("area").distinct().count()
    with_b = staffed.filter(slot=Slot.B).values("area").distinct().count()
    posts = active.filter(area__path__gte=area.path, area__path__lt=next_prefix(area.path)).count()
    return AreaCounts(
        descendants=sum(by_kind.values()),
        by_level=by_level,
        grids=by_kind.get(AreaKind.GRID, 0) + (1 if area.kind == AreaKind.GRID else 0),
        dedicated_grids=by_kind.get(AreaKind.DEDICATED_GRID, 0) + (1 if area.kind == AreaKind.DEDICATED_GRID else 0),
        joint_defense_groups=by_kind.get(AreaKind.JOINT_DEFENSE_GROUP, 0),
        staff_posts=posts,
        grids_without_worker_a=grid_total - with_a,
        grids_without_worker_b=grid_total - with_b,
    )


def descendant_count(*, actor, code: str) -> int:
    area = area_get(actor=actor, code=code)
    return Area.objects.filter(subtree(area)).count() - 1


def area_locate(*, actor, lng: float, lat: float) -> Area:
    """The deepest visible grid (or other area) whose boundary covers the point."""
    area = locate_point(lng=lng, lat=lat, scope=scope_for(actor, Perm.AREA_VIEW))
    if area is None:
        raise NotFound("No area of yours covers this point.")
    return area


def locate_point(*, lng: float, lat: float, scope: Scope | None = None) -> Area | None:
    """The deepest area covering a point: a bounding-box query on the index, then an exact test."""
    candidates = Area.objects.filter(
        min_lng__lte=lng, max_lng__gte=lng, min_lat__lte=lat, max_lat__gte=lat
    ).select_related("level")
    if scope is not None:
        candidates = candidates.filter(scope.q("path"))
    for area in sorted(candidates, key=lambda a: len(a.path), reverse=True):
        if covers(area.geometry, lng, lat):
            return area
    return None


def level_list() -> QuerySet[AreaLevel]:
    return AreaLevel.objects.all()


# --- staff ---------------------------------------------------------------------------------------


def _active_post_filter(day) -> Q:
    return Q(start_date__lte=day) & (Q(end_date__isnull=True) | Q(end_date__gt=day))


def area_posts(*, actor, area: Area) -> QuerySet[Post]:
    """Active posts held on this very area (the staff of a grid, the operators of a town …)."""
    if not scope_for(actor, Perm.STAFF_VIEW).contains(area.path):
        raise NotFound("No such area.")
    return (
        Post.objects.filter(area=area)
        .filter(_active_post_filter(timezone.localdate()))
        .select_related("staff", "staff__user")
        .order_by("role", "slot", "start_date")
    )


def roster_grids(*, actor, area: Area, only_gaps: bool = False) -> QuerySet[Area]:
    """The grids under an area, each with its active grid-worker posts prefetched.

    ``only_gaps`` keeps the grids that lack an A or a B grid worker.
    """
    if not scope_for(actor, Perm.STAFF_VIEW).contains(area.path):
        raise NotFound("No such area.")
    today = timezone.localdate()
    active = Post.objects.filter(_active_post_filter(today))
    grids = Area.objects.filter(subtree(area), kind__in=GRID_KINDS).select_related("parent")
    if only_gaps:
        full_a = active.filter(role=Role.GRID_WORKER, slot=Slot.A).values("area_id")
        full_b = active.filter(role=Role.GRID_WORKER, slot=Slot.B).values("area_id")
        grids = grids.exclude(Q(pk__in=full_a) & Q(pk__in=full_b))
    return grids.prefetch_related(
        Prefetch("posts", queryset=active.select_related("staff").order_by("role", "slot"), to_attr="active_posts")
    ).order_by("path")


@dataclass
class RosterRow:
    grid: Area
    worker_a: Post | None
    worker_b: Post | None
    others: list[Post]


def roster_rows(grids) -> list[RosterRow]:
    """One row per grid of ``roster_grids``: its A and B grid workers (None when empty) and the rest."""
    rows = []
    for grid in grids:
        workers = {p.slot: p for p in grid.active_posts if p.role == Role.GRID_WORKER}
        others = [p for p in grid.active_posts if p.role != Role.GRID_WORKER]
        rows.append(RosterRow(grid, workers.get(Slot.A), workers.get(Slot.B), others))
    return rows


def staff_get(*, actor, pk: int) -> Staff:
    staff = staff_visible(actor=actor).filter(pk=pk).first()
    if staff is None:
        raise NotFound("No such staff member.")
    return staff


def staff_visible(*, actor) -> QuerySet[Staff]:
    """Staff holding any post (past or present) or a department inside the actor's scope."""
    scope = scope_for(actor, Perm.STAFF_VIEW)
    if scope.everything:
        return Staff.objects.all()
    in_scope = Post.objects.filter(scope.q("area__path")).values("staff_id")
    return Staff.objects.filter(Q(pk__in=in_scope) | Q(department__in=Department.objects.filter(scope.q("area__path"))))


def post_get(*, actor, pk: int) -> Post:
    post = Post.objects.select_related("area", "staff").filter(pk=pk).first()
    if post is None or not scope_for(actor, Perm.STAFF_VIEW).contains(post.area.path):
        raise NotFound("No such post.")
    return post


def staff_posts(*, actor, staff: Staff) -> QuerySet[Post]:
    return (
        Post.objects.filter(staff=staff)
        .filter(scope_for(actor, Perm.STAFF_VIEW).q("area__path"))
        .select_related("area")
        .order_by("-start_date")
    )


def me_posts(*, actor) -> list[Post]:
    return list(active_posts(actor))


def department_list(*, actor, area: Area | None = None) -> QuerySet[Department]:
    """Departments in the actor's scope (of one area only, if given), with their handler counts."""
    qs = Department.objects.filter(scope_for(actor, Perm.AREA_VIEW).q("area__path"))
    if area is not None:
        qs = qs.filter(area=area)
    return qs.select_related("area").annotate(handler_count=Count("handlers"))


def department_get(*, actor, pk: int) -> Department:
    department = department_list(actor=actor).filter(pk=pk).first()
    if department is None:
        raise NotFound("No such department.")
    return department


def department_handlers(*, actor, department: Department) -> QuerySet[Staff]:
    if not scope_for(actor, Perm.STAFF_VIEW).contains(department.area.path):
        raise NotFound("No such department.")
    return department.handlers.select_related("user").order_by("name")
