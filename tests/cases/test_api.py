"""The cases API: the authorization matrix of every endpoint (every role, a case inside town A and one inside
town B, a denied request changes nothing), the contents of each answer, filters, query counts, and bad input
that must never give a 500."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from gridgov.cases import services
from gridgov.cases.models import Case, CaseAction, CaseAttachment, Category, Channel, Notification, State
from gridgov.core.models import AuditEvent
from tests.cases.spec import (
    DESK,
    PHONE,
    REPORT,
    REVEAL,
    ROLES,
    SIDES,
    VIEW,
    expected,
    file_case,
    holds,
    holds_anywhere,
    prepare,
    relations,
    snapshot,
    visible,
    water,
)

API = "/api/v1"
pytestmark = pytest.mark.django_db


def call(client, method: str, path: str, data=None, **extra):
    body = {} if data is None else {"data": data if isinstance(data, str | bytes) else json.dumps(data),
                                    "content_type": "application/json"}
    return getattr(client, method)(API + path, **body, **extra)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert isinstance(body["fields"], dict) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


def future(days: int = 10) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


# --- the actions: the matrix ---------------------------------------------------------------------------


@dataclass
class Act:
    state: str  # the state ``prepare`` puts the case in
    body: Callable = staticmethod(lambda tree, users, case, side: {})
    to: str | None = None  # the state after the action; None: unchanged
    multipart: bool = False  # the body is sent as multipart/form-data (files), not JSON


def _note(text: str) -> Callable:
    return lambda tree, users, case, side: {"note": text}


def _merge_body(tree, users, case, side):
    original = file_case(tree, users, side, channel=Channel.HOTLINE)
    return {"duplicate_of": original.number, "note": "同一处积水"}


def photo(name: str = "现场.jpg", size=(64, 48)) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "JPEG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def _attach_body(tree, users, case, side):
    return {"files": [photo()], "note": "补拍现场"}


ACTS: dict[str, Act] = {
    "accept": Act("submitted", to=State.ACCEPTED),
    "refuse": Act("submitted", _note("不属于受理范围"), State.REFUSED),
    "merge": Act("submitted", _merge_body, State.MERGED),
    "self_handle": Act("self_report", to=State.HANDLING),
    "register": Act("accepted", to=State.REGISTERED),
    "dispatch": Act("registered", lambda tree, users, case, side: {
        "target_area": getattr(tree, f"grid_{side}").code}, State.DISPATCHED),
    "reassign": Act("dispatched", lambda tree, users, case, side: {
        "target_area": getattr(tree, f"village_{side}1").code, "note": "改由村直办"}, State.DISPATCHED),
    "start": Act("dispatched", to=State.HANDLING),
    "send_back": Act("handling", _note("不属于本网格"), State.REGISTERED),
    "escalate": Act("handling", _note("网格无法解决"), State.REGISTERED),
    "assist_report": Act("handling", _note("已协助关阀")),
    "report": Act("handling", _note("管道已修复"), State.REPORTED),
    "rework": Act("reported", _note("路面未恢复"), State.HANDLING),
    "close": Act("reported", lambda tree, users, case, side: {"outcome": "fixed"}, State.CLOSED),
    "rate": Act("closed", lambda tree, users, case, side: {"rating": "satisfied"}),
    "reopen": Act("unsatisfied", _note("群众不满意，重新办理"), State.REGISTERED),
    "urge": Act("dispatched"),
    "supervise": Act("dispatched", lambda tree, users, case, side: {
        "note": "限期办结", "deadline_at": (timezone.now() + dt.timedelta(days=3)).isoformat()}),
    "supervision_report": Act("dispatched", _note("正在抢修")),
    "suspend": Act("registered", lambda tree, users, case, side: {"note": "待汛期后处理",
                                                                  "review_on": str(future(30))}, State.SUSPENDED),
    "resume": Act("suspended", to=State.REGISTERED),
    "comment": Act("dispatched", _note("已电话联系报告人")),
    "attach": Act("dispatched", _attach_body, multipart=True),
}


def run_action(tree, users, client, role: str, side: str, verb: str) -> None:
    act = ACTS[verb]
    case, setup = prepare(tree, users, side, act.state)
    status = expected(tree, role, setup, verb)
    body = act.body(tree, users, case, side)
    detail = call(client, "get", f"/cases/{case.pk}")
    assert detail.status_code == (404 if status == 404 else 200), detail.content
    if status != 404:
        offered = [a["verb"] for a in detail.json()["actions"]]
        assert (verb in offered) is (status == 200), (offered, relations(tree, role, setup))
    before = snapshot()
    path = f"/cases/{case.pk}/{verb.replace('_', '-')}"
    response = client.post(API + path, body) if act.multipart else call(client, "post", path, body)
    assert response.status_code == status, response.content
    if status == 404:
        assert response.json() == {"code": "not_found", "message": "No such case.", "fields": {}}
    elif status == 403:
        assert_error(response, 403, "permission_denied")
    if status != 200:
        assert snapshot() == before, "a denied action changed something"
        return
    case.refresh_from_db()
    assert case.state == (act.to or act.state.replace("unsatisfied", "closed").replace("self_report", "submitted"))
    last = CaseAction.objects.filter(case=case).latest("id")
    assert (last.verb, last.actor, last.to_state) == (verb, getattr(users, role), case.state)
    assert response.json()["state"] == case.state
    assert response.json()["timeline"][-1]["verb"] == verb
    files = list(CaseAttachment.objects.filter(action=last).values_list("pk", flat=True))
    assert response.json()["timeline"][-1]["attachments"] == files and len(files) == len(body.get("files", []))


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_actions(tree, users, as_role, role, side):
    """Every action endpoint for this role on this side; all are tried and every failure is reported."""
    client = as_role(role)
    failures = []
    for verb in ACTS:
        try:
            run_action(tree, users, client, role, side, verb)
        except AssertionError as exc:
            failures.append(f"{verb}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_reads_and_reveal(tree, users, as_role, role, side):
    client = as_role(role)
    user = getattr(users, role)
    submitted, s1 = prepare(tree, users, side, "submitted")
    dispatched, s2 = prepare(tree, users, side, "dispatched")
    listed = {c["id"] for c in call(client, "get", "/cases?page_size=1000").json()["items"]}
    for case, setup in ((submitted, s1), (dispatched, s2)):
        seen = visible(tree, role, setup)
        response = call(client, "get", f"/cases/{case.pk}")
        assert response.status_code == (200 if seen else 404), response.content
        assert (case.pk in listed) is seen
        if seen:
            body = response.json()
            assert body["reporter_phone"] == "138****1234" and PHONE not in response.content.decode()
    # The reporter's full phone: for who may reveal residents' data where the case is, or its desk.
    seen = visible(tree, role, s2)
    may = holds(tree, role, REVEAL, f"grid_{side}") or DESK in relations(tree, role, s2)
    status = 404 if not seen else 200 if may else 403
    before = snapshot()
    response = call(client, "post", f"/cases/{dispatched.pk}/reveal-phone")
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json() == {"phone": PHONE}
        event = AuditEvent.objects.latest("id")
        assert (event.action, event.actor, event.object_id) == ("case.reveal.reporter_phone", user,
                                                                str(dispatched.pk))
    else:
        assert snapshot() == before
    # Reads open to everyone logged in, answered within their own scope.
    for path in ("/cases/inbox", "/cases/inbox/todo", "/notifications", "/case-domains", "/cases/stats"):
        assert call(client, "get", path).status_code == 200, path
    total = call(client, "get", "/cases/stats").json()["total"]["total"]
    assert total == len(listed)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_create(tree, users, as_role, role, side):
    client = as_role(role)
    grid = getattr(tree, f"grid_{side}")
    status = (404 if not holds(tree, role, VIEW, f"grid_{side}")
              else 403 if not holds_anywhere(role, REPORT) else 201)
    before = snapshot()
    response = call(client, "post", "/cases", {"channel": "hotline", "description": "自来水停水三天", "area": grid.code,
                                               "category": "risk_water", "reporter_phone": "13900001111",
                                               "client_key": f"call-{role}-{side}"})
    assert response.status_code == status, response.content
    if status != 201:
        body = assert_error(response, status)
        if status == 404:
            assert body["fields"] == {"area": ["No such area."]}
        assert snapshot() == before
        return
    body = response.json()
    case = Case.objects.get(pk=body["id"])
    assert (case.channel, case.area, case.desk_area, case.reporter) == ("hotline", grid, tree.county,
                                                                        getattr(users, role))
    assert (body["state"], body["area_code"], body["desk_code"], body["reporter_phone"]) == (
        "submitted", grid.code, tree.county.code, "139****1111")
    assert body["tracking_code"] == case.tracking_code and "timeline" not in body
    assert response["Location"] == f"/api/v1/cases/{case.pk}"
    detail = client.get(response["Location"])
    assert [t["verb"] for t in detail.json()["timeline"]] == ["create"]


@pytest.mark.parametrize("role", ROLES)
def test_taxonomy_is_edited_only_by_the_superuser(tree, users, as_role, role):
    client = as_role(role)
    before = snapshot(), list(Category.objects.order_by("pk").values())
    response = call(client, "put", "/case-categories/risk_bridge",
                    {"domain": "risk", "name": "桥梁隐患", "urgency": "urgent", "deadline_days": 2})
    if role != "superuser":
        assert_error(response, 403, "permission_denied")
        assert (snapshot(), list(Category.objects.order_by("pk").values())) == before
        return
    assert response.status_code == 200, response.content
    assert response.json() == {"code": "risk_bridge", "name": "桥梁隐患", "domain": "risk", "urgency": "urgent",
                               "deadline_days": 2, "deadline_hours": None, "onsite_required": False,
                               "default_level": None, "active": True}


@pytest.mark.parametrize("role", ROLES)
def test_notifications_are_ones_own(tree, users, as_role, role):
    case = file_case(tree, users, "a")
    other = users.nobody if role != "nobody" else users.leader
    mine = Notification.objects.create(user=getattr(users, role), case=case, message="给我的")
    theirs = Notification.objects.create(user=other, case=case, message="给别人的")
    client = as_role(role)
    listed = [n["id"] for n in call(client, "get", "/notifications").json()["items"]]
    assert mine.pk in listed and theirs.pk not in listed
    assert call(client, "post", "/notifications/read", {"ids": [mine.pk, theirs.pk]}).json() == {"marked": 1}
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.read_at is None and mine.read_at is not None
    assert mine.pk not in [n["id"] for n in call(client, "get", "/notifications").json()["items"]]


UNAUTHENTICATED = {"code": "unauthenticated", "message": "Log in first: send a valid bearer token.", "fields": {}}
ENDPOINTS = [("post", "/cases"), ("get", "/cases/submissions"), ("get", "/cases/submissions/1"), ("get", "/cases"),
             ("get", "/cases/inbox"),
             ("get", "/cases/inbox/todo"), ("get", "/cases/stats"), ("get", "/cases/1"),
             ("post", "/cases/1/reveal-phone"),
             ("get", "/notifications"), ("post", "/notifications/read"), ("get", "/case-domains"),
             ("put", "/case-categories/risk_water")] + [
    ("post", f"/cases/1/{verb.replace('_', '-')}") for verb in ACTS]


def test_anonymous_is_unauthenticated(tree, users, client):
    case = file_case(tree, users, "a")
    before = snapshot()
    for method, path in ENDPOINTS:
        response = call(client, method, path.replace("/1", f"/{case.pk}"), {} if method != "get" else None)
        assert (method, path, response.status_code) == (method, path, 401)
        assert response.json() == UNAUTHENTICATED
    assert snapshot() == before


def test_every_endpoint_is_in_the_matrix():
    from gridgov.cases.api import router

    routes = set()
    for path, view in router.path_operations.items():
        for op in view.operations:
            for method in op.methods:
                routes.add((method.lower(), path.replace("{case_id}", "1").replace("{submission_id}", "1")
                            .replace("{tab}", "todo").replace("{code}", "risk_water")))
    assert routes == set(ENDPOINTS)


# --- intake -------------------------------------------------------------------------------------------


def test_create_is_idempotent_by_client_key(tree, users, as_role):
    client = as_role("county_operator")
    payload = {"channel": "hotline", "description": "路灯不亮", "area": tree.grid_a.code, "client_key": "call-0001"}
    first = call(client, "post", "/cases", payload)
    assert first.status_code == 201, first.content
    again = call(client, "post", "/cases", {**payload, "description": "路灯不亮（重发）"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Case.objects.filter(client_key="call-0001").count() == 1
    other = as_role("town_operator_a")
    before = snapshot()
    body = assert_error(call(other, "post", "/cases", payload), 409, "case_conflict")
    assert list(body["fields"]) == ["client_key"]
    assert snapshot() == before


def test_grid_worker_files_and_handles_directly(tree, users, as_role):
    client = as_role("grid_worker_a")
    response = call(client, "post", "/cases", {"channel": "grid_worker", "description": "路面塌陷一处",
                                               "category": "risk_road", "handle_directly": True})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["holder_area_code"], body["desk_code"], body["mode"]) == (
        "handling", tree.grid_a.code, tree.village_a1.code, "direct")
    body = call(client, "get", f"/cases/{body['id']}").json()
    assert [t["verb"] for t in body["timeline"]] == ["create", "self_handle"]
    assert [a["verb"] for a in body["actions"]] == ["send_back", "escalate", "report", "supervision_report",
                                                    "comment", "attach"]


def test_create_by_point_places_the_case(tree, users, as_role):
    response = call(as_role("county_operator"), "post", "/cases", {
        "channel": "petition", "description": "山林权属纠纷", "lng": 110.905, "lat": 33.605, "urgency": "urgent"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["area_code"], body["channel"], body["urgency"], body["placed"]) == (
        tree.grid_b.code, "petition", "urgent", True)


BAD_CREATES = [
    ({}, 422, "channel"),
    ({"channel": "self_report", "description": "x"}, 422, "channel"),
    ({"channel": "hotline", "description": ""}, 422, "description"),
    ({"channel": "hotline", "description": "x" * 5001}, 422, "description"),
    ({"channel": "hotline", "description": "a\x00b"}, 400, None),  # NUL: refused before any view
    ({"channel": "hotline", "description": 42}, 422, "description"),
    ({"channel": "hotline", "description": "x", "title": "t" * 121}, 422, "title"),
    ({"channel": "hotline", "description": "x", "category": "no_such_category"}, 422, "category"),
    ({"channel": "hotline", "description": "x", "urgency": "panic"}, 422, "urgency"),
    ({"channel": "hotline", "description": "x", "area": "999999999999"}, 404, "area"),
    ({"channel": "hotline", "description": "x", "lng": 110.8}, 400, "lat"),
    ({"channel": "hotline", "description": "x", "lng": 200, "lat": 33}, 422, "lng"),
    ({"channel": "hotline", "description": "x", "lng": "east", "lat": 33}, 422, "lng"),
    ({"channel": "hotline", "description": "x", "household_id": 987654}, 404, "household_id"),
    ({"channel": "hotline", "description": "x", "household_id": 2**70}, 422, "household_id"),
    ({"channel": "hotline", "description": "x", "person_id": -3}, 422, "person_id"),
    ({"channel": "hotline", "description": "x", "reporter_phone": "call me"}, 400, "reporter_phone"),
    ({"channel": "hotline", "description": "x", "reporter_name": "\x00"}, 400, None),
    ({"channel": "hotline", "description": "x", "client_key": ""}, 422, "client_key"),
    ({"channel": "hotline", "description": "x", "client_key": "k" * 65}, 422, "client_key"),
    ({"channel": "hotline", "description": "x", "handle_directly": "maybe"}, 422, "handle_directly"),
]


def test_create_refuses_bad_input(tree, users, as_role):
    client = as_role("county_operator")
    before = snapshot()
    for payload, status, field in BAD_CREATES:
        body = assert_error(call(client, "post", "/cases", payload), status)
        assert field in body["fields"] if field else body["fields"] == {}, (payload, body)
    assert_error(call(client, "post", "/cases", {"channel": "hotline", "description": "x", "handle_directly": True}),
                 403, "permission_denied")
    for raw in ("{not json", '{"channel": ', "\xff"):
        assert_error(call(client, "post", "/cases", raw), 400, "invalid_input")
    for raw in ("", "[1]", "null", "7"):
        assert_error(call(client, "post", "/cases", raw), 422, "invalid_input")
    assert snapshot() == before


def test_create_for_a_household_outside_the_scope(tree, users, as_role):
    from tests.registry.factories import make_household

    household = make_household(tree.grid_b, "HB9")
    client = as_role("grid_worker_a")
    before = snapshot()
    body = assert_error(call(client, "post", "/cases", {
        "channel": "grid_worker", "description": "x", "household_id": household.pk}), 404, "not_found")
    assert body["fields"] == {"household_id": ["No such household."]}
    assert snapshot() == before
    response = call(as_role("county_operator"), "post", "/cases", {
        "channel": "hotline", "description": "x", "household_id": household.pk, "area": tree.grid_b.code})
    assert response.status_code == 201 and response.json()["household_id"] == household.pk


# --- the detail and the whole loop through the API -----------------------------------------------------


def test_the_loop_through_the_api(tree, users, as_role, client):
    from gridgov.areas.models import Role
    from tests.conftest import make_user

    village = make_user("village_a1_desk", area=tree.village_a1, role=Role.VILLAGE_STAFF)

    def post(user, verb, case_id, body=None):
        client.force_login(user)
        response = call(client, "post", f"/cases/{case_id}/{verb}", body or {})
        assert response.status_code == 200, (verb, response.content)
        return response.json()

    client.force_login(users.county_operator)
    created = call(client, "post", "/cases", {"channel": "hotline", "description": "自来水管破裂，路面积水",
                                              "lng": 110.805, "lat": 33.505, "reporter_phone": PHONE,
                                              "reporter_name": "王五"})
    assert created.status_code == 201
    pk = created.json()["id"]
    body = post(users.county_operator, "accept", pk, {"category": "risk_water", "urgency": "urgent"})
    assert (body["category"], body["domain"], body["urgency"]) == ("risk_water", "risk", "urgent")
    body = post(users.county_operator, "register", pk)
    assert body["deadline_at"] is not None and body["overdue"] is False
    body = post(users.county_operator, "dispatch", pk, {"target_area": tree.village_a1.code})
    assert (body["holder_area_code"], body["mode"]) == (tree.village_a1.code, "transfer")
    assert Notification.objects.filter(user=village, case_id=pk).exists()
    body = post(village, "escalate", pk, {"note": "村级无法处理"})
    assert (body["desk_code"], body["state"], body["holder_area_code"]) == (tree.town_a.code, "registered", None)
    body = post(users.town_operator_a, "dispatch", pk, {"target_department": water(tree).pk,
                                                        "assist_areas": [tree.village_a1.code]})
    assert (body["holder_department_name"], body["mode"]) == ("水务局", "assist")
    client.force_login(users.dept_handler)
    actions = call(client, "get", f"/cases/{pk}").json()["actions"]
    assert [a["verb"] for a in actions] == ["start", "send_back", "report", "supervision_report", "comment",
                                            "attach"]
    assert {a["endpoint"] for a in actions} >= {"send-back", "supervision-report"}
    post(village, "assist-report", pk, {"note": "已协助疏导交通"})
    post(users.dept_handler, "report", pk, {"note": "管道已修复"})
    body = post(users.town_operator_a, "close", pk, {"outcome": "fixed", "note": "现场核查属实"})
    assert (body["state"], body["outcome"], body["closed_on_time"], body["resolved_area_code"]) == (
        "closed", "fixed", True, tree.town_a.code)
    body = post(users.town_operator_a, "rate", pk, {"rating": "satisfied", "note": "电话回访"})
    assert body["rating"] == "satisfied"
    assignments = [(a["role"], a["area_code"], a["department_name"], a["active"], a["report"])
                   for a in body["assignments"]]
    assert assignments == [("lead", tree.village_a1.code, None, False, ""),
                           ("lead", None, "水务局", False, "管道已修复"),
                           ("assist", tree.village_a1.code, None, False, "已协助疏导交通")]
    verbs = [(t["verb"], t["from_state"], t["to_state"]) for t in body["timeline"]]
    assert verbs == [("create", "", "submitted"), ("accept", "submitted", "accepted"),
                     ("register", "accepted", "registered"), ("dispatch", "registered", "dispatched"),
                     ("escalate", "dispatched", "registered"), ("dispatch", "registered", "dispatched"),
                     ("assist_report", "dispatched", "dispatched"), ("report", "dispatched", "reported"),
                     ("close", "reported", "closed"), ("rate", "closed", "closed")]
    assert body["reporter_phone"] == "138****1234" and body["reporter_name"] == "王五"
    assert body["actions"] == []  # closed, rated satisfied: nothing left to do
    client.force_login(users.county_operator)
    stats = call(client, "get", "/cases/stats").json()
    assert {k: stats["total"][k] for k in ("total", "closed", "closed_on_time", "rated", "satisfied")} == {
        "total": 1, "closed": 1, "closed_on_time": 1, "rated": 1, "satisfied": 1}
    assert stats["total"]["close_rate"] == 1.0 and stats["total"]["rework_rate"] == 0.0
    assert [(r["key"], r["total"]) for r in stats["domain"]] == [(str(Category.objects.get(code="risk_water")
                                                                      .domain_id), 1)]
    assert [(r["key"], r["closed"]) for r in stats["channel"]] == [("hotline", 1)]
    assert [(r["label"], r["closed"]) for r in stats["level"]] == [("镇办", 1)]


def test_detail_shows_attachments_and_the_original_of_a_duplicate(tree, users, as_role):
    original = file_case(tree, users, "a", channel=Channel.HOTLINE)
    case = file_case(tree, users, "a", channel=Channel.HOTLINE)
    attachment = CaseAttachment(case=case, name="现场.jpg", content_type="image/jpeg", size=4)
    attachment.file.save("scene.jpg", ContentFile(b"\xff\xd8\xff\xd9"), save=False)
    attachment.save()
    client = as_role("county_operator")
    body = call(client, "post", f"/cases/{case.pk}/merge", {"duplicate_of": original.number}).json()
    assert (body["state"], body["duplicate_of"]) == ("merged", original.number)
    assert [(a["id"], a["name"], a["size"], a["thumbnail_url"]) for a in body["attachments"]] == [
        (attachment.pk, "现场.jpg", 4, None)]
    assert body["attachments"][0]["url"].endswith(".jpg")


def test_a_case_that_moved_on_is_a_conflict(tree, users, as_role):
    case, _setup = prepare(tree, users, "a", "submitted")
    client = as_role("county_operator")
    assert call(client, "post", f"/cases/{case.pk}/accept", "", ).status_code == 200  # no body at all
    before = snapshot()
    body = assert_error(call(client, "post", f"/cases/{case.pk}/accept", {}), 409, "case_conflict")
    assert "已受理" in body["message"]  # the state, in the default language
    assert_error(call(client, "post", f"/cases/{case.pk}/start", {}), 409, "case_conflict")
    assert snapshot() == before


# --- bad input to the actions ---------------------------------------------------------------------------


def test_dispatch_names_only_units_within_reach(tree, users, as_role):
    from gridgov.areas import services as area_services

    far_department = area_services.department_create(actor=None, area=tree.town_b, name="湘河镇水管站")
    case, _setup = prepare(tree, users, "a", "registered")  # the desk: village A1
    client = as_role("village_staff_a")
    before = snapshot()
    cases = [
        ({"target_area": tree.grid_b.code}, 422, "target_area"),
        ({"target_area": tree.town_a.code}, 422, "target_area"),  # above the desk: escalate instead
        ({"target_area": "nope"}, 422, "target_area"),
        ({"target_department": far_department.pk}, 422, "target_department"),
        ({"target_department": 2**40}, 422, "target_department"),
        ({"target_department": 0}, 422, "target_department"),
        ({"target_area": tree.grid_a.code, "assist_areas": [tree.grid_b.code]}, 422, "assist_areas"),
        ({"target_area": tree.grid_a.code, "assist_departments": [far_department.pk]}, 422, "assist_departments"),
        ({"target_area": tree.grid_a.code, "assist_areas": [tree.grid_a.code]}, 400, "assist"),
        ({"target_area": tree.grid_a.code, "target_department": water(tree).pk}, 400, "target"),
        ({}, 400, "target"),
        ({"target_area": tree.grid_a.code, "category": "nope"}, 422, "category"),
        ({"target_area": tree.grid_a.code, "assist_areas": "grid"}, 422, "assist_areas"),
        ({"target_area": tree.grid_a.code, "assist_areas": [tree.grid_a2.code] * 21}, 422, "assist_areas"),
    ]
    for payload, status, field in cases:
        body = assert_error(call(client, "post", f"/cases/{case.pk}/dispatch", payload), status)
        assert field in body["fields"], (payload, body)
    assert snapshot() == before
    ok = call(client, "post", f"/cases/{case.pk}/dispatch", {"target_area": tree.grid_a.code,
                                                             "assist_departments": [water(tree).pk]})
    assert ok.status_code == 200, ok.content
    assert [(a["role"], a["area_code"], a["department_id"]) for a in ok.json()["assignments"]] == [
        ("lead", tree.grid_a.code, None), ("assist", None, water(tree).pk)]


def test_action_bodies_are_checked(tree, users, as_role):
    submitted = file_case(tree, users, "a")  # a grid worker's report: the desk is village A1
    accepted, _ = prepare(tree, users, "a", "accepted")
    dispatched, _ = prepare(tree, users, "a", "dispatched")
    registered, _ = prepare(tree, users, "a", "registered")
    closed, _ = prepare(tree, users, "a", "closed")
    invisible, _ = prepare(tree, users, "b", "submitted")
    client = as_role("town_operator_a")  # a desk above village A1; town B is out of sight
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    cases = [
        (submitted, "refuse", {}, 400, "note"),
        (submitted, "refuse", {"note": "   "}, 400, "note"),
        (submitted, "refuse", {"note": "x" * 5001}, 422, "note"),
        (submitted, "refuse", {"note": 42}, 422, "note"),
        (submitted, "refuse", {"note": ["a"]}, 422, "note"),
        (submitted, "accept", {"urgency": "panic"}, 422, "urgency"),
        (submitted, "accept", {"category": "no_such"}, 422, "category"),
        (submitted, "accept", {"category": ""}, 422, "category"),
        (submitted, "merge", {}, 422, "duplicate_of"),
        (submitted, "merge", {"duplicate_of": "abc"}, 422, "duplicate_of"),
        (submitted, "merge", {"duplicate_of": "2" * 27}, 422, "duplicate_of"),
        (submitted, "merge", {"duplicate_of": invisible.number}, 422, "duplicate_of"),
        (submitted, "merge", {"duplicate_of": submitted.number}, 400, "duplicate_of"),
        (accepted, "close", {"outcome": "fixed"}, 400, "outcome"),  # not reported done yet
        (accepted, "close", {"outcome": "not_responsible"}, 400, "note"),
        (accepted, "close", {"outcome": "whatever"}, 422, "outcome"),
        (dispatched, "supervise", {"note": "限期"}, 422, "deadline_at"),
        (dispatched, "supervise", {"note": "限期", "deadline_at": past}, 400, "deadline_at"),
        (dispatched, "supervise", {"note": "限期", "deadline_at": "9999-12-31T23:59:59-12:00"}, 422, "deadline_at"),
        (dispatched, "supervise", {"note": "限期", "deadline_at": "0001-01-01T00:00:00"}, 422, "deadline_at"),
        (dispatched, "supervise", {"note": "限期", "deadline_at": "tomorrow"}, 422, "deadline_at"),
        (registered, "suspend", {"note": "挂起", "review_on": str(timezone.localdate())}, 400, "review_on"),
        (registered, "suspend", {"note": "挂起", "review_on": "1900-01-01"}, 422, "review_on"),
        (registered, "suspend", {"note": "挂起"}, 422, "review_on"),
        (closed, "rate", {"rating": "great"}, 422, "rating"),
        (closed, "rate", {}, 422, "rating"),
    ]
    before = snapshot()
    for case, verb, payload, status, field in cases:
        body = assert_error(call(client, "post", f"/cases/{case.pk}/{verb.replace('_', '-')}", payload), status)
        assert field in body["fields"], (verb, payload, body)
    assert snapshot() == before
    # A supervision deadline without an offset is local time.
    local = (timezone.localtime() + dt.timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    body = call(client, "post", f"/cases/{dispatched.pk}/supervise", {"note": "限期",
                                                                      "deadline_at": local.isoformat()}).json()
    assert dt.datetime.fromisoformat(body["supervision_deadline_at"]) == timezone.make_aware(local)
    assert body["supervised"] is True


ACTION_PATHS = [f"/{verb.replace('_', '-')}" for verb in ACTS]
NEVER_VALID = ["{not json", "\xff\xfe", '{"note": ', '{"note": {"a": 1}}', '{"note": [1]}', '{"note": "\\u0000"}',
               '{"note": "' + "长" * 6000 + '"}', '{"note": 3, "deadline_at": 1e400, "review_on": [], "rating": null}']
# A body that is not a JSON object counts as no body at all; actions that need nothing may then succeed.
LENIENT = ["[1, 2]", "42", '"text"', "null", '{"deadline_at": "2999-01-01", "review_on": 5, "rating": null}',
           '{"target_area": {"$gt": ""}, "duplicate_of": "20250101000001", "outcome": 1}']


def test_malformed_bodies_never_give_a_500(tree, users, as_role):
    case, _ = prepare(tree, users, "a", "dispatched")
    client = as_role("superuser")
    before = snapshot()
    for path in ACTION_PATHS:
        for raw in NEVER_VALID:
            response = call(client, "post", f"/cases/{case.pk}{path}", raw)
            assert response.status_code in (400, 422), (path, raw[:40], response.content)
    assert snapshot() == before
    for state in ("submitted", "dispatched", "closed"):
        for path in ACTION_PATHS:
            case, _ = prepare(tree, users, "a", state)
            for raw in LENIENT:
                response = call(client, "post", f"/cases/{case.pk}{path}", raw)
                assert response.status_code < 500, (path, raw[:40], response.content)
                if response.status_code == 200:
                    case, _ = prepare(tree, users, "a", state)


@pytest.mark.parametrize("path", ["/cases/0", "/cases/-1", "/cases/abc", "/cases/1.5",
                                  f"/cases/{2**63}", f"/cases/{10**30}", "/cases/inbox/nonsense",
                                  "/cases/0/accept", f"/cases/{10**30}/comment"])
def test_bad_ids(tree, users, as_role, path):
    client = as_role("county_operator")
    response = call(client, "post" if path.endswith(("accept", "comment")) else "get", path,
                    {} if path.endswith(("accept", "comment")) else None)
    assert response.status_code in (404, 422), response.content
    assert set(response.json()) == {"code", "message", "fields"}


def test_an_absent_case(tree, users, as_role):
    client = as_role("superuser")
    assert call(client, "get", f"/cases/{2**63 - 1}").json() == {"code": "not_found", "message": "No such case.",
                                                                 "fields": {}}
    assert call(client, "post", "/cases/424242/accept", {}).status_code == 404


# --- lists, filters, the inbox --------------------------------------------------------------------------


def ids(client, path: str, params: dict | None = None) -> list[int]:
    response = client.get(API + path, params or {})
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_filters(tree, users, as_role):
    water_a = file_case(tree, users, "a", title="自来水停水")
    road_b = file_case(tree, users, "b", category="risk_road", channel=Channel.HOTLINE)
    fire_a3 = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="山上冒烟",
                                   area=tree.grid_a3, category=Category.objects.get(code="forest_fire"))
    services.case_act(actor=users.superuser, case=water_a, verb="accept")
    services.case_act(actor=users.superuser, case=water_a, verb="register")
    Case.objects.filter(pk=water_a.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=1))
    Case.objects.filter(pk=road_b.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    client = as_role("superuser")
    everyone = {water_a.pk, road_b.pk, fire_a3.pk}
    assert set(ids(client, "/cases")) == everyone
    assert ids(client, "/cases", {"state": "registered"}) == [water_a.pk]
    assert set(ids(client, "/cases?state=registered&state=submitted")) == everyone
    assert ids(client, "/cases", {"domain": "forest"}) == [fire_a3.pk]
    assert ids(client, "/cases", {"category": "risk_road"}) == [road_b.pk]
    assert set(ids(client, "/cases", {"area": tree.town_a.code})) == {water_a.pk, fire_a3.pk}
    assert ids(client, "/cases", {"area": tree.village_a2.code}) == [fire_a3.pk]
    assert ids(client, "/cases", {"area": tree.grid_a2.code}) == []
    assert ids(client, "/cases", {"overdue": "true"}) == [water_a.pk]
    assert set(ids(client, "/cases", {"overdue": "false"})) == {road_b.pk, fire_a3.pk}
    assert ids(client, "/cases", {"channel": "self_report"}) == [fire_a3.pk]
    old = str(timezone.localdate() - dt.timedelta(days=40))
    assert ids(client, "/cases", {"created_to": old}) == [road_b.pk]
    assert set(ids(client, "/cases", {"created_from": str(timezone.localdate())})) == {water_a.pk, fire_a3.pk}
    assert ids(client, "/cases", {"q": "停水"}) == [water_a.pk]
    assert ids(client, "/cases", {"q": road_b.tracking_code.lower()}) == [road_b.pk]
    assert ids(client, "/cases", {"q": fire_a3.number}) == [fire_a3.pk]
    for impossible in ("①②③④⑤⑥⑦⑧⑨", "9" * 40, "%", "_"):
        assert ids(client, "/cases", {"q": impossible}) == []
    # Newest first; the list's own fields.
    listed = call(client, "get", "/cases").json()["items"]
    assert [c["id"] for c in listed] == [fire_a3.pk, water_a.pk, road_b.pk]
    assert {k: listed[1][k] for k in ("state", "category", "domain", "area_code", "desk_code", "overdue")} == {
        "state": "registered", "category": "risk_water", "domain": "risk", "area_code": tree.grid_a.code,
        "desk_code": tree.village_a1.code, "overdue": True}
    # Within the caller's scope only.
    town_b = as_role("town_admin_b")
    assert ids(town_b, "/cases") == [road_b.pk]
    assert ids(town_b, "/cases", {"q": water_a.number}) == []
    assert_error(call(town_b, "get", f"/cases?area={tree.town_a.code}"), 404, "not_found")


@pytest.mark.parametrize("query, field", [
    ("state=bogus", "state"), ("domain=nope", "domain"), ("category=nope", "category"), ("channel=fax", "channel"),
    ("overdue=perhaps", "overdue"), ("created_from=yesterday", "created_from"), ("created_from=0001-01-01",
                                                                                 "created_from"),
    ("created_to=9999-12-31", "created_to"), ("q=" + "x" * 101, "q"), ("page=0", "page"),
    ("page_size=100000", "page_size"), ("area=", "area"),
])
def test_bad_filters(tree, users, as_role, query, field):
    body = assert_error(as_role("county_operator").get(f"{API}/cases?{query}"), 422, "invalid_input")
    assert any(field in key.split(".") for key in body["fields"]), body


def test_inbox(tree, users, as_role):
    pending = file_case(tree, users, "a")  # a grid worker's report: pending at village A1
    registered, _ = prepare(tree, users, "a", "registered")
    handling, _ = prepare(tree, users, "a", "handling")
    Case.objects.filter(pk=handling.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=2))
    services.case_act(actor=users.county_operator, case=handling, verb="supervise", note="限期",
                      deadline_at=timezone.now() + dt.timedelta(days=1))
    prepare(tree, users, "b", "handling")
    village = as_role("village_staff_a")
    assert call(village, "get", "/cases/inbox").json() == {"pending": 1, "todo": 1, "done": 0, "overdue": 1,
                                                           "supervised": 1}
    assert ids(village, "/cases/inbox/pending") == [pending.pk]
    assert ids(village, "/cases/inbox/todo") == [registered.pk]
    assert ids(village, "/cases/inbox/overdue") == [handling.pk]
    assert ids(village, "/cases/inbox/supervised") == [handling.pk]
    worker = as_role("grid_worker_a")
    assert call(worker, "get", "/cases/inbox").json() == {"pending": 0, "todo": 1, "done": 0, "overdue": 1,
                                                          "supervised": 1}
    assert ids(worker, "/cases/inbox/todo") == [handling.pk]
    dept = as_role("dept_handler")
    counts = call(dept, "get", "/cases/inbox").json()
    assert counts["todo"] == 2 and counts["pending"] == 0  # assisting on both sides
    county = as_role("county_operator")
    assert ids(county, "/cases/inbox/done") == [handling.pk]
    assert call(county, "get", "/cases/inbox").json()["done"] == 1


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(API + path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def add_cases(tree, users, n: int) -> None:
    for _i in range(n):
        case = file_case(tree, users, "a")
        services.case_act(actor=users.superuser, case=case, verb="accept")
        services.case_act(actor=users.superuser, case=case, verb="register")
        services.case_act(actor=users.superuser, case=case, verb="dispatch", target_area=tree.grid_a,
                          assist_departments=[water(tree)])
        Case.objects.filter(pk=case.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=1),
                                               supervision_deadline_at=timezone.now() + dt.timedelta(days=1))
        file_case(tree, users, "a", channel=Channel.HOTLINE)
        file_case(tree, users, "a")  # pending at village A1
        waiting = file_case(tree, users, "a")
        services.case_act(actor=users.superuser, case=waiting, verb="accept")  # to do at village A1
        Notification.objects.create(user=users.village_staff_a, case=case, message="派遣")


@pytest.mark.parametrize("role, path", [
    ("village_staff_a", "/cases"), ("village_staff_a", "/cases?state=dispatched&area=611023100201"),
    ("village_staff_a", "/cases/inbox"), ("village_staff_a", "/cases/inbox/pending"),
    ("village_staff_a", "/cases/inbox/todo"), ("village_staff_a", "/cases/inbox/overdue"),
    ("village_staff_a", "/cases/inbox/supervised"), ("superuser", "/cases/inbox/done"),
    ("dept_handler", "/cases"), ("dept_handler", "/cases/inbox/todo"), ("village_staff_a", "/notifications"),
    ("village_staff_a", "/cases/stats"), ("nobody", "/case-domains"),
])
def test_query_counts_do_not_grow(tree, users, as_role, django_assert_max_num_queries, role, path):
    client = as_role(role)
    add_cases(tree, users, 2)
    count_queries(client, path)  # warm the session
    few = count_queries(client, path)
    add_cases(tree, users, 12)
    with django_assert_max_num_queries(few):
        response = client.get(API + path)
    body = response.json()
    if isinstance(body, dict) and "count" in body:
        assert body["count"] >= 12


def test_detail_query_count_does_not_grow(tree, users, as_role, django_assert_max_num_queries):
    case, _ = prepare(tree, users, "a", "handling")
    client = as_role("village_staff_a")
    path = f"/cases/{case.pk}"
    count_queries(client, path)
    few = count_queries(client, path)
    for n in range(10):
        services.case_act(actor=users.superuser, case=case, verb="comment", note=f"第{n}次联系")
    with django_assert_max_num_queries(few):
        response = client.get(API + path)
    assert len(response.json()["timeline"]) == 15


# --- the taxonomy and the statistics -------------------------------------------------------------------


def test_case_domains(tree, users, as_role):
    body = call(as_role("grid_worker_a"), "get", "/case-domains").json()
    assert [d["code"] for d in body] == ["policy", "flood", "relapse", "dispute", "security", "forest", "risk",
                                         "ecology"]
    fire = next(c for d in body for c in d["categories"] if c["code"] == "forest_fire")
    assert fire == {"code": "forest_fire", "name": "火情", "domain": "forest", "urgency": "critical",
                    "deadline_days": None, "deadline_hours": 1, "onsite_required": True, "default_level": None,
                    "active": True}


def test_category_edits(tree, users, as_role):
    client = as_role("superuser")
    body = call(client, "put", "/case-categories/risk_water", {
        "domain": "risk", "name": "供水问题", "deadline_days": 2, "default_level": "镇办",
        "onsite_required": True}).json()
    assert body["deadline_days"] == 2 and body["default_level"] == "镇办" and body["onsite_required"] is True
    assert Category.objects.get(code="risk_water").deadline_days == 2
    before = snapshot(), list(Category.objects.order_by("pk").values())
    bad = [
        ("risk_water", {"domain": "nope", "name": "x", "deadline_days": 1}, 422, "domain"),
        ("risk_water", {"domain": "risk", "name": "x", "deadline_days": 1, "default_level": "省"}, 422,
         "default_level"),
        ("risk_water", {"domain": "risk", "name": "x"}, 400, "deadline_days"),
        ("risk_water", {"domain": "risk", "name": "", "deadline_days": 1}, 422, "name"),
        ("risk_water", {"domain": "risk", "name": "x", "deadline_days": 400}, 422, "deadline_days"),
        ("risk_water", {"domain": "risk", "name": "x", "deadline_hours": 0}, 422, "deadline_hours"),
        ("risk_water", {"domain": "risk", "name": "x", "urgency": "soon", "deadline_days": 1}, 422, "urgency"),
        ("risk_water", {"domain": "risk", "name": "安全隐患", "deadline_days": 1}, 400, "name"),  # taken
        ("bad code!", {"domain": "risk", "name": "新类", "deadline_days": 1}, 400, "code"),
        ("x" * 49, {"domain": "risk", "name": "新类", "deadline_days": 1}, 400, "code"),
    ]
    for code, payload, status, field in bad:
        response = call(client, "put", f"/case-categories/{code}", payload)
        body = assert_error(response, status)
        assert field in body["fields"], (code, payload, body)
    assert (snapshot(), list(Category.objects.order_by("pk").values())) == before


def test_bearer_token(tree, users, client):
    from django.test import Client

    from tests.conftest import PASSWORD

    token = call(client, "post", "/auth/token", {"username": "county_operator", "password": PASSWORD}).json()["token"]
    api = Client(enforce_csrf_checks=True)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = call(api, "post", "/cases", {"channel": "hotline", "description": "噪音扰民", "area": tree.grid_b.code},
                    **headers)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert call(api, "post", f"/cases/{pk}/accept", {}, **headers).json()["state"] == "accepted"


def test_session_write_without_csrf_is_refused(tree, users):
    from django.test import Client

    case = file_case(tree, users, "a", channel=Channel.HOTLINE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(users.county_operator)
    before = snapshot()
    body = assert_error(call(client, "post", f"/cases/{case.pk}/accept", {}), 403, "permission_denied")
    assert "CSRF" in body["message"]
    assert snapshot() == before
