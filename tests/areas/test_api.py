"""The API of the areas app: the authorization matrix (every role, inside and outside its subtree),
denied writes that change nothing, malformed input that never gives a 500, and query counts."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from gridgov.areas.models import Area, Post, Role, Slot, Staff
from gridgov.core.models import AuditEvent
from tests.areas.factories import make_grid, make_post, make_staff, state, today
from tests.areas.matrix import AREA_CHANGE, AUDIT, PERMS, ROLES, ROOTS, SIDES, STAFF_CHANGE, VIEW, expected, holds
from tests.conftest import PASSWORD

API = "/api/v1"
NO_AREA = {"code": "not_found", "message": "No such area.", "fields": {}}
NO_STAFF = {"code": "not_found", "message": "No such staff member.", "fields": {}}
NO_POST = {"code": "not_found", "message": "No such post.", "fields": {}}
UNAUTHENTICATED = {"code": "unauthenticated", "message": "Log in first: send a valid bearer token.", "fields": {}}

IS_POSTGRES = connection.vendor == "postgresql"


def call(client, method: str, path: str, data=None, **extra):
    body = {} if data is None else {"data": data if isinstance(data, str) else json.dumps(data),
                                    "content_type": "application/json"}
    return getattr(client, method)(API + path, **body, **extra)


@pytest.fixture
def staff_b(tree):
    """A grid worker A on grid B (town B's subtree), as staff_a is grid_police_a's staff on grid A."""
    staff = make_staff("上湾网格员")
    make_post(staff, tree.grid_b, Role.GRID_WORKER, slot=Slot.A)
    return staff


@pytest.fixture
def as_role(client, users):
    def login(role: str) -> Client:
        client.force_login(getattr(users, role))
        return client

    return login


def bearer(client, username: str) -> dict:
    response = call(client, "post", "/auth/token", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['token']}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    return body


# --- reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_get_area(tree, users, as_role, role, side):
    key = f"grid_{side}"
    client = as_role(role)
    response = call(client, "get", f"/areas/{getattr(tree, key).code}")
    status = expected(tree, role, view=[key], change=[], perm=VIEW, ok=200)
    assert response.status_code == status
    if status == 404:
        assert response.json() == NO_AREA
        return
    body = response.json()
    assert body["code"] == getattr(tree, key).code
    assert body["kind"] == "grid"
    assert body["level"] == "片"
    assert body["has_geometry"] is True
    assert body["geometry"]["type"] == "Polygon"
    # Breadcrumbs show only the ancestors the caller may see.
    ancestors = [a["code"] for a in body["ancestors"]]
    chain = ["county", f"town_{side}", f"village_{side}1", f"group_{side}1"]
    assert ancestors == [getattr(tree, k).code for k in chain if holds(tree, role, VIEW, k)]


def test_get_area_counts(tree, users, as_role):
    body = call(as_role("town_admin_a"), "get", f"/areas/{tree.town_a.code}").json()
    assert body["counts"] == {
        "descendants": 6, "by_level": {"村/社区": 2, "组": 1, "片": 3}, "grids": 3, "dedicated_grids": 0,
        "joint_defense_groups": 0, "staff_posts": 5, "grids_without_worker_a": 2, "grids_without_worker_b": 3,
    }
    assert body["ancestors"] == []
    assert body["parent_code"] == tree.county.code


def test_nonexistent_area_is_the_same_404(users, as_role):
    client = as_role("superuser")
    assert call(client, "get", "/areas/611023999999").json() == NO_AREA
    assert call(client, "get", "/areas?parent=611023999999").json() == NO_AREA
    assert call(client, "get", "/areas/611023999999/posts").json() == NO_AREA
    assert call(client, "get", "/staff/999999").json() == NO_STAFF
    assert call(client, "post", "/posts/999999/end", {}).json() == NO_POST


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_list_children(tree, users, as_role, role, side):
    key = f"group_{side}1"
    response = call(as_role(role), "get", f"/areas?parent={getattr(tree, key).code}")
    status = expected(tree, role, view=[key], change=[], perm=VIEW, ok=200)
    assert response.status_code == status
    if status == 404:
        assert response.json() == NO_AREA
        return
    grids = ["grid_a", "grid_a2"] if side == "a" else ["grid_b"]
    body = response.json()
    assert body["count"] == len(grids)
    assert [item["code"] for item in body["items"]] == [getattr(tree, g).code for g in grids]
    assert {item["child_count"] for item in body["items"]} == {0}
    assert {item["parent_code"] for item in body["items"]} == {getattr(tree, key).code}


@pytest.mark.parametrize(
    ("role", "roots"),
    [("superuser", ["county"]), ("county_operator", ["county"]), ("town_admin_a", ["town_a"]),
     ("village_staff_a", ["village_a1"]), ("grid_worker_a", ["grid_a"]), ("nobody", [])],
)
def test_list_without_parent_gives_the_scope_roots(tree, users, as_role, role, roots):
    body = call(as_role(role), "get", "/areas").json()
    assert [item["code"] for item in body["items"]] == [getattr(tree, k).code for k in roots]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_locate(tree, users, as_role, role, side):
    key = f"grid_{side}"
    lng, lat = (110.805, 33.505) if side == "a" else (110.905, 33.605)
    response = call(as_role(role), "get", f"/areas/locate?lat={lat}&lng={lng}")
    status = expected(tree, role, view=[key], change=[], perm=VIEW, ok=200)
    assert response.status_code == status
    if status == 404:
        assert response.json() == {"code": "not_found", "message": "No area of yours covers this point.",
                                   "fields": {}}
    else:
        assert response.json()["code"] == getattr(tree, key).code


def test_locate_edge_and_outside(tree, users, as_role):
    client = as_role("superuser")
    assert call(client, "get", "/areas/locate?lat=33.5&lng=110.8").json()["code"] == tree.grid_a.code  # a corner
    assert call(client, "get", "/areas/locate?lat=33.51&lng=110.81").json()["code"] == tree.grid_a.code
    assert_error(call(client, "get", "/areas/locate?lat=33.52&lng=110.805"), 404, "not_found")
    assert_error(call(client, "get", "/areas/locate?lat=0&lng=0"), 404, "not_found")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_area_posts(tree, users, staff_b, as_role, role, side):
    key = f"grid_{side}"
    response = call(as_role(role), "get", f"/areas/{getattr(tree, key).code}/posts")
    status = expected(tree, role, view=[key], change=[], perm=VIEW, ok=200)
    assert response.status_code == status
    if status == 404:
        assert response.json() == NO_AREA
        return
    rows = [(p["staff_name"], p["role"], p["slot"], p["area_code"]) for p in response.json()]
    if side == "a":
        assert rows == [("grid_police_a-name", "grid_police", "", tree.grid_a.code),
                        ("grid_worker_a-name", "grid_worker", "A", tree.grid_a.code)]
    else:
        assert rows == [("上湾网格员", "grid_worker", "A", tree.grid_b.code)]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_roster(tree, users, staff_b, as_role, role, side):
    key = f"village_{side}1"
    status = expected(tree, role, view=[key], change=[], perm=VIEW, ok=200)
    response = call(as_role(role), "get", f"/areas/{getattr(tree, key).code}/roster")
    assert response.status_code == status
    if status == 404:
        assert response.json() == NO_AREA
        return
    items = response.json()["items"]
    with translation.override("zh-hans"):  # API labels follow the default language
        police = str(Role.GRID_POLICE.label)
    if side == "a":
        assert items == [
            {"code": tree.grid_a.code, "name": "牛家庄片", "parent_name": "一组", "worker_a": "grid_worker_a-name",
             "worker_b": None, "others": [f"{police}: grid_police_a-name"]},
            {"code": tree.grid_a2.code, "name": "河口片", "parent_name": "一组", "worker_a": None, "worker_b": None,
             "others": []},
        ]
    else:
        assert [i["worker_a"] for i in items] == ["上湾网格员"]


def test_roster_page_past_the_end_is_empty(tree, users, as_role):
    response = call(as_role("superuser"), "get", f"/areas/{tree.county.code}/roster?gaps_only=true&page=99")
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_get_staff(tree, users, staff_b, as_role, role, side):
    staff = Staff.objects.get(user=users.grid_police_a) if side == "a" else staff_b
    response = call(as_role(role), "get", f"/staff/{staff.pk}")
    status = expected(tree, role, view=[f"grid_{side}"], change=[], perm=VIEW, ok=200)
    assert response.status_code == status
    if status == 404:
        assert response.json() == NO_STAFF
    else:
        body = response.json()
        assert (body["id"], body["name"]) == (staff.pk, staff.name)
        assert body["username"] == ("grid_police_a" if side == "a" else None)
        posts = call(as_role(role), "get", f"/staff/{staff.pk}/posts").json()
        assert [p["area_code"] for p in posts] == [getattr(tree, f"grid_{side}").code]


@pytest.mark.parametrize(
    ("role", "roots", "posts"),
    [
        ("superuser", ["county"], []),
        ("county_operator", ["county"], [("centre_operator", "county")]),
        ("leader", ["county"], [("leader", "county")]),
        ("town_admin_a", ["town_a"], [("area_admin", "town_a")]),
        ("village_staff_a", ["village_a1"], [("village_staff", "village_a1")]),
        ("grid_worker_a", ["grid_a"], [("grid_worker", "grid_a")]),
        ("dept_handler", [], []),
        ("nobody", [], []),
    ],
)
def test_me(tree, users, as_role, role, roots, posts):
    response = call(as_role(role), "get", "/me")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == getattr(users, role).username
    assert body["is_superuser"] is (role == "superuser")
    assert body["name"] == f"{getattr(users, role).username}-name"
    assert [(p["role"], p["area_code"]) for p in body["posts"]] == [
        (r, getattr(tree, k).code) for r, k in posts]
    assert [a["code"] for a in body["scope_roots"]] == [getattr(tree, k).code for k in roots]


@pytest.mark.parametrize("role", ROLES)
def test_departments(tree, users, as_role, role):
    response = call(as_role(role), "get", "/departments")
    assert response.status_code == 200
    sees_county = holds(tree, role, VIEW, "county")
    assert [(d["name"], d["area_code"]) for d in response.json()] == (
        [("水务局", tree.county.code)] if sees_county else [])


@pytest.mark.parametrize("role", ROLES)
def test_audit(tree, users, as_role, role):
    response = call(as_role(role), "get", "/audit?page=1")
    if role == "superuser":
        assert response.status_code == 200
        assert response.json()["count"] == AuditEvent.objects.count()
        return
    if AUDIT not in PERMS[role]:
        assert_error(response, 403, "permission_denied")
        return
    assert response.status_code == 200
    root = getattr(tree, ROOTS[role][0]).path
    body = response.json()
    assert body["count"] == AuditEvent.objects.filter(area_path__startswith=root).count() > 0
    ids = [item["id"] for item in body["items"]]
    assert all(p.startswith(root) for p in AuditEvent.objects.filter(pk__in=ids).values_list("area_path", flat=True))


def test_audit_filters(tree, users, as_role):
    client = as_role("town_admin_a")
    body = call(client, "get", f"/audit?action=area.create&object={tree.grid_a.code}").json()
    assert [(e["action"], e["object_repr"]) for e in body["items"]] == [
        ("area.create", "牛家庄片 (611023100201001001)")]
    assert call(client, "get", f"/audit?object={tree.grid_b.code}").json()["count"] == 0
    assert call(client, "get", "/audit?date_from=2000-01-01&date_to=2000-01-02").json()["count"] == 0


def test_levels(levels, users, as_role):
    body = call(as_role("nobody"), "get", "/levels").json()
    assert [(lv["depth"], lv["name"], lv["rank"]) for lv in body][:3] == [(0, "县", "county"), (1, "镇办", "town"),
                                                                         (2, "村/社区", "village")]


# --- writes: allowed ones save, denied ones change nothing -------------------------------------------


def check_write(response, status: int, before, not_found: dict):
    if status in (403, 404):
        assert state() == before
        if status == 404:
            assert response.json() == not_found
        else:
            assert_error(response, 403, "permission_denied")
        return False
    assert response.status_code == status, response.content
    return True


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_create_area(tree, users, as_role, role, side):
    client = as_role(role)
    parent = getattr(tree, f"grid_{side}")
    code = parent.code + "01"
    before = state()
    response = call(client, "post", "/areas", {"code": code, "name": "联防一组", "parent_code": parent.code,
                                                "level": "联防组", "kind": "joint_defense_group"})
    status = expected(tree, role, view=[f"grid_{side}"], change=[f"grid_{side}"], perm=AREA_CHANGE, ok=201)
    assert response.status_code == status, response.content
    if check_write(response, status, before, NO_AREA):
        assert response.json()["code"] == code
        area = Area.objects.get(code=code)
        assert (area.parent_id, area.kind, area.name) == (parent.pk, "joint_defense_group", "联防一组")
        event = AuditEvent.objects.latest("id")
        assert (event.action, event.actor_id, event.ip) == ("area.create", getattr(users, role).pk, "127.0.0.1")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_update_area(tree, users, as_role, role, side):
    client = as_role(role)
    area = getattr(tree, f"grid_{side}")
    before = state()
    response = call(client, "patch", f"/areas/{area.code}", {"name": "新名字", "clear_geometry": True})
    status = expected(tree, role, view=[f"grid_{side}"], change=[f"grid_{side}"], perm=AREA_CHANGE, ok=200)
    assert response.status_code == status, response.content
    if check_write(response, status, before, NO_AREA):
        area.refresh_from_db()
        assert (area.name, area.geometry, area.min_lng) == ("新名字", None, None)
        assert response.json()["has_geometry"] is False


MOVES = {"a": ("grid_a2", "village_a1", "group_a1", "611023100201009"),
         "b": ("grid_b", "village_b1", "group_b1", "611023101201009")}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_move_area(request, tree, users, as_role, role, side):
    client = as_role(role)
    key, parent_key, old_parent_key, new_code = MOVES[side]
    area = getattr(tree, key)
    before = state()
    response = call(client, "post", f"/areas/{area.code}/move",
                    {"new_parent_code": getattr(tree, parent_key).code, "new_code": new_code})
    keys = [key, parent_key, old_parent_key]
    status = expected(tree, role, view=keys, change=keys, perm=AREA_CHANGE, ok=200)
    assert response.status_code == status, response.content
    if check_write(response, status, before, NO_AREA):
        area.refresh_from_db()
        assert (area.code, area.parent_id) == (new_code, getattr(tree, parent_key).pk)
        assert AuditEvent.objects.latest("id").action == "area.move"


def test_move_refusals_in_the_api(tree, users, as_role):
    client = as_role("town_admin_a")
    before = state()
    body = assert_error(call(client, "post", f"/areas/{tree.town_a.code}/move",
                             {"new_parent_code": tree.village_a1.code}), 404, "not_found")
    assert body == NO_AREA  # town A's parent is outside the admin's scope
    body = assert_error(call(client, "post", f"/areas/{tree.village_a1.code}/move",
                             {"new_parent_code": tree.grid_a.code, "new_code": "x"}), 400, "area_cycle")
    assert body["fields"] == {"parent": ["cycle"]}
    body = assert_error(call(client, "post", f"/areas/{tree.grid_a.code}/move",
                             {"new_parent_code": tree.town_a.code, "new_code": "611023100000001"}),
                        400, "area_invalid_code")
    assert "parent" in body["fields"]
    assert state() == before


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_create_staff(tree, users, as_role, role, side):
    client = as_role(role)
    area = getattr(tree, f"grid_{side}")
    before = state()
    response = call(client, "post", "/staff", {"name": "张医生", "area_code": area.code, "role": "grid_doctor",
                                               "phone": "0914-1", "yearly_stipend": 1200})
    status = expected(tree, role, view=[f"grid_{side}"], change=[f"grid_{side}"], perm=STAFF_CHANGE, ok=201)
    assert response.status_code == status, response.content
    if check_write(response, status, before, NO_AREA):
        staff = Staff.objects.get(pk=response.json()["id"])
        assert (staff.name, staff.phone, staff.yearly_stipend, staff.user) == ("张医生", "0914-1", 1200, None)
        assert Post.objects.get(staff=staff).area == area


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_update_staff(tree, users, staff_b, as_role, role, side):
    client = as_role(role)
    staff = Staff.objects.get(user=users.grid_police_a) if side == "a" else staff_b
    before = state()
    response = call(client, "patch", f"/staff/{staff.pk}", {"phone": "13900000000", "employment": "full_time"})
    status = expected(tree, role, view=[f"grid_{side}"], change=[f"grid_{side}"], perm=STAFF_CHANGE, ok=200)
    assert response.status_code == status, response.content
    if check_write(response, status, before, NO_STAFF):
        staff.refresh_from_db()
        assert (staff.phone, staff.employment) == ("13900000000", "full_time")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_create_post(tree, users, staff_b, as_role, role, side):
    client = as_role(role)
    staff = Staff.objects.get(user=users.grid_police_a) if side == "a" else staff_b
    area = getattr(tree, f"grid_{side}")
    before = state()
    response = call(client, "post", "/posts", {"staff_id": staff.pk, "area_code": area.code, "role": "grid_doctor"})
    status = expected(tree, role, view=[f"grid_{side}"], change=[f"grid_{side}"], perm=STAFF_CHANGE, ok=201)
    assert response.status_code == status, response.content
    if check_write(response, status, before, NO_STAFF):
        post = Post.objects.get(pk=response.json()["id"])
        assert (post.staff, post.area, post.role, post.start_date) == (staff, area, "grid_doctor", today())


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_end_post(tree, users, staff_b, as_role, role, side):
    client = as_role(role)
    staff = Staff.objects.get(user=users.grid_police_a) if side == "a" else staff_b
    post = Post.objects.get(staff=staff)
    before = state()
    response = call(client, "post", f"/posts/{post.pk}/end", {})
    status = expected(tree, role, view=[f"grid_{side}"], change=[f"grid_{side}"], perm=STAFF_CHANGE, ok=200)
    assert response.status_code == status, response.content
    if check_write(response, status, before, NO_POST):
        assert response.json()["end_date"] == str(today())
        post.refresh_from_db()
        assert post.end_date == today()


def test_post_conflict_in_the_api(tree, users, as_role):
    client = as_role("town_admin_a")
    before = state()
    body = assert_error(call(client, "post", "/staff",
                             {"name": "第二个A", "area_code": tree.grid_a.code, "role": "grid_worker", "slot": "A"}),
                        400, "post_conflict")
    assert body["fields"] == {"slot": ["taken"]}
    assert state() == before


def test_staff_with_a_weak_password_in_the_api(tree, users, as_role):
    client = as_role("town_admin_a")
    before = state()
    body = assert_error(call(client, "post", "/staff",
                             {"name": "李四", "area_code": tree.grid_a2.code, "role": "grid_worker", "slot": "A",
                              "username": "lisi", "password": "password"}), 400, "staff_invalid")
    assert list(body["fields"]) == ["password"]
    assert state() == before


# --- authentication ------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/me", None), ("get", "/levels", None), ("get", "/areas", None), ("get", "/areas/611023000000", None),
    ("get", "/areas/locate?lat=33.5&lng=110.8", None), ("get", "/areas/611023000000/posts", None),
    ("get", "/areas/611023000000/roster", None), ("get", "/staff/1", None), ("get", "/staff/1/posts", None),
    ("get", "/departments", None), ("get", "/audit", None), ("get", "/auth/tokens", None),
    ("post", "/areas", {"code": "611023100203", "name": "x", "parent_code": "611023100000", "level": "村/社区"}),
    ("patch", "/areas/611023000000", {"name": "x"}),
    ("post", "/areas/611023100201/move", {"new_parent_code": "611023101000", "new_code": "611023101202"}),
    ("post", "/staff", {"name": "x", "area_code": "611023000000", "role": "leader"}),
    ("patch", "/staff/1", {"phone": "1"}),
    ("post", "/posts", {"staff_id": 1, "area_code": "611023000000", "role": "leader"}),
    ("post", "/posts/1/end", {}), ("delete", "/auth/token", None), ("delete", "/auth/tokens/1", None),
]


@pytest.mark.parametrize(("method", "path", "data"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _d in ENDPOINTS])
def test_anonymous_is_unauthenticated(tree, users, client, method, path, data):
    before = state()
    response = call(client, method, path, data)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert state() == before


@pytest.mark.parametrize(("method", "path", "data"), ENDPOINTS[:4], ids=[f"{m} {p}" for m, p, _d in ENDPOINTS[:4]])
def test_a_bad_bearer_token_is_unauthenticated(tree, users, client, method, path, data):
    response = call(client, method, path, data, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.json() == UNAUTHENTICATED
    response = call(client, method, path, data, HTTP_AUTHORIZATION="Basic cm9vdDp4")
    assert response.json() == UNAUTHENTICATED


@pytest.mark.parametrize(("role", "side", "status"), [
    ("town_admin_a", "a", 200), ("town_admin_a", "b", 404), ("town_admin_b", "b", 200), ("leader", "a", 200),
    ("grid_worker_a", "a", 200), ("grid_worker_a", "b", 404), ("nobody", "a", 404),
])
def test_bearer_token_reads(tree, users, client, role, side, status):
    headers = bearer(client, getattr(users, role).username)
    response = call(Client(), "get", f"/areas/{getattr(tree, f'grid_{side}').code}", **headers)
    assert response.status_code == status
    if status == 404:
        assert response.json() == NO_AREA


@pytest.mark.parametrize(("role", "side", "status"), [
    ("town_admin_a", "a", 200), ("town_admin_a", "b", 404), ("leader", "a", 403), ("grid_worker_a", "a", 403),
    ("county_operator", "b", 403), ("town_admin_b", "b", 200),
])
def test_bearer_token_writes(tree, users, client, role, side, status):
    headers = bearer(client, getattr(users, role).username)
    area = getattr(tree, f"grid_{side}")
    before = state()
    response = call(Client(enforce_csrf_checks=True), "patch", f"/areas/{area.code}", {"name": "令牌改名"}, **headers)
    assert response.status_code == status
    area.refresh_from_db()
    if status == 200:
        assert area.name == "令牌改名"
        assert AuditEvent.objects.latest("id").actor == getattr(users, role)
    else:
        assert state() == before


def test_session_post_without_csrf_is_refused(tree, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users.town_admin_a)
    before = state()
    payload = {"code": "611023100201001009", "name": "新片", "parent_code": tree.group_a1.code, "level": "片",
               "kind": "grid"}
    response = call(client, "post", "/areas", payload)
    body = assert_error(response, 403, "permission_denied")
    assert "CSRF" in body["message"]
    assert state() == before
    # With the token from a page, the same request goes through; reads never need it.
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = call(client, "post", "/areas", payload, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    assert call(client, "get", f"/areas/{tree.grid_a.code}").status_code == 200


# --- malformed input never gives a 500 --------------------------------------------------------------


def test_bad_json_body(tree, users, as_role):
    client = as_role("town_admin_a")
    before = state()
    for raw in ("{not json", "\xff\xfe", '{"code": '):
        body = assert_error(call(client, "post", "/areas", raw), 400, "invalid_input")
        assert body["message"] == "Cannot parse request body"
    for raw in ("", "[1, 2]", "null", "42", '"text"'):
        assert_error(call(client, "post", "/areas", raw), 422, "invalid_input")
    assert state() == before


@pytest.mark.parametrize(
    ("method", "path", "data", "fields"),
    [
        ("post", "/areas", {"code": 611023100203, "name": ["x"], "parent_code": None, "level": {}},
         {"code", "name", "parent_code", "level"}),
        ("patch", "/areas/611023100201001001", {"geometry": "nonsense", "clear_geometry": "maybe"},
         {"geometry", "clear_geometry"}),
        ("post", "/areas/611023100201001001/move", {"new_parent_code": 5}, {"new_parent_code"}),
        ("post", "/staff", {"name": "x", "area_code": "611023100201001001", "role": "grid_doctor",
                            "yearly_stipend": "lots", "start_date": "2026-13-45"}, {"yearly_stipend", "start_date"}),
        ("patch", "/staff/1", {"active": "perhaps", "yearly_stipend": 1.5}, {"active", "yearly_stipend"}),
        ("post", "/posts", {"staff_id": "abc", "area_code": "x", "role": "leader"}, {"staff_id"}),
        ("post", "/posts/1/end", {"end_date": "yesterday"}, {"end_date"}),
        ("get", "/areas/locate?lat=abc&lng=110.8", None, {"lat"}),
        ("get", "/areas/locate?lng=110.8", None, {"lat"}),
        ("get", "/areas?page=-1", None, {"page"}),
        ("get", "/areas?page=0", None, {"page"}),
        ("get", "/areas?page=abc", None, {"page"}),
        ("get", "/areas/611023100201/roster?gaps_only=notabool", None, {"gaps_only"}),
        ("get", "/audit?date_from=garbage", None, {"date_from"}),
        ("get", "/staff/abc", None, {"staff_id"}),
    ],
)
def test_wrong_types_are_422(tree, users, as_role, method, path, data, fields):
    client = as_role("superuser")
    before = state()
    body = assert_error(call(client, method, path, data), 422, "invalid_input")
    assert set(body["fields"]) == fields
    assert state() == before


@pytest.mark.parametrize("query", ["lat=999&lng=110.8", "lat=33.5&lng=-181", "lat=nan&lng=110.8",
                                   "lat=inf&lng=110.8", "lat=-90.0001&lng=0"])
def test_coordinates_out_of_range(tree, users, as_role, query):
    body = assert_error(call(as_role("superuser"), "get", f"/areas/locate?{query}"), 400, "invalid_input")
    assert body["fields"] == {"lat": ["-90..90"], "lng": ["-180..180"]}


@pytest.mark.parametrize("code", ["9" * 5000, "💥六一一〇二三", "611023%_", "'; DROP TABLE areas_area; --",
                                  "..", "\u202e611023", "611023000000 ", "6110230000000000000000000000000000"])
def test_odd_codes_are_not_found(tree, users, as_role, code):
    client = as_role("superuser")
    assert call(client, "get", f"/areas/{quote(code, safe='')}").json() == NO_AREA
    assert call(client, "get", f"/areas?parent={quote(code, safe='')}").json() == NO_AREA
    assert call(client, "get", f"/areas/{quote(code, safe='')}/roster").json() == NO_AREA
    assert Area.objects.count() == 12


@pytest.mark.parametrize("code", ["9" * 5000, "６１１０２３１００２０３", "61102310020\u0663", "6110231002\U0001F4A5"])
def test_odd_codes_are_refused_on_create(tree, users, as_role, code):
    client = as_role("superuser")
    before = state()
    payload = {"code": code, "name": "奇怪的村", "parent_code": tree.town_a.code, "level": "村/社区"}
    body = assert_error(call(client, "post", "/areas", payload), 400, "area_invalid_code")
    assert list(body["fields"]) == ["code"]
    assert state() == before


def test_unknown_level_and_kind(tree, users, as_role):
    client = as_role("superuser")
    before = state()
    body = assert_error(call(client, "post", "/areas", {"code": "611023100203", "name": "x",
                                                        "parent_code": tree.town_a.code, "level": "星系"}),
                        400, "invalid_input")
    assert body["fields"] == {"level": ["unknown"]}
    body = assert_error(call(client, "post", "/areas", {"code": "611023100203", "name": "x", "kind": "castle",
                                                        "parent_code": tree.town_a.code, "level": "村/社区"}),
                        400, "area_invalid_code")
    assert list(body["fields"]) == ["kind"]
    assert state() == before


def test_unicode_names_round_trip(tree, users, as_role):
    name = "𠀀村\u200b👍 ‮"
    response = call(as_role("superuser"), "post", "/areas", {"code": "611023100203", "name": name,
                                                             "parent_code": tree.town_a.code, "level": "村/社区"})
    assert response.status_code == 201
    assert Area.objects.get(code="611023100203").name == name.strip()


@pytest.mark.parametrize("path", ["/areas/abc%00def", "/areas?parent=%00", "/areas/611023%00/posts"])
def test_nul_characters_are_not_a_500(tree, users, as_role, path):
    response = call(as_role("superuser"), "get", path)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


def test_nul_in_username_is_not_a_500(users, client):
    response = call(client, "post", "/auth/token", {"username": "root\x00", "password": PASSWORD})
    assert_error(response, 400, "invalid_input")  # refused before it reaches authentication


@pytest.mark.parametrize("stipend", [10**20, 3_000_000_000, 1_000_001, -1])
def test_huge_stipend_is_refused_not_a_500(tree, users, as_role, stipend):
    client = as_role("superuser")
    before = state()
    response = call(client, "post", "/staff", {"name": "x", "area_code": tree.grid_a2.code, "role": "grid_doctor",
                                               "yearly_stipend": stipend})
    body = assert_error(response, 400, "staff_invalid")
    assert list(body["fields"]) == ["yearly_stipend"]
    assert state() == before
    staff = Staff.objects.get(user=users.grid_police_a)
    body = assert_error(call(client, "patch", f"/staff/{staff.pk}", {"yearly_stipend": stipend}), 400, "staff_invalid")
    assert list(body["fields"]) == ["yearly_stipend"]
    assert state() == before


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("patch", "/areas/611023100201001001", {"name": "长" * 101}),
    ("post", "/areas", {"code": "611023100203", "name": "长" * 101, "parent_code": "611023100000",
                        "level": "村/社区"}),
    ("post", "/staff", {"name": "长" * 51, "area_code": "611023100201001001", "role": "grid_doctor"}),
    ("post", "/staff", {"name": "x", "phone": "1" * 33, "area_code": "611023100201001001", "role": "grid_doctor"}),
    ("post", "/staff", {"name": "x", "username": "u" * 151, "password": "Long-name-2026",
                        "area_code": "611023100201001001", "role": "grid_doctor"}),
    ("patch", "/staff/{staff}", {"phone": "1" * 33}),
])
def test_over_long_text_is_refused_not_a_500(tree, users, as_role, method, path, payload):
    client = as_role("superuser")
    path = path.format(staff=Staff.objects.get(user=users.grid_police_a).pk)
    before = state()
    response = call(client, method, path, payload)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] in ("area_invalid_code", "staff_invalid")
    assert set(body["fields"]) & {"name", "phone", "username"}
    assert state() == before


def test_unknown_api_path_is_404(users, as_role):
    assert as_role("superuser").get(f"{API}/no-such-thing").status_code == 404


def test_openapi_schema_is_public(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/areas/{code}", "/api/v1/areas", "/api/v1/areas/locate", "/api/v1/me", "/api/v1/auth/token"} <= set(
        paths)


# --- query counts --------------------------------------------------------------------------------


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(API + path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_children_list_query_count_does_not_grow(tree, users, as_role, django_assert_max_num_queries):
    client = as_role("town_admin_a")
    path = f"/areas?parent={tree.group_a1.code}"
    count_queries(client, path)  # warm the session
    few = count_queries(client, path)
    for seq in range(10, 30):
        make_grid(tree.group_a1, seq)
    with django_assert_max_num_queries(few):
        response = client.get(API + path)
    assert response.json()["count"] == 22


def test_roster_query_count_does_not_grow(tree, users, as_role, django_assert_max_num_queries):
    client = as_role("town_admin_a")
    path = f"/areas/{tree.village_a1.code}/roster"
    count_queries(client, path)
    few = count_queries(client, path)
    for seq in range(10, 30):
        grid = make_grid(tree.group_a1, seq)
        make_post(make_staff(), grid, Role.GRID_WORKER, slot=Slot.A)
        make_post(make_staff(), grid, Role.GRID_DOCTOR)
    count_queries(client, path)  # the new posts changed the kept ones (gridgov.core.authcache): read them once
    with django_assert_max_num_queries(few):
        response = client.get(API + path)
    assert response.json()["count"] == 22
