"""Photos on a workflow action in a real browser: a grid worker reports a case done with a photo of the work; the
timeline shows its thumbnail, linking to the photo. A file that is no photo is refused on its field with the note
kept, and nothing is saved.

Skipped, with a notice, where /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import pytest

from gridgov.cases.models import CaseAction, CaseAttachment, State
from tests.browser import BROWSER_TESTS
from tests.cases.spec import prepare
from tests.e2e.test_cases_browser import browser, jpeg, staff_page  # noqa: F401  (browser is a fixture)

pytestmark = BROWSER_TESTS


@pytest.mark.django_db(transaction=True)
def test_report_done_with_a_photo(browser, tree, users, tmp_path, settings):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path / "media"
    case, _ = prepare(tree, users, "a", "handling")
    page = staff_page(browser, "grid_worker_a")
    page.goto(f"{page.base}/cases/{case.pk}/")

    # A text file that calls itself a photo: refused on the field, the note kept, nothing saved.
    fake = tmp_path / "现场.jpg"
    fake.write_bytes(b"not a photo at all")
    form = page.locator("#act-report")
    form.locator("textarea[name=note]").fill("管道已修复")
    form.locator("input[name=files]").set_input_files(str(fake))
    form.locator("button.primary").click()
    page.wait_for_load_state()
    form = page.locator("#act-report")
    assert "现场.jpg" in form.locator(".has-error .error").inner_text()
    assert form.locator("textarea[name=note]").input_value() == "管道已修复"
    assert not CaseAttachment.objects.exists() and not CaseAction.objects.filter(verb="report").exists()

    form.locator("input[name=files]").set_input_files(jpeg(tmp_path))
    form.locator("button.primary").click()
    page.wait_for_load_state()
    case.refresh_from_db()
    assert case.state == State.REPORTED
    attachment = CaseAttachment.objects.get()
    assert attachment.action == CaseAction.objects.get(case=case, verb="report")
    thumb = page.locator("li.verb-report ul.attached img")
    thumb.scroll_into_view_if_needed()  # loaded lazily
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert thumb.evaluate("img => img.naturalWidth") == 64  # the thumbnail of the 64 × 48 photo
    link = page.locator("li.verb-report ul.attached a").get_attribute("href")
    assert link == f"/cases/{case.pk}/files/{attachment.pk}/"
    assert page.request.get(page.base + link).headers["content-type"] == "image/jpeg"
    assert page.errors == []
