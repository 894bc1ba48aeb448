"""``gridgov import-areas``: the whole file is checked first, then imported all at once, or not at all."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from gridgov.areas.importer import AreaImportError, areas_import
from gridgov.areas.models import Area, AreaKind, DedicatedType
from gridgov.core.models import AuditEvent
from tests.conftest import square

HEADER = ["code", "name", "parent_code", "level", "kind"]
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "areas-example.csv"


@pytest.fixture(autouse=True)
def _english():
    """The assertions read the English messages; zh-Hans is the default language."""
    with translation.override("en"):
        yield


def write_csv(tmp_path, rows, header=HEADER, encoding="utf-8", name="areas.csv") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def problems_of(path) -> dict[int | None, str]:
    with pytest.raises(AreaImportError) as caught:
        areas_import(actor=None, path=path)
    problems: dict[int | None, str] = {}
    for line, message in caught.value.problems:
        problems[line] = f"{problems[line]} {message}" if line in problems else message
    return problems


def counts() -> tuple[int, int]:
    return Area.objects.count(), AuditEvent.objects.count()


# --- good files ----------------------------------------------------------------------------------


def test_example_file_imports_the_whole_tree(levels):
    result = areas_import(actor="gridgov import-areas", path=EXAMPLE)

    assert (result.created, result.updated, result.unchanged) == (7, 0, 0)
    county = Area.objects.get(code="611023000000")
    assert county.parent is None and county.level.name == "县"
    grid = Area.objects.get(code="611023100201001001")
    assert grid.kind == AreaKind.GRID and grid.parent.code == "611023100201001"
    assert grid.path.startswith(county.path) and grid.depth == 4
    assert (grid.min_lng, grid.min_lat, grid.max_lng, grid.max_lat) == (110.80, 33.50, 110.81, 33.51)
    school = Area.objects.get(code="611023100201001002")
    assert (school.kind, school.dedicated_type) == (AreaKind.DEDICATED_GRID, DedicatedType.SCHOOL)
    group = Area.objects.get(code="61102310020100100101")
    assert group.kind == AreaKind.JOINT_DEFENSE_GROUP and group.parent == grid
    assert AuditEvent.objects.filter(action="area.create").count() == 7
    summary = AuditEvent.objects.get(action="areas.import")
    assert summary.actor_name == "gridgov import-areas"
    assert summary.data == {"file": "areas-example.csv", "created": 7, "updated": 0, "unchanged": 0}


def test_importing_the_same_file_again_changes_nothing(levels):
    areas_import(actor=None, path=EXAMPLE)
    before = counts()
    paths = list(Area.objects.values_list("code", "path", "updated_at"))

    result = areas_import(actor=None, path=EXAMPLE)

    assert (result.created, result.updated, result.unchanged) == (0, 0, 7)
    assert counts() == before
    assert list(Area.objects.values_list("code", "path", "updated_at")) == paths


def test_children_may_come_before_their_parents(levels, tmp_path):
    header, *rows = EXAMPLE.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "reversed.csv"
    path.write_text("\n".join([header, *reversed(rows)]) + "\n", encoding="utf-8")

    result = areas_import(actor=None, path=path)

    assert result.created == 7
    for area in Area.objects.exclude(parent=None).select_related("parent"):
        assert area.path.startswith(area.parent.path) and len(area.path) == len(area.parent.path) + 4


def test_rows_are_added_under_existing_areas_after_their_last_child(tree, tmp_path):
    path = write_csv(tmp_path, [
        ["611023100201001003", "新片", "611023100201001", "片", "网格"],
        ["611023100203", "新村", "611023100000", "村/社区", "行政区划"],
        ["611023100203001", "新村一片", "611023100203", "片", "基础网格"],
    ])

    assert areas_import(actor=None, path=path).created == 3

    new_grid = Area.objects.get(code="611023100201001003")
    assert new_grid.parent == tree.group_a1
    assert new_grid.path > Area.objects.get(code="611023100201001002").path
    assert new_grid.path[:-4] == tree.group_a1.path
    village = Area.objects.get(code="611023100203")
    assert village.path[:-4] == tree.town_a.path and village.path > tree.village_a2.path


def test_changed_name_and_boundary_update_the_existing_area(tree, tmp_path):
    boundary = json.dumps(square(110.70, 33.40))
    path = write_csv(tmp_path, [
        ["611023100201001001", "牛家庄片（新）", "611023100201001", "片", "grid", boundary],
        ["611023100201001002", "河口片", "611023100201001", "片", "grid", ""],
    ], header=[*HEADER, "geometry"])

    result = areas_import(actor=None, path=path)

    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    grid = Area.objects.get(pk=tree.grid_a.pk)
    assert grid.name == "牛家庄片（新）" and (grid.min_lng, grid.min_lat) == (110.70, 33.40)
    assert AuditEvent.objects.filter(action="area.update", object_id=str(grid.pk)).count() == 1
    before = counts()
    assert areas_import(actor=None, path=path).unchanged == 2
    assert counts() == before


# --- refused files -------------------------------------------------------------------------------


def test_every_bad_row_is_reported_and_nothing_is_imported(tree, tmp_path):
    path = write_csv(tmp_path, [
        ["611023100201001003", "好的片", "611023100201001", "片", "网格", "", ""],  # line 2: fine
        ["", "无代码", "611023100201001", "片", "网格", "", ""],  # 3
        ["611023100201001004", "", "611023100201001", "片", "网格", "", ""],  # 4
        ["611023100201001005", "某片", "611023100201001", "小区", "网格", "", ""],  # 5
        ["611023100201001006", "某片", "611023100201001", "片", "街区", "", ""],  # 6
        ["611023100201001003", "重复", "611023100201001", "片", "网格", "", ""],  # 7
        ["611023199201001", "某组", "611023199201", "组", "行政区划", "", ""],  # 8
        ["611023100201001007", "某片", "611023100201001", "片", "网格", "{not json", ""],  # 9
        ["611023100201001008", "某校", "611023100201001", "片", "专属网格", "", ""],  # 10
        ["611023100201001009", "某校", "611023100201001", "片", "专属网格", "", "动物园"],  # 11
        ["611023100201001", "一组", "611023100201", "组", "网格", "", ""],  # 12: existing, other kind
        ["611023100201001010", "x" * 101, "611023100201001", "片", "网格", "", ""],  # 13
    ], header=[*HEADER, "geometry", "dedicated_type"])
    before = counts()

    problems = problems_of(path)

    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert "code is missing" in problems[3]
    assert "name is missing" in problems[4]
    assert "Unknown level '小区'" in problems[5] and "片" in problems[5]
    assert "Unknown kind '街区'" in problems[6]
    assert "also on line 2" in problems[7]
    assert "611023199201 is neither in the database nor in this file" in problems[8]
    assert "GeoJSON" in problems[9]
    assert "needs its type" in problems[10]
    assert "Unknown dedicated grid type '动物园'" in problems[11]
    assert "different kind" in problems[12] and "tree browser" in problems[12]
    assert "longer than 100" in problems[13]
    assert counts() == before


def test_a_grid_directly_under_a_town_is_refused(tree, tmp_path):
    path = write_csv(tmp_path, [["611023100001", "镇直片", "611023100000", "片", "网格"]])

    problems = problems_of(path)

    assert list(problems) == [2]
    assert "never directly to a town or county" in problems[2]
    assert not Area.objects.filter(code="611023100001").exists()


def test_a_code_that_does_not_extend_its_parents_is_refused(tree, tmp_path):
    path = write_csv(tmp_path, [
        ["611023100000", "富水镇", "611023000000", "镇办", "行政区划"],  # unchanged, fine
        ["611023101202", "错村", "611023100000", "村/社区", "行政区划"],  # town 101 under town 100
        ["611023100202009", "错片", "611023100201001", "片", "网格"],  # another village's prefix
    ])

    problems = problems_of(path)

    assert sorted(problems) == [3, 4]
    assert "extend the parent's code 611023100" in problems[3]
    assert "parent's code followed by 3 digits" in problems[4]


def test_a_cycle_between_two_rows_is_refused(levels, tmp_path):
    path = write_csv(tmp_path, [
        ["611023000000", "商南县", "", "县", "行政区划"],
        ["611023100201001", "甲组", "611023100201002", "组", "行政区划"],
        ["611023100201002", "乙组", "611023100201001", "组", "行政区划"],
        ["611023100201003", "丙组", "611023100201003", "组", "行政区划"],
    ])

    problems = problems_of(path)

    assert sorted(problems) == [3, 4, 5]
    assert "cycle" in problems[3] and "cycle" in problems[4]
    assert "own parent" in problems[5]
    assert Area.objects.count() == 0


def test_an_existing_area_under_another_parent_is_refused(tree, tmp_path):
    path = write_csv(tmp_path, [["611023101201", "洞场村", "611023100000", "村/社区", "行政区划"]])

    problems = problems_of(path)

    assert "different parent" in problems[2] and "tree browser" in problems[2]
    assert Area.objects.get(code="611023101201").parent == tree.town_b


def test_a_user_may_only_import_under_areas_they_may_change(users, tmp_path):
    path = write_csv(tmp_path, [
        ["611023100201001003", "新片", "611023100201001", "片", "网格"],
        ["611023101201001002", "新片", "611023101201001", "片", "网格"],
        ["611024000000", "丹凤县", "", "县", "行政区划"],
    ])
    before = counts()

    with pytest.raises(AreaImportError) as caught:
        areas_import(actor=users.town_admin_a, path=path)

    assert caught.value.problems == [
        (3, "You may not add areas under 611023101201001."),
        (4, "Only a system administrator creates a root area."),
    ]
    assert counts() == before
    assert areas_import(actor=users.superuser, path=path).created == 3
    assert AuditEvent.objects.filter(action="area.create").latest("id").actor == users.superuser


# --- file formats --------------------------------------------------------------------------------


def test_xlsx_with_numeric_codes_and_chinese_headers(levels, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["代码", "名称", "上级代码", "层级", "类型"])
    sheet.append([611023000000.0, "商南县", None, "县", "行政区划"])
    sheet.append([611023100000, "富水镇", 611023000000.0, "镇办", "行政区划"])
    sheet.append([])
    sheet.append(["６１１０２３１００２０１", " 梁家湾村 ", "611023 100000", "村/社区", "行政区划"])
    sheet.append([611023100201001, "一组", 611023100201, "组", "行政区划"])
    path = tmp_path / "areas.xlsx"
    workbook.save(path)

    result = areas_import(actor=None, path=path)

    assert result.created == 4
    assert set(Area.objects.values_list("code", flat=True)) == {
        "611023000000", "611023100000", "611023100201", "611023100201001"}
    assert Area.objects.get(code="611023100201").name == "梁家湾村"


def test_xlsx_numbers_that_lost_digits_are_reported_with_their_line(levels, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append([611023000000, "商南县", None, "县", "行政区划"])
    sheet.append([])
    sheet.append([6.11023100201001e17, "某片", 611023100201001, "片", "网格"])
    path = tmp_path / "areas.xlsx"
    workbook.save(path)

    problems = problems_of(path)

    assert list(problems) == [4]
    assert "lost its last digits" in problems[4]


def test_gb18030_csv_with_chinese_headers(levels, tmp_path):
    path = write_csv(tmp_path, [
        ["611023000000", "商南县", "", "县", "行政区划"],
        ["611023100000", "富水镇", "611023000000", "镇办", "行政区划"],
    ], header=["编码", "名称", "上级编码", "层级", "类型"], encoding="gb18030")

    assert areas_import(actor=None, path=path).created == 2
    assert Area.objects.get(code="611023100000").name == "富水镇"


def test_utf8_csv_with_bom(levels, tmp_path):
    path = write_csv(tmp_path, [["611023000000", "商南县", "", "县", "行政区划"]], encoding="utf-8-sig")

    assert areas_import(actor=None, path=path).created == 1


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"", "areas.csv", "empty"),
        (b"  \r\n", "areas.csv", "empty"),
        (bytes(range(256)) * 8, "areas.csv", "neither a CSV"),
        (b"PK\x03\x04 not really a zip", "areas.xlsx", "not a valid .xlsx"),
        (b"just some text", "areas.xlsx", "not a valid .xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "areas.xls", "Old .xls"),
        (b"code,name\n611023000000,x\n", "areas.csv", "Missing column(s): parent_code, level, kind"),
        (b"code,name,parent_code,level,kind\n", "areas.csv", "no rows"),
    ],
)
def test_unreadable_files_give_a_clear_error(levels, tmp_path, content, name, expected):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(AreaImportError) as caught:
        areas_import(actor=None, path=path)

    assert expected in caught.value.message
    assert Area.objects.count() == 0


def test_a_missing_file_gives_a_clear_error(levels, tmp_path):
    with pytest.raises(AreaImportError, match="Cannot read"):
        areas_import(actor=None, path=tmp_path / "nowhere.csv")


# --- the command ---------------------------------------------------------------------------------


def test_command_prints_the_summary(levels):
    out = io.StringIO()

    call_command("import_areas", str(EXAMPLE), stdout=out)

    assert out.getvalue().strip() == "created 7, updated 0, unchanged 0"


def test_command_fails_with_every_problem_on_stderr(tree, tmp_path):
    path = write_csv(tmp_path, [
        ["611023100001", "镇直片", "611023100000", "片", "网格"],
        ["611023100201001003", "", "611023100201001", "片", "网格"],
    ])
    err = io.StringIO()
    before = counts()

    with pytest.raises(CommandError, match="Nothing was imported: 2 rows of .* have problems"):
        call_command("import_areas", str(path), stderr=err)

    lines = err.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Line 2", "Line 2", "Line 3"]
    assert "never directly to a town" in lines[0] and "name is missing" in lines[2]
    assert counts() == before


def test_command_fails_cleanly_on_a_file_that_is_not_a_table(levels, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

    err = io.StringIO()

    with pytest.raises(CommandError, match="Nothing was imported from"):
        call_command("import_areas", str(path), stderr=err)

    assert "neither a CSV" in err.getvalue()
