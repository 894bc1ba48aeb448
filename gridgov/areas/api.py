"""API of the area tree, the people on duty and the audit log."""


import datetime as dt

from ninja import Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from gridgov.areas import selectors, services
from gridgov.areas.models import AreaLevel
from gridgov.areas.schemas import (
    AreaCreateIn,
    AreaDetail,
    AreaMoveIn,
    AreaOut,
    AreaUpdateIn,
    AuditOut,
    DepartmentCreateIn,
    DepartmentOut,
    HandlerCreateIn,
    LevelOut,
    MeOut,
    PostCreateIn,
    PostEndIn,
    PostOut,
    RosterGrid,
    StaffCreateIn,
    StaffOut,
    StaffUpdateIn,
)
from gridgov.areas.scope import Perm, scope_for
from gridgov.core.errors import ApplicationError, ErrorCode, PermissionDenied
from gridgov.core.pagination import Pagination
from gridgov.core.selectors import audit_list

router = Router(tags=["areas"])


def _level(name: str) -> AreaLevel:
    level = AreaLevel.objects.filter(name=name).first()
    if level is None:
        raise ApplicationError(ErrorCode.INVALID_INPUT, f"Unknown level {name!r}.", fields={"level": ["unknown"]})
    return level


def _detail(actor, area):
    counts = selectors.area_counts(area=area)
    area.ancestors = selectors.area_ancestors(actor=actor, area=area)
    area.counts = counts.__dict__
    return area


@router.get("/me", response=MeOut, tags=["auth"], summary="Who I am, my posts and the tops of my scope")
def me(request):
    user = request.user
    staff = getattr(user, "staff", None)
    return {
        "username": user.username,
        "name": staff.name if staff else user.get_full_name() or user.username,
        "is_superuser": user.is_superuser,
        "posts": selectors.me_posts(actor=user),
        "scope_roots": list(selectors.area_roots(actor=user)),
    }


@router.get("/levels", response=list[LevelOut], summary="The levels of the area tree")
def levels(request):
    return selectors.level_list()


class LocateQuery(Schema):
    lat: float
    lng: float


@router.get("/areas/locate", response=AreaDetail, summary="The deepest area of mine covering a WGS-84 point")
def locate(request, q: Query[LocateQuery]):
    if not (-90 <= q.lat <= 90 and -180 <= q.lng <= 180):
        raise ApplicationError(ErrorCode.INVALID_INPUT, "Latitude or longitude out of range.",
                               fields={"lat": ["-90..90"], "lng": ["-180..180"]})
    return _detail(request.user, selectors.area_locate(actor=request.user, lng=q.lng, lat=q.lat))


@router.get("/areas", response=list[AreaOut], summary="Children of an area (no parent: the tops of my scope)")
@paginate(Pagination, page_size=100)
def list_areas(request, parent: str | None = None):
    parent_area = selectors.area_get(actor=request.user, code=parent) if parent else None
    return selectors.area_children(actor=request.user, parent=parent_area)


@router.get("/areas/{code}", response=AreaDetail, summary="One area with its ancestors and counts")
def get_area(request, code: str):
    return _detail(request.user, selectors.area_get(actor=request.user, code=code))


@router.post("/areas", response={201: AreaOut}, summary="Create an area under a parent")
def create_area(request, payload: AreaCreateIn):
    parent = selectors.area_get(actor=request.user, code=payload.parent_code)
    area = services.area_create(
        actor=request.user, code=payload.code, name=payload.name, level=_level(payload.level), parent=parent,
        kind=payload.kind, dedicated_type=payload.dedicated_type, geometry=payload.geometry,
    )
    return Status(201, area)


@router.patch("/areas/{code}", response=AreaOut, summary="Rename an area or set its boundary")
def update_area(request, code: str, payload: AreaUpdateIn):
    area = selectors.area_get(actor=request.user, code=code)
    kwargs = {"name": payload.name, "dedicated_type": payload.dedicated_type}
    if payload.clear_geometry:
        kwargs["geometry"] = None
    elif payload.geometry is not None:
        kwargs["geometry"] = payload.geometry
    return services.area_update(actor=request.user, area=area, **kwargs)


@router.post("/areas/{code}/move", response=AreaOut, summary="Move a subtree under another parent")
def move_area(request, code: str, payload: AreaMoveIn):
    area = selectors.area_get(actor=request.user, code=code)
    new_parent = selectors.area_get(actor=request.user, code=payload.new_parent_code)
    return services.area_move(actor=request.user, area=area, new_parent=new_parent, new_code=payload.new_code)


@router.get("/areas/{code}/posts", response=list[PostOut], tags=["staff"], summary="Active posts on this area")
def area_posts(request, code: str):
    area = selectors.area_get(actor=request.user, code=code, perm=Perm.STAFF_VIEW)
    return selectors.area_posts(actor=request.user, area=area)


@router.get("/areas/{code}/roster", response=list[RosterGrid], tags=["staff"],
            summary="Grids under an area with their A and B grid workers")
@paginate(Pagination, page_size=100)
def roster(request, code: str, gaps_only: bool = False):
    area = selectors.area_get(actor=request.user, code=code, perm=Perm.STAFF_VIEW)
    grids = selectors.roster_grids(actor=request.user, area=area, only_gaps=gaps_only)
    return LazyRoster(grids)


class LazyRoster:
    """Paginates the grid queryset first, then builds roster rows for that page only."""

    def __init__(self, grids):
        self.grids = grids

    def __len__(self):
        return self.grids.count()

    def __getitem__(self, index):
        return [
            {
                "code": row.grid.code, "name": row.grid.name, "parent_name": row.grid.parent.name,
                "worker_a": row.worker_a.staff.name if row.worker_a else None,
                "worker_b": row.worker_b.staff.name if row.worker_b else None,
                "others": [f"{p.get_role_display()}: {p.staff.name}" for p in row.others],
            }
            for row in selectors.roster_rows(self.grids[index])
        ]


@router.get("/staff/{staff_id}", response=StaffOut, tags=["staff"])
def get_staff(request, staff_id: int):
    return selectors.staff_get(actor=request.user, pk=staff_id)


@router.get("/staff/{staff_id}/posts", response=list[PostOut], tags=["staff"])
def get_staff_posts(request, staff_id: int):
    staff = selectors.staff_get(actor=request.user, pk=staff_id)
    return selectors.staff_posts(actor=request.user, staff=staff)


@router.post("/staff", response={201: StaffOut}, tags=["staff"], summary="Register a staff member on a first post")
def create_staff(request, payload: StaffCreateIn):
    area = selectors.area_get(actor=request.user, code=payload.area_code, perm=Perm.STAFF_VIEW)
    staff = services.staff_create(actor=request.user, area=area, **payload.dict(exclude={"area_code"}))
    return Status(201, staff)


@router.patch("/staff/{staff_id}", response=StaffOut, tags=["staff"])
def update_staff(request, staff_id: int, payload: StaffUpdateIn):
    staff = selectors.staff_get(actor=request.user, pk=staff_id)
    return services.staff_update(actor=request.user, staff=staff, **payload.dict())


@router.post("/posts", response={201: PostOut}, tags=["staff"], summary="Put a staff member on a post")
def create_post(request, payload: PostCreateIn):
    staff = selectors.staff_get(actor=request.user, pk=payload.staff_id)
    area = selectors.area_get(actor=request.user, code=payload.area_code, perm=Perm.STAFF_VIEW)
    post = services.post_create(actor=request.user, staff=staff, area=area, role=payload.role, slot=payload.slot,
                                start_date=payload.start_date, end_date=payload.end_date)
    return Status(201, post)


@router.post("/posts/{post_id}/end", response=PostOut, tags=["staff"], summary="End a post")
def end_post(request, post_id: int, payload: PostEndIn):
    post = selectors.post_get(actor=request.user, pk=post_id)
    return services.post_end(actor=request.user, post=post, end_date=payload.end_date)


@router.get("/departments", response=list[DepartmentOut], tags=["staff"], summary="Departments in my scope")
def departments(request, area: str | None = None):
    area_obj = selectors.area_get(actor=request.user, code=area) if area else None
    return selectors.department_list(actor=request.user, area=area_obj)


@router.post("/departments", response={201: DepartmentOut}, tags=["staff"], summary="Create a department")
def create_department(request, payload: DepartmentCreateIn):
    area = selectors.area_get(actor=request.user, code=payload.area_code)
    department = services.department_create(actor=request.user, area=area, name=payload.name, phone=payload.phone)
    return Status(201, selectors.department_get(actor=request.user, pk=department.pk))


@router.get("/departments/{department_id}/handlers", response=list[StaffOut], tags=["staff"])
def department_handlers(request, department_id: int):
    department = selectors.department_get(actor=request.user, pk=department_id)
    return selectors.department_handlers(actor=request.user, department=department)


@router.post("/departments/{department_id}/handlers", response={201: StaffOut}, tags=["staff"],
             summary="Register a handler of a department")
def create_department_handler(request, department_id: int, payload: HandlerCreateIn):
    department = selectors.department_get(actor=request.user, pk=department_id)
    staff = services.department_handler_create(actor=request.user, department=department, **payload.dict())
    return Status(201, staff)


class AuditQuery(Schema):
    actor: str = ""
    action: str = ""
    object: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@router.get("/audit", response=list[AuditOut], tags=["audit"], summary="Audit events of the areas I administer")
@paginate(Pagination, page_size=100)
def audit(request, q: Query[AuditQuery]):
    scope = scope_for(request.user, Perm.AUDIT_VIEW)
    if scope.is_empty:
        raise PermissionDenied("Only administrators read the audit log.")
    return audit_list(scope=scope, actor_name=q.actor, action=q.action, object_repr=q.object,
                      date_from=q.date_from, date_to=q.date_to)

