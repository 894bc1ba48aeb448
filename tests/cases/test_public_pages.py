"""The resident's public pages: 随手拍 with photos, the client key, the honeypot and the rate limit; following a
case by its tracking code (what shows and what never shows), rating, unknown codes, languages."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from PIL import Image

from gridgov.cases import services
from gridgov.cases.models import Case, CaseAttachment, Category, Channel, Outcome, State
from tests.cases.test_attachments import jpeg_with_exif, stored_files

pytestmark = pytest.mark.django_db

PHONE = "13912345678"


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def english(client, settings):
    """These tests read the English texts; the pages are Chinese by default."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def category(db):
    return Category.objects.get(code="risk_water")


def photo(name="p.jpg", **kwargs):
    return SimpleUploadedFile(name, jpeg_with_exif(size=(640, 480), **kwargs), content_type="image/jpeg")


def form_data(category=None, **extra):
    data = {
        "category": str(category.pk) if category else "",
        "description": "自来水管破裂，路面积水\n在小学东边的桥头",
        "phone": PHONE,
        "name": "张三",
        "address": "富水镇梁家湾村小学东桥",
        "lng": "110.805",
        "lat": "33.505",
        "client_key": str(uuid.uuid4()),
        "homepage": "",
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def submit(client, data, **kwargs):
    return client.post(reverse("report"), data, **kwargs)


def tracking_code_on(response) -> str:
    return re.search(r'class="pub-code-text">([A-Z0-9]+)<', response.content.decode()).group(1)


# --- 随手拍 ----------------------------------------------------------------------------------------


def test_report_page_is_public_and_has_no_staff_navigation(client, tree, users, category):
    response = client.get(reverse("report"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="client_key"' in html and 'accept="image/*"' in html and "multiple" in html
    assert category.name in html and "<optgroup" in html
    assert 'name="homepage"' in html
    assert "<script>" not in html and 'style="' not in html
    client.force_login(users.county_operator)
    html = client.get(reverse("report")).content.decode()
    assert "mainnav" not in html and reverse("area_index") not in html


def test_each_form_gets_its_own_client_key(client, tree):
    keys = {re.search(r'name="client_key" value="([^"]+)"', client.get(reverse("report")).content.decode()).group(1)
            for _ in range(2)}
    assert len(keys) == 2


def test_submit_with_photos(client, tree, category, media):
    data = form_data(category, photos=[photo("a.jpg"), photo("b.jpg")])
    response = submit(client, data)
    assert response.status_code == 302 and response.url == reverse("report_done")
    case = Case.objects.get()
    assert case.channel == Channel.SELF_REPORT and case.category == category and case.reporter is None
    assert case.title == "自来水管破裂，路面积水" and case.area == tree.grid_a and case.placed
    assert case.reporter_phone_masked == "139****5678" and case.reporter_name == "张三"
    assert case.client_key == f"web-{uuid.UUID(data['client_key']).hex}"
    assert case.attachments.count() == 2 and len(stored_files(media)) == 6
    done = client.get(reverse("report_done"))
    assert tracking_code_on(done) == case.tracking_code
    assert reverse("track_case", args=[case.tracking_code]) in done.content.decode()


def test_place_taken_from_the_first_photo_with_a_position(english, client, tree, category):
    inside_grid_a = photo(lat=(33, 30, 18), lng=(110, 48, 18))  # 33.505, 110.805
    response = submit(client, form_data(category, lng="", lat="", photos=[inside_grid_a]))
    assert response.status_code == 302
    case = Case.objects.get()
    assert (case.lng, case.lat) == (pytest.approx(110.805), pytest.approx(33.505))
    assert case.area == tree.grid_a
    assert "taken from the location recorded in your photo" in client.get(reverse("report_done")).content.decode()


def test_report_without_photos_or_place_lands_with_the_county(client, tree):
    response = submit(client, form_data(None, lng="", lat=""))
    assert response.status_code == 302
    case = Case.objects.get()
    assert not case.placed and case.area == tree.county and case.category is None


def test_double_submit_files_once(client, tree, category):
    data = form_data(category)
    first = submit(client, data)
    second = submit(client, data)
    assert first.status_code == second.status_code == 302
    assert Case.objects.count() == 1
    code = Case.objects.get().tracking_code
    assert tracking_code_on(client.get(reverse("report_done"))) == code
    cache.clear()  # also without the cache's memory, the client key makes the retry find the filed case
    assert submit(client, data).status_code == 302
    assert Case.objects.count() == 1


def test_honeypot_files_nothing(client, tree, category, media):
    response = submit(client, form_data(category, homepage="http://spam.example", photos=[photo()]))
    assert response.status_code == 400
    assert Case.objects.count() == 0 and stored_files(media) == []


def test_rate_limit_per_address(client, tree, settings):
    settings.CASE_PUBLIC_REPORTS_PER_HOUR = 2
    for _ in range(2):
        assert submit(client, form_data()).status_code == 302
    response = submit(client, form_data())
    assert response.status_code == 429
    assert "2" in response.content.decode()
    assert Case.objects.count() == 2
    other = submit(client, form_data(), REMOTE_ADDR="10.0.0.7")
    assert other.status_code == 302 and Case.objects.count() == 3


def test_invalid_input_is_a_form_error(client, tree, media):
    response = submit(client, form_data(phone="12345", description=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error"' in html and Case.objects.count() == 0


def test_a_text_file_named_jpg_is_refused_and_nothing_is_saved(client, tree, category, media):
    fake = SimpleUploadedFile("photo.jpg", b"not really a photo at all", content_type="image/jpeg")
    response = submit(client, form_data(category, photos=[photo("ok.jpg"), fake]))
    assert response.status_code == 400
    assert "photo.jpg" in response.content.decode()
    assert Case.objects.count() == 0 and CaseAttachment.objects.count() == 0 and stored_files(media) == []


def test_a_photo_refused_while_filing_refuses_the_case(client, tree, category, media):
    """The form's quick check passes (a JPEG header) but decoding fails: the service refuses the whole case."""
    broken = SimpleUploadedFile("cut.jpg", jpeg_with_exif(size=(640, 480))[:600], content_type="image/jpeg")
    response = submit(client, form_data(category, photos=[photo("ok.jpg"), broken]))
    assert response.status_code == 400 and "cut.jpg" in response.content.decode()
    assert Case.objects.count() == 0 and stored_files(media) == []


def test_pdf_is_not_a_photo_here(client, tree):
    pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    assert submit(client, form_data(photos=[pdf])).status_code == 400
    assert Case.objects.count() == 0


def test_duplicate_suggestions_show_no_personal_data(english, client, tree, category):
    services.case_create(actor=None, channel=Channel.SELF_REPORT, category=category, lng=110.8051, lat=33.5051,
                         description="水管漏水 联系13800001234 李四家门口", reporter_phone="13800001234",
                         reporter_name="李四", address="李四家")
    response = client.get(reverse("report_similar"), {"category": category.pk, "lng": "110.805", "lat": "33.505"})
    html = response.content.decode()
    assert response.status_code == 200
    assert category.name in html and "m away" in html and "This is my problem too" in html
    for private in ("水管漏水", "13800001234", "138****1234", "李四"):  # not even the title: free text
        assert private not in html
    far = client.get(reverse("report_similar"), {"category": category.pk, "lng": "110.905", "lat": "33.605"})
    assert "m away" not in far.content.decode()
    assert client.get(reverse("report_similar"), {"category": "x"}).status_code == 200


def test_outlines_for_the_map(client, tree):
    data = client.get(reverse("report_outlines")).json()
    assert data["type"] == "FeatureCollection"
    assert all(set(f["properties"]) == {"name", "depth"} for f in data["features"])


# --- following a case ----------------------------------------------------------------------------


@pytest.fixture
def worked_case(tree, users, category):
    """A report accepted, dispatched, urged, commented on, reported and closed, with internal notes."""
    water = users.dept_handler.staff.department
    case = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="自来水管破裂",
                                category=category, lng=110.805, lat=33.505, reporter_phone=PHONE,
                                reporter_name="张三", address="梁家湾村小学东桥", uploads=[photo()])
    op = users.county_operator
    services.case_act(actor=op, case=case, verb="accept", note="内部备注：疑似重复")
    services.case_act(actor=op, case=case, verb="register")
    services.case_act(actor=op, case=case, verb="dispatch", target_department=water)
    services.case_act(actor=op, case=case, verb="urge", note="催一下水务局")
    services.case_act(actor=users.dept_handler, case=case, verb="report", note="王师傅已更换阀门")
    return case


def test_track_shows_plain_steps_and_no_personal_data_or_internal_notes(english, client, worked_case, users):
    response = client.get(reverse("track_case", args=[worked_case.tracking_code.lower()]))
    assert response.status_code == 200
    html = response.content.decode()
    for shown in ("Handled, being checked", "Report received", "Accepted", "Sent to the responsible unit",
                  "Handling done, being checked", worked_case.title, worked_case.category.name):
        assert shown in html
    for hidden in (PHONE, "139****5678", "张三", "梁家湾村", "内部备注", "催一下", "王师傅", "水务局",
                   "county_operator", "dept_handler", "110.805", "33.505", "Urge"):
        assert hidden not in html
    assert "How was it handled?" not in html  # not closed yet
    assert "mainnav" not in html


def test_public_photos_are_the_stripped_copies(client, worked_case):
    att = worked_case.attachments.get()
    code = worked_case.tracking_code
    full = client.get(reverse("track_photo", args=[code, att.pk]))
    assert full.status_code == 200 and full["Content-Type"] == "image/jpeg"
    body = b"".join(full.streaming_content)
    assert b"Exif" not in body and dict(Image.open(io.BytesIO(body)).getexif()) == {}
    thumb = client.get(reverse("track_photo_thumb", args=[code, att.pk]))
    assert max(Image.open(io.BytesIO(b"".join(thumb.streaming_content))).size) == 320
    html = client.get(reverse("track_case", args=[code])).content.decode()
    assert reverse("track_photo_thumb", args=[code, att.pk]) in html
    other = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="另一件事")
    assert client.get(reverse("track_photo", args=[other.tracking_code, att.pk])).status_code == 404


def test_photos_staff_attach_to_later_actions_stay_internal(client, worked_case, users):
    services.case_act(actor=users.dept_handler, case=worked_case, verb="supervision_report", note="现场照片",
                      uploads=[photo()])
    staff_photo = worked_case.attachments.get(action__verb="supervision_report")
    assert staff_photo.public_file  # it has a stripped copy, and still does not show
    code = worked_case.tracking_code
    html = client.get(reverse("track_case", args=[code])).content.decode()
    assert reverse("track_photo_thumb", args=[code, worked_case.attachments.get(action__verb="create").pk]) in html
    assert f"/{staff_photo.pk}" not in html
    assert client.get(reverse("track_photo", args=[code, staff_photo.pk])).status_code == 404


def test_track_form_redirects_and_unknown_code_is_a_friendly_404(client, worked_case):
    response = client.get(reverse("track"), {"code": f" {worked_case.tracking_code.lower()} "})
    assert response.status_code == 302 and response.url == reverse("track_case", args=[worked_case.tracking_code])
    missing = client.get(reverse("track_case", args=["ZZZZ9999ZZ"]))
    assert missing.status_code == 404
    html = missing.content.decode()
    assert "ZZZZ9999ZZ" in html and 'name="code"' in html
    assert client.get(reverse("track_case", args=["<script>"])).status_code == 404


def test_lookups_are_rate_limited(client, worked_case, settings):
    settings.CASE_PUBLIC_MISSES_PER_HOUR = 3
    for i in range(3):
        assert client.get(reverse("track_case", args=[f"NOPE{i}XXXXX"])).status_code == 404
    assert client.get(reverse("track_case", args=["NOPE9XXXXX"])).status_code == 429
    # once an address has guessed too often, even a right code waits: codes cannot be enumerated
    assert client.get(reverse("track_case", args=[worked_case.tracking_code])).status_code == 429
    assert client.get(reverse("track_case", args=[worked_case.tracking_code]),
                      REMOTE_ADDR="10.0.0.8").status_code == 200
    settings.CASE_PUBLIC_LOOKUPS_PER_HOUR = 2
    assert client.get(reverse("track_case", args=[worked_case.tracking_code]),
                      REMOTE_ADDR="10.0.0.8").status_code == 200
    assert client.get(reverse("track_case", args=[worked_case.tracking_code]),
                      REMOTE_ADDR="10.0.0.8").status_code == 429


def test_rate_a_closed_case(english, client, worked_case, users):
    code = worked_case.tracking_code
    url = reverse("track_rate", args=[code])
    early = client.post(url, {"rating": "satisfied"})
    assert early.status_code == 409  # not closed yet: nothing recorded
    assert Case.objects.get(pk=worked_case.pk).rating == ""
    services.case_act(actor=users.county_operator, case=worked_case, verb="close", outcome=Outcome.FIXED,
                      note="核查通过，内部编号77")
    html = client.get(reverse("track_case", args=[code])).content.decode()
    assert "How was it handled?" in html and "Closed" in html and "fixed" in html and "内部编号" not in html
    assert client.post(url, {"rating": "great"}).status_code == 400
    response = client.post(url, {"rating": "basically", "comment": "修得不错"}, follow=True)
    assert response.status_code == 200
    case = Case.objects.get(pk=worked_case.pk)
    assert case.rating == "basically" and case.actions.last().note == "修得不错"
    html = response.content.decode()
    assert "Thank you for your rating." in html and "Basically satisfied" in html
    assert "How was it handled?" not in html
    assert client.post(url, {"rating": "unsatisfied"}).status_code == 409
    assert Case.objects.get(pk=worked_case.pk).rating == "basically"


def test_unsatisfied_rating(english, client, worked_case, users):
    services.case_act(actor=users.county_operator, case=worked_case, verb="close", outcome=Outcome.FIXED)
    response = client.post(reverse("track_rate", args=[worked_case.tracking_code]), {"rating": "unsatisfied"},
                           follow=True)
    assert "may take the case up again" in response.content.decode()
    assert Case.objects.get(pk=worked_case.pk).rating == "unsatisfied"


def test_merged_case_shows_its_original(english, client, tree, users, category, worked_case):
    duplicate = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="桥头水管漏水了",
                                     category=category, lng=110.805, lat=33.505, reporter_phone="13700000000")
    services.case_act(actor=users.county_operator, case=duplicate, verb="merge", duplicate_of=worked_case)
    assert Case.objects.get(pk=duplicate.pk).state == State.MERGED
    html = client.get(reverse("track_case", args=[duplicate.tracking_code])).content.decode()
    assert "merged with an earlier report" in html
    assert "Handled, being checked" in html and "Handling done, being checked" in html
    assert "桥头水管漏水了" in html and worked_case.title not in html.split("pub-title")[1][:200]
    services.case_act(actor=users.county_operator, case=worked_case, verb="close", outcome=Outcome.FIXED)
    client.post(reverse("track_rate", args=[duplicate.tracking_code]), {"rating": "satisfied"})
    assert Case.objects.get(pk=worked_case.pk).rating == "satisfied"


# --- languages -----------------------------------------------------------------------------------


def test_chinese_by_default_english_switchable(client, tree):
    response = client.get(reverse("report"))
    assert response["Content-Language"] == "zh-hans" and '<html lang="zh-hans">' in response.content.decode()
    switched = client.post(reverse("set_language"), {"language": "en", "next": reverse("report")})
    assert switched.status_code == 302 and switched.url == reverse("report")
    english = client.get(reverse("report"))
    html = english.content.decode()
    assert english["Content-Language"] == "en" and '<html lang="en">' in html
    assert "Report a problem" in html and "Send the report" in html
