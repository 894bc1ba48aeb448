"""Importing and exporting residents: the template, the checks, the report, the bad files, the command, the
upload page, the job, the API and who may do what. A refused import leaves the database exactly as it was."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import pickle
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import Resolver404, include, path, resolve
from django.utils import translation
from ninja import NinjaAPI

from gridgov.areas import services as area_services
from gridgov.areas.models import Role
from gridgov.core.auth import api_auth
from gridgov.core.idnumber import check_char, mask_id
from gridgov.core.models import AuditEvent
from gridgov.registry import importer, services
from gridgov.registry.importer import ResidentImportError, residents_import
from gridgov.registry.models import (
    EventKind,
    Household,
    HouseholdClassChange,
    HouseholdMembership,
    IdType,
    ImportJob,
    JobStatus,
    Person,
    PersonEvent,
    PersonTag,
    Relation,
    ResidenceType,
)
from tests.conftest import make_user

# --- URLs: the project's, plus this feature's router and pages until the project mounts them ---------------


def _mounted() -> bool:
    try:
        resolve("/api/v1/registry/imports/1")
        resolve("/registry/import/")
    except Resolver404:
        return False
    return True


def _urlpatterns():
    from gridgov import urls as project
    from gridgov.api import api as project_api
    from gridgov.registry.import_api import router

    if _mounted():
        return list(project.urlpatterns)
    test_api = NinjaAPI(auth=api_auth, urls_namespace="registry_import_test")
    for exc_class, handler in project_api._exception_handlers.items():
        test_api.add_exception_handler(exc_class, handler)
    test_api.add_router("/", router)
    return [path("api/v1/", test_api.urls), path("registry/", include("gridgov.registry.import_urls")),
            *project.urlpatterns]


urlpatterns = _urlpatterns()
pytestmark = pytest.mark.urls(__name__)

API = "/api/v1"
ROLES = ["superuser", "county_operator", "leader", "town_admin_a", "town_admin_b", "town_operator_a",
         "village_staff_a", "grid_worker_a", "grid_police_a", "dept_handler", "nobody"]
# Who may import and export (Perm.RESIDENT_EXPORT), and where: written down here, apart from the code.
IMPORTERS = {"superuser": ["county"], "county_operator": ["county"], "town_admin_a": ["town_a"],
             "town_admin_b": ["town_b"], "town_operator_a": ["town_a"], "village_staff_a": ["village_a1"]}
VIEWERS = {"leader": ["county"], "grid_worker_a": ["grid_a"], "grid_police_a": ["grid_a"]}


@pytest.fixture(autouse=True)
def _english(client, settings):
    """The assertions read the English messages; zh-Hans is the default language (pages and API too)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()


def valid_id(first17: str) -> str:
    return first17 + check_char(first17)


ID1 = "34052419800101001X"
ID2 = valid_id("34052419820202002")
ID3 = valid_id("61102320100303003")
ID4 = valid_id("61102319450404004")
HEADER = ["姓名", "证件类型", "证件号码", "联系电话", "民族", "文化程度", "政治面貌", "居住类型", "网格编码", "户编号",
          "与户主关系", "户地址", "人均年收入", "平安家庭年数", "标签"]


def row(name="张三", id_number=ID1, grid="", household="", relation="", address="", income="", years="", tags="",
        phone="", id_type="", residence="", ethnicity="汉族", education="", political=""):
    return [name, id_type, id_number, phone, ethnicity, education, political, residence, grid, household, relation,
            address, income, years, tags]


def write_csv(tmp_path, rows, header=HEADER, encoding="utf-8", name="residents.csv", delimiter=",") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    target = tmp_path / name
    target.write_bytes(buffer.getvalue().encode(encoding))
    return target


def write_xlsx(tmp_path, rows, header=HEADER, name="residents.xlsx", merge=None) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for values in rows:
        sheet.append(values)
    if merge:
        sheet.merge_cells(merge)
    target = tmp_path / name
    workbook.save(target)
    return target


def family(tree):
    g = tree.grid_a.code
    return [
        row("张三", ID1, g, "H001", "户主", "梁家湾一组1号", "9000", "3", phone="13800138000"),
        row("李四", ID2, g, "H001", "配偶", tags="留守妇女"),
        row("张小三", ID3, g, "H001", "子女", tags="left_behind_child、key_youth"),
        row("王五", ID4, tree.grid_a2.code, "H002", "户主", "河口片2号", "20000", "5"),
    ]


def state():
    return tuple(m.objects.count() for m in (Person, Household, HouseholdMembership, PersonEvent, PersonTag,
                                             HouseholdClassChange, AuditEvent))


def refused(actor, target, **kwargs):
    before = state()
    result = residents_import(actor=actor, path=target, **kwargs)
    assert result.refused and result.imported_rows == 0
    assert state() == before
    return result


def problems(result) -> dict[int, str]:
    return dict(result.problems)


def file_error(actor, target) -> str:
    before = state()
    with pytest.raises(ResidentImportError) as caught:
        residents_import(actor=actor, path=target)
    assert state() == before
    return caught.value.message


def report_rows(result) -> tuple[list, list, dict]:
    workbook = openpyxl.load_workbook(result.report_path)
    rows_sheet, summary = workbook.worksheets
    values = [list(r) for r in rows_sheet.iter_rows(values_only=True)]
    return values[0], values[1:], {r[0]: r[1] for r in summary.iter_rows(values_only=True) if r[0]}


# --- good files ----------------------------------------------------------------------------------------


def test_a_good_file_imports_persons_households_tags_and_colours(tree, users, tmp_path):
    target = write_csv(tmp_path, family(tree))

    result = residents_import(actor=users.village_staff_a, path=target)

    assert not result.refused and result.report_path == ""
    assert (result.total_rows, result.valid_rows, result.error_rows, result.imported_rows) == (4, 4, 0, 4)
    assert (result.households_created, result.households_joined, result.tags_added) == (2, 0, 3)
    zhang = Person.objects.get(name="张三")
    assert (zhang.id_number_masked, zhang.phone_masked) == (mask_id(ID1), "138****8000")
    assert (zhang.birth_date, zhang.sex, zhang.area, zhang.relation) == (dt.date(1980, 1, 1), "M", tree.grid_a, "head")
    assert zhang.id_number_hash == services.identity_hash("citizen", ID1)
    assert services.reveal_value(zhang, "id_number") == ID1 and services.reveal_value(zhang, "phone") == "13800138000"
    h1 = Household.objects.get(number="H001")
    assert (h1.head, h1.address, h1.income_per_person, h1.safe_family_years, h1.area) == (
        zhang, "梁家湾一组1号", Decimal("9000.00"), 3, tree.grid_a)
    assert sorted(h1.members.values_list("name", "relation")) == [("张三", "head"), ("张小三", "child"),
                                                                  ("李四", "spouse")]
    assert HouseholdMembership.objects.filter(household=h1, end_date__isnull=True).count() == 3
    # Left-behind members make it red, as the nightly batch would; each colour has its first history row.
    assert (h1.household_class, h1.class_reasons) == ("red", ["家有三留守人员（连心户）"])
    assert list(h1.class_changes.values_list("from_class", "to_class")) == [("", "red")]
    h2 = Household.objects.get(number="H002")
    assert h2.household_class == "green" and h2.area == tree.grid_a2
    assert services.households_reclassify() == 0
    assert set(PersonTag.objects.filter(person__name="张小三").values_list("tag__code", flat=True)) == {
        "left_behind_child", "key_youth"}
    kinds = sorted(PersonEvent.objects.filter(person=zhang).values_list("kind", flat=True))
    assert kinds == [EventKind.IMPORTED]
    event = PersonEvent.objects.get(person=zhang)
    assert event.data == {"grid": tree.grid_a.code, "file": "residents.csv", "line": 2}
    assert event.actor == users.village_staff_a
    assert PersonEvent.objects.filter(kind=EventKind.TAG_ADDED).count() == 3
    summary = AuditEvent.objects.get(action="residents.import")
    assert summary.actor == users.village_staff_a
    assert summary.area_path == tree.group_a1.path  # the deepest area holding every imported grid
    assert summary.data == {"file": "residents.csv", "rows": 4, "imported": 4, "errors": 0, "skip_invalid": False,
                            "households_created": 2, "households_joined": 0, "tags": 3}
    assert AuditEvent.objects.filter(action="person.create").count() == 0  # one summary row, not one per person


def test_imported_persons_are_sealed_exactly_like_registered_ones(tree, users, tmp_path):
    residents_import(actor=None, path=write_csv(tmp_path, [row(id_number=ID2, grid=tree.grid_a.code,
                                                              phone="139 0000 1111")]))
    imported = Person.objects.get()
    registered = services.person_create(actor=None, name="对照", area=tree.grid_a, id_number=ID3,
                                        phone="13900001111", id_type="passport")
    assert imported.phone_hash == registered.phone_hash and imported.phone_masked == registered.phone_masked
    assert imported.id_number_sealed.split(":")[:3] == registered.id_number_sealed.split(":")[:3]
    assert imported.id_number_hash == services.Identity("citizen", ID2, None, "", ()).hash


def test_an_xlsx_with_numbers_dates_and_full_width_digits(tree, users, tmp_path):
    g = tree.grid_a3.code  # 15 digits: Excel keeps it exactly as a number
    nothing = [None] * 6
    target = write_xlsx(tmp_path, [
        ["赵六", "居民身份证", "３４０５２４１９８００１０１００１x ", 13800138000, "汉族", None, None, "流动", int(g),
         "H9", "户主", "一组9号", 12000.5, 2.0, None],
        ["Smith", "passport", "E1234567", *nothing[:4], "境外", g, "H9", "其他", *nothing[:4],
         dt.datetime(1985, 3, 4), "男"],
        ["钱七", "护照", "G7654321", *nothing[:4], "境外", g, *nothing, 31110, "女"],
        ["孙八", "护照", "G1111111", *nothing[:4], "暂住", g, *nothing, "1990年5月6日", "F"],
        ["周九", "", "340524800101002", *nothing[:5], g, *nothing],
    ], header=[*HEADER, "出生日期", "性别"])

    result = residents_import(actor=users.town_admin_a, path=target)

    assert result.error_rows == 0, result.problems
    zhao = Person.objects.get(name="赵六")
    assert (zhao.id_number_masked, zhao.phone_masked, zhao.residence_type) == (mask_id(ID1), "138****8000",
                                                                               "floating")
    assert Household.objects.get(number="H9").income_per_person == Decimal("12000.50")
    smith = Person.objects.get(name="Smith")
    assert (smith.id_type, smith.birth_date, smith.sex, smith.relation) == ("passport", dt.date(1985, 3, 4), "M",
                                                                            "other")
    assert Person.objects.get(name="钱七").birth_date == dt.date(1985, 3, 4)  # Excel serial 31110
    assert Person.objects.get(name="孙八").birth_date == dt.date(1990, 5, 6)
    upgraded = Person.objects.get(name="周九")  # a 15-digit number, upgraded to 18
    assert upgraded.id_number_hash == services.identity_hash("citizen", "340524800101002")
    assert services.reveal_value(upgraded, "id_number") == valid_id("34052419800101002")


def test_template_downloads_and_imports_cleanly(tree, users, client, tmp_path):
    client.force_login(users.village_staff_a)

    response = client.get("/registry/import/template.xlsx")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    target = tmp_path / "template.xlsx"
    target.write_bytes(response.content)
    workbook = openpyxl.load_workbook(target)
    data, lists = workbook.worksheets
    header = [c.value for c in data[1]]
    assert header[:15] == HEADER
    example = [c.value for c in data[2]]
    assert example[2] == ID1 and example[8] == tree.grid_a.code
    dictionary = {c.value for col in lists.iter_cols() for c in col if c.value}
    assert {"citizen", "居民身份证", "户籍", "户主", "其他", "男", "留守儿童", "left_behind_child"} <= dictionary
    assert "吸毒人员" in dictionary  # village staff may see (and set) sensitive tags
    assert data.data_validations.dataValidation  # drop-down lists on the dictionary columns
    assert not data.merged_cells.ranges

    result = residents_import(actor=users.village_staff_a, path=target)

    assert (result.imported_rows, result.error_rows) == (1, 0)
    assert Person.objects.get().id_number_masked == mask_id(ID1)


def test_template_lists_sensitive_tags_only_for_those_who_may_see_them(tree, users, client):
    client.force_login(users.town_admin_a)  # imports, but has no right to sensitive tags
    response = client.get(f"{API}/registry/template.xlsx")
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    values = {c.value for col in workbook.worksheets[1].iter_cols() for c in col if c.value}
    assert "留守儿童" in values and "吸毒人员" not in values and "drug_user" not in values


def test_joining_an_existing_household(tree, users, tmp_path):
    household = services.household_create(actor=None, area=tree.grid_a, number="H100", address="一组100号",
                                          income_per_person=Decimal("8000"), safe_family_years=3)
    target = write_csv(tmp_path, [row("新成员", ID2, tree.grid_a.code, "H100", "户主", tags="独居老人")])

    result = residents_import(actor=users.village_staff_a, path=target)

    assert (result.households_created, result.households_joined, result.imported_rows) == (0, 1, 1)
    household.refresh_from_db()
    assert household.head.name == "新成员"
    assert household.household_class == "red"
    assert services.households_reclassify() == 0


# --- rows with problems ---------------------------------------------------------------------------------


def test_bad_rows_give_a_report_with_line_numbers_and_nothing_is_imported(tree, users, tmp_path):
    g = tree.grid_a.code
    target = write_csv(tmp_path, [
        row("好人", ID1, g),
        row("", ID2, g),
        [],
        row("坏号", "34052419800101001A", g),
        row("没网格", ID3, ""),
        row("坏电话", ID4, g, phone="12-abc"),
    ])

    result = refused(users.village_staff_a, target)

    assert (result.total_rows, result.valid_rows, result.error_rows) == (5, 1, 4)
    found = problems(result)
    assert list(found) == [3, 5, 6, 7]
    assert found[3] == "姓名: A name is required."
    assert found[5] == "证件号码: An ID number is 17 digits followed by a digit or X."
    assert found[6] == "网格编码: A grid code is required."
    assert found[7] == "联系电话: The phone number is not valid."
    header, rows, summary = report_rows(result)
    assert header == ["Line", "Problems", *HEADER]
    assert [r[0] for r in rows] == [3, 5, 6, 7]
    assert rows[1][1] == found[5] and rows[1][2:4] == ["坏号", None]
    assert rows[1][4] == "34052419800101001A"
    assert summary["Rows"] == 5 and summary["Rows with problems"] == 4
    assert "Nothing was imported" in summary["Result"]
    assert result.report_path.startswith(str(Path(importer.settings.DATA_DIR) / "reports"))


def test_the_report_can_be_corrected_and_imported(tree, users, tmp_path):
    g = tree.grid_a.code
    result = refused(users.village_staff_a, write_csv(tmp_path, [row("好人", ID1, g), row("坏号", "123", g)]))
    workbook = openpyxl.load_workbook(result.report_path)
    sheet = workbook.worksheets[0]
    sheet.cell(row=2, column=5).value = ID2  # the ID number column of the first bad row
    fixed = tmp_path / "fixed.xlsx"
    workbook.save(fixed)

    again = residents_import(actor=users.village_staff_a, path=fixed)

    assert (again.imported_rows, again.error_rows, again.ignored_columns) == (1, 0, ["Line", "Problems"])
    assert Person.objects.get().name == "坏号"


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(tree, users, tmp_path):
    g = tree.grid_a.code
    target = write_csv(tmp_path, [row("好人", ID1, g, "H1", "户主", "一组1号"), row("坏号", "123", g),
                                  row("也好", ID2, g, "H1", "配偶")])
    before = AuditEvent.objects.count()

    result = residents_import(actor=users.village_staff_a, path=target, skip_invalid=True)

    assert not result.refused
    assert (result.imported_rows, result.error_rows) == (2, 1)
    assert sorted(Person.objects.values_list("name", flat=True)) == ["也好", "好人"]
    assert list(problems(result)) == [3]
    assert report_rows(result)[1][0][0] == 3
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.get(action="residents.import").data["errors"] == 1


def test_skip_invalid_with_only_bad_rows_is_refused(tree, users, tmp_path):
    result = refused(users.village_staff_a, write_csv(tmp_path, [row("坏号", "123", tree.grid_a.code)]),
                     skip_invalid=True)
    assert result.error_rows == 1


def test_dry_run_checks_and_imports_nothing(tree, users, tmp_path):
    before = state()
    good = residents_import(actor=users.village_staff_a, path=write_csv(tmp_path, family(tree)), dry_run=True)
    assert (good.refused, good.valid_rows, good.imported_rows) == (False, 4, 0)
    assert "would be imported" in good.message
    bad = residents_import(actor=users.village_staff_a, dry_run=True,
                           path=write_csv(tmp_path, [row("坏号", "123", tree.grid_a.code)], name="bad.csv"))
    assert bad.refused and bad.report_path and "nothing would be imported" in bad.message
    assert state() == before


def test_duplicates_in_the_file(tree, users, tmp_path):
    g = tree.grid_a.code
    result = refused(users.village_staff_a, write_csv(tmp_path, [
        row("甲", ID1, g), row("乙", ID2, g), row("甲again", ID1.lower(), g), row("周", "340524800101002", g),
        row("周again", valid_id("34052419800101002"), g)]))
    assert problems(result) == {4: "证件号码: The same person is already on line 2.",
                                6: "证件号码: The same person is already on line 5."}


def test_duplicates_against_the_database_name_the_record(tree, users, tmp_path):
    existing = services.person_create(actor=None, name="老住户", area=tree.grid_a, id_number=ID1)
    elsewhere = services.person_create(actor=None, name="外镇人", area=tree.grid_b, id_number=ID2)
    result = refused(users.village_staff_a, write_csv(tmp_path, [row("甲", ID1, tree.grid_a.code),
                                                                row("乙", ID2, tree.grid_a.code)]))
    assert problems(result) == {
        2: f"证件号码: This person is already registered: 老住户 (record {existing.pk}, 牛家庄片).",
        3: f"证件号码: This person is already registered outside your area (record {elsewhere.pk}).",
    }


def test_grids_outside_the_importers_scope_are_refused(tree, users, tmp_path):
    result = refused(users.village_staff_a, write_csv(tmp_path, [
        row("甲", ID1, tree.grid_b.code), row("乙", ID2, tree.grid_a3.code), row("丙", ID3, "611023999999999"),
        row("丁", ID4, tree.village_a1.code)]))
    assert problems(result) == {
        2: f"网格编码: No grid with the code {tree.grid_b.code} in your area.",
        3: f"网格编码: No grid with the code {tree.grid_a3.code} in your area.",
        4: "网格编码: No grid with the code 611023999999999 in your area.",
        5: f"网格编码: 梁家湾村 ({tree.village_a1.code}) is not a grid: residents are registered on grids.",
    }


def test_a_grid_seen_but_not_importable_is_refused(tree, tmp_path):
    user = make_user("two_posts", area=tree.village_a1, role=Role.VILLAGE_STAFF)
    area_services.post_create(actor=None, staff=user.staff, area=tree.town_b, role=Role.LEADER, slot="")
    result = refused(user, write_csv(tmp_path, [row("甲", ID1, tree.grid_b.code)]))
    assert problems(result) == {2: f"网格编码: You may not import residents into 上湾片 ({tree.grid_b.code})."}


def test_dictionary_values_households_and_tags_are_checked(tree, users, tmp_path):
    g, g2 = tree.grid_a.code, tree.grid_a2.code
    services.household_create(actor=None, area=tree.grid_b, number="HB", address="湘河")
    services.household_create(actor=None, area=tree.grid_a, number="HA", address="一组")
    services.household_create(actor=None, area=tree.grid_a2, number="HA2", address="河口")
    services.person_create(actor=None, name="户主", area=tree.grid_a, id_number=valid_id("61102319500101001"),
                           household=Household.objects.get(number="HA"), relation="head")
    rows = [
        row("a", ID1, g, id_type="军官证"),
        row("b", ID2, g, residence="常驻"),
        row("c", ID3, g, "H1", "表哥", "一组1号"),
        row("d", ID4, g, tags="留守儿童、外星人"),
        row("e", valid_id("61102319600101001"), g, "H2", address="一组2号"),
        row("f", valid_id("61102319600101002"), g, relation="户主"),
        row("g", valid_id("61102319600101003"), g, "H3", "户主"),
        row("h", valid_id("61102319600101004"), g, "H4", "户主", "一组4号"),
        row("i", valid_id("61102319600101005"), g, "H4", "户主"),
        row("j", valid_id("61102319600101006"), g2, "H4", "子女"),
        row("k", valid_id("61102319600101007"), g, "H4", "子女", "别处"),
        row("l", valid_id("61102319600101008"), g, "HB", "子女"),
        row("m", valid_id("61102319600101009"), g, "HA", "户主"),
        row("n", valid_id("61102319600101010"), g, "H4", "子女", income="abc", years="3.5"),
        row("o", valid_id("61102319600101011"), g, ethnicity="汉" * 21),
        row("p", valid_id("61102319600101012"), g, "HA2", "子女"),
    ]
    result = refused(users.village_staff_a, write_csv(tmp_path, rows))
    found = problems(result)
    assert found[2] == "证件类型: Unknown ID type '军官证': use one of the “字典” sheet."
    assert found[3] == "居住类型: Unknown residence type '常驻': use one of the “字典” sheet."
    assert found[4] == "与户主关系: Unknown relation '表哥': use one of the “字典” sheet."
    assert found[5] == "标签: Unknown tag '外星人'."
    assert found[6] == "与户主关系: Give the relation to the head of the household (与户主关系)."
    assert found[7] == "与户主关系: A relation to the head needs a household number (户编号)."
    assert found[8] == "户地址: A new household needs its address."
    assert found[10] == "与户主关系: Household H4 already has a head (line 9)."
    assert found[11] == "户编号: Household H4 is on another grid (line 9)."
    assert found[12] == "户地址: Household H4 has another address (line 9)."
    assert found[13] == "户编号: The household number HB is taken."
    assert found[14] == "与户主关系: Household HA already has a head (on its page)."
    assert found[15] == ("人均年收入: Not an amount of yuan between 0 and 99,999,999: 'abc'.; "
                         "平安家庭年数: Not a whole number of years between 0 and 100: '3.5'.")
    assert found[16] == "民族: At most 20 characters."
    assert found[17] == "户编号: Household HA2 is on another grid (河口片)."
    assert 9 not in found


# --- large files: batches, worker processes, colours computed in bulk -----------------------------------


def mixed_rows(tree):
    """Good rows, households across batch boundaries, and rows wrong in every way the batches must agree on."""
    g, g2 = tree.grid_a.code, tree.grid_a2.code
    return [
        *family(tree),
        row("重号", ID1, g),  # the same person as line 2, in a later batch
        row("坏号", "34052419800101001A", g),
        row("e", valid_id("61102319600101001"), g, "H1", "户主"),
        row("f", valid_id("61102319600101002"), g2, "H4", "户主", "一组4号", "8000"),
        row("g", valid_id("61102319600101003"), g, "H4", "子女"),
        row("h", valid_id("61102319600101004"), g2, "H4", "子女", income="9000"),
        row("i", valid_id("61102319600101005"), g2, "H4", "子女", tags="外星人", phone="12-abc"),
        row("j", valid_id("61102319600101006"), g, "H001", "子女", tags="独居老人"),
    ]


def test_worker_processes_and_small_batches_find_the_same_problems(tree, users, tmp_path, monkeypatch):
    target = write_csv(tmp_path, mixed_rows(tree))
    expected = refused(users.village_staff_a, target)
    monkeypatch.setattr(importer, "BATCH", 2)
    monkeypatch.setattr(importer, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # one worker, as on an idle two-core server
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))

    result = refused(users.village_staff_a, target)

    assert importer._parse_processes(1) == 1
    assert result.problems == expected.problems and len(result.problems) == 6
    assert (result.total_rows, result.valid_rows, result.error_rows) == (
        expected.total_rows, expected.valid_rows, expected.error_rows)
    assert problems(result)[6] == "证件号码: The same person is already on line 2."
    assert report_rows(result)[1] == report_rows(expected)[1]


@pytest.mark.parametrize(("cores", "load", "rows", "workers"), [
    (2, 0.2, 1_000_000, 1), (2, 1.3, 1_000_000, 0), (8, 2.5, 1_000_000, 3), (8, 6.5, 1_000_000, 1),
    (1, 0.0, 1_000_000, 0), (2, 0.0, 19_999, 0),
])
def test_worker_processes_only_for_large_files_and_idle_cores(monkeypatch, cores, load, rows, workers):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert importer._parse_processes(rows) == workers


@pytest.mark.parametrize("ahead", [16, 1])
def test_batches_parsed_here_while_the_workers_are_busy_keep_the_file_order(tree, users, tmp_path, monkeypatch,
                                                                            ahead):
    """With every worker busy, the main process parses the next batches itself (and waits for the workers only
    when ``ahead`` batches wait behind theirs); batches are still checked in the order of the file, and the rows
    come back from the workers through pickle without their cells."""
    target = write_csv(tmp_path, mixed_rows(tree))
    expected = refused(users.village_staff_a, target)
    handed_out = []

    class BusyPool:
        def __init__(self, processes, initializer, initargs):
            initializer(*initargs)  # here, as in each worker process

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def apply_async(self, function, args):
            handed_out.append(len(args[0]))
            rows = pickle.dumps(function(*args))  # as a worker sends them
            return SimpleNamespace(ready=lambda: False, get=lambda: pickle.loads(rows))  # noqa: S301  (our own)

    monkeypatch.setattr(importer, "BATCH", 2)
    monkeypatch.setattr(importer, "MAX_BATCHES_AHEAD", ahead)
    monkeypatch.setattr(importer, "_worker_checker", None)
    monkeypatch.setattr(importer, "_parse_processes", lambda rows: 1)
    monkeypatch.setattr(importer.multiprocessing, "get_context", lambda method: SimpleNamespace(Pool=BusyPool))

    result = refused(users.village_staff_a, target)

    assert result.problems == expected.problems
    assert report_rows(result)[1] == report_rows(expected)[1]
    # Two of the six batches went to the busy pool and the rest were parsed here; when this process has to wait
    # for the pool after each batch, the pool always has room for the next one.
    assert len(handed_out) == (2 if ahead == 16 else 6)


def test_a_large_good_file_with_workers_imports_like_a_small_one(tree, users, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 2)
    monkeypatch.setattr(importer, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    rows = family(tree) + [row(f"人{i}", valid_id(f"61102319900101{i:03d}"), tree.grid_a3.code, "H9", "户主" if i == 0
                              else "子女", "九组9号" if i == 0 else "", "12000" if i == 0 else "", tags="残疾人")
                           for i in range(5)]

    result = residents_import(actor=users.town_admin_a, path=write_csv(tmp_path, rows))

    assert (result.imported_rows, result.households_created, result.error_rows) == (9, 3, 0)
    zhang = Person.objects.get(name="张三")
    assert services.reveal_value(zhang, "id_number") == ID1 and services.reveal_value(zhang, "phone") == "13800138000"
    assert zhang.id_number_hash == services.identity_hash("citizen", ID1)
    h9 = Household.objects.get(number="H9")
    assert (h9.head.name, h9.members.count(), h9.area) == ("人0", 5, tree.grid_a3)
    assert PersonEvent.objects.get(person=h9.head, kind=EventKind.IMPORTED).data == {
        "grid": tree.grid_a3.code, "file": "residents.csv", "line": 6}
    assert services.households_reclassify() == 0


def test_colours_count_the_new_households_in_the_village_average(tree, users, tmp_path):
    """A new household's colour uses the village average with the new households in it, exactly as the nightly
    batch computes it afterwards (on PostgreSQL it is computed before the households are stored)."""
    services.household_create(actor=None, area=tree.grid_a, number="OLD", address="一组0号",
                              income_per_person=Decimal("10000.10"), safe_family_years=5)
    g, g2, g3 = tree.grid_a.code, tree.grid_a2.code, tree.grid_a3.code
    rows = [
        # The average of the village: (10000.10 + 9000.20 + 11000.30 + 10000.20) / 4 = 10000.20.
        row("甲", ID1, g, "N1", "户主", "一组1号", "9000.20", "5"),  # below it
        row("乙", ID2, g2, "N2", "户主", "河口2号", "11000.30", "5"),  # above it
        row("丙", ID3, g3, "N3", "户主", "九组3号", "", "5"),  # no income, in a village without any
        row("丁", ID4, g, "N4", "户主", "一组4号", "10000.20", "5"),  # exactly the average: not below
    ]

    result = residents_import(actor=users.town_admin_a, path=write_csv(tmp_path, rows))

    assert result.households_created == 4
    colours = dict(Household.objects.exclude(number="OLD").values_list("number", "household_class"))
    assert colours == {"N1": "yellow", "N2": "green", "N3": "green", "N4": "green"}
    assert services.households_reclassify(queryset=Household.objects.exclude(number="OLD")) == 0
    assert list(Household.objects.get(number="N1").class_changes.values_list("from_class", "to_class")) == [
        ("", "yellow")]


def test_joining_an_existing_household_compares_its_stored_income(tree, users, tmp_path):
    services.household_create(actor=None, area=tree.grid_a, number="H100", address="一组100号",
                              income_per_person=Decimal("8000.50"), safe_family_years=3)
    g = tree.grid_a.code
    result = refused(users.village_staff_a, write_csv(tmp_path, [
        row("同", ID1, g, "H100", "户主", income="8000.5"),
        row("异", ID2, g, "H100", "子女", income="8000.51"),
    ]))
    assert problems(result) == {3: "人均年收入: Household H100 has another income (on its page)."}


def test_sensitive_tags_only_for_those_who_may_see_them(tree, users, tmp_path):
    target = write_csv(tmp_path, [row("甲", ID1, tree.grid_a.code, tags="吸毒人员")])
    result = refused(users.town_admin_a, target)
    assert problems(result) == {2: "标签: Unknown tag '吸毒人员'."}
    assert residents_import(actor=users.village_staff_a, path=target).imported_rows == 1
    assert PersonTag.objects.get().tag.code == "drug_user"


# --- bad files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"", "residents.csv", "The file is empty."),
        (b"  \r\n \r\n", "residents.csv", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv", "neither a CSV"),
        (b"PK\x03\x04 not really a zip", "residents.xlsx", "not a valid .xlsx"),
        (b"just some text", "residents.xlsx", "not a valid .xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "residents.xls", "Old .xls"),
        ("姓名,电话\n张三,1\n".encode(), "residents.csv", "lacks the column(s) 网格编码"),
        (b"code,name,parent_code\n1,2,3\n", "areas.csv", "lacks the column(s) 网格编码"),
        ("姓名,网格编码,姓名\n".encode(), "residents.csv", "The column 姓名 appears twice"),
        ("姓名,网格编码\n".encode(), "residents.csv", "no rows to import"),
        ("姓名,网格编码\n\n,\n".encode(), "residents.csv", "no rows to import"),
        (",,,\n张三,1\n".encode(), "residents.csv", "The first row must be the header row"),
        ("姓名,网格编码\n张三,1\n".encode() + "李四,2\n".encode("gbk"), "mixed.csv",
         "mixes two text encodings: line 1 is UTF-8 but line 3 is GBK/GB18030"),
        ("姓名,网格编码\n".encode("gbk") + "张三,1\n".encode("gbk") + "李四,2\n".encode(), "mixed.csv",
         "line 1 is GBK/GB18030 but line 3 is UTF-8"),
        (b"x" * (2 << 20), "long.csv", "longer than 1 MB"),
    ],
)
def test_files_that_are_no_resident_list_give_a_clear_error(tree, users, tmp_path, content, name, expected):
    target = tmp_path / name
    target.write_bytes(content)
    assert expected in file_error(users.village_staff_a, target)


def test_fifty_megabytes_of_garbage(tree, users, tmp_path):
    target = tmp_path / "garbage.xlsx"
    target.write_bytes(os.urandom(50 << 20))
    assert "not a valid .xlsx" in file_error(users.village_staff_a, target)
    target = target.rename(tmp_path / "garbage.csv")
    assert "neither a CSV" in file_error(users.village_staff_a, target)
    zipped = tmp_path / "garbage.bin"
    zipped.write_bytes(b"PK\x03\x04" + os.urandom(50 << 20))
    assert "not a valid .xlsx" in file_error(users.village_staff_a, zipped)


def test_a_missing_file(tree, users, tmp_path):
    assert "Cannot read" in file_error(users.village_staff_a, tmp_path / "nowhere.csv")


def test_formulas_are_refused(tree, users, tmp_path):
    g = tree.grid_a.code
    xlsx = write_xlsx(tmp_path, [row("甲", ID1, g), ["=A2&\"乙\"", None, ID2, None, None, None, None, None, g],
                                 ["丙", None, ID3, "=1+1", None, None, None, None, g]])
    result = refused(users.village_staff_a, xlsx)
    assert problems(result) == {
        3: "姓名: a formula, not a value (=A2&\"乙\"); enter the value itself.",
        4: "联系电话: a formula, not a value (=1+1); enter the value itself.",
    }
    assert report_rows(result)[1][0][2] == "=A2&\"乙\""  # written back as text, not as a formula
    csv_file = write_csv(tmp_path, [row("=HYPERLINK(\"http://x\")", ID1, g)])
    assert problems(refused(users.village_staff_a, csv_file))[2].startswith("姓名: a formula, not a value")


def test_a_formula_in_an_ignored_column_is_fine(tree, users, tmp_path):
    target = write_xlsx(tmp_path, [["=ROW()-1", *row("甲", ID1, tree.grid_a.code)]], header=["序号", *HEADER])
    result = residents_import(actor=users.village_staff_a, path=target)
    assert (result.imported_rows, result.ignored_columns) == (1, ["序号"])


def test_merged_cells_are_refused(tree, users, tmp_path):
    g = tree.grid_a.code
    target = write_xlsx(tmp_path, [row("甲", ID1, g, "H1", "户主", "一组1号"), row("乙", ID2, g, "", "配偶")],
                        merge="J2:J3")
    message = file_error(users.village_staff_a, target)
    assert message.startswith("The sheet has merged cells (J2:J3). Unmerge them")


def test_numbers_excel_has_rounded_are_refused(tree, users, tmp_path):
    target = write_xlsx(tmp_path, [row("甲", 3.4052419800101e17, tree.grid_a.code),
                                   row("乙", ID2, 6.11023100201001e17)])
    found = problems(refused(users.village_staff_a, target))
    assert found[2].startswith("证件号码: The number was stored by Excel as a number and lost its last digits")
    assert "lost its last digits" in found[3] and found[3].startswith("网格编码:")


def test_dates_as_text_and_as_serial_numbers(tree, users, tmp_path):
    g = tree.grid_a.code
    header = [*HEADER, "出生日期", "性别"]
    target = write_csv(tmp_path, [
        [*row("a", "P1", g, id_type="护照"), "1985-03-04", "男"],
        [*row("b", "P2", g, id_type="护照"), "1985/3/4", "女"],
        [*row("c", "P3", g, id_type="护照"), "31110", "女"],
        [*row("d", "P4", g, id_type="护照"), "19850304", "女"],
        [*row("e", "P5", g, id_type="护照"), "1985.3.4", "女"],
    ], header=header)
    assert residents_import(actor=None, path=target).imported_rows == 5
    assert set(Person.objects.values_list("birth_date", flat=True)) == {dt.date(1985, 3, 4)}
    bad = write_csv(tmp_path, [
        [*row("f", "P6", g, id_type="护照"), "yesterday", ""],
        [*row("g", "P7", g, id_type="护照"), "2999-01-01", ""],
        [*row("h", ID1, g), "1981-01-01", "女"],
        [*row("i", "P8", g, id_type="护照"), "", "?"],
    ], header=header, name="bad.csv")
    found = problems(refused(None, bad))
    assert found[2] == "出生日期: Not a date: 'yesterday'. Write it as 1980-01-01."
    assert found[3] == "出生日期: The birth date 2999-01-01 is impossible."
    assert found[4] == ("出生日期: The birth date does not match the ID number (1980-01-01).; "
                        "性别: The sex does not match the ID number.")
    assert found[5] == "性别: Unknown sex '?': write 男 or 女."


def test_full_width_digits_lower_case_x_and_trailing_spaces(tree, users, tmp_path):
    target = write_csv(tmp_path, [row(" 张三 ", "３４０５２４１９８００１０１００１ｘ  ", f" {tree.grid_a.code} ",
                                      phone="１３８００１３８０００ ")])
    residents_import(actor=users.village_staff_a, path=target)
    person = Person.objects.get()
    assert (person.name, person.id_number_hash) == ("张三", services.identity_hash("citizen", ID1))
    assert services.reveal_value(person, "phone") == "13800138000"


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig", "utf-16"])
def test_encodings(tree, users, tmp_path, encoding):
    target = write_csv(tmp_path, family(tree), encoding=encoding,
                       delimiter="\t" if encoding == "utf-16" else ",")
    assert residents_import(actor=users.village_staff_a, path=target).imported_rows == 4
    assert Person.objects.filter(name="张小三").exists()


def test_a_comma_inside_an_unquoted_value_shifts_the_row(tree, users, tmp_path):
    target = tmp_path / "shifted.csv"
    target.write_text(",".join(HEADER) + "\n" + ",".join(row("甲", ID1, tree.grid_a.code, address="一组,1号")) +
                      "\n", encoding="utf-8")
    found = problems(refused(users.village_staff_a, target))
    assert "more cells than the header" in found[2]


def test_importing_needs_the_permission(tree, users, tmp_path):
    with pytest.raises(services.PermissionDenied):
        residents_import(actor=users.grid_worker_a, path=write_csv(tmp_path, family(tree)))
    assert Person.objects.count() == 0


# --- the command ---------------------------------------------------------------------------------------


def test_command_imports_and_prints_the_summary(tree, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_residents", str(write_csv(tmp_path, family(tree))), stdout=out, stderr=err)
    assert out.getvalue().splitlines()[0] == ("Imported 4 persons (2 new households, 0 existing households "
                                              "joined).")
    assert "checking [" in err.getvalue()
    assert AuditEvent.objects.get(action="residents.import").actor_name == "gridgov import-residents"


def test_command_refuses_with_the_rows_and_the_report(tree, tmp_path):
    target = write_csv(tmp_path, [row("好", ID1, tree.grid_a.code), row("坏", "123", tree.grid_a.code)])
    err = io.StringIO()
    before = state()
    with pytest.raises(CommandError, match="Nothing was imported: 1 of 2 rows have problems."):
        call_command("import_residents", str(target), stderr=err)
    lines = err.getvalue().splitlines()
    assert "Line 3: 证件号码: An ID number has 18 characters (or 15 digits for an old one)." in lines
    assert any(line.startswith("Error report: ") and line.endswith(".xlsx") for line in lines)
    assert state() == before


def test_command_dry_run_skip_invalid_and_bad_files(tree, tmp_path):
    target = write_csv(tmp_path, [row("好", ID1, tree.grid_a.code), row("坏", "123", tree.grid_a.code)])
    with pytest.raises(CommandError, match="Dry run: 1 of 2 rows have problems"):
        call_command("import_residents", str(target), "--dry-run", stderr=io.StringIO())
    out = io.StringIO()
    call_command("import_residents", str(target), "--dry-run", "--skip-invalid", stdout=out, stderr=io.StringIO())
    assert "Dry run: 1 of 2 rows would be imported" in out.getvalue()
    assert Person.objects.count() == 0
    call_command("import_residents", str(target), "--skip-invalid", stdout=io.StringIO(), stderr=io.StringIO())
    assert list(Person.objects.values_list("name", flat=True)) == ["好"]
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02")
    with pytest.raises(CommandError, match="neither a CSV"):
        call_command("import_residents", str(garbage), stderr=io.StringIO())


# --- the job, the pages and the API ----------------------------------------------------------------------


def upload(tree, name="residents.csv", rows=None):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(family(tree) if rows is None else rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


def allowed(role: str) -> bool:
    return role in IMPORTERS


@pytest.mark.parametrize("role", ROLES)
def test_upload_through_the_api(tree, users, client, django_capture_on_commit_callbacks, role):
    client.force_login(getattr(users, role))
    rows = [row("甲", ID1, tree.grid_a.code)]
    before = state()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}/registry/imports", {"file": upload(tree, rows=rows), "dry_run": "false"})
    if not allowed(role):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert state() == before and ImportJob.objects.count() == 0
        return
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    body = client.get(f"{API}/registry/imports/{job_id}").json()
    if role != "town_admin_b":
        assert (body["status"], body["imported_rows"], body["progress"], body["report_url"]) == (
            "done", 1, 100, None)
        assert Person.objects.get().area == tree.grid_a
    else:  # town B's administrator: grid A lies outside their scope
        assert (body["status"], body["error_rows"], body["imported_rows"]) == ("refused", 1, 0)
        assert body["report_url"] == f"{API}/registry/imports/{job_id}/report"
        assert "No grid with the code" in body["message"] or "Nothing was imported" in body["message"]
    job = ImportJob.objects.get(pk=job_id)
    assert job.actor == getattr(users, role) and not Path(job.stored_path).exists()


def test_api_job_with_errors_its_report_and_other_users(tree, users, client, django_capture_on_commit_callbacks):
    client.force_login(users.village_staff_a)
    rows = [row("好", ID1, tree.grid_a.code), row("坏", "123", tree.grid_a.code)]
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client.post(f"{API}/registry/imports", {"file": upload(tree, rows=rows)}).json()["job_id"]
    body = client.get(f"{API}/registry/imports/{job_id}").json()
    assert (body["status"], body["total_rows"], body["error_rows"], body["imported_rows"]) == ("refused", 2, 1, 0)
    first, problem = body["message"].splitlines()  # the summary, then the first problems (page language)
    assert first == "Nothing was imported: 1 of 2 rows have problems."
    assert "3" in problem
    assert problem.endswith("证件号码: An ID number has 18 characters (or 15 digits for an old one).")
    report = client.get(body["report_url"])
    assert report.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(report.streaming_content)))
    assert [r[0] for r in workbook.worksheets[0].iter_rows(min_row=2, values_only=True)] == [3]
    assert AuditEvent.objects.filter(action="residents.import_report", actor=users.village_staff_a).count() == 1
    for other in ("town_admin_a", "county_operator", "nobody"):
        client.force_login(getattr(users, other))
        assert client.get(f"{API}/registry/imports/{job_id}").status_code == 404
        assert client.get(f"{API}/registry/imports/{job_id}/report").status_code == 404
    client.force_login(users.superuser)
    assert client.get(f"{API}/registry/imports/{job_id}").status_code == 200
    assert client.get(f"{API}/registry/imports/999999").json()["code"] == "not_found"


def test_api_upload_options_and_empty_upload(tree, users, client, django_capture_on_commit_callbacks):
    client.force_login(users.village_staff_a)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client.post(f"{API}/registry/imports", {"file": upload(tree), "dry_run": "true"}).json()["job_id"]
    body = client.get(f"{API}/registry/imports/{job_id}").json()
    assert (body["status"], body["dry_run"], body["imported_rows"], body["total_rows"]) == ("done", True, 0, 4)
    assert Person.objects.count() == 0
    rows = [row("好", ID1, tree.grid_a.code), row("坏", "123", tree.grid_a.code)]
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client.post(f"{API}/registry/imports", {"file": upload(tree, rows=rows), "skip_invalid": "true"}
                             ).json()["job_id"]
    body = client.get(f"{API}/registry/imports/{job_id}").json()
    assert (body["status"], body["imported_rows"], body["error_rows"]) == ("done", 1, 1)
    empty = SimpleUploadedFile("empty.csv", b"", content_type="text/csv")
    response = client.post(f"{API}/registry/imports", {"file": empty})
    assert response.status_code == 400 and response.json()["code"] == "import_invalid"
    garbage = SimpleUploadedFile("garbage.xlsx", os.urandom(4096))
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client.post(f"{API}/registry/imports", {"file": garbage}).json()["job_id"]
    body = client.get(f"{API}/registry/imports/{job_id}").json()
    assert body["status"] == "refused" and body["message"] and body["report_url"] is None


def test_job_progress_is_written_while_checking(tree, users, monkeypatch, tmp_path):
    monkeypatch.setattr(importer, "PROGRESS_EVERY", 2)
    rows = [row(f"人{i}", valid_id(f"61102319900101{i:03d}"), tree.grid_a.code) for i in range(7)]
    seen = []
    residents_import(actor=None, path=write_csv(tmp_path, rows),
                     progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen == [("checking", 2, 7), ("checking", 4, 7), ("checking", 6, 7), ("checking", 7, 7),
                    ("writing", 0, 7)]


@pytest.mark.parametrize("role", ROLES)
def test_upload_page(tree, users, client, django_capture_on_commit_callbacks, role):
    client.force_login(getattr(users, role))
    page = client.get("/registry/import/")
    template = client.get("/registry/import/template.xlsx")
    if not allowed(role):
        expected = 403 if role in VIEWERS else 404
        assert (page.status_code, template.status_code) == (expected, expected)
        before = state()
        assert client.post("/registry/import/", {"file": upload(tree)}).status_code == expected
        assert state() == before
        return
    assert page.status_code == 200 and template.status_code == 200
    assert "Import residents" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/registry/import/", {"file": upload(tree), "dry_run": "on"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/registry/import/jobs/{job.pk}/"
    assert job.dry_run and job.status in (JobStatus.DONE, JobStatus.REFUSED)
    detail = client.get(response["Location"]).content.decode()
    assert job.file_name in detail and "hx-trigger" not in detail


def test_a_job_whose_user_is_gone_is_not_run(tree, users, tmp_path):
    stored = write_csv(tmp_path, family(tree))
    job = ImportJob.objects.create(actor=None, file_name="orphan.csv", stored_path=str(stored))
    job = importer.import_job_run(job_id=job.pk)
    assert job.status == JobStatus.REFUSED and Person.objects.count() == 0 and not stored.exists()


def test_job_page_polls_while_running_and_only_for_its_user(tree, users, client):
    job = ImportJob.objects.create(actor=users.village_staff_a, file_name="big.csv", stored_path="/nowhere",
                                   status=JobStatus.RUNNING, total_rows=10000, processed_rows=2500)
    client.force_login(users.village_staff_a)
    page = client.get(f"/registry/import/jobs/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and 'value="25"' in page
    partial = client.get(f"/registry/import/jobs/{job.pk}/status/").content.decode()
    assert partial.lstrip().startswith('<div id="import-status"') and "<html" not in partial
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE, processed_rows=10000, imported_rows=10000)
    assert "hx-trigger" not in client.get(f"/registry/import/jobs/{job.pk}/status/").content.decode()
    assert client.get(f"/registry/import/jobs/{job.pk}/report.xlsx").status_code == 404  # it has none
    for other in ("town_admin_a", "grid_worker_a", "nobody"):
        client.force_login(getattr(users, other))
        assert client.get(f"/registry/import/jobs/{job.pk}/").status_code == 404
        assert client.get(f"/registry/import/jobs/{job.pk}/status/").status_code == 404


def test_report_download_from_the_page(tree, users, client, django_capture_on_commit_callbacks):
    client.force_login(users.village_staff_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/registry/import/", {"file": upload(tree, rows=[row("坏", "123", tree.grid_a.code)])})
    job = ImportJob.objects.get()
    assert job.status == JobStatus.REFUSED and job.report_path
    page = client.get(f"/registry/import/jobs/{job.pk}/").content.decode()
    assert f"/registry/import/jobs/{job.pk}/report.xlsx" in page
    response = client.get(f"/registry/import/jobs/{job.pk}/report.xlsx")
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    client.force_login(users.town_admin_a)
    assert client.get(f"/registry/import/jobs/{job.pk}/report.xlsx").status_code == 404


# --- export ------------------------------------------------------------------------------------------------


@pytest.fixture
def registered(tree, tmp_path):
    residents_import(actor=None, path=write_csv(tmp_path, [
        row("张三", ID1, tree.grid_a.code, "H001", "户主", "一组1号", "9000", "3", tags="吸毒人员、留守老人",
            phone="13800138000"),
        row("李四", ID2, tree.grid_a2.code),
        row("王五", ID3, tree.grid_b.code),
    ]))
    return Person.objects.all()


def export_rows(response) -> list[list]:
    content = b"".join(response.streaming_content)
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    return [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]


@pytest.mark.parametrize("role", ROLES)
def test_export_matrix(tree, users, client, registered, role):
    client.force_login(getattr(users, role))
    before = AuditEvent.objects.filter(action="residents.export").count()
    response = client.get(f"{API}/registry/persons/export.xlsx")
    if not allowed(role):
        assert response.status_code == 403
        assert AuditEvent.objects.filter(action="residents.export").count() == before
        return
    assert response.status_code == 200
    names = sorted(r[0] for r in export_rows(response)[1:])
    town_a, everyone = ["张三", "李四"], ["张三", "李四", "王五"]
    expected = {"superuser": everyone, "county_operator": everyone, "town_admin_a": town_a,
                "town_operator_a": town_a, "village_staff_a": town_a, "town_admin_b": ["王五"]}[role]
    assert names == sorted(expected)
    event = AuditEvent.objects.filter(action="residents.export").latest("pk")
    assert event.actor == getattr(users, role) and event.data == {"filters": {}, "rows": len(expected),
                                                                  "format": "xlsx"}


@pytest.mark.parametrize(("role", "area", "status"), [
    ("town_admin_a", "grid_a", 200), ("town_admin_a", "grid_b", 404), ("leader", "grid_a", 403),
    ("grid_worker_a", "grid_a", 403), ("grid_police_a", "grid_a", 403), ("dept_handler", "grid_a", 404),
    ("nobody", "grid_a", 404), ("village_staff_a", "grid_a3", 404), ("superuser", "grid_b", 200),
])
def test_export_of_an_area(tree, users, client, registered, role, area, status):
    client.force_login(getattr(users, role))
    response = client.get(f"{API}/registry/persons/export.xlsx", {"area": getattr(tree, area).code})
    assert response.status_code == status
    page = client.get("/registry/persons/export.xlsx", {"area": getattr(tree, area).code})
    assert page.status_code == status


def test_export_is_masked_filtered_and_audited(tree, users, client, registered):
    client.force_login(users.village_staff_a)
    response = client.get("/registry/persons/export.xlsx", {"area": tree.grid_a.code, "name": "张"})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    rows = export_rows(response)
    assert len(rows[0]) == 16  # the header (in the page's language)
    assert len(rows) == 2
    zhang = rows[1]
    assert zhang[2] == mask_id(ID1) and zhang[5] == "138****8000"
    assert ID1 not in str(rows) and "13800138000" not in str(rows)
    assert (zhang[10], zhang[12], zhang[13]) == (tree.grid_a.code, "H001", "head")
    assert set(zhang[15].split("、")) == {"吸毒人员", "留守老人"}
    event = AuditEvent.objects.get(action="residents.export")
    assert event.data == {"filters": {"area": tree.grid_a.code, "name_prefix": "张"}, "rows": 1, "format": "xlsx"}
    assert event.area_path == tree.grid_a.path
    client.force_login(users.town_admin_a)  # no right to sensitive tags
    rows = export_rows(client.get(f"{API}/registry/persons/export.xlsx", {"name": "张"}))
    assert rows[1][15] == "留守老人"
    rows = export_rows(client.get(f"{API}/registry/persons/export.xlsx", {"id_number": ID2}))
    assert [r[0] for r in rows[1:]] == ["李四"]
    assert AuditEvent.objects.filter(action="residents.export").latest("pk").data["filters"] == {"id_number": True}


def test_export_streams_in_chunks(tree, users, client, registered, django_assert_max_num_queries):
    client.force_login(users.superuser)
    with django_assert_max_num_queries(12):
        response = client.get(f"{API}/registry/persons/export.xlsx")
    assert len(export_rows(response)) == 4


def test_every_dictionary_value_has_its_chinese_name():
    assert set(importer.RELATION_NAMES) == set(Relation.values)
    assert set(importer.ID_TYPE_NAMES) == set(IdType.values)
    assert set(importer.RESIDENCE_NAMES) == set(ResidenceType.values)
