"""The closed loop of a case in a real browser (Debian's chromium, headless), as the issue's "done when" tells it:
a resident files a 随手拍 report with a photo; the county centre accepts it and dispatches it to a village; the
village escalates it to the town; the town dispatches it to the water department with the village assisting; the
department reports done; the town verifies and closes it; the resident rates it. One timeline shows it all and
the statistics page counts it.

Skipped, with a notice, where /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from gridgov.areas.models import Role
from gridgov.cases.models import Case, Outcome, State
from tests.browser import BROWSER_TESTS, chromium, reseed, watch
from tests.conftest import PASSWORD, make_user

pytestmark = BROWSER_TESTS
POINT = (110.805, 33.505)  # inside grid_a (牛家庄片) of the test county


@pytest.fixture
def browser(live_server, transactional_db):
    reseed()
    with chromium() as browser:
        browser.base = live_server.url
        yield browser


def new_page(browser, **options):
    context = browser.new_context(locale="zh-CN", **options)
    page = watch(context.new_page(), min_status=500)
    page.base = browser.base
    return page


def staff_page(browser, username: str):
    page = new_page(browser, viewport={"width": 1280, "height": 900})
    page.goto(page.base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(page.base + "/")
    return page


def act(page, case: Case, verb: str, *, note: str = "", fill: dict | None = None, select: dict | None = None):
    """Open the case page, unfold the action's form, fill it and submit it."""
    page.goto(f"{page.base}/cases/{case.pk}/")
    form = page.locator(f"#act-{verb}")
    if form.get_attribute("open") is None:
        form.locator("summary").click()
    if note:
        form.locator("textarea[name=note]").fill(note)
    for name, value in (fill or {}).items():
        form.locator(f"[name={name}]").fill(value)
    for name, value in (select or {}).items():
        form.locator(f"select[name={name}]").select_option(value)
    form.locator("button.primary").click()
    page.wait_for_load_state()
    assert page.errors == []


def jpeg(tmp_path) -> str:
    path = tmp_path / "photo.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 200)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


@pytest.mark.django_db(transaction=True)
def test_the_closed_loop(browser, tree, users, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    make_user("village_a1_staff", area=tree.village_a1, role=Role.VILLAGE_STAFF)

    # The resident, on a phone, with its location.
    resident = new_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                        geolocation={"longitude": POINT[0], "latitude": POINT[1], "accuracy": 10},
                        permissions=["geolocation"])
    resident.goto(resident.base + "/report/")
    resident.select_option("select[name=category]", label="供水问题")
    resident.fill("textarea[name=description]", "村口自来水管破裂，路面积水")
    resident.set_input_files("input[name=photos]", jpeg(tmp_path))
    resident.click("text=使用我的位置")
    resident.wait_for_function("document.getElementById('id_lng').value !== ''")
    resident.fill("input[name=phone]", "13800001234")
    resident.click("button[type=submit]")
    resident.wait_for_url("**/report/done/**")
    code = resident.locator(".pub-code-text").inner_text().strip()
    case = Case.objects.get(tracking_code=code)
    assert case.area == tree.grid_a and case.attachments.count() == 1 and case.state == State.SUBMITTED

    # The county centre accepts, registers and dispatches it to the village.
    county = staff_page(browser, "county_operator")
    county.goto(county.base + "/cases/")
    assert case.number in county.content()
    act(county, case, "accept")
    act(county, case, "register")
    act(county, case, "dispatch", fill={"target_area": tree.village_a1.code})
    case.refresh_from_db()
    assert case.state == State.DISPATCHED and case.holder_area == tree.village_a1

    # The village cannot solve it: it escalates to the town.
    village = staff_page(browser, "village_a1_staff")
    act(village, case, "escalate", note="需镇里协调水务部门")
    case.refresh_from_db()
    assert case.desk_area == tree.town_a and case.state == State.REGISTERED

    # The town dispatches it to the water department, the village assisting.
    town = staff_page(browser, "town_operator_a")
    town.goto(f"{town.base}/cases/{case.pk}/")
    act(town, case, "dispatch", select={"target_department": label_value(town, "target_department", "水务局"),
                                        "assist_areas": tree.village_a1.code})
    case.refresh_from_db()
    assert case.holder_department.name == "水务局" and case.mode == "assist"

    act(village, case, "assist_report", note="已组织村民绕行")
    handler = staff_page(browser, "dept_handler")
    act(handler, case, "report", note="管道已更换，恢复供水")
    act(town, case, "close", select={"outcome": Outcome.FIXED})
    case.refresh_from_db()
    assert case.state == State.CLOSED and case.outcome == Outcome.FIXED and case.resolved_area == tree.town_a

    # The resident follows it by its code and rates it.
    resident.goto(f"{resident.base}/report/track/{code}/")
    resident.check("input[name=rating][value=satisfied]")
    resident.click("form.pub-form button[type=submit]")
    resident.wait_for_load_state()
    case.refresh_from_db()
    assert case.rating == "satisfied"
    assert "村民绕行" not in resident.content()  # internal notes stay internal

    # One timeline, and the statistics count it.
    town.goto(f"{town.base}/cases/{case.pk}/")
    verbs = list(case.actions.values_list("verb", flat=True))
    assert verbs == ["create", "accept", "register", "dispatch", "escalate", "dispatch", "assist_report", "report",
                     "close", "rate"]
    timeline = town.locator(".timeline").inner_text()
    for label in ("受理", "立案", "派遣", "上报", "协办反馈", "办结反馈", "核查结案", "回访评价"):
        assert label in timeline
    county.goto(county.base + "/cases/stats/")
    stats = county.locator("main").inner_text()
    assert "供水" in stats or "风险防控" in stats
    assert "100" in stats  # 结案率 and 满意率 of the one case
    for page in (resident, county, village, town, handler):
        assert page.errors == []


def label_value(page, name: str, label: str) -> str:
    """The value of the option of select ``name`` whose text contains ``label``."""
    options = page.locator(f"select[name={name}] option")
    for i in range(options.count()):
        if label in options.nth(i).inner_text():
            return options.nth(i).get_attribute("value")
    raise AssertionError(f"no option {label!r} in {name}")
