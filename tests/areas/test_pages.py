"""Pages of the areas app: the authorization matrix (every role, inside and outside its subtree), forms
that save or refuse, the audit page and its exports, the admin, language, and query counts."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridgov.areas.models import Area, AreaLevel, Post, Role, Slot, Staff
from gridgov.core.models import AuditEvent
from tests.areas.factories import make_grid, make_post, make_staff, state, today
from tests.areas.matrix import AREA_CHANGE, AUDIT, PERMS, ROLES, ROOTS, SIDES, STAFF_CHANGE, VIEW, holds
from tests.conftest import PASSWORD

IS_POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def staff_b(tree):
    staff = make_staff("上湾网格员")
    make_post(staff, tree.grid_b, Role.GRID_WORKER, slot=Slot.A)
    return staff


def page_status(tree, role, key, perm) -> int:
    return 200 if holds(tree, role, VIEW, key) and holds(tree, role, perm, key) else 404


# --- reads ---------------------------------------------------------------------------------------

READ_PAGES = ["/areas/{code}/", "/areas/{code}/children/", "/areas/{code}/map.geojson", "/areas/{code}/roster/"]


@pytest.mark.parametrize("page", READ_PAGES)
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_read_pages(tree, users, as_role, role, side, page):
    area = getattr(tree, f"grid_{side}")
    response = as_role(role).get(page.format(code=area.code))
    assert response.status_code == page_status(tree, role, f"grid_{side}", VIEW)
    if response.status_code == 200 and page.endswith("/") and "children" not in page:
        assert area.name in response.content.decode()


def test_area_detail_content(tree, users, as_role):
    html = as_role("town_admin_a").get(f"/areas/{tree.town_a.code}/").content.decode()
    assert tree.town_a.name in html
    # Children of town A, not town B's.
    assert tree.village_a1.name in html and tree.village_a2.name in html
    assert tree.village_b1.name not in html
    # An admin sees the change actions; a leader does not.
    assert f"/areas/{tree.town_a.code}/edit/" in html
    assert f"/areas/{tree.town_a.code}/new/" in html
    leader_html = as_role("leader").get(f"/areas/{tree.town_a.code}/").content.decode()
    assert f"/areas/{tree.town_a.code}/edit/" not in leader_html
    assert f"/areas/{tree.town_a.code}/roster/" in leader_html


def test_breadcrumbs_only_show_visible_ancestors(tree, users, as_role):
    html = as_role("village_staff_a").get(f"/areas/{tree.grid_a.code}/").content.decode()
    assert f'href="/areas/{tree.village_a1.code}/"' in html
    assert f'href="/areas/{tree.group_a1.code}/"' in html
    assert f'href="/areas/{tree.town_a.code}/"' not in html
    assert f'href="/areas/{tree.county.code}/"' not in html


def test_children_partial(tree, users, as_role):
    response = as_role("town_admin_a").get(f"/areas/{tree.group_a1.code}/children/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert tree.grid_a.name in html and tree.grid_a2.name in html
    assert html.count('class="node') == 2


def test_map_geojson(tree, users, as_role):
    data = as_role("town_admin_a").get(f"/areas/{tree.group_a1.code}/map.geojson").json()
    assert data["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in data["features"]] == [tree.grid_a.code]  # only grid A has a boundary
    assert data["features"][0]["properties"]["role"] == "child"
    data = as_role("superuser").get(f"/areas/{tree.grid_b.code}/map.geojson").json()
    assert [(f["properties"]["code"], f["properties"]["role"]) for f in data["features"]] == [
        (tree.grid_b.code, "self")]


def test_roster_page(tree, users, as_role):
    response = as_role("town_operator_a").get(f"/areas/{tree.village_a1.code}/roster/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(r.grid.code, r.worker_a.staff.name if r.worker_a else None, r.worker_b) for r in rows] == [
        (tree.grid_a.code, "grid_worker_a-name", None), (tree.grid_a2.code, None, None)]
    html = response.content.decode()
    assert html.count("vacant") == 3  # grid A's B post, grid A2's A and B posts
    gaps = as_role("town_operator_a").get(f"/areas/{tree.village_a1.code}/roster/?gaps=1")
    assert [r.grid.code for r in gaps.context["rows"]] == [tree.grid_a.code, tree.grid_a2.code]


# --- change forms: GET ---------------------------------------------------------------------------

FORMS = [("/areas/{code}/new/", AREA_CHANGE), ("/areas/{code}/edit/", AREA_CHANGE),
         ("/areas/{code}/move/", AREA_CHANGE), ("/areas/{code}/staff/new/", STAFF_CHANGE)]


@pytest.mark.parametrize(("page", "perm"), FORMS)
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_form_pages(tree, users, as_role, role, side, page, perm):
    response = as_role(role).get(page.format(code=getattr(tree, f"grid_{side}").code))
    assert response.status_code == page_status(tree, role, f"grid_{side}", perm)
    if response.status_code == 200:
        assert "form" in response.context


# --- change forms: POST --------------------------------------------------------------------------


def post_denied_or_saved(tree, client, role, key, perm, url, data):
    before = state()
    response = client.post(url, data)
    status = page_status(tree, role, key, perm)
    if status == 404:
        assert response.status_code == 404
        assert state() == before
        return None
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return response


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_post_new_area(tree, users, as_role, role, side):
    grid = getattr(tree, f"grid_{side}")
    code = grid.code + "01"
    url = f"/areas/{grid.code}/new/"
    response = post_denied_or_saved(tree, as_role(role), role, f"grid_{side}", AREA_CHANGE, url, {
        "name": "联防一组", "code": code, "level": AreaLevel.objects.get(name="联防组").pk,
        "kind": "joint_defense_group", "dedicated_type": "", "geometry": ""})
    if response is not None:
        assert response["Location"] == f"/areas/{code}/"
        assert Area.objects.get(code=code).parent == grid


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_post_edit_area(tree, users, as_role, role, side):
    grid = getattr(tree, f"grid_{side}")
    response = post_denied_or_saved(tree, as_role(role), role, f"grid_{side}", AREA_CHANGE,
                                    f"/areas/{grid.code}/edit/", {"name": "改过的名字", "dedicated_type": "",
                                                                  "geometry": ""})
    if response is not None:
        assert response["Location"] == f"/areas/{grid.code}/"
        grid.refresh_from_db()
        assert (grid.name, grid.geometry) == ("改过的名字", None)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_post_move_area(request, tree, users, as_role, role, side):
    grid = getattr(tree, f"grid_{side}")
    village = getattr(tree, f"village_{side}1")
    new_code = village.code + "009"
    response = post_denied_or_saved(tree, as_role(role), role, f"grid_{side}", AREA_CHANGE,
                                    f"/areas/{grid.code}/move/", {"new_parent_code": village.code,
                                                                  "new_code": new_code})
    if response is not None:
        assert response["Location"] == f"/areas/{new_code}/"
        grid.refresh_from_db()
        assert (grid.code, grid.parent_id) == (new_code, village.pk)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_post_new_staff(tree, users, as_role, role, side):
    grid = getattr(tree, f"grid_{side}")
    response = post_denied_or_saved(tree, as_role(role), role, f"grid_{side}", STAFF_CHANGE,
                                    f"/areas/{grid.code}/staff/new/", {
                                        "name": "赵医生", "role": "grid_doctor", "slot": "", "phone": "",
                                        "employment": "part_time", "yearly_stipend": "1200", "start_date": "",
                                        "username": "", "password": ""})
    if response is not None:
        assert response["Location"] == f"/areas/{grid.code}/"
        staff = Staff.objects.get(name="赵医生")
        assert Post.objects.get(staff=staff).area == grid


# --- invalid input: 200 with the error shown, nothing saved ----------------------------------------


def assert_form_error(response, field: str) -> None:
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert "error" in response.content.decode()


@pytest.mark.parametrize(("data", "field"), [
    ({"code": "611023100201001001", "kind": "grid"}, "code"),  # taken
    ({"code": "61102310020100100", "kind": "grid"}, "code"),  # wrong width
    ({"code": "61102310020100100109", "kind": "division"}, "parent"),  # a division under a grid: not a field
    ({"code": "abc", "kind": "grid"}, "code"),
    ({"code": "", "kind": "grid"}, "code"),
    ({"code": "611023100201001009", "kind": "castle"}, "kind"),
    ({"code": "61102310020100100101", "kind": "joint_defense_group", "geometry": "{oops"}, "geometry"),
])
def test_new_area_invalid_input(tree, users, as_role, data, field):
    client = as_role("town_admin_a")
    before = state()
    level = "联防组" if data["kind"] in ("joint_defense_group", "division", "castle") else "片"
    parent = tree.grid_a if level == "联防组" else tree.group_a1  # the form offers only levels below the parent
    response = client.post(f"/areas/{parent.code}/new/", {
        "name": "坏", "level": AreaLevel.objects.get(name=level).pk, "dedicated_type": "", "geometry": "", **data})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors
    if field in form.fields:
        assert field in form.errors
    else:
        assert form.non_field_errors()
    assert state() == before


def test_every_problem_is_shown(tree, users, as_role):
    client = as_role("town_admin_a")
    response = client.post(f"/areas/{tree.grid_a.code}/new/", {
        "name": "坏", "code": "611023100201001009", "level": AreaLevel.objects.get(name="联防组").pk,
        "kind": "division", "dedicated_type": "", "geometry": ""})
    form = response.context["form"]
    assert "code" in form.errors
    assert form.non_field_errors()


def test_edit_area_invalid_input(tree, users, as_role):
    client = as_role("town_admin_a")
    before = state()
    response = client.post(f"/areas/{tree.grid_a.code}/edit/", {"name": "新名字", "dedicated_type": "",
                                                               "geometry": '{"type": "Point", "coordinates": [1, 2]}'})
    assert_form_error(response, "geometry")
    response = client.post(f"/areas/{tree.grid_a.code}/edit/", {"name": "", "dedicated_type": "", "geometry": ""})
    assert_form_error(response, "name")
    response = client.post(f"/areas/{tree.grid_a.code}/edit/", {"name": "x", "dedicated_type": "school",
                                                               "geometry": ""})
    assert_form_error(response, "dedicated_type")
    assert state() == before


@pytest.mark.parametrize(("data", "field"), [
    ({"new_parent_code": "611023101201", "new_code": ""}, "new_parent_code"),  # town B's village: not in scope
    ({"new_parent_code": "611023999999", "new_code": ""}, "new_parent_code"),
    ({"new_parent_code": "", "new_code": ""}, "new_parent_code"),
])
def test_move_invalid_input(tree, users, as_role, data, field):
    client = as_role("town_admin_a")
    before = state()
    assert_form_error(client.post(f"/areas/{tree.grid_a.code}/move/", data), field)
    assert state() == before


def test_move_refused_by_the_service(tree, users, as_role):
    client = as_role("town_admin_a")
    before = state()
    response = client.post(f"/areas/{tree.grid_a.code}/move/", {"new_parent_code": tree.town_a.code,
                                                               "new_code": "611023100000001"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert state() == before


@pytest.mark.parametrize(("data", "field"), [
    ({"password": "short", "username": "lisi"}, "password"),
    ({"password": "alllowercase1", "username": "lisi"}, "password"),
    ({"password": "Wang-ge-2026", "username": "town_admin_b"}, "username"),
    ({"role": "grid_worker", "slot": "A"}, "slot"),  # grid A already has its A grid worker
    ({"role": "grid_worker", "slot": ""}, "slot"),
    ({"yearly_stipend": "-5"}, "yearly_stipend"),
    ({"name": ""}, "name"),
])
def test_new_staff_invalid_input(tree, users, as_role, data, field):
    client = as_role("town_admin_a")
    before = state()
    response = client.post(f"/areas/{tree.grid_a.code}/staff/new/", {
        "name": "李四", "role": "grid_doctor", "slot": "", "phone": "", "employment": "part_time",
        "yearly_stipend": "0", "start_date": "", "username": "", "password": "", **data})
    assert_form_error(response, field)
    assert state() == before


def test_new_staff_with_login_can_log_in(tree, users, as_role, client):
    as_role("town_admin_a").post(f"/areas/{tree.grid_a2.code}/staff/new/", {
        "name": "李四", "role": "grid_worker", "slot": "A", "phone": "", "employment": "full_time",
        "yearly_stipend": "7500", "start_date": "", "username": "lisi", "password": "Wang-ge-2026"})
    client.logout()
    response = client.post("/login/", {"username": "lisi", "password": "Wang-ge-2026"})
    assert response.status_code == 302
    assert client.get(f"/areas/{tree.grid_a2.code}/").status_code == 200
    assert client.get(f"/areas/{tree.grid_a.code}/").status_code == 404


# --- staff pages and ending posts ------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_staff_page(tree, users, staff_b, as_role, role, side):
    staff = Staff.objects.get(user=users.grid_police_a) if side == "a" else staff_b
    response = as_role(role).get(f"/areas/staff/{staff.pk}/")
    assert response.status_code == page_status(tree, role, f"grid_{side}", VIEW)
    if response.status_code == 200:
        assert staff.name in response.content.decode()


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_staff_page_adds_a_post(tree, users, staff_b, as_role, role, side):
    staff = Staff.objects.get(user=users.grid_police_a) if side == "a" else staff_b
    grid = getattr(tree, f"grid_{side}")
    client = as_role(role)
    before = state()
    response = client.post(f"/areas/staff/{staff.pk}/", {"area_code": grid.code, "role": "grid_doctor", "slot": "",
                                                          "start_date": ""})
    if not holds(tree, role, VIEW, f"grid_{side}"):
        assert response.status_code == 404
        assert state() == before
    elif not holds(tree, role, STAFF_CHANGE, f"grid_{side}"):
        # In scope but without the right: the page shows the refusal; nothing is saved.
        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
        assert state() == before
    else:
        assert response.status_code == 302
        assert Post.objects.filter(staff=staff, area=grid, role="grid_doctor", start_date=today()).exists()


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_end_post_page(tree, users, staff_b, as_role, role, side):
    staff = Staff.objects.get(user=users.grid_police_a) if side == "a" else staff_b
    post = Post.objects.get(staff=staff)
    client = as_role(role)
    before = state()
    response = client.post(f"/areas/posts/{post.pk}/end/", {"next": f"/areas/staff/{staff.pk}/"})
    post.refresh_from_db()
    if not holds(tree, role, VIEW, f"grid_{side}"):
        assert response.status_code == 404
        assert state() == before
    elif not holds(tree, role, STAFF_CHANGE, f"grid_{side}"):
        assert response.status_code == 302  # back, with the refusal as a message
        assert [m.level_tag for m in response.wsgi_request._messages] == ["error"]
        assert state() == before
    else:
        assert response.status_code == 302
        assert response["Location"] == f"/areas/staff/{staff.pk}/"
        assert post.end_date == today()


def test_end_post_only_by_post(tree, users, as_role):
    post = Post.objects.get(staff__user=users.grid_police_a)
    assert as_role("town_admin_a").get(f"/areas/posts/{post.pk}/end/").status_code == 405


def test_end_post_ignores_a_foreign_next_url(tree, users, as_role):
    post = Post.objects.get(staff__user=users.grid_police_a)
    response = as_role("town_admin_a").post(f"/areas/posts/{post.pk}/end/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/areas/{tree.grid_a.code}/"


# --- the audit page ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_audit_page(tree, users, as_role, role):
    response = as_role(role).get("/areas/audit/")
    if role != "superuser" and AUDIT not in PERMS[role]:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    events = list(response.context["page"].object_list)
    assert events
    if role == "superuser":
        assert response.context["page"].paginator.count == AuditEvent.objects.count()
    else:
        root = getattr(tree, ROOTS[role][0]).path
        assert all(e.area_path.startswith(root) for e in events)
        assert response.context["page"].paginator.count == AuditEvent.objects.filter(
            area_path__startswith=root).count()


def test_audit_page_filters(tree, users, as_role):
    response = as_role("town_admin_a").get("/areas/audit/", {"action": "post.create"})
    assert {e.action for e in response.context["page"].object_list} == {"post.create"}
    assert response.context["page"].paginator.count == 5  # town A's five posts of the users fixture


def test_audit_export_csv(tree, users, as_role):
    client = as_role("town_admin_a")
    response = client.get("/areas/audit/", {"export": "csv", "action": "area.create"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="audit.csv"'
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["time", "actor", "address", "action", "object type", "object id", "object", "details"]
    exported = {row[6] for row in rows[1:]}
    assert exported == {str(getattr(tree, k)) for k in ("town_a", "village_a1", "village_a2", "group_a1", "grid_a",
                                                         "grid_a2", "grid_a3")}
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.actor, event.data) == ("audit.export", users.town_admin_a,
                                                      {"format": "csv", "filters": {"action": "area.create"}})


def test_audit_export_xlsx(tree, users, as_role):
    client = as_role("superuser")
    response = client.get("/areas/audit/", {"export": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][:4] == ("time", "actor", "address", "action")
    assert len(rows) - 1 == AuditEvent.objects.count()  # the export's own row included
    assert AuditEvent.objects.latest("id").data == {"format": "xlsx", "filters": {}}


def test_audit_export_refused_without_the_right(tree, users, as_role):
    client = as_role("leader")
    before = AuditEvent.objects.count()
    assert client.get("/areas/audit/", {"export": "csv"}).status_code == 404
    assert AuditEvent.objects.count() == before


# --- home, admin, anonymous ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_home_page(tree, users, as_role, role):
    response = as_role(role).get("/")
    assert response.status_code == 200
    tiles = [area.code for area, _counts, _colours in response.context["roots"]]
    expected = [getattr(tree, k).code for k in (["county"] if role == "superuser" else ROOTS[role])]
    assert tiles == expected


@pytest.mark.parametrize("role", ROLES)
def test_admin_only_for_superusers(tree, users, as_role, role):
    response = as_role(role).get("/admin/")
    if role == "superuser":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"] == "/admin/login/?next=/admin/"


def test_admin_area_list_for_a_town_admin_is_refused(tree, users, as_role):
    response = as_role("town_admin_a").get("/admin/areas/area/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", ["/", "/areas/", "/areas/611023000000/", "/areas/611023000000/children/",
                                 "/areas/611023000000/map.geojson", "/areas/611023000000/roster/",
                                 "/areas/611023000000/new/", "/areas/611023000000/edit/",
                                 "/areas/611023000000/move/", "/areas/611023000000/staff/new/",
                                 "/areas/staff/1/", "/areas/audit/", "/account/tokens/", "/account/password/"])
def test_anonymous_is_sent_to_login(tree, client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_anonymous_post_changes_nothing(tree, users, client):
    before = state()
    response = client.post(f"/areas/{tree.grid_a.code}/edit/", {"name": "x", "dedicated_type": "", "geometry": ""})
    assert response.status_code == 302
    post = Post.objects.first()
    response = client.post(f"/areas/posts/{post.pk}/end/")
    assert response.status_code == 302
    assert state() == before


# --- the "done when" scenario ----------------------------------------------------------------------


def test_town_admin_browses_only_their_town(tree, users, client):
    response = client.post("/login/", {"username": "town_admin_a", "password": PASSWORD})
    assert response.status_code == 302
    # The area browser opens on the top of the admin's scope: town A.
    response = client.get("/areas/")
    assert response.status_code == 302
    assert response["Location"] == f"/areas/{tree.town_a.code}/"
    html = client.get(response["Location"]).content.decode()
    assert tree.village_a1.name in html
    for key in ("town_a", "village_a1", "village_a2", "group_a1", "grid_a", "grid_a2", "grid_a3"):
        code = getattr(tree, key).code
        assert client.get(f"/areas/{code}/").status_code == 200
        assert client.get(f"/api/v1/areas/{code}").status_code == 200
    for key in ("town_b", "village_b1", "group_b1", "grid_b", "county"):
        code = getattr(tree, key).code
        assert client.get(f"/areas/{code}/").status_code == 404
        assert client.get(f"/areas/{code}/roster/").status_code == 404
        response = client.get(f"/api/v1/areas/{code}")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "message": "No such area.", "fields": {}}
    # Exactly like an area that does not exist.
    assert client.get("/api/v1/areas/611023999999").json() == {"code": "not_found", "message": "No such area.",
                                                               "fields": {}}
    assert client.get("/areas/611023999999/").status_code == 404


# --- language --------------------------------------------------------------------------------------


def test_chinese_by_default_english_on_request(tree, users, as_role):
    client = as_role("town_admin_a")
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="zh-hans">' in response.content.decode()
    assert "首页" in response.content.decode() or "网格" in response.content.decode()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html
    assert "Log out" in html
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert '<html lang="zh-hans">' in client.get("/").content.decode()


# --- query counts ----------------------------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def add_grids(parent, n: int, *, staffed: bool) -> None:
    for seq in range(100, 100 + n):
        grid = make_grid(parent, seq)
        if staffed:
            make_post(make_staff(), grid, Role.GRID_WORKER, slot=Slot.A)
            make_post(make_staff(), grid, Role.GRID_DOCTOR)


def test_area_detail_query_count_does_not_grow(tree, users, as_role, django_assert_max_num_queries):
    client = as_role("town_admin_a")
    url = f"/areas/{tree.group_a1.code}/"
    make_post(make_staff(), tree.group_a1, Role.GRID_INSTRUCTOR)
    count_queries(client, url)
    few = count_queries(client, url)
    add_grids(tree.group_a1, 15, staffed=True)
    for _ in range(5):
        make_post(make_staff(), tree.group_a1, Role.GRID_INSTRUCTOR)
    count_queries(client, url)  # the new posts changed the kept ones (gridgov.core.authcache): read them once
    with django_assert_max_num_queries(few):
        response = client.get(url)
    assert len(response.context["children"]) == 17
    assert len(response.context["posts"]) == 6


def test_roster_page_query_count_does_not_grow(tree, users, as_role, django_assert_max_num_queries):
    client = as_role("town_admin_a")
    url = f"/areas/{tree.village_a1.code}/roster/"
    count_queries(client, url)
    few = count_queries(client, url)
    add_grids(tree.group_a1, 15, staffed=True)
    count_queries(client, url)  # the new posts changed the kept ones (gridgov.core.authcache): read them once
    with django_assert_max_num_queries(few):
        response = client.get(url)
    assert len(response.context["rows"]) == 17
