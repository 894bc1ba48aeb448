"""Small factories and before/after snapshots shared by the areas tests (and the core tests)."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth import get_user_model
from django.utils import timezone

from gridgov.areas import services
from gridgov.areas.models import Area, AreaKind, Department, Post, Staff
from gridgov.core.models import ApiToken, AuditEvent, PasswordHistory

_seq = itertools.count(1)


def make_staff(name: str | None = None, **fields) -> Staff:
    return Staff.objects.create(name=name or f"职员{next(_seq)}", **fields)


def make_user(username: str | None = None, *, password: str, superuser: bool = False):
    User = get_user_model()
    username = username or f"user{next(_seq)}"
    if superuser:
        return User.objects.create_superuser(username=username, password=password)
    return User.objects.create_user(username=username, password=password)


def make_grid(parent: Area, seq: int, *, name: str | None = None, geometry=None, kind=AreaKind.GRID) -> Area:
    """A grid under ``parent`` with the code ``parent.code`` + a 3-digit sequence (level 片)."""
    from gridgov.areas.models import AreaLevel

    return services.area_create(
        actor=None, code=f"{parent.code}{seq:03d}", name=name or f"网格{seq}", level=AreaLevel.objects.get(name="片"),
        parent=parent, kind=kind, geometry=geometry, dedicated_type="school" if kind == AreaKind.DEDICATED_GRID else "",
    )


def make_post(staff: Staff, area: Area, role: str, *, slot: str = "", start: dt.date | None = None,
              end: dt.date | None = None) -> Post:
    return services.post_create(actor=None, staff=staff, area=area, role=role, slot=slot,
                                start_date=start, end_date=end)


def today() -> dt.date:
    return timezone.localdate()


def counts() -> dict[str, int]:
    """How many rows each table the areas and core apps write to holds."""
    return {
        "areas": Area.objects.count(),
        "posts": Post.objects.count(),
        "staff": Staff.objects.count(),
        "departments": Department.objects.count(),
        "users": get_user_model().objects.count(),
        "audit": AuditEvent.objects.count(),
        "tokens": ApiToken.objects.count(),
        "password_history": PasswordHistory.objects.count(),
    }


def tree_rows() -> list[tuple]:
    """Every area's identity, place and fields, to compare before and after a refused write."""
    return list(
        Area.objects.order_by("pk").values_list(
            "pk", "code", "name", "parent_id", "path", "kind", "dedicated_type", "geometry", "min_lng", "min_lat",
            "max_lng", "max_lat", "updated_at",
        )
    )


def people_rows() -> list[tuple]:
    staff = list(Staff.objects.order_by("pk").values_list(
        "pk", "name", "phone", "employment", "yearly_stipend", "active", "user_id", "department_id"))
    posts = list(Post.objects.order_by("pk").values_list(
        "pk", "staff_id", "area_id", "role", "slot", "start_date", "end_date"))
    return staff + posts


def state() -> tuple:
    """Everything a refused write must leave as it was."""
    return counts(), tree_rows(), people_rows()
