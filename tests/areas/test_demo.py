"""The demo loader at tiny scale (it builds its own levels: no tree or users fixtures here)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from gridgov.areas import services
from gridgov.areas.codes import encode_step
from gridgov.areas.demo import DEMO_PASSWORD
from gridgov.areas.models import GRID_KINDS, Area, AreaKind, Department, Post, Role, Slot, Staff
from gridgov.areas.scope import Perm, scope_for
from gridgov.areas.selectors import locate_point, subtree
from gridgov.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def run_demo(**options) -> str:
    out = StringIO()
    call_command("demo", scale="tiny", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def demo():
    return run_demo()


def snapshot() -> tuple[int, ...]:
    User = get_user_model()
    return tuple(m.objects.count() for m in (Area, Staff, Post, Department, User, AuditEvent))


def test_tiny_counts(demo):
    by_level = dict(Area.objects.values_list("level__name").annotate(n=Count("id")))
    assert by_level == {"县": 1, "镇办": 2, "村/社区": 4, "组": 6, "片": 13}
    assert Area.objects.filter(kind=AreaKind.GRID).count() == 12
    assert Area.objects.filter(kind=AreaKind.DEDICATED_GRID).count() == 1
    assert Department.objects.count() == 15
    # 2 grid workers on each of 13 grids, 15 department handlers, 7 more demo accounts.
    assert Staff.objects.count() == 26 + 15 + 7
    assert Staff.objects.filter(user__isnull=True).count() == 0
    assert get_user_model().objects.count() == 48
    assert AuditEvent.objects.filter(action="demo.load", actor_name="gridgov demo").count() == 1
    assert "town_admin" in demo and DEMO_PASSWORD in demo


def test_names_and_codes(demo):
    county = Area.objects.get(parent=None)
    assert (county.code, county.name) == ("611023000000", "商南县")
    towns = dict(Area.objects.filter(parent=county).values_list("name", "code"))
    assert towns == {"富水镇": "611023100000", "湘河镇": "611023101000"}
    assert Area.objects.get(name="富水街社区").parent.name == "富水镇"


def test_every_area_is_valid_against_its_parent(demo):
    for area in Area.objects.select_related("level", "parent__level"):
        problems = services.validate_area(
            code=area.code, level=area.level, kind=area.kind, parent=area.parent,
            dedicated_type=area.dedicated_type,
        )
        assert problems == {}, (area, problems)


def test_paths_are_consistent(demo):
    areas = list(Area.objects.order_by("path"))
    assert len({a.path for a in areas}) == len(areas)
    by_pk = {a.pk: a for a in areas}
    siblings: dict[int | None, list[Area]] = {}
    for area in areas:
        siblings.setdefault(area.parent_id, []).append(area)
    for parent_id, children in siblings.items():
        prefix = by_pk[parent_id].path if parent_id else ""
        assert [c.path for c in children] == [prefix + encode_step(i) for i in range(len(children))]


def test_every_grid_has_one_a_and_one_b_worker(demo):
    grids = Area.objects.filter(kind__in=GRID_KINDS)
    active = Post.objects.filter(role=Role.GRID_WORKER, end_date=None, start_date__lte=timezone.localdate())
    for grid in grids:
        assert sorted(active.filter(area=grid).values_list("slot", flat=True)) == [Slot.A, Slot.B], grid
    assert Post.objects.filter(role=Role.GRID_WORKER).count() == 2 * grids.count()


@pytest.mark.parametrize(
    ("username", "role", "area_name"),
    [
        ("county_operator", Role.CENTRE_OPERATOR, "商南县"),
        ("leader", Role.LEADER, "商南县"),
        ("town_admin", Role.AREA_ADMIN, "富水镇"),
        ("town_admin2", Role.AREA_ADMIN, "湘河镇"),
        ("town_operator", Role.CENTRE_OPERATOR, "富水镇"),
        ("village_staff", Role.VILLAGE_STAFF, "富水街社区"),
    ],
)
def test_demo_account_posts(demo, username, role, area_name):
    user = get_user_model().objects.get(username=username)
    assert user.check_password(DEMO_PASSWORD) and not user.is_superuser
    assert [(p.role, p.area.name) for p in user.staff.posts.all()] == [(role, area_name)]


def test_admin_grid_worker_and_handler_accounts(demo):
    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(DEMO_PASSWORD) and admin.staff.posts.count() == 0
    worker = User.objects.get(username="grid_worker")
    assert worker.check_password(DEMO_PASSWORD)
    post = worker.staff.posts.get()
    assert (post.role, post.slot, post.area.kind) == (Role.GRID_WORKER, Slot.A, AreaKind.GRID)
    assert post.area.path.startswith(Area.objects.get(name="富水街社区").path)
    handler = User.objects.get(username="dept_handler")
    assert handler.check_password(DEMO_PASSWORD)
    assert (handler.staff.department.name, handler.staff.department.area.name) == ("水务局", "商南县")
    # Generated logins have no usable password.
    assert not User.objects.get(username=f"gw{post.area.code}b").has_usable_password()


def test_town_admin_scope_is_its_own_town(demo):
    user = get_user_model().objects.get(username="town_admin")
    scope = scope_for(user, Perm.AREA_VIEW)
    fushui, xianghe = Area.objects.get(name="富水镇"), Area.objects.get(name="湘河镇")
    inside = list(Area.objects.filter(subtree(fushui)))
    outside = list(Area.objects.filter(subtree(xianghe)))
    assert len(inside) > 5 and len(outside) > 5
    assert all(scope.contains(a.path) for a in inside)
    assert not any(scope.contains(a.path) for a in outside)
    assert not scope.contains(Area.objects.get(parent=None).path)


def test_locate_point_finds_each_grid(demo):
    for grid in Area.objects.filter(kind__in=GRID_KINDS):
        lng, lat = (grid.min_lng + grid.max_lng) / 2, (grid.min_lat + grid.max_lat) / 2
        assert locate_point(lng=lng, lat=lat) == grid


def test_boundaries_partition_their_parent(demo):
    for parent in Area.objects.filter(kind=AreaKind.DIVISION):
        children = list(parent.children.all())
        parent_size = (parent.max_lng - parent.min_lng) * (parent.max_lat - parent.min_lat)
        size = sum((c.max_lng - c.min_lng) * (c.max_lat - c.min_lat) for c in children)
        assert size == pytest.approx(parent_size)
        assert all(parent.min_lng <= c.min_lng < c.max_lng <= parent.max_lng for c in children)
        assert all(parent.min_lat <= c.min_lat < c.max_lat <= parent.max_lat for c in children)


def test_second_demo_is_refused_and_changes_nothing(demo):
    before = snapshot()
    with pytest.raises(CommandError, match="already holds areas"):
        run_demo()
    assert snapshot() == before


def test_if_empty_does_nothing_on_a_loaded_database(demo):
    before = snapshot()
    assert "no demo loaded" in run_demo(if_empty=True)
    assert snapshot() == before


def test_if_empty_loads_into_an_empty_database():
    run_demo(if_empty=True)
    assert Area.objects.filter(kind__in=GRID_KINDS).count() == 13


def test_refuses_when_a_demo_user_name_is_taken():
    get_user_model().objects.create_user(username="admin", password="Other-pass-2026")
    before = snapshot()
    with pytest.raises(CommandError, match="admin"):
        run_demo()
    assert snapshot() == before
