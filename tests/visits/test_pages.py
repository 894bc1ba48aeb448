"""Pages of visits under /visits/: the authorization matrix (reads and writes; a denied request changes nothing),
the three-tap "nothing to report", the visit form with findings and photos, a finding opening a case, corrections,
the supervisor's view and map, languages, and query counts."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from gridgov.cases.models import Case
from gridgov.visits import services
from gridgov.visits.models import FindingCase, Visit, VisitPolicy
from tests.visits.factories import HOUSE_POINTS, LOG, ROLES, SIDES, VIEW, build_visit_world, holds, state, visit


@pytest.fixture
def world(tree, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_visit_world(tree)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10), (10, 10, 200)).save(out, format="PNG")
    return out.getvalue()


def form_uuid(html: str) -> str:
    return re.search(r'name="uuid" value="([0-9a-f-]{36})"', html).group(1)


# --- reads ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_read_pages(tree, users, world, as_role, role, side):
    w = getattr(world, side)
    record, _ = services.visit_create(
        actor=None, uuid=uuid.uuid4(), household=w.household, findings=["housing"],
        photos=[SimpleUploadedFile("p.png", png())])
    client = as_role(role)
    inside = holds(tree, role, VIEW, f"grid_{side}")
    may_log = holds(tree, role, LOG, f"grid_{side}")
    reads = [f"/visits/households/{w.household.pk}/", f"/visits/{record.pk}/",
             f"/visits/photos/{record.photos.get().pk}/", f"/visits/supervise/?area={w.grid.code}",
             f"/visits/supervise/map.json?area={w.grid.code}", f"/visits/?grid={w.grid.code}"]
    for url in reads:
        response = client.get(url)
        assert (url, response.status_code) == (url, 200 if inside else 404)
    for url in (f"/visits/households/{w.household.pk}/quick/", f"/visits/households/{w.household.pk}/log/",
                f"/visits/cases/{w.case.pk}/", f"/visits/{record.pk}/correct/"):
        response = client.get(url)
        assert (url, response.status_code) == (url, 200 if may_log else 404)
    if not inside:
        return
    html = client.get(f"/visits/households/{w.household.pk}/").content.decode()
    assert w.household.address in html
    assert (f"/visits/households/{w.household.pk}/quick/" in html) is may_log
    html = client.get(f"/visits/{record.pk}/").content.decode()
    assert (f"/visits/{record.pk}/correct/" in html) is may_log


@pytest.mark.parametrize("role", ROLES)
def test_day_page(tree, users, world, as_role, role):
    response = as_role(role).get("/visits/")
    may_view = role == "superuser" or bool(holds(tree, role, VIEW, "grid_a") or holds(tree, role, VIEW, "grid_b"))
    if role == "grid_worker_a":
        assert response.status_code == 200
        html = response.content.decode()
        assert world.a.case.title in html and world.a.household.address in html
        assert world.b.household.address not in html
    elif may_view:
        assert (response.status_code, response["Location"]) == (302, "/visits/supervise/")
        assert as_role(role).get("/visits/supervise/").status_code == 200
    else:
        assert response.status_code == 404
        assert as_role(role).get("/visits/supervise/").status_code == 404
    nav = as_role(role).get("/").content.decode()
    assert ('href="/visits/"' in nav) is may_view


@pytest.mark.parametrize("url", ["/visits/", "/visits/households/1/", "/visits/supervise/", "/visits/policy/",
                                 "/visits/1/", "/visits/photos/1/"])
def test_anonymous_is_sent_to_the_login(db, client, url):
    response = client.get(url)
    assert response.status_code == 302 and "login" in response["Location"]


# --- writes -------------------------------------------------------------------------------------------------


def page_write(tree, users, world, client, role: str, side: str, name: str) -> None:
    w = getattr(world, side)
    original = visit(w.household, actor=None, days=1, findings=["dispute"])
    may_log = holds(tree, role, LOG, f"grid_{side}")
    inside = holds(tree, role, VIEW, f"grid_{side}")
    key = str(uuid.uuid4())
    if name == "quick":
        url, data, ok = f"/visits/households/{w.household.pk}/quick/", {"uuid": key, "crs": "wgs84"}, may_log
    elif name == "log":
        url, ok = f"/visits/households/{w.household.pk}/log/", may_log
        lng, lat = HOUSE_POINTS[side]
        data = {"uuid": key, "crs": "wgs84", "kind": "routine", "findings": ["housing"], "note": "房屋漏雨",
                "lng": str(lng), "lat": str(lat)}
    elif name == "case_visit":
        url, ok = f"/visits/cases/{w.case.pk}/", may_log
        data = {"uuid": key, "crs": "wgs84", "kind": "onsite", "note": "到场调解"}
    elif name == "correct":
        url, ok = f"/visits/{original.pk}/correct/", may_log
        data = {"uuid": key, "crs": "wgs84", "kind": "routine", "note": "更正"}
    elif name == "finding_case":
        url, ok = f"/visits/{original.pk}/findings/dispute/case/", inside
        data = {"dispute-title": "邻里纠纷", "dispute-description": "走访发现纠纷", "dispute-category": ""}
    else:
        raise AssertionError(name)
    before = state()
    response = client.post(url, data)
    if not ok:
        assert (name, response.status_code) == (name, 404)
        assert state() == before, f"{name}: a denied request changed something"
        return
    assert response.status_code == 302, (name, response.content[:2000])
    if name in ("quick", "log", "case_visit", "correct"):
        created = Visit.objects.get(uuid=key)
        assert created.visitor == getattr(users, role)
        assert (created.household, created.kind) == (w.household, "onsite" if name == "case_visit" else "routine")
        if name == "log":
            assert (created.findings, created.note, created.distance_m) == (["housing"], "房屋漏雨", 0)
            assert response["Location"] == f"/visits/{created.pk}/"
        if name == "correct":
            original.refresh_from_db()
            assert original.superseded_by == created
        # Submitting the same form again (a double tap, a retry) records nothing more.
        count = Visit.objects.count()
        client.post(url, data)
        assert Visit.objects.count() == count
    else:
        reporter = role == "superuser" or role in {"county_operator", "town_operator_a", "village_staff_a",
                                                   "grid_worker_a", "grid_police_a"}
        assert FindingCase.objects.filter(visit=original).exists() is reporter
        if reporter:
            assert Case.objects.get(pk=FindingCase.objects.get(visit=original).case_id).title == "邻里纠纷"


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_write_pages(tree, users, world, as_role, role, side):
    client = as_role(role)
    failures = []
    for name in ("quick", "log", "case_visit", "correct", "finding_case"):
        try:
            page_write(tree, users, world, client, role, side, name)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_policy_page(tree, users, as_role, role):
    client = as_role(role)
    response = client.get("/visits/policy/")
    may_view = role == "superuser" or holds(tree, role, VIEW, "grid_a") or holds(tree, role, VIEW, "grid_b")
    assert response.status_code == (200 if may_view else 404)
    before = VisitPolicy.objects.count()
    response = client.post("/visits/policy/", {"preset": "qingyang", "red_contact_days": ""})
    if role != "superuser":
        assert response.status_code == 404 and VisitPolicy.objects.count() == before
        return
    assert response.status_code == 302
    assert VisitPolicy.objects.first().preset == "qingyang"
    assert "庆阳市三必访" in client.get("/visits/policy/").content.decode()
    response = client.post("/visits/policy/", {"preset": "shangnan", "onsite_hours": "0"})
    assert response.status_code == 200 and VisitPolicy.objects.count() == before + 1


# --- flows --------------------------------------------------------------------------------------------------


def test_three_taps_from_the_day_list(tree, users, world, as_role):
    """Day list → the household → "nothing to report" → confirm: a routine visit, and the household is done."""
    visit(world.a.household, actor=None, days=29)  # due tomorrow
    client = as_role("grid_worker_a")
    day = client.get("/visits/").content.decode()
    household_url = f"/visits/households/{world.a.household.pk}/"
    assert f'href="{household_url}"' in day  # tap 1
    page = client.get(household_url).content.decode()
    quick_url = f"{household_url}quick/"
    assert f'hx-get="{quick_url}"' in page  # tap 2 (in place, with htmx)
    confirm = client.get(quick_url, headers={"HX-Request": "true"})
    html = confirm.content.decode()
    assert "<html" not in html and 'x-data="visitLocation"' in html and 'type="submit"' in html
    done = client.post(quick_url, {"uuid": form_uuid(html), "crs": "wgs84", "lng": "110.8051", "lat": "33.5051",
                                   "accuracy_m": "9"})  # tap 3
    assert (done.status_code, done["Location"]) == (302, "/visits/")
    record = Visit.objects.get(household=world.a.household, visitor=users.grid_worker_a)
    assert (record.kind, record.findings, record.note, record.accuracy_m, record.far_from_house) == (
        "routine", [], "", 9, False)
    after = client.get("/visits/").content.decode()
    assert f'href="{household_url}"' not in after
    # Without JavaScript the confirmation is a page of its own.
    assert "<html" in client.get(quick_url).content.decode()


def test_log_a_visit_with_a_finding_and_open_a_case(tree, users, world, as_role):
    client = as_role("grid_worker_a")
    url = f"/visits/households/{world.a.household.pk}/log/"
    key = form_uuid(client.get(url).content.decode())
    upload = SimpleUploadedFile("photo.png", png(), content_type="image/png")
    response = client.post(url, {"uuid": key, "crs": "wgs84", "kind": "routine", "visited_at": "",
                                 "findings": ["drinking_water"], "note": "水井浑浊", "companions": "王大爷，李四",
                                 "photos": [upload]})
    record = Visit.objects.get(uuid=key)
    assert response["Location"] == f"/visits/{record.pk}/"
    assert [c["name"] for c in record.companions] == ["王大爷", "李四"] and record.photos.count() == 1
    html = client.get(f"/visits/{record.pk}/").content.decode()
    assert f"/visits/{record.pk}/findings/drinking_water/case/" in html and "水井浑浊" in html
    response = client.post(f"/visits/{record.pk}/findings/drinking_water/case/", {
        "drinking_water-title": "水井浑浊", "drinking_water-description": "走访发现水井浑浊",
        "drinking_water-category": "risk_water"})
    assert response.status_code == 302
    case = FindingCase.objects.get(visit=record).case
    assert (case.category.code, case.household, case.title) == ("risk_water", world.a.household, "水井浑浊")
    html = client.get(f"/visits/{record.pk}/").content.decode()
    assert case.number in html and f"/visits/{record.pk}/findings/drinking_water/case/" not in html


def test_a_bad_photo_is_shown_on_the_form_and_nothing_saved(tree, users, world, as_role):
    client = as_role("grid_worker_a")
    url = f"/visits/households/{world.a.household.pk}/log/"
    before = state()
    response = client.post(url, {"uuid": str(uuid.uuid4()), "crs": "wgs84", "kind": "routine",
                                 "photos": [SimpleUploadedFile("x.jpg", b"GIF89a nope")]})
    assert response.status_code == 200
    assert "This file is not a JPEG, PNG or WebP image." in response.content.decode()
    assert state() == before


def test_supervisor_sees_rates_overdue_and_the_map(tree, users, world, as_role):
    visit(world.a.household, actor=users.grid_worker_a, days=1, lng=110.805, lat=33.505)
    client = as_role("town_admin_a")
    html = client.get(f"/visits/supervise/?area={tree.town_a.code}").content.decode()
    assert tree.village_a1.name in html and tree.village_a2.name in html and tree.town_b.name not in html
    html = client.get(f"/visits/supervise/?area={tree.grid_a.code}").content.decode()
    assert world.a.household2.number in html  # overdue: never visited
    assert "grid_worker_a-name" in html
    data = client.get(f"/visits/supervise/map.json?area={tree.grid_a.code}").json()
    assert data["type"] == "FeatureCollection"
    assert [(f["properties"]["number"], f["properties"]["visited"], f["geometry"]["coordinates"])
            for f in data["features"]] == [(world.a.household.number, True, [110.805, 33.505])]
    assert client.get(f"/visits/supervise/?area={tree.town_b.code}").status_code == 404
    assert client.get(f"/visits/supervise/?area={tree.county.code}").status_code == 404
    bad = client.get(f"/visits/supervise/?area={tree.town_a.code}&start=2026-05-02&end=2026-05-01")
    assert bad.status_code == 302


def test_languages(tree, users, world, as_role, settings):
    client = as_role("grid_worker_a")
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    zh = client.get("/visits/")
    assert zh["Content-Language"] == "zh-hans" and '<html lang="zh-hans">' in zh.content.decode()
    assert "今日走访" in zh.content.decode() and "五必到" in zh.content.decode()
    client.cookies["django_language"] = "en"
    en = client.get("/visits/")
    assert en["Content-Language"] == "en" and '<html lang="en">' in en.content.decode()
    assert "Today&#x27;s visits" in en.content.decode() or "Today's visits" in en.content.decode()
    for url in (f"/visits/households/{world.a.household.pk}/", "/visits/supervise/", "/visits/policy/"):
        assert client.get(url).status_code == 200


def test_day_list_query_count(tree, users, world, as_role):
    from tests.registry.factories import make_household

    client = as_role("grid_worker_a")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/visits/?all=1").status_code == 200
        return len(ctx)

    queries()  # the user's posts read once, then kept (gridgov.core.authcache)
    small = queries()
    for n in range(10):
        household = make_household(tree.grid_a, f"HP{n}")
        visit(household, actor=users.grid_worker_a, days=n * 3)
    assert queries() == small
