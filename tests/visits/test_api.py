"""The visits API: the authorization matrix of every endpoint (every role, inside and outside its subtree; a
denied request changes nothing), idempotent creation over HTTP, query counts, and anonymous access."""

from __future__ import annotations

import io
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from gridgov.cases.models import Case
from gridgov.visits import services
from gridgov.visits.models import Visit, VisitPolicy
from tests.visits.factories import (
    LOG,
    ROLES,
    ROOTS,
    SIDES,
    VIEW,
    build_visit_world,
    days_ago,
    expected,
    holds,
    state,
    visit,
)

API = "/api/v1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Who may file a case (gridgov.cases): the desks, the village staff and the grid's own staff.
CASE_REPORTERS = {"county_operator", "town_operator_a", "village_staff_a", "grid_worker_a", "grid_police_a"}


def call(client, method: str, path: str, data=None, **extra):
    body = {} if data is None else {"data": json.dumps(data, default=str), "content_type": "application/json"}
    return getattr(client, method)(API + path, **body, **extra)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"} and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (0, 120, 0)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(tree, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_visit_world(tree)


def payload(household, **fields) -> dict:
    return {"uuid": str(uuid.uuid4()), "household_id": household.pk, "lng": 110.805, "lat": 33.505, **fields}


# --- reads ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_reads(tree, users, world, as_role, role, side):
    w = getattr(world, side)
    record = visit(w.household, actor=None, days=2, note="看望", lng=110.805, lat=33.505)
    client = as_role(role)
    inside = holds(tree, role, VIEW, f"grid_{side}")
    for path in (f"/visits/{record.pk}", f"/households/{w.household.pk}/visits", f"/visits/stats?area={w.grid.code}"):
        response = call(client, "get", path)
        assert (path, response.status_code) == (path, 200 if inside else 404), response.content
    if not inside:
        assert call(client, "get", f"/visits/{record.pk}").json()["message"] == "No such visit."
        assert call(client, "get", f"/households/{w.household.pk}/visits").json()["message"] == "No such household."
        return
    body = call(client, "get", f"/visits/{record.pk}").json()
    assert (body["uuid"], body["household_id"], body["grid_code"], body["note"], body["counts"]) == (
        str(record.uuid), w.household.pk, w.grid.code, "看望", True)
    assert body["photo_list"] == [] and body["finding_case_list"] == []
    listed = call(client, "get", f"/households/{w.household.pk}/visits").json()
    assert [v["id"] for v in listed["items"]] == [record.pk]
    stats = call(client, "get", f"/visits/stats?area={w.grid.code}").json()
    assert (stats["area_code"], stats["total"]["households"], stats["policy"]) == (w.grid.code, 2, "商南县三色管理走访")


@pytest.mark.parametrize("role", ROLES)
def test_due_list_is_the_callers_own(tree, users, world, as_role, role):
    visit(world.a.household, actor=None, days=40)
    body = call(as_role(role), "get", "/visits/due").json()
    if role != "grid_worker_a":  # only the grid worker has grids of his own
        assert (body["onsite"], body["households"]) == ([], [])
        return
    assert [r["case_id"] for r in body["onsite"]] == [world.a.case.pk]
    assert body["onsite"][0]["overdue"] is False
    # Most overdue first: household2, never visited, was due 30 days after its registration 100 days ago.
    assert [(r["household_id"], r["status"], r["days_left"]) for r in body["households"]] == [
        (world.a.household2.pk, "overdue", -70), (world.a.household.pk, "overdue", -10)]
    row = body["households"][1]
    assert (row["duty"], row["reason"], row["due_date"]) == ("visit", "放心户：片长每月走访一次",
                                                             str(row["duties"][0]["due_date"]))
    assert row["duties"][0]["last_visit"] == str(days_ago(40).astimezone(SHANGHAI).date())
    assert body["counts"] == {"overdue": 2, "onsite": 1}
    visit(world.a.household2, actor=None, days=0)
    everything = call(as_role(role), "get", "/visits/due?all=true").json()
    assert [(r["household_id"], r["status"]) for r in everything["households"]] == [
        (world.a.household.pk, "overdue"), (world.a.household2.pk, "later")]


def test_photo_read(tree, users, world, as_role):
    record, _ = services.visit_create(actor=users.grid_worker_a, uuid=uuid.uuid4(), household=world.a.household,
                                      photos=[SimpleUploadedFile("p.png", png())])
    photo = record.photos.get()
    for role in ROLES:
        response = call(as_role(role), "get", f"/visits/photos/{photo.pk}")
        assert response.status_code == (200 if holds(tree, role, VIEW, "grid_a") else 404), role
        if response.status_code == 200:
            assert (response["Content-Type"], b"".join(response.streaming_content)) == ("image/png", png())


# --- writes ---------------------------------------------------------------------------------------------


def run_write(tree, users, world, client, role: str, side: str, name: str, case_ids: set[int]) -> None:
    w = getattr(world, side)
    original = visit(w.household, actor=None, days=1, findings=["drinking_water"])
    key = f"grid_{side}"
    if name == "create":
        status = expected(tree, role, key=key, perm=LOG, ok=201)
        path, method, data = "/visits", "post", payload(w.household, findings=["dispute"], note="新记录")
    elif name == "create_onsite":
        status = expected(tree, role, key=key, perm=LOG, ok=201)
        path, method, data = "/visits", "post", payload(w.household, case_id=w.case.pk, kind="onsite")
    elif name == "correct":
        status = expected(tree, role, key=key, perm=LOG, ok=201)
        path, method, data = f"/visits/{original.pk}/corrections", "post", {"uuid": str(uuid.uuid4()), "note": "更正"}
    elif name == "withdraw":
        status = expected(tree, role, key=key, perm=LOG, ok=201)
        path, method, data = (f"/visits/{original.pk}/corrections", "post",
                              {"uuid": str(uuid.uuid4()), "note": "记错了", "withdrawn": True})
    elif name == "case":
        status = expected(tree, role, key=key, perm=VIEW, ok=201)
        if status == 201 and role not in CASE_REPORTERS and role != "superuser":
            status = 403
        path, method, data = f"/visits/{original.pk}/findings/drinking_water/case", "post", {"category": "risk_water"}
    else:
        raise AssertionError(name)
    before = state()
    response = call(client, method, path, data)
    assert response.status_code == status, (name, response.content)
    if status in (403, 404):
        assert_error(response, status, {403: "permission_denied", 404: "not_found"}[status])
        assert state() == before, f"{name}: a denied request changed something"
        return
    body = response.json()
    if name.startswith("create"):
        created = Visit.objects.get(uuid=data["uuid"])
        assert (created.visitor, created.household, body["id"]) == (getattr(users, role), w.household, created.pk)
        if name == "create_onsite":
            assert w.case.actions.filter(verb="visit", data={"visit_id": created.pk}).exists()
    elif name in ("correct", "withdraw"):
        original.refresh_from_db()
        assert original.superseded_by_id == body["id"] and body["withdrawn"] is (name == "withdraw")
    elif name == "case":
        case = Case.objects.get(pk=body["case_id"])
        assert (case.household, case.category.code, case.channel) == (w.household, "risk_water", "grid_worker")
        case_ids.add(case.pk)


WRITES = ["create", "create_onsite", "correct", "withdraw", "case"]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_writes(tree, users, world, as_role, role, side):
    """Every write endpoint for this role on this side; all of them are tried, every failure reported."""
    client = as_role(role)
    failures, case_ids = [], set()
    for name in WRITES:
        try:
            run_write(tree, users, world, client, role, side, name, case_ids)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_photo_upload(tree, users, world, as_role, role):
    """Only the visitor adds photos to a visit; outside the scope the visit does not exist."""
    others = visit(world.a.household, actor=users.grid_worker_a if role != "grid_worker_a" else users.village_staff_a)
    client = as_role(role)
    before = state()
    response = client.post(f"{API}/visits/{others.pk}/photos", {"file": io.BytesIO(png())})
    status = expected(tree, role, key="grid_a", perm=VIEW, ok=403)
    assert_error(response, status)
    assert state() == before
    if holds(tree, role, LOG, "grid_a"):
        own = visit(world.a.household, actor=getattr(users, role))
        upload = io.BytesIO(png())
        upload.name = "own.png"
        response = client.post(f"{API}/visits/{own.pk}/photos", {"file": upload})
        assert response.status_code == 201, response.content
        assert response.json()["content_type"] == "image/png"
        upload.seek(0)
        assert client.post(f"{API}/visits/{own.pk}/photos", {"file": upload}).status_code == 200  # kept once
        bad = io.BytesIO(b"not a picture")
        bad.name = "x.jpg"
        assert_error(client.post(f"{API}/visits/{own.pk}/photos", {"file": bad}), 400, "visit_photo_invalid")
        assert own.photos.count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_policy_endpoints(tree, users, as_role, role):
    client = as_role(role)
    body = call(client, "get", "/visits/policy").json()
    assert (body["preset"], body["onsite_hours"], len(body["rules"])) == ("shangnan", 24, 5)
    before = VisitPolicy.objects.count()
    response = call(client, "post", "/visits/policy", {"preset": "qingyang"})
    if role != "superuser":
        assert_error(response, 403, "permission_denied")
        assert VisitPolicy.objects.count() == before
        return
    assert response.status_code == 201 and response.json()["name"] == "庆阳市三必访"
    assert call(client, "get", "/visits/policy").json()["preset"] == "qingyang"
    assert_error(call(client, "post", "/visits/policy", {"preset": "mars"}), 400, "visit_policy_invalid")
    assert_error(call(client, "post", "/visits/policy", {"rules": [{"duty": "x"}], "name": "坏"}), 400,
                 "visit_policy_invalid")


# --- idempotency over HTTP -----------------------------------------------------------------------------------


def test_retries_over_http(tree, users, world, as_role):
    client = as_role("grid_worker_a")
    data = payload(world.a.household, visited_at=days_ago(1).isoformat(), findings=["housing"], crs="gcj02",
                   lng=110.8099, lat=33.5043, accuracy_m=15)
    first = call(client, "post", "/visits", data)
    assert first.status_code == 201
    again = call(client, "post", "/visits", data)
    assert (again.status_code, again.json()) == (200, first.json())
    assert Visit.objects.count() == 1
    changed = dict(data, note="改了内容")
    body = assert_error(call(client, "post", "/visits", changed), 409, "visit_uuid_reused")
    assert body["fields"] == {"uuid": ["Already used for a different visit."]}
    assert Visit.objects.count() == 1
    assert_error(call(client, "post", "/visits", dict(data, uuid="not-a-uuid")), 422, "invalid_input")
    assert_error(call(client, "post", "/visits", payload(world.a.household, findings=["x"])), 400, "visit_invalid")
    assert_error(call(client, "post", "/visits", payload(world.a.household, kind="onsite")), 400, "visit_invalid")
    assert Visit.objects.count() == 1


def test_stats_input(tree, users, world, as_role):
    client = as_role("county_operator")
    assert_error(call(client, "get", f"/visits/stats?area={tree.county.code}&group=street"), 400, "invalid_input")
    assert_error(call(client, "get", f"/visits/stats?area={tree.county.code}&start=2026-05-02&end=2026-05-01"), 400,
                 "visit_period_invalid")
    assert_error(call(client, "get", f"/visits/stats?area={tree.county.code}&start=2024-01-01&end=2026-05-01"), 400,
                 "visit_period_invalid")
    assert_error(call(client, "get", "/visits/stats?area=999"), 404, "not_found")
    body = call(client, "get", f"/visits/stats?area={tree.county.code}&group=grid").json()
    assert {r["code"] for r in body["rows"]} == {tree.grid_a.code, tree.grid_a2.code, tree.grid_a3.code,
                                                  tree.grid_b.code, tree.grid_b2.code}


# --- query counts ----------------------------------------------------------------------------------------


def test_lists_have_constant_query_counts(tree, users, world, as_role):
    from tests.registry.factories import make_household

    client = as_role("grid_worker_a")

    def queries(path):
        with CaptureQueriesContext(connection) as ctx:
            assert call(client, "get", path).status_code == 200
        return len(ctx)

    queries("/visits/due?all=true")  # the user's posts read once, then kept (gridgov.core.authcache)
    small = (queries("/visits/due?all=true"), queries(f"/households/{world.a.household.pk}/visits"),
             queries(f"/visits/stats?area={tree.grid_a.code}&group=worker"))
    for n in range(8):
        household = make_household(tree.grid_a, f"HQ{n}")
        visit(household, actor=users.grid_worker_a, days=n)
        visit(world.a.household, actor=users.grid_worker_a, days=n + 0.5)
    big = (queries("/visits/due?all=true"), queries(f"/households/{world.a.household.pk}/visits"),
           queries(f"/visits/stats?area={tree.grid_a.code}&group=worker"))
    assert big == small
    assert len(call(client, "get", "/visits/due?all=true").json()["households"]) == 10


# --- anonymous ------------------------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/visits/due"), ("post", "/visits"), ("get", "/visits/stats"), ("get", "/visits/policy"),
    ("post", "/visits/policy"), ("get", "/visits/photos/1"), ("get", "/visits/1"), ("post", "/visits/1/corrections"),
    ("post", "/visits/1/photos"), ("post", "/visits/1/findings/housing/case"), ("get", "/households/1/visits"),
]


def test_anonymous_is_unauthenticated(tree, client):
    for method, path in ENDPOINTS:
        response = call(client, method, path, {} if method == "post" else None)
        assert (path, response.status_code) == (path, 401)
        assert response.json()["code"] == "unauthenticated"


def test_every_endpoint_is_in_the_matrix():
    from gridgov.visits.api import router

    routes = set()
    for path, view in router.path_operations.items():
        for op in view.operations:
            for method in op.methods:
                routes.add((method.lower(), path.replace("{visit_id}", "1").replace("{photo_id}", "1")
                            .replace("{household_id}", "1").replace("{finding}", "housing")))
    assert routes == set(ENDPOINTS)


def test_roots_are_the_areas_matrix():
    assert set(ROOTS) == set(ROLES) - {"superuser"}
