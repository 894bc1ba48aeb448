"""Writes of the areas app (gridgov.areas.services): validation, audit rows, atomic moves."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgov.areas import services
from gridgov.areas.codes import code_problems, placement_problems, significant_prefix
from gridgov.areas.errors import AreaErrorCode
from gridgov.areas.models import PATH_STEP, RANK_DIGITS, Area, AreaKind, AreaLevel, Post, Rank, Role, Slot, Staff
from gridgov.areas.scope import Perm, scope_for
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.models import AuditEvent, PasswordHistory
from tests.areas.factories import counts, make_grid, make_post, make_staff, state, today, tree_rows
from tests.conftest import square

IS_POSTGRES = connection.vendor == "postgresql"

# --- area_create ---------------------------------------------------------------------------------


def test_tree_paths_are_fixed_width_steps(tree):
    assert tree.county.path == "0000"
    assert tree.town_a.path == "00000000"
    assert tree.town_b.path == "00000001"
    assert tree.village_a1.path == "000000000000"
    assert tree.village_a2.path == "000000000001"
    assert tree.village_b1.path == "000000010000"
    assert tree.group_a1.path == "0000000000000000"
    assert tree.grid_a.path == "00000000000000000000"
    assert tree.grid_a2.path == "00000000000000000001"
    assert tree.grid_a3.path == "0000000000010000"
    assert tree.grid_b.path == "00000001000000000000"
    assert tree.grid_a.depth == 4
    assert tree.grid_a.ancestor_paths() == ["0000", "00000000", "000000000000", "0000000000000000"]


def test_area_create_appends_after_the_last_sibling(tree, users):
    grid = services.area_create(actor=users.town_admin_a, code="611023100201001003", name="新片",
                                level=tree.levels["片"], parent=tree.group_a1, kind=AreaKind.GRID)
    assert grid.path == "00000000000000000002"
    assert grid.parent == tree.group_a1
    assert grid.code == "611023100201001003"


def test_area_create_writes_an_audit_row(tree, users):
    before = AuditEvent.objects.count()
    grid = services.area_create(actor=users.town_admin_a, code=" 611023100201001003 ", name="  新片 ",
                                level=tree.levels["片"], parent=tree.group_a1, kind=AreaKind.GRID)
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("id")
    assert event.action == "area.create"
    assert event.actor == users.town_admin_a
    assert event.actor_name == "town_admin_a (town_admin_a-name)"
    assert event.area_path == grid.path
    assert event.object_type == "areas.area"
    assert event.object_id == str(grid.pk)
    assert event.object_repr == "新片 (611023100201001003)"
    assert event.data == {"code": "611023100201001003", "name": "新片", "kind": "grid", "level": "片"}


def test_area_create_by_the_system_records_system(tree):
    event = AuditEvent.objects.filter(action="area.create", object_id=str(tree.grid_b.pk)).get()
    assert event.actor is None
    assert event.actor_name == "system"
    assert event.area_path == tree.grid_b.path


def test_area_create_with_geometry_sets_the_bounding_box(tree):
    grid = make_grid(tree.village_b1, 7, geometry=square(111.0, 34.0, 0.5))
    assert (grid.min_lng, grid.min_lat, grid.max_lng, grid.max_lat) == (111.0, 34.0, 111.5, 34.5)
    assert grid.geometry["type"] == "Polygon"


def test_area_create_code_taken(tree):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_create(actor=None, code="611023100201", name="重复村", level=tree.levels["村/社区"],
                             parent=tree.town_a)
    assert exc.value.code == AreaErrorCode.CODE_TAKEN
    assert exc.value.fields == {"code": ["taken"]}
    assert state() == before


@pytest.mark.parametrize(
    ("code", "kind", "level", "parent", "fields"),
    [
        ("611023101299", AreaKind.DIVISION, "村/社区", "town_a", {"code"}),  # town B's prefix under town A
        ("61102310029", AreaKind.DIVISION, "村/社区", "town_a", {"code"}),
        ("611023100201001009", AreaKind.GRID, "片", "town_a", {"parent", "code"}),  # a grid under a town
        ("611023100009", AreaKind.GRID, "片", "county", {"parent", "code"}),
        ("61102310020100100101", AreaKind.JOINT_DEFENSE_GROUP, "联防组", "group_a1", {"parent", "code"}),
        ("611023100201009", AreaKind.DIVISION, "组", "grid_a3", {"parent", "code"}),
        ("611023100201001009", "castle", "片", "group_a1", {"kind"}),
        ("611023100201001009", AreaKind.DEDICATED_GRID, "片", "group_a1", {"dedicated_type"}),
    ],
)
def test_area_create_bad_input_is_refused_and_nothing_saved(tree, code, kind, level, parent, fields):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_create(actor=None, code=code, name="坏", level=tree.levels[level],
                             parent=getattr(tree, parent), kind=kind)
    assert exc.value.code == AreaErrorCode.INVALID_CODE
    assert set(exc.value.fields) == fields
    assert state() == before


def test_area_create_needs_a_name(tree):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_create(actor=None, code="611023100201001009", name="   ", level=tree.levels["片"],
                             parent=tree.group_a1, kind=AreaKind.GRID)
    assert exc.value.fields == {"name": ["A name is required."]}
    assert state() == before


def test_area_create_invalid_geometry_saves_nothing(tree):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_create(actor=None, code="611023100201001009", name="片", level=tree.levels["片"],
                             parent=tree.group_a1, kind=AreaKind.GRID,
                             geometry={"type": "Point", "coordinates": [1, 2]})
    assert exc.value.code == AreaErrorCode.INVALID_GEOMETRY
    assert state() == before


def test_area_create_dedicated_grid_with_type(tree):
    grid = make_grid(tree.group_a1, 9, kind=AreaKind.DEDICATED_GRID)
    assert grid.dedicated_type == "school"
    assert grid.is_grid


def test_area_create_root_only_by_superuser(tree, users):
    with pytest.raises(PermissionDenied):
        services.area_create(actor=users.county_operator, code="611024000000", name="丹凤县",
                             level=tree.levels["县"], parent=None)
    root = services.area_create(actor=users.superuser, code="611024000000", name="丹凤县",
                                level=tree.levels["县"], parent=None)
    assert root.path == "0001"


@pytest.mark.parametrize(("role", "error"), [("leader", PermissionDenied), ("county_operator", PermissionDenied),
                                              ("grid_worker_a", NotFound), ("town_admin_b", NotFound),
                                              ("nobody", NotFound)])
def test_area_create_permission(tree, users, role, error):
    before = state()
    with pytest.raises(error):
        services.area_create(actor=getattr(users, role), code="611023100201001009", name="片",
                             level=tree.levels["片"], parent=tree.group_a1, kind=AreaKind.GRID)
    assert state() == before


# --- area_update ---------------------------------------------------------------------------------


def test_area_update_renames_and_audits(tree, users):
    area = services.area_update(actor=users.village_staff_a, area=tree.grid_a, name=" 牛家庄新片 ")
    area.refresh_from_db()
    assert area.name == "牛家庄新片"
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.actor, event.area_path) == ("area.update", users.village_staff_a, area.path)
    assert event.data == {"name": ["牛家庄片", "牛家庄新片"]}


def test_area_update_without_change_writes_nothing(tree):
    before = state()
    services.area_update(actor=None, area=tree.grid_a, name="牛家庄片")
    assert state() == before


def test_area_update_with_the_same_geometry_changes_nothing(tree):
    before = state()
    services.area_update(actor=None, area=tree.grid_a, geometry=square(110.80, 33.50))
    assert state() == before


def test_area_update_sets_and_clears_geometry(tree):
    area = services.area_update(actor=None, area=tree.grid_a2, geometry=square(110.81, 33.50, 0.02))
    area.refresh_from_db()
    assert area.geometry["type"] == "Polygon"
    assert (area.min_lng, area.min_lat, area.max_lng, area.max_lat) == pytest.approx((110.81, 33.50, 110.83, 33.52))
    assert AuditEvent.objects.latest("id").data == {"geometry": [None, "set"]}

    services.area_update(actor=None, area=area, geometry=None)
    area.refresh_from_db()
    assert area.geometry is None
    assert (area.min_lng, area.min_lat, area.max_lng, area.max_lat) == (None, None, None, None)
    assert AuditEvent.objects.latest("id").data == {"geometry": ["changed", None]}


def test_area_update_accepts_a_feature_and_json_text(tree):
    feature = {"type": "Feature", "properties": {}, "geometry": square(110.81, 33.5)}
    services.area_update(actor=None, area=tree.grid_a2, geometry=feature)
    tree.grid_a2.refresh_from_db()
    assert tree.grid_a2.geometry["type"] == "Polygon"
    services.area_update(actor=None, area=tree.grid_a3, geometry='{"type": "MultiPolygon", "coordinates": '
                         '[[[[110, 33], [110.1, 33], [110.1, 33.1], [110, 33]]]]}')
    tree.grid_a3.refresh_from_db()
    assert tree.grid_a3.geometry["type"] == "MultiPolygon"
    assert tree.grid_a3.max_lat == pytest.approx(33.1)


@pytest.mark.parametrize(
    "geometry",
    [
        "{not json",
        {"type": "Point", "coordinates": [110, 33]},
        {"type": "Polygon", "coordinates": "abc"},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # self-intersecting
        {"type": "Polygon", "coordinates": [[[200, 0], [201, 0], [201, 1], [200, 0]]]},  # not degrees
        {"type": "Polygon"},
        [1, 2, 3],
        {"type": "Feature", "geometry": None},
    ],
)
def test_area_update_invalid_geojson_changes_nothing(tree, geometry):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_update(actor=None, area=tree.grid_a, name="新名字", geometry=geometry)
    assert exc.value.code == AreaErrorCode.INVALID_GEOMETRY
    assert list(exc.value.fields) == ["geometry"]
    assert state() == before


def test_area_update_empty_name_refused(tree):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_update(actor=None, area=tree.grid_a, name="  ")
    assert exc.value.fields == {"name": ["required"]}
    assert state() == before


def test_area_update_dedicated_type_only_on_dedicated_grids(tree):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_update(actor=None, area=tree.grid_a, dedicated_type="school")
    assert list(exc.value.fields) == ["dedicated_type"]
    assert state() == before
    dedicated = make_grid(tree.group_a1, 9, kind=AreaKind.DEDICATED_GRID)
    services.area_update(actor=None, area=dedicated, dedicated_type="hospital")
    dedicated.refresh_from_db()
    assert dedicated.dedicated_type == "hospital"


@pytest.mark.parametrize(("role", "error"), [("leader", PermissionDenied), ("grid_worker_a", PermissionDenied),
                                              ("town_operator_a", PermissionDenied), ("town_admin_b", NotFound),
                                              ("dept_handler", NotFound)])
def test_area_update_permission(tree, users, role, error):
    before = state()
    with pytest.raises(error):
        services.area_update(actor=getattr(users, role), area=tree.grid_a, name="改名")
    assert state() == before


# --- area_move -----------------------------------------------------------------------------------


def test_move_village_to_the_other_town_rewrites_codes_and_paths(tree, users):
    moved = services.area_move(actor=users.superuser, area=tree.village_a1, new_parent=tree.town_b,
                               new_code="611023101202")
    assert moved.code == "611023101202"
    rows = {a.pk: a for a in Area.objects.all()}
    village, group = rows[tree.village_a1.pk], rows[tree.group_a1.pk]
    grid_a, grid_a2 = rows[tree.grid_a.pk], rows[tree.grid_a2.pk]
    assert village.parent_id == tree.town_b.pk
    assert (village.code, group.code, grid_a.code, grid_a2.code) == (
        "611023101202", "611023101202001", "611023101202001001", "611023101202001002")
    # town B already has village B1 at 0000: the moved village is its second child.
    assert village.path == "000000010001"
    assert group.path == "0000000100010000"
    assert (grid_a.path, grid_a2.path) == ("00000001000100000000", "00000001000100000001")
    # Nothing else moved.
    for key in ("county", "town_a", "town_b", "village_a2", "village_b1", "grid_a3", "grid_b", "group_b1"):
        before = getattr(tree, key)
        assert (rows[before.pk].code, rows[before.pk].path) == (before.code, before.path)
    # The geometry travels with the grid.
    assert grid_a.geometry == square(110.80, 33.50)
    assert (grid_a.min_lng, grid_a.max_lat) == (110.80, 33.51)


def test_move_writes_one_audit_row(tree, users):
    before = AuditEvent.objects.count()
    services.area_move(actor=users.superuser, area=tree.village_a1, new_parent=tree.town_b,
                       new_code="611023101202")
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("id")
    assert event.action == "area.move"
    assert event.actor == users.superuser
    assert event.area_path == "000000010001"
    assert event.object_id == str(tree.village_a1.pk)
    assert event.data == {"from_parent": "611023100000", "to_parent": "611023101000", "old_code": "611023100201",
                          "new_code": "611023101202", "areas_moved": 4}


def test_moved_subtree_changes_scope(tree, users):
    assert scope_for(users.town_admin_a, Perm.AREA_VIEW).contains(tree.grid_a.path)
    services.area_move(actor=None, area=tree.village_a1, new_parent=tree.town_b, new_code="611023101202")
    grid_a = Area.objects.get(pk=tree.grid_a.pk)
    fresh_a = get_user_model().objects.get(pk=users.town_admin_a.pk)
    fresh_b = get_user_model().objects.get(pk=users.town_admin_b.pk)
    assert not scope_for(fresh_a, Perm.AREA_VIEW).contains(grid_a.path)
    assert scope_for(fresh_b, Perm.AREA_VIEW).contains(grid_a.path)
    # The grid worker's post moved with the grid.
    fresh_worker = get_user_model().objects.get(pk=users.grid_worker_a.pk)
    assert scope_for(fresh_worker, Perm.AREA_VIEW).roots == (grid_a.path,)


def test_move_group_to_another_village(tree):
    services.area_move(actor=None, area=tree.group_a1, new_parent=tree.village_a2, new_code="611023100202002")
    rows = {a.pk: a for a in Area.objects.all()}
    assert rows[tree.group_a1.pk].code == "611023100202002"
    assert rows[tree.grid_a.pk].code == "611023100202002001"
    assert rows[tree.grid_a2.pk].code == "611023100202002002"
    # village A2 has grid A3 at 0000: the group becomes 0001.
    assert rows[tree.group_a1.pk].path == "0000000000010001"
    assert rows[tree.grid_a.pk].path == "00000000000100010000"


def test_move_town_renumbers_its_villages(tree):
    services.area_move(actor=None, area=tree.town_a, new_parent=tree.county, new_code="611023102000")
    rows = {a.pk: a for a in Area.objects.all()}
    assert rows[tree.town_a.pk].code == "611023102000"
    assert rows[tree.village_a1.pk].code == "611023102201"
    assert rows[tree.village_a2.pk].code == "611023102202"
    assert rows[tree.grid_a3.pk].code == "611023102202001"
    assert rows[tree.grid_a.pk].code == "611023102201001001"
    assert rows[tree.town_a.pk].parent_id == tree.county.pk


def test_renumbering_in_place_keeps_the_path_and_the_audit_history(tree, users):
    seen = AuditEvent.objects.filter(area_path__startswith=tree.town_a.path).count()
    services.area_move(actor=None, area=tree.town_a, new_parent=tree.county, new_code="611023102000")
    town_a = Area.objects.get(pk=tree.town_a.pk)
    assert town_a.path == tree.town_a.path
    fresh = get_user_model().objects.get(pk=users.town_admin_a.pk)
    from gridgov.core.selectors import audit_list

    assert audit_list(scope=scope_for(fresh, Perm.AUDIT_VIEW)).count() >= seen


def test_move_to_the_same_parent_with_the_same_code_is_a_no_op(tree):
    before = state()
    moved = services.area_move(actor=None, area=tree.village_a1, new_parent=tree.town_a)
    assert moved.pk == tree.village_a1.pk
    assert state() == before


def test_move_keeping_a_code_that_does_not_extend_the_new_parent_is_refused(tree):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_move(actor=None, area=tree.village_a1, new_parent=tree.town_b)
    assert exc.value.code == AreaErrorCode.INVALID_CODE
    assert list(exc.value.fields) == ["code"]
    assert state() == before


@pytest.mark.parametrize(("area", "new_parent"), [("town_a", "village_a1"), ("town_a", "grid_a"),
                                                  ("village_a1", "village_a1"), ("county", "grid_b"),
                                                  ("group_a1", "grid_a2")])
def test_move_under_itself_or_a_descendant_is_refused(tree, area, new_parent):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_move(actor=None, area=getattr(tree, area), new_parent=getattr(tree, new_parent),
                           new_code=getattr(tree, new_parent).code + "009")
    assert exc.value.code == AreaErrorCode.CYCLE
    assert exc.value.fields == {"parent": ["cycle"]}
    assert state() == before


@pytest.mark.parametrize(("new_parent", "new_code"), [("town_b", "611023101000001"), ("county", "611023000000001"),
                                                      ("grid_b", "611023101201001001001")])
def test_move_grid_under_a_town_or_county_or_grid_is_refused(tree, new_parent, new_code):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_move(actor=None, area=tree.grid_a, new_parent=getattr(tree, new_parent), new_code=new_code)
    assert exc.value.code == AreaErrorCode.INVALID_CODE
    assert "parent" in exc.value.fields
    assert state() == before


def test_move_onto_a_taken_code_is_refused(tree):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_move(actor=None, area=tree.village_a2, new_parent=tree.town_b, new_code="611023101201")
    assert exc.value.code == AreaErrorCode.CODE_TAKEN
    assert state() == before


def test_move_whose_descendant_code_would_clash_is_refused(tree):
    # Village B1 already has group 611023101201001. Moving group A1 under it as 001 clashes at the root;
    # moving village A1 to town B as 611023101201 clashes in the whole subtree.
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.area_move(actor=None, area=tree.group_a1, new_parent=tree.village_b1, new_code="611023101201001")
    assert exc.value.code == AreaErrorCode.CODE_TAKEN
    assert state() == before


def test_move_is_atomic_when_the_audit_write_fails(tree, monkeypatch):
    before = state()

    def broken_record(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services.audit, "record", broken_record)
    with pytest.raises(RuntimeError):
        services.area_move(actor=None, area=tree.village_a1, new_parent=tree.town_b, new_code="611023101202")
    assert state() == before


@pytest.mark.parametrize(("role", "area", "new_parent", "new_code", "error"), [
    ("town_admin_a", "village_a1", "town_b", "611023101202", NotFound),  # target outside the scope
    ("town_admin_b", "village_a1", "town_b", "611023101202", NotFound),  # area outside the scope
    ("leader", "village_a1", "town_b", "611023101202", PermissionDenied),
    ("county_operator", "village_a1", "town_b", "611023101202", PermissionDenied),
    ("village_staff_a", "village_a1", "village_a2", "611023100209", NotFound),  # the top of its own scope
    ("town_admin_a", "town_a", "county", "611023102000", NotFound),
])
def test_move_permission(tree, users, role, area, new_parent, new_code, error):
    before = state()
    with pytest.raises(error):
        services.area_move(actor=getattr(users, role), area=getattr(tree, area),
                           new_parent=getattr(tree, new_parent), new_code=new_code)
    assert state() == before


def test_move_inside_own_scope(tree, users):
    moved = services.area_move(actor=users.village_staff_a, area=tree.grid_a2, new_parent=tree.village_a1,
                               new_code="611023100201009")
    assert moved.code == "611023100201009"
    assert moved.path == "000000000000" + "0001"


# --- the tree stays consistent under any sequence of moves --------------------------------------


def assert_tree_consistent(expected_count: int) -> None:
    areas = list(Area.objects.select_related("level", "parent").order_by("path"))
    assert len(areas) == expected_count
    assert len({a.path for a in areas}) == len(areas)
    assert len({a.code for a in areas}) == len(areas)
    for area in areas:
        assert len(area.path) % PATH_STEP == 0
        if area.parent is None:
            assert len(area.path) == PATH_STEP
            continue
        parent = area.parent
        assert area.path.startswith(parent.path)
        assert len(area.path) == len(parent.path) + PATH_STEP
        assert area.code.startswith(significant_prefix(parent.code, parent.level))
        assert area.code != parent.code
        assert code_problems(area.code, area.level, parent.code, parent.level) == []
        assert placement_problems(kind=area.kind, level=area.level, parent_kind=parent.kind,
                                  parent_level=parent.level) == []
    # Every post still sits on an existing area; every subtree count adds up.
    assert Post.objects.exclude(area__in=areas).count() == 0


MOVERS = ["town_a", "town_b", "village_a1", "village_a2", "village_b1", "group_a1", "group_b1", "grid_a3", "grid_a2"]
TARGETS = ["county", "town_a", "town_b", "village_a1", "village_a2", "village_b1", "group_a1", "group_b1", "grid_a"]


def candidate_code(area: Area, target: Area, n: int) -> str | None:
    """A code for ``area`` under ``target`` that is often (not always) valid; None keeps the old code."""
    if n == 0:
        return None
    if area.level.is_division:
        prefix = significant_prefix(target.code, target.level)
        digits = RANK_DIGITS.get(area.level.rank, 12)
        own = digits - len(prefix)
        if own <= 0:
            return f"{prefix}{n:03d}"[:12]
        return (prefix + str(n % 10**own).zfill(own)).ljust(12, "0")
    return f"{target.code}{n % 1000:0{area.level.sequence_width}d}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(MOVERS), st.sampled_from(TARGETS), st.integers(0, 210)),
                min_size=1, max_size=6))
def test_random_moves_keep_the_tree_consistent(tree, moves):
    ids = {key: getattr(tree, key).pk for key in set(MOVERS) | set(TARGETS)}
    with transaction.atomic():
        total = Area.objects.count()
        for mover_key, target_key, n in moves:
            area = Area.objects.select_related("level").get(pk=ids[mover_key])
            target = Area.objects.select_related("level").get(pk=ids[target_key])
            before = tree_rows()
            try:
                services.area_move(actor=None, area=area, new_parent=target,
                                   new_code=candidate_code(area, target, n))
            except ApplicationError:
                assert tree_rows() == before
            assert_tree_consistent(total)
        transaction.set_rollback(True)


def test_some_random_move_sequences_succeed(tree):
    """The property test above is not vacuous: its code generator produces valid moves."""
    area = Area.objects.select_related("level").get(pk=tree.village_a2.pk)
    target = Area.objects.select_related("level").get(pk=tree.town_b.pk)
    services.area_move(actor=None, area=area, new_parent=target, new_code=candidate_code(area, target, 205))
    group = Area.objects.select_related("level").get(pk=tree.group_b1.pk)
    services.area_move(actor=None, area=group, new_parent=Area.objects.get(pk=tree.village_a2.pk),
                       new_code=candidate_code(group, Area.objects.get(pk=tree.village_a2.pk), 7))
    assert Area.objects.get(pk=tree.village_a2.pk).code == "611023101205"
    assert Area.objects.get(pk=tree.group_b1.pk).code == "611023101205007"
    assert_tree_consistent(12)


# --- posts -----------------------------------------------------------------------------------------


def test_one_open_a_post_per_grid(tree):
    first = make_post(make_staff("甲"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A)
    before = state()
    with pytest.raises(ApplicationError) as exc:
        make_post(make_staff("乙"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A)
    assert exc.value.code == AreaErrorCode.POST_CONFLICT
    assert exc.value.fields == {"slot": ["taken"]}
    assert Post.objects.filter(area=tree.grid_a2, role=Role.GRID_WORKER, slot=Slot.A).get() == first
    # The refused post created no row; only the second staff member exists.
    after = state()
    assert after[0]["posts"] == before[0]["posts"]


def test_b_post_beside_the_a_post(tree):
    make_post(make_staff("甲"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A)
    b = make_post(make_staff("乙"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.B)
    assert b.slot == Slot.B
    with pytest.raises(ApplicationError) as exc:
        make_post(make_staff("丙"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.B)
    assert exc.value.code == AreaErrorCode.POST_CONFLICT


def test_a_post_after_the_previous_one_ended(tree):
    old = make_post(make_staff("甲"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A,
                    start=today() - dt.timedelta(days=30))
    services.post_end(actor=None, post=old)
    new = make_post(make_staff("乙"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A)
    assert new.start_date == today()


def test_a_post_overlapping_a_dated_one_is_refused(tree):
    make_post(make_staff("甲"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A, end=today() + dt.timedelta(days=10))
    with pytest.raises(ApplicationError) as exc:
        make_post(make_staff("乙"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A, start=today() + dt.timedelta(days=5))
    assert exc.value.code == AreaErrorCode.POST_CONFLICT
    follow = make_post(make_staff("丙"), tree.grid_a2, Role.GRID_WORKER, slot=Slot.A,
                       start=today() + dt.timedelta(days=10))
    assert follow.end_date is None


@pytest.mark.parametrize("area", ["village_a1", "group_a1", "town_a"])
def test_grid_worker_post_only_on_a_grid(tree, area):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        make_post(Staff.objects.first(), getattr(tree, area), Role.GRID_WORKER, slot=Slot.A)
    assert exc.value.code == AreaErrorCode.INVALID_POST
    assert exc.value.fields == {"area": ["A grid worker's post is on a grid."]}
    assert state() == before


@pytest.mark.parametrize("role", [Role.GRID_POLICE, Role.VILLAGE_STAFF, Role.LEADER])
def test_slot_only_for_grid_workers(tree, role):
    staff = make_staff()
    before = state()
    with pytest.raises(ApplicationError) as exc:
        make_post(staff, tree.grid_a, role, slot=Slot.A)
    assert exc.value.fields == {"slot": ["Only grid workers have an A or B post."]}
    assert state() == before


@pytest.mark.parametrize("slot", ["", "C"])
def test_grid_worker_needs_a_or_b(tree, slot):
    with pytest.raises(ApplicationError) as exc:
        make_post(make_staff(), tree.grid_a2, Role.GRID_WORKER, slot=slot)
    assert exc.value.fields == {"slot": ["A grid worker holds post A or backup post B."]}


def test_unknown_role_refused(tree):
    with pytest.raises(ApplicationError) as exc:
        make_post(make_staff(), tree.grid_a2, "king")
    assert exc.value.fields == {"role": ["Unknown role 'king'."]}


def test_post_create_ending_before_it_starts_refused(tree):
    with pytest.raises(ApplicationError) as exc:
        make_post(make_staff(), tree.grid_a2, Role.GRID_DOCTOR, start=today(), end=today() - dt.timedelta(days=1))
    assert list(exc.value.fields) == ["end_date"]


def test_same_person_same_post_twice_refused(tree):
    staff = make_staff()
    make_post(staff, tree.grid_a2, Role.GRID_DOCTOR)
    with pytest.raises(ApplicationError) as exc:
        make_post(staff, tree.grid_a2, Role.GRID_DOCTOR)
    assert exc.value.code == AreaErrorCode.POST_CONFLICT
    assert exc.value.fields == {"role": ["duplicate"]}


def test_post_create_audit_row(tree, users):
    staff = make_staff("王医生")
    post = services.post_create(actor=users.town_operator_a, staff=staff, area=tree.grid_a2, role=Role.GRID_DOCTOR)
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.actor, event.area_path, event.object_id) == (
        "post.create", users.town_operator_a, tree.grid_a2.path, str(post.pk))
    assert event.data == {"staff": "王医生", "role": "grid_doctor", "slot": "", "start": str(today())}


@pytest.mark.parametrize("role", [Role.AREA_ADMIN, Role.LEADER, Role.CENTRE_OPERATOR, Role.VILLAGE_STAFF])
def test_granting_a_subtree_role_needs_the_grant_right(tree, users, role):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.post_create(actor=users.county_operator, staff=make_staff(), area=tree.town_a, role=role)
    assert exc.value.fields == {"role": ["Only an administrator of this area grants this role."]}
    assert state()[0]["posts"] == before[0]["posts"]
    post = services.post_create(actor=users.town_admin_a, staff=make_staff(), area=tree.village_a1, role=role)
    assert post.role == role


@pytest.mark.parametrize("actor", ["county_operator", "village_staff_a", "town_operator_a"])
def test_only_an_area_admin_grants_village_staff(tree, users, actor):
    """village_staff carries AREA_CHANGE: an operator or village staff must not mint such an account."""
    staff = make_staff()
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.post_create(actor=getattr(users, actor), staff=staff, area=tree.village_a1, role=Role.VILLAGE_STAFF)
    assert exc.value.fields == {"role": ["Only an administrator of this area grants this role."]}
    assert state() == before


def test_post_end_is_exclusive(tree, users):
    post = Post.objects.get(staff__user=users.grid_police_a)
    assert post.is_active_on(today())
    ended = services.post_end(actor=users.town_admin_a, post=post)
    assert ended.end_date == today()
    ended.refresh_from_db()
    assert not ended.is_active_on(today())
    assert ended.is_active_on(today() - dt.timedelta(days=1)) is (ended.start_date < today())
    fresh = get_user_model().objects.get(pk=users.grid_police_a.pk)
    assert scope_for(fresh, Perm.AREA_VIEW).is_empty
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.actor, event.area_path) == ("post.end", users.town_admin_a, tree.grid_a.path)
    assert event.data == {"staff": "grid_police_a-name", "role": "grid_police", "slot": "", "end": str(today())}


def test_post_end_twice_refused(tree):
    post = make_post(make_staff(), tree.grid_a2, Role.GRID_DOCTOR, start=today() - dt.timedelta(days=3))
    services.post_end(actor=None, post=post)
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.post_end(actor=None, post=post)
    assert exc.value.code == AreaErrorCode.INVALID_POST
    assert exc.value.fields == {"end_date": ["ended"]}
    with pytest.raises(ApplicationError):
        services.post_end(actor=None, post=post, end_date=today() + dt.timedelta(days=5))
    assert state() == before


def test_post_end_in_the_future_then_earlier(tree):
    post = make_post(make_staff(), tree.grid_a2, Role.GRID_DOCTOR)
    services.post_end(actor=None, post=post, end_date=today() + dt.timedelta(days=10))
    post.refresh_from_db()
    assert post.is_active_on(today())
    services.post_end(actor=None, post=post, end_date=today())  # brought forward
    post.refresh_from_db()
    assert post.end_date == today()


def test_post_end_before_start_refused(tree):
    post = make_post(make_staff(), tree.grid_a2, Role.GRID_DOCTOR, start=today())
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.post_end(actor=None, post=post, end_date=today() - dt.timedelta(days=1))
    assert exc.value.fields == {"end_date": ["before start"]}
    assert state() == before


@pytest.mark.parametrize(("role", "error"), [("leader", PermissionDenied), ("grid_worker_a", PermissionDenied),
                                              ("town_admin_b", NotFound), ("nobody", NotFound)])
def test_post_end_permission(tree, users, role, error):
    post = Post.objects.get(staff__user=users.grid_police_a)
    before = state()
    with pytest.raises(error):
        services.post_end(actor=getattr(users, role), post=post)
    assert state() == before


# --- staff ---------------------------------------------------------------------------------------


def test_staff_create_with_a_login(tree, users):
    User = get_user_model()
    staff = services.staff_create(
        actor=users.village_staff_a, name=" 李四 ", area=tree.grid_a2, role=Role.GRID_WORKER, slot=Slot.A,
        phone="13800000000", employment="full_time", yearly_stipend=24000, username="lisi", password="Wang-ge-2026",
    )
    assert staff.name == "李四"
    assert staff.user.username == "lisi"
    assert User.objects.get(username="lisi").check_password("Wang-ge-2026")
    assert PasswordHistory.objects.filter(user=staff.user).count() == 1
    post = Post.objects.get(staff=staff)
    assert (post.area, post.role, post.slot, post.start_date, post.end_date) == (
        tree.grid_a2, Role.GRID_WORKER, Slot.A, today(), None)
    events = list(AuditEvent.objects.filter(object_type="areas.staff", object_id=str(staff.pk)))
    assert [e.action for e in events] == ["staff.create"]
    assert events[0].data == {"role": "grid_worker", "slot": "A", "area": tree.grid_a2.code, "login": "lisi"}
    assert events[0].area_path == tree.grid_a2.path
    # The post itself is recorded by the staff row only.
    assert not AuditEvent.objects.filter(action="post.create", object_id=str(post.pk)).exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Ab1-", "This password is too short. It must contain at least 8 characters."),
        ("abcdefgh12", "Your password must contain at least 3 of: lower-case letters, upper-case letters, "
                       "digits, symbols."),
        ("ABCDEFGH!!", "Your password must contain at least 3 of: lower-case letters, upper-case letters, "
                       "digits, symbols."),
        ("", "This password is too short. It must contain at least 8 characters."),
    ],
)
def test_staff_create_enforces_the_password_policy(tree, password, message):
    before = state()
    with translation.override("en"), pytest.raises(ApplicationError) as exc:
        services.staff_create(actor=None, name="李四", area=tree.grid_a2, role=Role.GRID_DOCTOR,
                              username="lisi", password=password)
    assert exc.value.code == AreaErrorCode.INVALID_STAFF
    assert message in exc.value.fields["password"]
    assert state() == before


def test_staff_create_username_taken(tree, users):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.staff_create(actor=None, name="李四", area=tree.grid_a2, role=Role.GRID_DOCTOR,
                              username="nobody", password="Wang-ge-2026")
    assert exc.value.fields == {"username": ["This user name is taken."]}
    assert state() == before


def test_staff_create_refused_post_saves_no_staff(tree, users):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.staff_create(actor=None, name="李四", area=tree.grid_a, role=Role.GRID_WORKER, slot=Slot.A,
                              username="lisi", password="Wang-ge-2026")
    assert exc.value.code == AreaErrorCode.POST_CONFLICT
    assert state() == before


@pytest.mark.parametrize(("kwargs", "field"), [({"name": " "}, "name"), ({"employment": "forever"}, "employment"),
                                               ({"yearly_stipend": -1}, "yearly_stipend")])
def test_staff_create_bad_fields(tree, kwargs, field):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.staff_create(actor=None, **{"name": "李四", "area": tree.grid_a2, "role": Role.GRID_DOCTOR,
                                             **kwargs})
    assert list(exc.value.fields) == [field]
    assert state() == before


@pytest.mark.parametrize(("role", "error"), [("leader", PermissionDenied), ("grid_worker_a", PermissionDenied),
                                              ("town_admin_b", NotFound), ("dept_handler", NotFound)])
def test_staff_create_permission(tree, users, role, error):
    before = state()
    with pytest.raises(error):
        services.staff_create(actor=getattr(users, role), name="李四", area=tree.grid_a, role=Role.GRID_DOCTOR)
    assert state() == before


def test_a_former_post_gives_no_change_rights(tree, users):
    staff = make_staff("调走的网格员")
    old = make_post(staff, tree.grid_a2, Role.GRID_WORKER, slot=Slot.A, start=today() - dt.timedelta(days=30))
    services.post_end(actor=None, post=old)
    make_post(staff, tree.grid_b, Role.GRID_WORKER, slot=Slot.B)
    before = state()
    with pytest.raises((NotFound, PermissionDenied)):
        services.staff_update(actor=users.town_admin_a, staff=staff, active=False)
    assert state() == before


def test_staff_update_and_audit(tree, users):
    staff = Staff.objects.get(user=users.grid_worker_a)
    services.staff_update(actor=users.town_operator_a, staff=staff, phone="139", yearly_stipend=100, active=False)
    staff.refresh_from_db()
    assert (staff.phone, staff.yearly_stipend, staff.active) == ("139", 100, False)
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.area_path) == ("staff.update", tree.grid_a.path)
    assert event.data == {"phone": ["", "139"], "yearly_stipend": [0, 100], "active": [True, False]}


@pytest.mark.parametrize(("kwargs", "field"), [({"employment": "x"}, "employment"), ({"yearly_stipend": -5},
                                                                                       "yearly_stipend")])
def test_staff_update_bad_fields(tree, users, kwargs, field):
    staff = Staff.objects.get(user=users.grid_worker_a)
    before = state()
    with pytest.raises(ApplicationError) as exc:
        services.staff_update(actor=None, staff=staff, **kwargs)
    assert list(exc.value.fields) == [field]
    assert state() == before


# --- levels and departments ------------------------------------------------------------------------


def test_levels_configure_refused_once_areas_exist(tree):
    before = list(AreaLevel.objects.values_list("depth", "name", "rank", "code_width"))
    with pytest.raises(ApplicationError) as exc:
        services.levels_configure(actor=None, levels=[("市", Rank.CITY, None)])
    assert exc.value.code == AreaErrorCode.INVALID_LEVEL
    assert list(AreaLevel.objects.values_list("depth", "name", "rank", "code_width")) == before


@pytest.mark.parametrize("levels", [[], [("县", Rank.COUNTY, None), ("县", Rank.TOWN, None)],
                                    [("县", "galaxy", None)]])
def test_levels_configure_bad_input(db, levels):
    with pytest.raises(ApplicationError) as exc:
        services.levels_configure(actor=None, levels=levels)
    assert exc.value.code == AreaErrorCode.INVALID_LEVEL
    assert AreaLevel.objects.count() == 0


def test_levels_configure_only_by_a_superuser(db):
    user = get_user_model().objects.create_user(username="x", password="Pass-word-1")
    with pytest.raises(PermissionDenied):
        services.levels_configure(actor=user, levels=[("县", Rank.COUNTY, None)])
    assert AreaLevel.objects.count() == 0


def test_levels_configure_replaces_levels_and_audits(levels):
    assert [(lv.depth, lv.name, lv.rank, lv.code_width) for lv in AreaLevel.objects.all()] == [
        (0, "县", "county", None), (1, "镇办", "town", None), (2, "村/社区", "village", None),
        (3, "组", "below_village", 3), (4, "片", "below_village", 3), (5, "联防组", "below_village", 2)]
    new = services.levels_configure(actor=None, levels=[("市", Rank.CITY, None), ("区", Rank.COUNTY, None)])
    assert [lv.name for lv in new] == ["市", "区"]
    assert AreaLevel.objects.count() == 2
    assert AuditEvent.objects.latest("id").data == {"levels": ["市", "区"]}


def test_department_create(tree, users):
    dept = services.department_create(actor=users.town_admin_a, area=tree.town_a, name=" 司法所 ", phone="0914")
    assert (dept.name, dept.area, dept.phone) == ("司法所", tree.town_a, "0914")
    with pytest.raises(ApplicationError) as exc:
        services.department_create(actor=users.town_admin_a, area=tree.town_a, name="司法所")
    assert exc.value.fields == {"name": ["taken"]}
    with pytest.raises(PermissionDenied):
        services.department_create(actor=users.leader, area=tree.town_a, name="民政所")
    assert counts()["departments"] == 2
