"""Every write of the areas app: the tree, levels, departments, staff and posts.

``actor`` is the user doing it, or None for the system (a command-line import, the demo loader).
Each function validates before it saves, runs in one transaction and writes an audit row.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.areas.codes import code_problems, decode_step, encode_step, placement_problems, significant_prefix
from gridgov.areas.errors import AreaErrorCode
from gridgov.areas.geo import parse_boundary
from gridgov.areas.models import (
    PATH_STEP,
    Area,
    AreaKind,
    AreaLevel,
    Department,
    Employment,
    Post,
    Rank,
    Role,
    Slot,
    Staff,
)
from gridgov.areas.scope import Perm, next_prefix, scope_for
from gridgov.core import audit
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied

# --- permission checks -------------------------------------------------------------------------


def require(actor, perm: Perm, area: Area, *, view_perm: Perm = Perm.AREA_VIEW) -> None:
    """Refuses unless ``actor`` holds ``perm`` on ``area``; an area the actor cannot see is 'not found'."""
    if actor is None:
        return
    if not scope_for(actor, view_perm).contains(area.path):
        raise NotFound("No such area.")
    if not scope_for(actor, perm).contains(area.path):
        raise PermissionDenied("You may not change this area.")


# --- levels --------------------------------------------------------------------------------------

# The level structures of the reference deployments: (name, rank, code width below the village).
LEVEL_PRESETS: dict[str, list[tuple[str, str, int | None]]] = {
    "shangnan": [("县", Rank.COUNTY, None), ("镇办", Rank.TOWN, None), ("村/社区", Rank.VILLAGE, None),
                 ("组", Rank.BELOW_VILLAGE, 3), ("片", Rank.BELOW_VILLAGE, 3)],
    "qingyang": [("市", Rank.CITY, None), ("县区", Rank.COUNTY, None), ("乡镇街道", Rank.TOWN, None),
                 ("村社区", Rank.VILLAGE, None), ("网格", Rank.BELOW_VILLAGE, 3)],
    "luanchuan": [("镇", Rank.TOWN, None), ("社区", Rank.VILLAGE, None), ("网格", Rank.BELOW_VILLAGE, 3)],
    "zhouqu": [("县", Rank.COUNTY, None), ("乡镇", Rank.TOWN, None), ("村", Rank.VILLAGE, None),
               ("网格", Rank.BELOW_VILLAGE, 3), ("联防组", Rank.BELOW_VILLAGE, 2)],
}


@transaction.atomic
def levels_configure(*, actor, levels: list[tuple[str, str, int | None]]) -> list[AreaLevel]:
    """Sets the deployment's levels, top down: (name, rank, code width). Only while no area exists."""
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a system administrator configures the levels.")
    if Area.objects.exists():
        raise ApplicationError(AreaErrorCode.INVALID_LEVEL, "Levels can only be configured before areas exist.")
    if not levels or len({name for name, _r, _w in levels}) != len(levels):
        raise ApplicationError(AreaErrorCode.INVALID_LEVEL, "Give each level once, with a unique name.")
    ranks = [rank for _n, rank, _w in levels]
    if any(r not in Rank.values for r in ranks):
        raise ApplicationError(AreaErrorCode.INVALID_LEVEL, f"Unknown rank; use one of {', '.join(Rank.values)}.")
    AreaLevel.objects.all().delete()
    created = [
        AreaLevel.objects.create(depth=i, name=name, rank=rank, code_width=width)
        for i, (name, rank, width) in enumerate(levels)
    ]
    audit.record(actor=actor, action="levels.configure", data={"levels": [n for n, _r, _w in levels]})
    return created


# --- areas ---------------------------------------------------------------------------------------


def _next_child_path(parent: Area | None) -> str:
    siblings = Area.objects.filter(parent=parent).order_by("-path").values_list("path", flat=True)[:1]
    prefix = parent.path if parent else ""
    last = siblings[0] if siblings else None
    return prefix + encode_step(decode_step(last[-PATH_STEP:]) + 1 if last else 0)


def validate_area(
    *, code: str, level: AreaLevel, kind: str, parent: Area | None, dedicated_type: str = ""
) -> dict[str, list[str]]:
    """All problems with an area's own fields against its parent, by field name."""
    problems: dict[str, list[str]] = {}
    if kind not in AreaKind.values:
        problems["kind"] = [_("Unknown kind %(kind)s.") % {"kind": kind}]
        return problems
    placement = placement_problems(
        kind=kind, level=level,
        parent_kind=parent.kind if parent else None, parent_level=parent.level if parent else None,
    )
    if placement:
        problems["parent"] = placement
    code_issues = code_problems(code, level, parent.code if parent else None, parent.level if parent else None)
    if code_issues:
        problems["code"] = code_issues
    if kind == AreaKind.DEDICATED_GRID and not dedicated_type:
        problems["dedicated_type"] = [_("A dedicated grid needs its type (school, hospital, market …).")]
    if kind != AreaKind.DEDICATED_GRID and dedicated_type:
        problems["dedicated_type"] = [_("Only a dedicated grid has a type.")]
    return problems


def _refuse(problems: dict[str, list[str]], code=AreaErrorCode.INVALID_CODE) -> None:
    if problems:
        message = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in problems.items())
        raise ApplicationError(code, message, fields=problems)


@transaction.atomic
def area_create(
    *,
    actor,
    code: str,
    name: str,
    level: AreaLevel,
    parent: Area | None,
    kind: str = AreaKind.DIVISION,
    dedicated_type: str = "",
    geometry=None,
) -> Area:
    name = (name or "").strip()
    code = (code or "").strip()
    if parent is None:
        if actor is not None and not actor.is_superuser:
            raise PermissionDenied("Only a system administrator creates a root area.")
    else:
        parent = Area.objects.select_for_update().get(pk=parent.pk)
        require(actor, Perm.AREA_CHANGE, parent)
    problems = validate_area(code=code, level=level, kind=kind, parent=parent, dedicated_type=dedicated_type)
    if not name:
        problems["name"] = ["A name is required."]
    problems.update(_length_problems(Area, name=name))
    _refuse(problems)
    if Area.objects.filter(code=code).exists():
        raise ApplicationError(AreaErrorCode.CODE_TAKEN, f"The code {code} is taken.", fields={"code": ["taken"]})
    boundary = parse_boundary(geometry)
    area = Area(
        code=code, name=name, level=level, parent=parent, kind=kind, dedicated_type=dedicated_type,
        path=_next_child_path(parent),
    )
    apply_boundary(area, boundary)
    area.save()
    audit.record(actor=actor, action="area.create", obj=area, area_path=area.path,
                 data={"code": code, "name": name, "kind": kind, "level": level.name})
    return area


def apply_boundary(area: Area, boundary) -> None:
    if boundary is None:
        area.geometry = area.min_lng = area.min_lat = area.max_lng = area.max_lat = None
    else:
        area.geometry = boundary.geojson
        area.min_lng, area.min_lat = boundary.min_lng, boundary.min_lat
        area.max_lng, area.max_lat = boundary.max_lng, boundary.max_lat


_UNSET = object()


@transaction.atomic
def area_update(*, actor, area: Area, name: str | None = None, dedicated_type: str | None = None,
                geometry=_UNSET) -> Area:
    """Renames an area, changes a dedicated grid's type, or sets or clears its boundary."""
    area = Area.objects.select_for_update().select_related("level").get(pk=area.pk)
    require(actor, Perm.AREA_CHANGE, area)
    changes: dict[str, list] = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise ApplicationError(AreaErrorCode.INVALID_CODE, "A name is required.", fields={"name": ["required"]})
        _refuse(_length_problems(Area, name=name))
        if name != area.name:
            changes["name"] = [area.name, name]
            area.name = name
    if dedicated_type is not None and dedicated_type != area.dedicated_type:
        _refuse(validate_area(code=area.code, level=area.level, kind=area.kind,
                              parent=area.parent, dedicated_type=dedicated_type))
        changes["dedicated_type"] = [area.dedicated_type, dedicated_type]
        area.dedicated_type = dedicated_type
    if geometry is not _UNSET:
        boundary = parse_boundary(geometry)
        new = boundary.geojson if boundary else None
        if new != area.geometry:
            changes["geometry"] = ["changed" if area.geometry else None, "set" if new else None]
            apply_boundary(area, boundary)
    if changes:
        area.updated_at = timezone.now()
        area.save()
        audit.record(actor=actor, action="area.update", obj=area, area_path=area.path, data=changes)
    return area


@transaction.atomic
def area_move(*, actor, area: Area, new_parent: Area, new_code: str | None = None) -> Area:
    """Moves a subtree under another parent (a village to another town after a merger).

    The area may take a new code (a village's statistical code changes with its town); the codes of
    all its descendants are rewritten to extend it, and every path in the subtree is rewritten, all
    in one transaction with one audit row.
    """
    # Lock the rows alone: PostgreSQL refuses FOR UPDATE across the nullable join to a parent.
    area = Area.objects.select_for_update(of=("self",)).select_related("level", "parent").get(pk=area.pk)
    new_parent = Area.objects.select_for_update(of=("self",)).select_related("level").get(pk=new_parent.pk)
    require(actor, Perm.AREA_CHANGE, area)
    require(actor, Perm.AREA_CHANGE, new_parent)
    if area.parent is None and actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only a system administrator moves a root area.")
    if actor is not None and area.parent is not None:
        # Moving the top of one's own scope would take it out of the scope that allows the move.
        require(actor, Perm.AREA_CHANGE, area.parent)
    if new_parent.path.startswith(area.path):
        raise ApplicationError(AreaErrorCode.CYCLE, "An area cannot move under itself or its own descendant.",
                               fields={"parent": ["cycle"]})
    if area.parent_id == new_parent.pk and (not new_code or new_code == area.code):
        return area
    code = (new_code or area.code).strip()
    problems = validate_area(code=code, level=area.level, kind=area.kind, parent=new_parent,
                             dedicated_type=area.dedicated_type)
    _refuse(problems)

    same_parent = area.parent_id == new_parent.pk  # a renumbering: the area keeps its place in the tree
    old_path = area.path
    new_path = old_path if same_parent else _next_child_path(new_parent)
    old_sig, new_sig = significant_prefix(area.code, area.level), significant_prefix(code, area.level)
    subtree = list(
        Area.objects.select_for_update(of=("self",))
        .filter(path__gte=old_path, path__lt=next_prefix(old_path))
        .select_related("level")
        .order_by("path")
    )
    for node in subtree:
        node.path = new_path + node.path[len(old_path):]
        if node.pk == area.pk:
            node.code = code
        elif old_sig != new_sig and node.code.startswith(old_sig):
            node.code = new_sig + node.code[len(old_sig):]
        node.updated_at = timezone.now()
    subtree_ids = [n.pk for n in subtree]
    new_codes = [n.code for n in subtree]
    clash = Area.objects.filter(code__in=new_codes).exclude(pk__in=subtree_ids).values_list("code", flat=True)[:5]
    if clash:
        raise ApplicationError(AreaErrorCode.CODE_TAKEN, f"These codes would be taken twice: {', '.join(clash)}",
                               fields={"code": ["taken"]})
    # Two passes keep the unique path and code constraints satisfied at every statement.
    for node in subtree:
        node._final = (node.path, node.code)
        node.path, node.code = f"~{node.pk}", f"~{node.pk}"
    Area.objects.bulk_update(subtree, ["path", "code"], batch_size=500)
    for node in subtree:
        node.path, node.code = node._final
    root = next(n for n in subtree if n.pk == area.pk)
    root.parent = new_parent
    Area.objects.bulk_update(subtree, ["path", "code", "updated_at", "parent"], batch_size=500)
    audit.record(
        actor=actor, action="area.move", obj=root, area_path=root.path,
        data={"from_parent": area.parent.code if area.parent else None, "to_parent": new_parent.code,
              "old_code": area.code, "new_code": code, "areas_moved": len(subtree)},
    )
    return root


# --- departments ---------------------------------------------------------------------------------


@transaction.atomic
def department_create(*, actor, area: Area, name: str, phone: str = "") -> Department:
    require(actor, Perm.AREA_CHANGE, area)
    name = (name or "").strip()
    if not name:
        raise ApplicationError(AreaErrorCode.INVALID_STAFF, "A name is required.", fields={"name": ["required"]})
    _refuse(_length_problems(Department, name=name, phone=phone), AreaErrorCode.INVALID_STAFF)
    if Department.objects.filter(area=area, name=name).exists():
        raise ApplicationError(AreaErrorCode.INVALID_STAFF, f"{area.name} already has a department {name}.",
                               fields={"name": ["taken"]})
    department = Department.objects.create(area=area, name=name, phone=(phone or "").strip())
    audit.record(actor=actor, action="department.create", obj=department, area_path=area.path)
    return department


# --- staff and posts -----------------------------------------------------------------------------

MAX_STIPEND = 1_000_000  # yuan a year; Shangnan pays 1,200–7,500


def _length_problems(model, **values) -> dict[str, list[str]]:
    """Values longer than their column, refused before the database sees them."""
    problems = {}
    for field, value in values.items():
        limit = model._meta.get_field(field).max_length
        if value and len(value) > limit:
            problems[field] = [f"At most {limit} characters."]
    return problems


CENTRE_ROLES = (Role.AREA_ADMIN, Role.CENTRE_OPERATOR, Role.LEADER, Role.VILLAGE_STAFF)


def _staff_area_path(staff: Staff) -> str:
    post = staff.posts.select_related("area").order_by("area__path").first()
    if post:
        return post.area.path
    if staff.department_id:
        return staff.department.area.path
    return ""


def require_staff(actor, staff: Staff, perm: Perm = Perm.STAFF_CHANGE) -> None:
    """The actor may act on a staff member who holds a post (or a department) inside the actor's scope."""
    if actor is None or actor.is_superuser:
        return
    today = timezone.localdate()
    posts = list(staff.posts.select_related("area"))
    department_path = [staff.department.area.path] if staff.department_id else []
    every_path = [p.area.path for p in posts] + department_path
    current_paths = [p.area.path for p in posts if p.is_active_on(today)] + department_path
    if not any(scope_for(actor, Perm.STAFF_VIEW).contains(p) for p in every_path):
        raise NotFound("No such staff member.")
    # A former post shows the person's history but gives no say over them.
    if not any(scope_for(actor, perm).contains(p) for p in current_paths):
        raise PermissionDenied("You may not change this staff member.")


@transaction.atomic
def staff_create(
    *,
    actor,
    name: str,
    area: Area,
    role: str,
    slot: str = "",
    phone: str = "",
    employment: str = Employment.PART_TIME,
    yearly_stipend: int = 0,
    start_date: dt.date | None = None,
    username: str = "",
    password: str = "",
) -> Staff:
    """Registers a staff member together with their first post (and a login, if a username is given)."""
    require(actor, Perm.STAFF_CHANGE, area, view_perm=Perm.STAFF_VIEW)
    staff = _new_staff(name=name, phone=phone, employment=employment, yearly_stipend=yearly_stipend,
                       username=username, password=password)
    post_create(actor=actor, staff=staff, area=area, role=role, slot=slot, start_date=start_date, audit_row=False)
    audit.record(actor=actor, action="staff.create", obj=staff, area_path=area.path,
                 data={"role": role, "slot": slot, "area": area.code, "login": _login(staff)})
    return staff


@transaction.atomic
def department_handler_create(
    *, actor, department: Department, name: str, phone: str = "", username: str = "", password: str = ""
) -> Staff:
    """Registers a handler of a department (公安局, 水务局 …), who will receive the work dispatched to it."""
    require(actor, Perm.STAFF_CHANGE, department.area, view_perm=Perm.STAFF_VIEW)
    staff = _new_staff(name=name, phone=phone, employment=Employment.FULL_TIME, yearly_stipend=0,
                       username=username, password=password, department=department)
    audit.record(actor=actor, action="staff.create", obj=staff, area_path=department.area.path,
                 data={"department": department.name, "login": _login(staff)})
    return staff


def _login(staff: Staff) -> str | None:
    return staff.user.username if staff.user else None


def _new_staff(*, name, phone, employment, yearly_stipend, username, password, department=None) -> Staff:
    """Validates and saves a staff member with an optional login; refuses with every problem at once."""
    name = (name or "").strip()
    phone = (phone or "").strip()
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = ["A name is required."]
    problems.update(_length_problems(Staff, name=name, phone=phone))
    if employment not in Employment.values:
        problems["employment"] = [f"Unknown employment {employment!r}."]
    if yearly_stipend is None or not 0 <= yearly_stipend <= MAX_STIPEND:
        problems["yearly_stipend"] = [f"The yearly stipend lies between 0 and {MAX_STIPEND} yuan."]
    user = None
    username = (username or "").strip()
    if username:
        User = get_user_model()
        if len(username) > 150:
            problems["username"] = ["At most 150 characters."]
        elif User.objects.filter(username=username).exists():
            problems["username"] = ["This user name is taken."]
        else:
            user = User(username=username, first_name=name[:150])
            try:
                validate_password(password, user)
            except ValidationError as exc:
                problems["password"] = list(exc.messages)
    _refuse(problems, AreaErrorCode.INVALID_STAFF)
    if user is not None:
        user.set_password(password)
        user.save()
    return Staff.objects.create(name=name, phone=phone, employment=employment, yearly_stipend=yearly_stipend,
                                department=department, user=user)


@transaction.atomic
def staff_update(*, actor, staff: Staff, phone: str | None = None, employment: str | None = None,
                 yearly_stipend: int | None = None, active: bool | None = None) -> Staff:
    staff = Staff.objects.select_for_update().get(pk=staff.pk)
    require_staff(actor, staff)
    changes = {}
    for field, value in (("phone", phone), ("employment", employment), ("yearly_stipend", yearly_stipend),
                         ("active", active)):
        if value is not None and getattr(staff, field) != value:
            changes[field] = [getattr(staff, field), value]
            setattr(staff, field, value)
    if "employment" in changes and staff.employment not in Employment.values:
        raise ApplicationError(AreaErrorCode.INVALID_STAFF, "Unknown employment.", fields={"employment": ["invalid"]})
    if "yearly_stipend" in changes and not 0 <= staff.yearly_stipend <= MAX_STIPEND:
        raise ApplicationError(
            AreaErrorCode.INVALID_STAFF, f"The yearly stipend lies between 0 and {MAX_STIPEND} yuan.",
            fields={"yearly_stipend": ["out of range"]},
        )
    _refuse(_length_problems(Staff, phone=staff.phone), AreaErrorCode.INVALID_STAFF)
    if changes:
        staff.save()
        audit.record(actor=actor, action="staff.update", obj=staff, area_path=_staff_area_path(staff), data=changes)
    return staff


def _overlapping(qs, start: dt.date, end: dt.date | None):
    qs = qs.filter(Q(end_date__isnull=True) | Q(end_date__gt=start))
    if end is not None:
        qs = qs.filter(start_date__lt=end)
    return qs


@transaction.atomic
def post_create(
    *,
    actor,
    staff: Staff,
    area: Area,
    role: str,
    slot: str = "",
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    audit_row: bool = True,
) -> Post:
    """Puts a staff member on a post. A grid has at most one grid worker A (and one backup B) at a time."""
    require(actor, Perm.STAFF_CHANGE, area, view_perm=Perm.STAFF_VIEW)
    area = Area.objects.select_for_update().get(pk=area.pk)
    start_date = start_date or timezone.localdate()
    problems: dict[str, list[str]] = {}
    if role not in Role.values:
        problems["role"] = [f"Unknown role {role!r}."]
    elif role == Role.GRID_WORKER:
        if slot not in Slot.values:
            problems["slot"] = ["A grid worker holds post A or backup post B."]
        if not area.is_grid:
            problems["area"] = ["A grid worker's post is on a grid."]
    elif slot:
        problems["slot"] = ["Only grid workers have an A or B post."]
    if end_date is not None and end_date < start_date:
        problems["end_date"] = ["The end date lies before the start date."]
    if role in CENTRE_ROLES and actor is not None and not scope_for(actor, Perm.STAFF_GRANT).contains(area.path):
        # Roles that administer or watch a whole subtree are granted by that subtree's administrator.
        problems["role"] = ["Only an administrator of this area grants this role."]
    _refuse(problems, AreaErrorCode.INVALID_POST)
    if role == Role.GRID_WORKER:
        clash = _overlapping(Post.objects.filter(area=area, role=role, slot=slot), start_date, end_date).first()
        if clash is not None:
            raise ApplicationError(
                AreaErrorCode.POST_CONFLICT,
                f"{area.name} already has a grid worker on post {slot}: {clash.staff.name}. End that post first.",
                fields={"slot": ["taken"]},
            )
    if _overlapping(Post.objects.filter(staff=staff, area=area, role=role), start_date, end_date).exists():
        raise ApplicationError(AreaErrorCode.POST_CONFLICT, "This person already holds this post.",
                               fields={"role": ["duplicate"]})
    try:
        with transaction.atomic():
            post = Post.objects.create(staff=staff, area=area, role=role, slot=slot,
                                       start_date=start_date, end_date=end_date)
    except IntegrityError as exc:
        raise ApplicationError(AreaErrorCode.POST_CONFLICT, "This post is taken.", fields={"slot": ["taken"]}) from exc
    if audit_row:
        audit.record(actor=actor, action="post.create", obj=post, area_path=area.path,
                     data={"staff": staff.name, "role": role, "slot": slot, "start": str(start_date)})
    return post


@transaction.atomic
def post_end(*, actor, post: Post, end_date: dt.date | None = None) -> Post:
    """Ends a post (the end date is exclusive: ended today, it no longer holds today)."""
    post = Post.objects.select_for_update().select_related("area", "staff").get(pk=post.pk)
    require(actor, Perm.STAFF_CHANGE, post.area, view_perm=Perm.STAFF_VIEW)
    end_date = end_date or timezone.localdate()
    if post.end_date is not None and post.end_date <= end_date:
        raise ApplicationError(
            AreaErrorCode.INVALID_POST, "This post has already ended.", fields={"end_date": ["ended"]}
        )
    if end_date < post.start_date:
        raise ApplicationError(AreaErrorCode.INVALID_POST, "A post cannot end before it starts.",
                               fields={"end_date": ["before start"]})
    post.end_date = end_date
    post.save(update_fields=["end_date"])
    audit.record(actor=actor, action="post.end", obj=post, area_path=post.area.path,
                 data={"staff": post.staff.name, "role": post.role, "slot": post.slot, "end": str(end_date)})
    return post
