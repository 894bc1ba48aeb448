import datetime as dt
from typing import Any

from ninja import Field, Schema


class LevelOut(Schema):
    depth: int
    name: str
    rank: str


class AreaBrief(Schema):
    code: str
    name: str
    kind: str
    level: str = Field(..., alias="level.name")


class AreaOut(AreaBrief):
    parent_code: str | None = Field(None, alias="parent.code")
    dedicated_type: str
    child_count: int | None = None
    has_geometry: bool

    @staticmethod
    def resolve_has_geometry(obj) -> bool:
        return obj.geometry is not None


class AreaCountsOut(Schema):
    descendants: int
    by_level: dict[str, int]
    grids: int
    dedicated_grids: int
    joint_defense_groups: int
    staff_posts: int
    grids_without_worker_a: int
    grids_without_worker_b: int


class AreaDetail(AreaOut):
    ancestors: list[AreaBrief]
    counts: AreaCountsOut
    geometry: dict[str, Any] | None


class AreaCreateIn(Schema):
    code: str
    name: str
    parent_code: str
    level: str
    kind: str = "division"
    dedicated_type: str = ""
    geometry: dict[str, Any] | None = None


class AreaUpdateIn(Schema):
    name: str | None = None
    dedicated_type: str | None = None
    geometry: dict[str, Any] | None = None
    clear_geometry: bool = False


class AreaMoveIn(Schema):
    new_parent_code: str
    new_code: str | None = None


class PostOut(Schema):
    id: int
    staff_id: int
    staff_name: str = Field(..., alias="staff.name")
    area_code: str = Field(..., alias="area.code")
    area_name: str = Field(..., alias="area.name")
    role: str
    slot: str
    start_date: dt.date
    end_date: dt.date | None


class StaffOut(Schema):
    id: int
    name: str
    phone: str
    employment: str
    yearly_stipend: int
    active: bool
    username: str | None = None
    department: str | None = Field(None, alias="department.name")

    @staticmethod
    def resolve_username(obj) -> str | None:
        return obj.user.username if obj.user_id else None


class StaffCreateIn(Schema):
    name: str
    area_code: str
    role: str
    slot: str = ""
    phone: str = ""
    employment: str = "part_time"
    yearly_stipend: int = 0
    start_date: dt.date | None = None
    username: str = ""
    password: str = ""


class StaffUpdateIn(Schema):
    phone: str | None = None
    employment: str | None = None
    yearly_stipend: int | None = None
    active: bool | None = None


class PostCreateIn(Schema):
    staff_id: int
    area_code: str
    role: str
    slot: str = ""
    start_date: dt.date | None = None
    end_date: dt.date | None = None


class PostEndIn(Schema):
    end_date: dt.date | None = None


class RosterGrid(Schema):
    code: str
    name: str
    parent_name: str
    worker_a: str | None
    worker_b: str | None
    others: list[str]


class MeOut(Schema):
    username: str
    name: str
    is_superuser: bool
    posts: list[PostOut]
    scope_roots: list[AreaBrief]


class DepartmentOut(Schema):
    id: int
    name: str
    area_code: str = Field(..., alias="area.code")
    phone: str
    handler_count: int = 0


class DepartmentCreateIn(Schema):
    area_code: str
    name: str
    phone: str = ""


class HandlerCreateIn(Schema):
    name: str
    phone: str = ""
    username: str = ""
    password: str = ""


class AuditOut(Schema):
    id: int
    at: dt.datetime
    actor_name: str
    ip: str | None
    action: str
    object_type: str
    object_id: str
    object_repr: str
    data: dict[str, Any]
