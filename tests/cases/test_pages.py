"""Pages staff use for cases under /cases/: who gets which page (every role, inside and outside its subtree),
exactly the actions each user may take, the closed loop driven through the forms, refused input shown as form
errors with nothing saved, the hotline form, files only for those who may see the case, the statistics and the
taxonomy, query counts, and the language."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from gridgov.cases import services
from gridgov.cases.models import (
    Case,
    CaseAction,
    CaseAssignment,
    CaseAttachment,
    Category,
    Channel,
    Notification,
    State,
)
from gridgov.core.models import AuditEvent
from gridgov.registry.models import Household
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
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, users):
    def login(role: str, *, english: bool = True):
        client.force_login(getattr(users, role))
        if english:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return login


def acts(html: str, case: Case) -> set[str]:
    """The actions the page offers: the verbs of its action forms."""
    return set(re.findall(rf'action="/cases/{case.pk}/act/([a-z_]+)/"', html))


def case_user(role: str) -> bool:
    return holds_anywhere(role, VIEW) or role == "dept_handler"


# --- the section's pages -----------------------------------------------------------------------------

SECTION = ["/cases/", "/cases/all/", "/cases/stats/", "/cases/categories/"]


@pytest.mark.parametrize("url", SECTION + ["/cases/new/", "/cases/1/", "/cases/1/files/1/", "/cases/new/duplicates/",
                                           "/cases/categories/new/"])
def test_anonymous_is_sent_to_the_login(db, client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.post("/cases/1/act/accept/").status_code == 302
    assert client.post("/cases/notifications/read/").status_code == 302


@pytest.mark.parametrize("role", ROLES)
def test_section_pages_by_role(tree, users, as_role, role):
    client = as_role(role)
    for url in SECTION:
        assert (url, client.get(url).status_code) == (url, 200 if case_user(role) else 403)
    assert client.get("/cases/new/").status_code == (200 if holds_anywhere(role, REPORT) else 403)
    home = client.get("/").content.decode()
    assert ('href="/cases/"' in home) is case_user(role)
    html = client.get("/cases/categories/").content.decode() if case_user(role) else ""
    if case_user(role):
        assert "供水问题" in html and "汛情险情报告" in html
        assert ("/cases/categories/risk_water/" in html) is (role == "superuser")


# --- the case page: who sees it, which actions it offers -------------------------------------------------

# Every action a state allows, by the table (the guards: escalation needs a level above; a closed case is
# rated once; it is reopened only after 不满意; a hotline case is not handled by its reporter directly).
STATE_VERBS = {
    "submitted": {"accept", "refuse", "merge", "comment", "attach"},
    "registered": {"dispatch", "escalate", "close", "urge", "supervise", "supervision_report", "suspend", "merge",
                   "comment", "attach"},
    "handling": {"reassign", "send_back", "escalate", "assist_report", "report", "urge", "supervise",
                 "supervision_report", "suspend", "comment", "attach"},
    "reported": {"assist_report", "rework", "close", "urge", "supervise", "supervision_report", "comment", "attach"},
    "closed": {"rate"},
}


@pytest.mark.parametrize("state", list(STATE_VERBS))
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_case_page_matrix(tree, users, as_role, role, side, state):
    case, setup = prepare(tree, users, side, state)
    response = as_role(role).get(f"/cases/{case.pk}/")
    if not visible(tree, role, setup):
        assert response.status_code == 404
        return
    assert response.status_code == 200
    html = response.content.decode()
    assert case.number in html and case.title in html
    assert "13800001234" not in html and "138****1234" in html
    offered = {verb for verb in STATE_VERBS[state] if expected(tree, role, setup, verb) == 200}
    assert acts(html, case) == offered


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_denied_posts_change_nothing(tree, users, as_role, role, side):
    submitted, s_setup = prepare(tree, users, side, "submitted")
    registered, r_setup = prepare(tree, users, side, "registered")
    client = as_role(role)
    before = snapshot()
    grid = getattr(tree, f"grid_{side}")
    attempts = [
        (submitted, s_setup, "accept", {}),
        (registered, r_setup, "dispatch", {"target_area": grid.code}),
        (registered, r_setup, "supervise", {"note": "限期办结", "deadline_at": "2099-01-01T12:00"}),
    ]
    allowed = []
    for case, setup, verb, data in attempts:
        status = expected(tree, role, setup, verb, ok=302)
        response = client.post(f"/cases/{case.pk}/act/{verb}/", data)
        assert (verb, response.status_code) == (verb, status)
        if status == 302:
            allowed.append(verb)
    if not allowed:
        assert snapshot() == before
    for verb in ("visit", "warn", "fly"):  # internal or unknown verbs are no page's business
        assert client.post(f"/cases/{registered.pk}/act/{verb}/", {"note": "x"}).status_code == 404


def test_a_departments_handler_sees_only_its_cases(tree, users, as_role):
    mine, _ = prepare(tree, users, "a", "handling")  # the water department assists
    other, _ = prepare(tree, users, "b", "registered")
    client = as_role("dept_handler")
    html = client.get(f"/cases/{mine.pk}/").content.decode()
    assert acts(html, mine) == {"assist_report", "comment", "attach"}
    assert client.get(f"/cases/{other.pk}/").status_code == 404
    todo = client.get("/cases/?tab=todo").content.decode()
    assert mine.number in todo and other.number not in todo


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_reveal_the_reporters_phone(tree, users, as_role, role, side):
    case, setup = prepare(tree, users, side, "registered")
    client = as_role(role)
    may = visible(tree, role, setup) and (
        DESK in relations(tree, role, setup) or holds(tree, role, REVEAL, setup.area))
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert (f"/cases/{case.pk}/reveal-phone/" in page) is may
    audits = AuditEvent.objects.count()
    response = client.post(f"/cases/{case.pk}/reveal-phone/")
    if not visible(tree, role, setup):
        assert response.status_code == 404
    elif not may:
        assert response.status_code == 403 and PHONE not in response.content.decode()
    else:
        assert response.status_code == 200 and PHONE in response.content.decode()
        assert AuditEvent.objects.count() == audits + 1
        return
    assert AuditEvent.objects.count() == audits


# --- the closed loop through the pages ----------------------------------------------------------------------


def post(client, case, verb, data=None, *, status=302):
    response = client.post(f"/cases/{case.pk}/act/{verb}/", data or {})
    assert response.status_code == status, (verb, response.content.decode()[:3000])
    case.refresh_from_db()
    return response


def test_done_when_flow_through_the_pages(tree, users, as_role):
    """The issue's "done when", driven through the forms (the resident's report and rating through the services)."""
    case = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="自来水管破裂，路面积水",
                                lng=110.805, lat=33.505, reporter_phone="13800001234", client_key="page-1")
    category = Category.objects.get(code="risk_water")

    county = as_role("county_operator")
    post(county, case, "accept", {"category": category.pk, "urgency": "urgent"})
    assert case.state == State.ACCEPTED and case.category == category and case.urgency == "urgent"
    post(county, case, "register", {"category": category.pk, "urgency": "normal"})
    assert case.state == State.REGISTERED and case.deadline_at is not None
    page = county.get(f"/cases/{case.pk}/").content.decode()
    assert f'<option value="{tree.village_a1.code}">' in page  # the desk's subtree offered for dispatch
    post(county, case, "dispatch", {"target_area": "梁家湾村", "category": category.pk})  # a unique name will do
    assert case.holder_area == tree.village_a1 and case.state == State.DISPATCHED

    village = as_role("village_staff_a")
    inbox = village.get("/cases/?tab=todo").content.decode()
    assert case.number in inbox
    assert Notification.objects.filter(user=users.village_staff_a, case=case, read_at__isnull=True).exists()
    post(village, case, "escalate", {"note": "村级无法处理"})
    assert case.desk_area == tree.town_a and case.state == State.REGISTERED

    town = as_role("town_operator_a")
    dept = water(tree)
    post(town, case, "dispatch", {"target_department": dept.pk, "assist_areas": [tree.village_a1.code]})
    assert case.mode == "assist" and case.holder_department == dept

    village = as_role("village_staff_a")
    post(village, case, "assist_report", {"note": "已协助疏导交通"})
    handler = as_role("dept_handler")
    post(handler, case, "report", {"note": "管道已修复"})
    assert case.state == State.REPORTED
    assert handler.post(f"/cases/{case.pk}/act/close/", {"outcome": "fixed"}).status_code == 403

    town = as_role("town_operator_a")
    post(town, case, "close", {"outcome": "fixed", "note": "核查属实"})
    assert case.state == State.CLOSED and case.outcome == "fixed" and case.resolved_area == tree.town_a
    services.case_rate_public(tracking_code=case.tracking_code, rating="satisfied")

    html = town.get(f"/cases/{case.pk}/").content.decode()
    verbs = list(CaseAction.objects.filter(case=case).values_list("verb", flat=True))
    assert verbs == ["create", "accept", "register", "dispatch", "escalate", "dispatch", "assist_report", "report",
                     "close", "rate"]
    for text in ("Accept (受理)", "Register (立案)", "Dispatch (派遣)", "Escalate to the level above (上报)",
                 "村级无法处理", "已协助疏导交通", "管道已修复", "Verify and close (核查结案)", "水务局",
                 "satisfied (满意)", "Record the rating (回访评价)", "closed (已结案)"):
        assert text in html, text
    assert "Deadline" in html and "Lead unit" in html
    assert acts(html, case) == set()  # rated once: nothing is left to do

    stats = town.get("/cases/stats/").content.decode()
    assert "风险防控" in stats and "100.0%" in stats


def test_grid_worker_reports_and_handles_it_himself(tree, users, as_role):
    client = as_role("grid_worker_a")
    category = Category.objects.get(code="risk_road")
    page = client.get("/cases/new/").content.decode()
    assert 'name="handle_directly"' in page
    key = re.search(r'name="client_key" value="([0-9a-f]{32})"', page).group(1)
    response = client.post("/cases/new/", {"channel": Channel.GRID_WORKER, "category": category.pk,
                                           "description": "路灯坏了", "area": tree.grid_a.code,
                                           "handle_directly": "on", "client_key": key})
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    assert case.state == State.HANDLING and case.holder_area == tree.grid_a and case.reporter == users.grid_worker_a
    post(client, case, "report", {"note": "已更换灯泡"})
    village = as_role("village_staff_a")
    post(village, case, "close", {"outcome": "fixed"})
    assert case.state == State.CLOSED and case.resolved_area == tree.grid_a


# --- refused input: form errors, nothing saved -------------------------------------------------------------


def test_action_form_errors_save_nothing(tree, users, as_role):
    submitted, _ = prepare(tree, users, "a", "submitted")
    registered, _ = prepare(tree, users, "a", "registered")
    handling, _ = prepare(tree, users, "a", "handling")
    other, _ = prepare(tree, users, "b", "registered")
    client = as_role("county_operator")
    before = snapshot()
    cases = [
        (submitted, "refuse", {}, "This field is required."),
        (registered, "dispatch", {}, "Choose the lead unit: an area or a department."),
        (registered, "dispatch", {"target_area": tree.grid_b.code}, "No such area below the desk."),
        (submitted, "merge", {"duplicate_of": "x"}, "No such case."),
        (registered, "dispatch", {"target_area": "上湾片"}, "No such area below the desk."),  # by name, elsewhere
        (registered, "dispatch", {"target_area": tree.grid_a.code, "target_department": water(tree).pk},
         "Choose one lead unit"),
        (registered, "dispatch", {"target_area": tree.grid_a.code, "assist_areas": [tree.grid_b.code]},
         "Select a valid choice."),
        (registered, "dispatch", {"target_area": tree.grid_a.code, "assist_areas": [tree.grid_a.code]},
         "A unit appears twice among the lead and assisting units."),
        (registered, "dispatch", {"target_area": "x" * 40}, "Ensure this value has at most 32 characters"),
        (registered, "close", {"outcome": "fixed"}, "Only a case reported done can be closed as fixed."),
        (registered, "close", {"outcome": "cannot_fix"}, "Say why the case is closed without being fixed."),
        (registered, "close", {"outcome": "sunk"}, "Select a valid choice."),
        (registered, "supervise", {"note": "督办", "deadline_at": "2001-01-01T08:00"},
         "The supervision deadline must lie in the future."),
        (registered, "supervise", {"note": "督办", "deadline_at": "tomorrow"}, "Enter a valid date/time."),
        (registered, "suspend", {"note": "汛期", "review_on": timezone.localdate().isoformat()},
         "The review date must lie in the future."),
        (registered, "merge", {"duplicate_of": "20990101999999"}, "No such case."),
        (registered, "merge", {"duplicate_of": registered.number}, "A case cannot duplicate itself."),
        (handling, "reassign", {"target_area": tree.grid_a.code}, "This field is required."),
        (submitted, "accept", {"category": "999999"}, "Select a valid choice."),
        (submitted, "accept", {"note": "\x00"}, "Null characters are not allowed."),
    ]
    for case, verb, data, message in cases:
        response = client.post(f"/cases/{case.pk}/act/{verb}/", data)
        html = response.content.decode()
        assert response.status_code == 200, (verb, data)
        assert message in html.replace("&#x27;", "'"), (verb, data, message)
        assert f'id="act-{verb}" open' in html  # the failing form stays open with its input
    village = as_role("village_staff_a")  # a case of town B is absent to the village
    before = snapshot()
    response = village.post(f"/cases/{registered.pk}/act/merge/", {"duplicate_of": other.number})
    assert response.status_code == 200 and "No such case." in response.content.decode()
    assert snapshot() == before


def test_an_action_no_longer_possible_is_a_message(tree, users, as_role):
    case, _ = prepare(tree, users, "a", "submitted")
    client = as_role("county_operator")
    post(client, case, "accept")
    before = snapshot()
    response = client.post(f"/cases/{case.pk}/act/accept/", follow=True)
    assert response.status_code == 200
    assert "This action is not possible now" in response.content.decode()
    assert snapshot() == before


# --- the hotline form ---------------------------------------------------------------------------------------


def hotline(client, **data):
    page = client.get("/cases/new/").content.decode()
    key = re.search(r'name="client_key" value="([0-9a-f]{32})"', page).group(1)
    form = {"channel": Channel.HOTLINE, "description": "村口垃圾无人清运", "client_key": key,
            "reporter_name": "王五", "reporter_phone": "13912345678"}
    form.update(data)
    return form


def test_hotline_form_files_once(tree, users, as_role):
    client = as_role("county_operator")
    page = client.get("/cases/new/").content.decode()
    assert 'name="handle_directly"' not in page  # not grid staff
    assert f'<option value="{tree.town_b.code}">' in page
    category = Category.objects.get(code="risk_environment")
    form = hotline(client, category=category.pk, area=tree.grid_b.code, address="洞场村口")
    first = client.post("/cases/new/", form)
    second = client.post("/cases/new/", form)  # a double submit
    case = Case.objects.get()
    assert first["Location"] == second["Location"] == f"/cases/{case.pk}/"
    assert (case.channel, case.area, case.desk_area, case.state) == (Channel.HOTLINE, tree.grid_b, tree.county,
                                                                    State.SUBMITTED)
    assert case.reporter_phone_masked == "139****5678" and case.reporter == users.county_operator
    assert CaseAction.objects.filter(case=case).count() == 1


def test_hotline_form_errors_save_nothing(tree, users, as_role):
    Household.objects.create(area=tree.grid_b, number="HB001", address="上湾")
    client = as_role("town_operator_a")
    before = snapshot()
    for data, message in [
        ({"description": ""}, "This field is required."),
        ({"area": tree.grid_b.code}, "No such area in your areas."),
        ({"area": "nonsense"}, "No such area in your areas."),
        ({"household": "HB001"}, "No such household in your areas."),
        ({"lng": "110.8"}, "Give both longitude and latitude, or neither."),
        ({"lng": "500", "lat": "33"}, "Ensure this value is less than or equal to 180."),
        ({"reporter_phone": "call me"}, "The phone number is not valid."),
        ({"channel": Channel.SELF_REPORT}, "Select a valid choice."),
        ({"client_key": ""}, "The form is incomplete: reload the page and fill it in again."),
    ]:
        response = client.post("/cases/new/", hotline(client, **data))
        assert response.status_code == 200, data
        if message:
            assert message in response.content.decode(), data
    assert snapshot() == before and not Case.objects.exists()
    client = as_role("grid_worker_a")
    before = snapshot()
    response = client.post("/cases/new/", hotline(client, handle_directly="on", area=tree.grid_a.code))
    assert "Only the grid&#x27;s own staff can handle a report directly." in response.content.decode()
    assert snapshot() == before and not Case.objects.exists()


def test_hotline_form_household_and_photo(tree, users, as_role):
    household = Household.objects.create(area=tree.grid_a, number="HA001", address="牛家庄1号")
    client = as_role("village_staff_a")
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo, "JPEG")
    photo.name = "现场.jpg"
    photo.seek(0)
    response = client.post("/cases/new/", hotline(client, channel=Channel.PETITION, household="HA001",
                                                  area=tree.grid_a.code, photos=photo))
    case = Case.objects.get()
    assert response.status_code == 302 and case.household == household and case.desk_area == tree.county
    attachment = CaseAttachment.objects.get(case=case)
    html = client.get(f"/cases/{case.pk}/").content.decode()
    assert f"/cases/{case.pk}/files/{attachment.pk}/thumb/" in html and "HA001" in html
    bad = hotline(client, area=tree.grid_a.code, photos=io.BytesIO(b"<html>not a photo</html>"))
    bad["photos"].name = "x.jpg"
    before = snapshot()
    response = client.post("/cases/new/", bad)
    assert response.status_code == 200 and 'class="field has-error"' in response.content.decode()
    assert snapshot() == before and CaseAttachment.objects.count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_hotline_form_refused_without_the_right(tree, users, as_role, role):
    if holds_anywhere(role, REPORT):
        return
    client = as_role(role)
    assert client.post("/cases/new/", {"channel": Channel.HOTLINE, "description": "x", "client_key": "k"}) \
        .status_code == 403
    assert not Case.objects.exists()


def test_duplicate_suggestions(tree, users, as_role):
    category = Category.objects.get(code="risk_water")
    near = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="水管爆了", category=category,
                                lng=110.805, lat=33.505)
    far = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="另一处水管", category=category,
                               lng=110.905, lat=33.605)
    url = f"/cases/new/duplicates/?category={category.pk}&lng=110.8051&lat=33.5051"
    html = as_role("village_staff_a").get(url).content.decode()
    assert near.number in html and far.number not in html
    assert near.number not in as_role("town_admin_b").get(url).content.decode()  # not theirs to see
    for odd in ("", "?category=x&lng=1&lat=2", f"?category={category.pk}&lng=abc&lat=1", "?lng=1e999&lat=nan",
                f"?category={category.pk}&lng=nan&lat=inf", f"?category={category.pk}&lng=200&lat=-95"):
        assert as_role("village_staff_a").get(f"/cases/new/duplicates/{odd}").status_code == 200


# --- the case page's other parts -------------------------------------------------------------------------------


def _photo_case(tree, users, side):
    case = file_case(tree, users, side)
    from gridgov.cases.attachments import attachment_create

    data = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 120, 200)).save(data, "PNG")
    data.name = "积水.png"
    data.seek(0)
    photo = attachment_create(case=case, upload=data)
    pdf = CaseAttachment.objects.create(case=case, name="说明.pdf", content_type="application/pdf", size=9)
    pdf.file.save("note.pdf", io.BytesIO(b"%PDF-1.4\n"), save=True)
    return case, photo, pdf


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_files_only_for_those_who_see_the_case(tree, users, as_role, role, side):
    case, photo, pdf = _photo_case(tree, users, side)
    client = as_role(role)
    ok = holds(tree, role, VIEW, f"grid_{side}")
    original = client.get(f"/cases/{case.pk}/files/{photo.pk}/")
    thumb = client.get(f"/cases/{case.pk}/files/{photo.pk}/thumb/")
    document = client.get(f"/cases/{case.pk}/files/{pdf.pk}/")
    assert (original.status_code, thumb.status_code, document.status_code) == ((200,) * 3 if ok else (404,) * 3)
    if ok:
        assert original["Content-Type"] == "image/png" and b"".join(original.streaming_content)[:4] == b"\x89PNG"
        assert thumb["Content-Type"] == "image/jpeg"
        assert document["Content-Type"] == "application/octet-stream"
        assert document["Content-Disposition"].startswith("attachment")
    other = file_case(tree, users, side)
    assert client.get(f"/cases/{other.pk}/files/{photo.pk}/").status_code == 404  # not that case's file
    assert client.get(f"/media/{photo.file.name}").status_code == 404  # the storage is never served as such


def test_case_page_map_timeline_and_assignments(tree, users, as_role):
    case, _ = prepare(tree, users, "a", "handling")
    Case.objects.filter(pk=case.pk).update(lng=110.805, lat=33.505, address="牛家庄桥头")
    html = as_role("village_staff_a").get(f"/cases/{case.pk}/").content.decode()
    assert 'id="case-map"' in html and 'data-lng="110.805000"' in html and 'id="case-area-geometry"' in html
    assert "牛家庄桥头" in html and "水务局" in html and "Assisting unit" in html and "Lead unit" in html
    assert "Take on (签收)" in html and "being handled (处置中)" in html
    assert "style=" not in html and "<script>" not in html  # strict CSP: no inline code


@pytest.mark.parametrize(("channel", "names_the_filer"), [(Channel.GRID_WORKER, True), (Channel.HOTLINE, False)])
def test_the_reporter_is_the_caller_not_the_operator(tree, users, as_role, channel, names_the_filer):
    """A grid worker reports what he saw; a hotline operator only takes the call: without the caller's name the
    page shows none, not the operator's (who shows in the timeline as the one who filed it)."""
    worker = users.grid_worker_a
    case = services.case_create(actor=worker, channel=channel, description="路面积水", area=tree.grid_a)
    html = as_role("village_staff_a").get(f"/cases/{case.pk}/").content.decode()
    reported_by = re.search(r"<dt>Reported by</dt><dd>([^<]*)</dd>", html).group(1)
    assert reported_by == (worker.staff.name if names_the_filer else "—")


def test_overdue_and_due_soon_marks(tree, users, as_role):
    late, _ = prepare(tree, users, "a", "handling")
    soon, _ = prepare(tree, users, "a", "dispatched")
    now = timezone.now()
    Case.objects.filter(pk=late.pk).update(deadline_at=now - dt.timedelta(hours=2), urge_count=3)
    Case.objects.filter(pk=soon.pk).update(deadline_at=now + dt.timedelta(hours=2))
    client = as_role("village_staff_a")
    html = client.get("/cases/all/").content.decode()
    row = re.search(rf'<tr class="row-overdue">.*?{late.number}.*?</tr>', html, re.S)
    assert row and "overdue" in row.group(0) and '<span class="badge urged">3</span>' in row.group(0)
    row = re.search(rf'<tr class="row-soon">.*?{soon.number}.*?</tr>', html, re.S)
    assert row and "due soon" in row.group(0)
    overdue = client.get("/cases/?tab=overdue")
    assert [c.pk for c in overdue.context["page"]] == [late.pk]
    assert ("overdue", "Overdue (超时)", 1) in [(k, str(label), n) for k, label, n in overdue.context["tabs"]]
    assert "overdue" in client.get(f"/cases/{late.pk}/").content.decode()


# --- the inbox and notifications ------------------------------------------------------------------------------


def test_inbox_tabs(tree, users, as_role):
    submitted, _ = prepare(tree, users, "a", "submitted")
    registered, _ = prepare(tree, users, "a", "registered")
    client = as_role("county_operator")
    response = client.get("/cases/")
    counts = {key: n for key, _label, n in response.context["tabs"]}
    assert counts["pending"] == 1 and response.context["tab"] == "pending"
    assert [c.pk for c in response.context["page"]] == [submitted.pk]
    village = as_role("village_staff_a").get("/cases/?tab=todo")
    assert [c.pk for c in village.context["page"]] == [registered.pk]
    assert as_role("village_staff_a").get("/cases/?tab=nonsense").status_code == 200
    assert as_role("county_operator").get("/cases/?page=999").status_code == 200


def test_notifications_are_marked_read(tree, users, as_role):
    other = make_user("other_desk", area=tree.county, role="centre_operator")
    case, _ = prepare(tree, users, "a", "submitted")
    theirs = Notification.objects.get(user=other, case=case)
    mine = Notification.objects.get(user=users.county_operator, case=case)
    client = as_role("county_operator")
    html = client.get("/cases/").content.decode()
    assert mine.message in html and "Unread notifications" in html
    response = client.post("/cases/notifications/read/", {"pk": [mine.pk, theirs.pk]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "No unread notifications." in response.content.decode()
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.read_at is not None and theirs.read_at is None  # only one's own
    assert client.post("/cases/notifications/read/").status_code == 302
    assert not Notification.objects.filter(user=users.county_operator, read_at__isnull=True).exists()


# --- the list's filters -----------------------------------------------------------------------------------------


def test_list_filters(tree, users, as_role):
    water_a = file_case(tree, users, "a")
    road_b = file_case(tree, users, "b", category="risk_road", channel=Channel.HOTLINE)
    closed, _ = prepare(tree, users, "a", "closed")
    Case.objects.filter(pk=road_b.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    client = as_role("county_operator")

    def found(query: str) -> set[int]:
        response = client.get(f"/cases/all/?{query}")
        assert response.status_code == 200
        return {c.pk for c in response.context["page"]}

    assert found("") == {water_a.pk, road_b.pk, closed.pk}
    assert found("state=closed") == {closed.pk}
    assert found("state=open") == {water_a.pk, road_b.pk}
    assert found(f"category={Category.objects.get(code='risk_road').pk}") == {road_b.pk}
    assert found(f"domain={water_a.domain_id}") == {water_a.pk, road_b.pk, closed.pk}
    assert found(f"area={tree.town_b.code}") == {road_b.pk}
    assert found(f"channel={Channel.HOTLINE}") == {road_b.pk}
    since = (timezone.localdate() - dt.timedelta(days=3)).isoformat()
    assert found(f"created_from={since}") == {water_a.pk, closed.pk}
    assert found(f"created_to={since}") == {road_b.pk}
    assert found(f"q={closed.number}") == {closed.pk}
    assert found(f"q={road_b.tracking_code.lower()}") == {road_b.pk}
    assert found("overdue=yes") == set()
    assert found("state=bogus") == set() and found("created_from=yesterday") == set()
    assert found(f"created_from={since}&created_to=2000-01-01") == set()
    assert found("area=000000") == set()
    assert "No such area in your areas." in client.get("/cases/all/?area=000000").content.decode()
    village = as_role("village_staff_a")
    assert {c.pk for c in village.get("/cases/all/").context["page"]} == {water_a.pk, closed.pk}
    assert "No such area" in village.get(f"/cases/all/?area={tree.town_b.code}").content.decode()


# --- statistics and the taxonomy ----------------------------------------------------------------------------------


def test_stats_page(tree, users, as_role):
    prepare(tree, users, "a", "closed")
    prepare(tree, users, "b", "closed")
    file_case(tree, users, "a")
    client = as_role("county_operator")
    response = client.get("/cases/stats/")
    assert response.context["total"]["total"] == 3 and response.context["total"]["closed"] == 2
    html = response.content.decode()
    assert "66.7%" in html and "By domain" in html and "By channel" in html and "By level resolved" in html
    assert 'class="fill w-65"' in html or 'class="fill w-70"' in html
    narrowed = client.get(f"/cases/stats/?area={tree.town_b.code}")
    assert narrowed.context["total"]["total"] == 1
    assert as_role("town_admin_b").get("/cases/stats/").context["total"]["total"] == 1
    for bad in (f"?area={tree.town_b.code}", "?created_from=2026-02-30",
                "?created_from=2026-05-02&created_to=2026-05-01"):
        response = as_role("village_staff_a").get(f"/cases/stats/{bad}")
        assert response.status_code == 200 and response.context["total"] is None


def test_category_edit(tree, users, as_role):
    category = Category.objects.get(code="risk_water")
    url = "/cases/categories/risk_water/"
    data = {"domain": category.domain_id, "code": "ignored", "name": "供水与排水", "urgency": "urgent",
            "deadline_days": "2", "deadline_hours": "", "default_level": "", "onsite_required": "on",
            "active": "on"}
    before = list(Category.objects.values())
    for role in ("county_operator", "town_admin_a", "nobody"):
        client = as_role(role)
        assert client.get(url).status_code == 403
        assert client.post(url, data).status_code == 403
        assert client.post("/cases/categories/new/", dict(data, code="x_new")).status_code == 403
    assert list(Category.objects.values()) == before
    client = as_role("superuser")
    assert client.get(url).status_code == 200
    response = client.post(url, dict(data, deadline_days=""))
    assert response.status_code == 200 and "Give a deadline in working days or in hours." in response.content.decode()
    assert client.post(url, data).status_code == 302
    category.refresh_from_db()
    assert (category.code, category.name, category.urgency, category.deadline_days, category.onsite_required) == (
        "risk_water", "供水与排水", "urgent", 2, True)
    assert client.post("/cases/categories/new/", dict(data, code="risk_water")).status_code == 200  # code taken
    assert client.post("/cases/categories/new/", dict(data, code="risk_drain", name="排水不畅")).status_code == 302
    assert Category.objects.get(code="risk_drain").domain_id == category.domain_id
    assert client.get("/cases/categories/nothing/").status_code == 404


# --- query counts ---------------------------------------------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(("url", "role"), [
    ("/cases/?tab=todo", "village_staff_a"), ("/cases/?tab=pending", "county_operator"),
    ("/cases/?tab=overdue", "county_operator"), ("/cases/?tab=done", "superuser"),
    ("/cases/?tab=supervised", "leader"), ("/cases/all/", "county_operator"), ("/cases/all/?state=open", "leader"),
])
def test_list_query_counts_do_not_grow(tree, users, as_role, django_assert_max_num_queries, url, role):
    def add(n):
        for _i in range(n):
            prepare(tree, users, "a", "registered")
            case, _ = prepare(tree, users, "a", "dispatched")
            Case.objects.filter(pk=case.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=1),
                                                   supervision_deadline_at=timezone.now())
            file_case(tree, users, "a", channel=Channel.HOTLINE)

    client = as_role(role)
    add(1)
    count_queries(client, url)
    few = count_queries(client, url)
    add(6)
    with django_assert_max_num_queries(few):
        response = client.get(url)
    assert len(response.context["page"]) >= 6


def test_case_page_query_count_does_not_grow(tree, users, as_role, django_assert_max_num_queries):
    case, _ = prepare(tree, users, "a", "handling")
    client = as_role("village_staff_a")
    url = f"/cases/{case.pk}/"
    count_queries(client, url)
    few = count_queries(client, url)
    for i in range(10):
        services.case_act(actor=users.superuser, case=case, verb="comment", note=f"进展{i}")
        services.case_act(actor=users.superuser, case=case, verb="urge")
    with django_assert_max_num_queries(few):
        client.get(url)


# --- language -----------------------------------------------------------------------------------------------------


def test_chinese_by_default_english_by_choice(tree, users, as_role):
    case, _ = prepare(tree, users, "a", "registered")
    client = as_role("county_operator", english=False)
    for url in SECTION + ["/cases/new/", f"/cases/{case.pk}/"]:
        html = client.get(url).content.decode()
        assert '<html lang="zh-hans">' in html and "首页" in html, url
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get("/cases/").content.decode()
    assert '<html lang="en">' in html and "My inbox" in html and "Home" in html
    html = client.get(f"/cases/{case.pk}/").content.decode()
    assert "What you can do" in html and "Dispatch (派遣)" in html


# --- nothing half-saved when a dispatch fails in the service ---------------------------------------------------


def test_dispatch_refused_by_the_service_leaves_no_assignment(tree, users, as_role):
    case, _ = prepare(tree, users, "a", "registered")
    client = as_role("village_staff_a")
    before = (snapshot(), CaseAssignment.objects.count())
    response = client.post(f"/cases/{case.pk}/act/dispatch/",
                           {"target_area": tree.grid_a.code, "assist_areas": [tree.grid_a.code]})
    assert response.status_code == 200
    assert (snapshot(), CaseAssignment.objects.count()) == before
