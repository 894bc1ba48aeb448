"""Area scope (gridgov.areas.scope and gridgov.core.scope): who may read or change which subtree."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from hypothesis import given
from hypothesis import strategies as st

from gridgov.areas import selectors, services
from gridgov.areas.models import Area, Role, Staff
from gridgov.areas.scope import ROLE_PERMS, active_posts, has_perm_anywhere, scope_for
from gridgov.core.scope import Perm, Scope, next_prefix
from tests.areas.factories import make_post, make_staff, make_user, today
from tests.conftest import PASSWORD

ALL_PERMS = list(Perm)
TOWN_A = {"town_a", "village_a1", "village_a2", "group_a1", "grid_a", "grid_a2", "grid_a3"}
TOWN_B = {"town_b", "village_b1", "group_b1", "grid_b"}
EVERYTHING = {"county"} | TOWN_A | TOWN_B
KEYS = sorted(EVERYTHING)


def fresh(user):
    """The user as a new request would load it (scope_for caches on the user object)."""
    return get_user_model().objects.get(pk=user.pk)


def visible_keys(tree, user, perm=Perm.AREA_VIEW) -> set[str]:
    codes = set(selectors.visible_areas(user, perm).values_list("code", flat=True))
    return {key for key in KEYS if getattr(tree, key).code in codes}


@pytest.mark.parametrize("perm", ALL_PERMS)
def test_superuser_has_everything(users, perm):
    assert scope_for(users.superuser, perm) == Scope(everything=True)


READ = {Perm.AREA_VIEW, Perm.STAFF_VIEW, Perm.RESIDENT_VIEW, Perm.VISIT_VIEW}
KEEP = {Perm.RESIDENT_CHANGE, Perm.RESIDENT_REVEAL}
HANDLE_CASES = {Perm.CASE_VIEW, Perm.CASE_REPORT, Perm.CASE_HANDLE}
DESK = HANDLE_CASES | {Perm.CASE_DISPATCH, Perm.CASE_SUPERVISE}
# An area admin manages areas, staff and the registry, but reads no secrets and takes no part in cases or visits.
ADMIN = READ | {Perm.AREA_CHANGE, Perm.STAFF_CHANGE, Perm.STAFF_GRANT, Perm.AUDIT_VIEW, Perm.RESIDENT_CHANGE,
                Perm.RESIDENT_EXPORT, Perm.CALENDAR_CHANGE, Perm.CASE_VIEW}
OPERATOR = READ | KEEP | DESK | {Perm.STAFF_CHANGE, Perm.RESIDENT_EXPORT, Perm.SENSITIVE_TAGS}


@pytest.mark.parametrize(
    ("role", "root", "perms"),
    [
        ("county_operator", "county", OPERATOR),
        ("leader", "county", READ | {Perm.CASE_VIEW, Perm.CASE_SUPERVISE}),
        ("town_admin_a", "town_a", ADMIN),
        ("town_admin_b", "town_b", ADMIN),
        ("town_operator_a", "town_a", OPERATOR),
        ("village_staff_a", "village_a1", OPERATOR | {Perm.AREA_CHANGE, Perm.VISIT_LOG}),
        ("grid_worker_a", "grid_a", READ | KEEP | HANDLE_CASES | {Perm.VISIT_LOG}),
        ("grid_police_a", "grid_a", READ | HANDLE_CASES | {Perm.RESIDENT_REVEAL, Perm.SENSITIVE_TAGS, Perm.VISIT_LOG}),
    ],
)
def test_scope_of_each_role(tree, users, role, root, perms):
    user = getattr(users, role)
    for perm in ALL_PERMS:
        expected = Scope(roots=(getattr(tree, root).path,)) if perm in perms else Scope()
        assert scope_for(user, perm) == expected, perm


@pytest.mark.parametrize(
    ("role", "keys"),
    [
        ("superuser", EVERYTHING),
        ("county_operator", EVERYTHING),
        ("leader", EVERYTHING),
        ("town_admin_a", TOWN_A),
        ("town_operator_a", TOWN_A),
        ("town_admin_b", TOWN_B),
        ("village_staff_a", {"village_a1", "group_a1", "grid_a", "grid_a2"}),
        ("grid_worker_a", {"grid_a"}),
        ("grid_police_a", {"grid_a"}),
        ("dept_handler", set()),
        ("nobody", set()),
    ],
)
def test_visible_areas_of_each_role(tree, users, role, keys):
    assert visible_keys(tree, getattr(users, role)) == keys


def test_town_admin_a_scope_contains_grid_a_not_grid_b(tree, users):
    scope = scope_for(users.town_admin_a, Perm.AREA_VIEW)
    assert scope.contains(tree.grid_a.path)
    assert scope.contains(tree.town_a.path)
    assert not scope.contains(tree.grid_b.path)
    assert not scope.contains(tree.county.path)
    assert not scope.contains(tree.town_b.path)


@pytest.mark.parametrize("role", ["dept_handler", "nobody"])
@pytest.mark.parametrize("perm", ALL_PERMS)
def test_department_handler_and_nobody_have_nothing(users, role, perm):
    scope = scope_for(getattr(users, role), perm)
    assert scope.is_empty
    assert not has_perm_anywhere(getattr(users, role), perm)


def test_leader_reads_only(users):
    for perm in (Perm.AREA_CHANGE, Perm.STAFF_CHANGE, Perm.AUDIT_VIEW):
        assert scope_for(users.leader, perm).is_empty
    assert has_perm_anywhere(users.leader, Perm.AREA_VIEW)


def test_anonymous_and_inactive_users_have_nothing(users):
    assert scope_for(AnonymousUser(), Perm.AREA_VIEW).is_empty
    assert scope_for(None, Perm.AREA_VIEW).is_empty
    user = fresh(users.superuser)
    user.is_active = False
    assert scope_for(user, Perm.AREA_VIEW).is_empty


def test_inactive_staff_has_nothing(users):
    Staff.objects.filter(user=users.town_admin_a).update(active=False)
    assert scope_for(fresh(users.town_admin_a), Perm.AREA_VIEW).is_empty


def test_a_post_ended_today_grants_nothing(tree):
    user = make_user(password=PASSWORD)
    staff = make_staff(user=user)
    post = make_post(staff, tree.town_a, Role.AREA_ADMIN, start=today() - dt.timedelta(days=100))
    assert scope_for(fresh(user), Perm.AREA_VIEW).roots == (tree.town_a.path,)
    services.post_end(actor=None, post=post, end_date=today())
    for perm in ALL_PERMS:
        assert scope_for(fresh(user), perm).is_empty
    assert list(active_posts(user)) == []


def test_a_post_ending_tomorrow_still_grants(tree):
    user = make_user(password=PASSWORD)
    make_post(make_staff(user=user), tree.town_a, Role.AREA_ADMIN, end=today() + dt.timedelta(days=1))
    assert scope_for(fresh(user), Perm.AREA_CHANGE).roots == (tree.town_a.path,)


def test_a_future_post_grants_nothing(tree):
    user = make_user(password=PASSWORD)
    make_post(make_staff(user=user), tree.town_a, Role.AREA_ADMIN, start=today() + dt.timedelta(days=1))
    for perm in ALL_PERMS:
        assert scope_for(fresh(user), perm).is_empty


def test_a_post_starting_today_grants(tree):
    user = make_user(password=PASSWORD)
    make_post(make_staff(user=user), tree.town_a, Role.AREA_ADMIN, start=today())
    assert scope_for(fresh(user), Perm.AREA_VIEW).roots == (tree.town_a.path,)


def test_union_of_posts_is_minimised(tree):
    user = make_user(password=PASSWORD)
    staff = make_staff(user=user)
    make_post(staff, tree.village_a1, Role.VILLAGE_STAFF)
    make_post(staff, tree.grid_b, Role.GRID_DOCTOR)
    make_post(staff, tree.grid_a, Role.GRID_DOCTOR)  # inside village A1 already
    user = fresh(user)
    assert scope_for(user, Perm.AREA_VIEW).roots == (tree.village_a1.path, tree.grid_b.path)
    # Only the village post carries change rights.
    assert scope_for(user, Perm.AREA_CHANGE).roots == (tree.village_a1.path,)
    make_post(staff, tree.town_a, Role.LEADER)
    assert scope_for(fresh(user), Perm.AREA_VIEW).roots == (tree.town_a.path, tree.grid_b.path)


def test_scope_is_cached_on_the_user_for_the_request(users, django_assert_num_queries):
    user = fresh(users.town_admin_a)
    with django_assert_num_queries(2):  # the counter of the kept posts (gridgov.core.authcache) and the posts
        scope_for(user, Perm.AREA_VIEW)
        scope_for(user, Perm.AREA_CHANGE)
        scope_for(user, Perm.STAFF_VIEW)
    with django_assert_num_queries(0):
        scope_for(user, Perm.AREA_VIEW)
    next_request = fresh(users.town_admin_a)
    with django_assert_num_queries(1):  # the posts kept by the process: the counter only
        assert scope_for(next_request, Perm.AREA_VIEW) == scope_for(user, Perm.AREA_VIEW)


def test_every_role_has_a_permission_set():
    assert set(ROLE_PERMS) == set(Role.values)
    assert all(Perm.AREA_VIEW in perms and Perm.STAFF_VIEW in perms for perms in ROLE_PERMS.values())


# --- Scope and next_prefix as data -------------------------------------------------------------------


def test_of_paths_minimises_nested_prefixes():
    scope = Scope.of_paths(["00010000", "0000", "00000001", "0001", "000100020003", "0002", "0002"])
    assert scope.roots == ("0000", "0001", "0002")
    assert Scope.of_paths(["00010000", "00010001", "00010000ABCD"]).roots == ("00010000", "00010001")
    assert Scope.of_paths([]).is_empty


def test_scope_contains_and_everything():
    scope = Scope(roots=("0000", "00010002"))
    assert scope.contains("0000")
    assert scope.contains("0000ZZZZ")
    assert scope.contains("000100020000")
    assert not scope.contains("0001")
    assert not scope.contains("00010003")
    assert Scope(everything=True).contains("ZZZZ")
    assert not Scope(everything=True).is_empty


def test_scope_q_filters_subtrees(tree):
    q = Scope(roots=(tree.village_a1.path, tree.grid_b.path)).q()
    codes = set(Area.objects.filter(q).values_list("code", flat=True))
    assert codes == {tree.village_a1.code, tree.group_a1.code, tree.grid_a.code, tree.grid_a2.code,
                     tree.grid_b.code}
    assert Area.objects.filter(Scope().q()).count() == 0
    assert Area.objects.filter(Scope(everything=True).q()).count() == 12


def test_next_prefix_known_values():
    assert next_prefix("0000") == "0001"
    assert next_prefix("0009") == "000:"
    assert next_prefix("000Z") == "000["
    assert next_prefix("00000001") == "00000002"


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
paths = st.text(alphabet=_ALPHABET, min_size=1, max_size=16)


@given(paths, paths)
def test_prefix_range_is_exactly_startswith(prefix, other):
    """``p <= x < next_prefix(p)`` holds exactly for the strings that start with ``p``."""
    inside = prefix <= other < next_prefix(prefix)
    assert inside == other.startswith(prefix)
    assert prefix <= prefix + other < next_prefix(prefix)


@given(st.lists(paths, max_size=12))
def test_of_paths_covers_the_same_strings(path_list):
    scope = Scope.of_paths(path_list)
    assert all(scope.contains(p) for p in path_list)
    assert set(scope.roots) <= set(path_list)
    # No root lies inside another.
    assert not any(a != b and b.startswith(a) for a in scope.roots for b in scope.roots)
