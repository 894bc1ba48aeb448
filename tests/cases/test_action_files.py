"""Photos and files on workflow actions (反馈 photos, 核查 photos, 补充照片): through the service, the case page and
the API they are kept with the action that carried them; a refused file, too many files, files on an action that
takes none, or an 补充照片 without a file refuse the whole action and leave the database and the storage as they
were."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from gridgov.cases import derived, services, workflow
from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.models import CaseAction, CaseAttachment, State
from gridgov.core.errors import ApplicationError
from tests.cases.spec import prepare, snapshot
from tests.cases.test_api import API, assert_error
from tests.cases.test_attachments import jpeg_with_exif, stored_files

pytestmark = pytest.mark.django_db

WITH_FILES = {"assist_report", "report", "rework", "close", "supervision_report", "comment", "attach"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}}
    return root


@pytest.fixture
def as_role(client, users):
    """A client logged in as ``role``, in English."""
    def login(role: str):
        client.force_login(getattr(users, role))
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return login


def photo(name: str = "现场.jpg", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg_with_exif(size=(320, 240), **kwargs), content_type="image/jpeg")


def text_file(name: str = "说明.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"just some words, not a photo", content_type="image/jpeg")


def unchanged(media: Path):
    """What a refused action must leave as it was: the rows, and the files in storage."""
    return snapshot(), stored_files(media)


def test_the_table_says_which_actions_take_files():
    assert {t.verb for t in workflow.TRANSITIONS if t.files} == WITH_FILES
    assert {t.verb for t in workflow.TRANSITIONS if t.files_required} == {"attach"}
    attach = workflow.BY_VERB["attach"]
    assert attach.target is None and not attach.note_required
    assert attach.sources == workflow.OPEN_STATES
    assert attach.parties == {workflow.Party.DESK, workflow.Party.HOLDER, workflow.Party.ASSISTANT,
                              workflow.Party.SUPERIOR, workflow.Party.REPORTER}


# --- the service -------------------------------------------------------------------------------------------------


def test_report_with_photos_keeps_them_with_the_report(tree, users, media):
    case, _ = prepare(tree, users, "a", "handling")
    services.case_act(actor=users.grid_worker_a, case=case, verb="report", note="管道已修复",
                      uploads=[photo("修复后.jpg"), SimpleUploadedFile("验收单.pdf", b"%PDF-1.4\n%%EOF\n")])
    report = CaseAction.objects.get(case=case, verb="report")
    first, second = CaseAttachment.objects.filter(case=case).order_by("id")
    assert (first.action, first.name, second.action, second.name) == (report, "修复后.jpg", report, "验收单.pdf")
    assert first.lat == pytest.approx(33.505) and first.thumbnail and first.public_file
    assert len(stored_files(media)) == 4  # the photo, its public copy and thumbnail; the PDF


def test_attach_adds_files_without_changing_the_state(tree, users, media):
    case, _ = prepare(tree, users, "a", "dispatched")
    services.case_act(actor=users.village_staff_a, case=case, verb="attach", uploads=[photo()])
    case.refresh_from_db()
    last = CaseAction.objects.filter(case=case).latest("id")
    assert (last.verb, last.from_state, last.to_state, last.note) == ("attach", State.DISPATCHED, State.DISPATCHED, "")
    assert list(last.attachments.values_list("name", flat=True)) == ["现场.jpg"]


def test_attach_tells_the_desk_and_the_holding_unit_but_not_who_added_them(tree, users, media):
    from gridgov.cases.models import Notification

    case, _ = prepare(tree, users, "a", "dispatched")  # desk: village A1; held by grid A
    from django.utils import translation

    Notification.objects.all().delete()
    with translation.override("zh-hans"):
        services.case_act(actor=users.grid_worker_a, case=case, verb="attach", uploads=[photo()])
    told = Notification.objects.filter(case=case)
    assert sorted(told.values_list("user__username", flat=True)) == ["grid_police_a", "village_staff_a"]
    assert {n.message for n in told} == {f"事件 {case.number} 有新的照片或文件。"}


@pytest.mark.parametrize("kind", ["not a photo", "good then bad", "too many", "no files for attach",
                                  "files on urge", "files on start"])
def test_refused_files_refuse_the_whole_action(tree, users, media, settings, kind):
    case, _ = prepare(tree, users, "a", "handling")
    settings.CASE_UPLOAD_MAX_FILES = 2
    verb, uploads, code = {
        "not a photo": ("report", [text_file()], CaseErrorCode.INVALID_ATTACHMENT),
        "good then bad": ("report", [photo(), photo("b.jpg"), text_file()], CaseErrorCode.INVALID_ATTACHMENT),
        "too many": ("report", [photo("a.jpg"), photo("b.jpg"), photo("c.jpg")], CaseErrorCode.INVALID_ATTACHMENT),
        "no files for attach": ("attach", [], CaseErrorCode.INVALID_CASE),
        "files on urge": ("urge", [photo()], CaseErrorCode.INVALID_CASE),
        "files on start": ("start", [photo()], CaseErrorCode.INVALID_CASE),
    }[kind]
    before = unchanged(media)
    with pytest.raises(ApplicationError) as info:
        services.case_act(actor=users.superuser, case=case, verb=verb, note="已处理", uploads=uploads)
    assert info.value.code == code and list(info.value.fields) == ["files"], info.value.as_dict()
    assert unchanged(media) == before
    case.refresh_from_db()
    assert case.state == State.HANDLING


def test_a_failure_after_the_files_deletes_them(tree, users, media, monkeypatch):
    case, _ = prepare(tree, users, "a", "handling")
    before = unchanged(media)

    def broken(*args, **kwargs):
        raise RuntimeError("the day rows could not be written")

    monkeypatch.setattr(derived, "day_stats_apply", broken)
    with pytest.raises(RuntimeError):
        services.case_act(actor=users.superuser, case=case, verb="report", note="已处理", uploads=[photo()])
    assert unchanged(media) == before


# --- the case page ------------------------------------------------------------------------------------------------


def test_report_with_a_photo_through_the_page(tree, users, as_role, media):
    case, _ = prepare(tree, users, "a", "handling")
    client = as_role("grid_worker_a")
    html = client.get(f"/cases/{case.pk}/").content.decode()
    form = html[html.index(f'action="/cases/{case.pk}/act/report/"'):]
    assert form.index('enctype="multipart/form-data"') < form.index(">")
    assert 'name="files"' in form[:form.index("</form>")] and "multiple" in form[:form.index("</form>")]
    start = html[html.index(f'action="/cases/{case.pk}/act/send_back/"'):]
    assert "enctype" not in start[:start.index(">")]  # forms without files stay plain

    response = client.post(f"/cases/{case.pk}/act/report/", {"note": "管道已修复", "files": [photo("修复后.jpg")]})
    assert response.status_code == 302, response.content.decode()[:2000]
    case.refresh_from_db()
    report = CaseAction.objects.get(case=case, verb="report")
    attachment = CaseAttachment.objects.get(case=case)
    assert case.state == State.REPORTED and attachment.action == report
    assert attachment.lat == pytest.approx(33.505)  # the original keeps its position, for staff

    with default_storage.open(attachment.public_file.name) as fh:
        public = Image.open(io.BytesIO(fh.read()))
    assert dict(public.getexif()) == {} and not public.getexif().get_ifd(ExifTags.IFD.GPSInfo)

    html = client.get(f"/cases/{case.pk}/").content.decode()
    step = html[html.index('<li class="verb-report">'):]
    step = step[:step.index("</li>\n")]
    thumb, full = f"/cases/{case.pk}/files/{attachment.pk}/thumb/", f"/cases/{case.pk}/files/{attachment.pk}/"
    assert f'<a href="{full}"' in step and f'<img src="{thumb}" alt="修复后.jpg"' in step
    assert client.get(thumb)["Content-Type"] == "image/jpeg"


def test_attach_through_the_page_and_a_pdf_as_a_link(tree, users, as_role, media):
    case, _ = prepare(tree, users, "a", "registered")
    client = as_role("village_staff_a")
    pdf = SimpleUploadedFile("现场说明.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    response = client.post(f"/cases/{case.pk}/act/attach/", {"files": [pdf, photo()], "note": "补充材料"})
    assert response.status_code == 302
    action = CaseAction.objects.filter(case=case).latest("id")
    document, image = action.attachments.order_by("id")
    html = client.get(f"/cases/{case.pk}/").content.decode()
    step = html[html.index('<li class="verb-attach">'):]
    step = step[:step.index("</li>\n")]
    assert f'<a class="file" href="/cases/{case.pk}/files/{document.pk}/">现场说明.pdf</a>' in step
    assert f'<img src="/cases/{case.pk}/files/{image.pk}/thumb/"' in step and "补充材料" in step
    assert "Add photos or files (补充照片)" in step


@pytest.mark.parametrize("kind", ["not a photo", "too many", "attach without files"])
def test_refused_files_on_the_page_keep_the_form(tree, users, as_role, media, settings, kind):
    case, _ = prepare(tree, users, "a", "handling")
    settings.CASE_UPLOAD_MAX_FILES = 2
    client = as_role("grid_worker_a")
    verb, data, message = {
        "not a photo": ("report", {"note": "管道已修复", "files": [photo(), text_file()]},
                        "说明.jpg is not a JPEG, PNG or WebP photo or a PDF document."),
        "too many": ("report", {"note": "管道已修复", "files": [photo("a.jpg"), photo("b.jpg"), photo("c.jpg")]},
                     "At most 2 files can be attached at a time."),
        "attach without files": ("attach", {"note": "补充"}, "This field is required."),
    }[kind]
    before = unchanged(media)
    response = client.post(f"/cases/{case.pk}/act/{verb}/", data)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="act-{verb}" open' in html
    start = html.rindex("<label", 0, html.index(f'id="id_{verb}_files"'))
    field = html[start:html.index("</label>", start)]
    assert field.startswith('<label class="field has-error">Photos or files') and message in field
    assert data["note"] in html  # the note is kept
    assert unchanged(media) == before


def test_files_on_an_action_without_files_are_not_taken(tree, users, as_role, media):
    """A hand-made post with files to an action whose form has no file input: the files are ignored, not saved."""
    case, _ = prepare(tree, users, "a", "dispatched")
    client = as_role("grid_worker_a")
    response = client.post(f"/cases/{case.pk}/act/start/", {"files": [photo()]})
    assert response.status_code == 302
    assert not CaseAttachment.objects.exists() and stored_files(media) == []


# --- the API ------------------------------------------------------------------------------------------------------


def test_attach_through_the_api(tree, users, as_role, media):
    case, _ = prepare(tree, users, "a", "handling")
    client = as_role("dept_handler")  # the assisting department
    response = client.post(f"{API}/cases/{case.pk}/attach", {"files": [photo("a.jpg"), photo("b.jpg")],
                                                               "note": "协办现场照片"})
    assert response.status_code == 200, response.content
    body = response.json()
    files = list(CaseAttachment.objects.filter(case=case).order_by("id"))
    assert [a["id"] for a in body["attachments"]] == [a.pk for a in files]
    assert [a["thumbnail_url"] is not None for a in body["attachments"]] == [True, True]
    last = body["timeline"][-1]
    assert (last["verb"], last["note"], last["attachments"]) == ("attach", "协办现场照片", [a.pk for a in files])
    assert body["state"] == State.HANDLING
    # Without a note, one file.
    response = client.post(f"{API}/cases/{case.pk}/attach", {"files": photo("c.jpg")})
    assert response.status_code == 200 and response.json()["timeline"][-1]["note"] == ""


@pytest.mark.parametrize("kind", ["no files", "not a photo", "too many", "json", "closed"])
def test_attach_refused_through_the_api(tree, users, as_role, media, settings, kind):
    settings.CASE_UPLOAD_MAX_FILES = 2
    case, _ = prepare(tree, users, "a", "closed" if kind == "closed" else "handling")
    client = as_role("village_staff_a")
    url = f"{API}/cases/{case.pk}/attach"
    before = unchanged(media)
    if kind == "no files":
        body = assert_error(client.post(url, {"note": "x"}), 422, "invalid_input")
        assert list(body["fields"]) == ["files"]  # the part's name, as for the fields of a JSON body
    elif kind == "not a photo":
        body = assert_error(client.post(url, {"files": [photo(), text_file()]}), 400, "case_attachment_invalid")
        assert body["fields"] == {"files": ["说明.jpg is not a JPEG, PNG or WebP photo or a PDF document."]}
    elif kind == "too many":
        body = assert_error(client.post(url, {"files": [photo("a.jpg"), photo("b.jpg"), photo("c.jpg")]}), 400,
                            "case_attachment_invalid")
        assert body["fields"] == {"files": ["At most 2 files can be attached at a time."]}
    elif kind == "json":
        assert_error(client.post(url, {"note": "x"}, content_type="application/json"), 422, "invalid_input")
    else:
        assert_error(client.post(url, {"files": [photo()]}), 409, "case_conflict")
    assert unchanged(media) == before
