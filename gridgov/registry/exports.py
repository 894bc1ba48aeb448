"""Files the registry hands out: the import template, and the person, household, house and place lists as
.xlsx (masked, audited).

The export streams: persons are read 2,000 at a time (``.iterator(chunk_size=2000)``, their current tags
prefetched per chunk) and written by xlsxwriter in constant-memory mode, so a million rows never need a
million objects. ID numbers and phones go out masked, exactly as lists show them; sensitive tags only
where the actor may see them. Every export writes an AuditEvent with its filters and row count.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import xlsxwriter
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from xlsxwriter.utility import xl_col_to_name

from gridgov.areas.models import GRID_KINDS, Area
from gridgov.areas.scope import Perm, scope_for
from gridgov.core import audit
from gridgov.core.errors import NotFound, PermissionDenied
from gridgov.core.exports import xlsx_response
from gridgov.core.idnumber import mask_phone
from gridgov.registry import selectors
from gridgov.registry.importer import (
    COLUMNS,
    ID_TYPE_NAMES,
    RELATION_NAMES,
    RESIDENCE_NAMES,
    SEX_NAMES,
)
from gridgov.registry.models import House, HouseholdClass, Person, PersonTag, Place, Tag

EXAMPLE_ID_NUMBER = "34052419800101001X"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def require_export(actor, area: Area | None = None) -> None:
    """Import and export need Perm.RESIDENT_EXPORT: on ``area`` if given (outside the actor's view: 'not
    found'), otherwise somewhere."""
    if area is not None:
        if not scope_for(actor, Perm.RESIDENT_VIEW).contains(area.path):
            raise NotFound("No such area.")
        if not scope_for(actor, Perm.RESIDENT_EXPORT).contains(area.path):
            raise PermissionDenied("You may not export residents here.")
    elif scope_for(actor, Perm.RESIDENT_EXPORT).is_empty:
        raise PermissionDenied("You may not import or export residents.")


# --- the import template -------------------------------------------------------------------------


def template_tags(*, actor):
    """The tags the actor may put on persons somewhere: sensitive ones only with that permission."""
    qs = Tag.objects.filter(active=True)
    if actor is not None and scope_for(actor, Perm.SENSITIVE_TAGS).is_empty:
        qs = qs.filter(sensitive=False)
    return qs.order_by("order", "name")


def _example_grid(actor) -> Area | None:
    scope = scope_for(actor, Perm.RESIDENT_EXPORT)
    return Area.objects.filter(scope.q("path"), kind__in=GRID_KINDS).order_by("path").first()


def template_workbook(*, actor) -> bytes:
    """The import template (.xlsx): the header row, one example row, and a sheet of the dictionaries."""
    require_export(actor)
    tags = list(template_tags(actor=actor))
    grid = _example_grid(actor)
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    bold = workbook.add_format({"bold": True, "bg_color": "#E8EDF3", "border": 1})
    text = workbook.add_format({"num_format": "@"})
    sheet = workbook.add_worksheet("居民信息")
    lists = workbook.add_worksheet("字典")
    keys = [c.key for c in COLUMNS]
    for col, column in enumerate(COLUMNS):
        sheet.write_string(0, col, column.title, bold)
        if column.note:
            sheet.write_comment(0, col, column.note, {"x_scale": 1.6})
        width = 22 if column.key in ("id_number", "household_address", "tags", "grid_code") else 12
        sheet.set_column(col, col, width, text)
    example = {
        "name": "张三", "id_type": ID_TYPE_NAMES["citizen"], "id_number": EXAMPLE_ID_NUMBER,
        "phone": "13800138000", "ethnicity": "汉族", "education": "高中", "political_status": "群众",
        "residence_type": RESIDENCE_NAMES["registered"], "grid_code": grid.code if grid else "",
        "household_number": "示例户0001", "relation": RELATION_NAMES["head"],
        "household_address": f"{grid.name}1号" if grid else "某村一组1号", "income_per_person": "12000",
        "safe_family_years": "3", "tags": "", "birth_date": "", "sex": "",
    }
    for col, key in enumerate(keys):
        sheet.write_string(1, col, example[key], text)
    sheet.freeze_panes(1, 0)

    blocks = [
        ("证件类型", list(ID_TYPE_NAMES.items())),
        ("居住类型", list(RESIDENCE_NAMES.items())),
        ("与户主关系", list(RELATION_NAMES.items())),
        ("性别", list(SEX_NAMES.items())),
        ("标签", [(t.code, t.name) for t in tags]),
    ]
    validated = {"证件类型": "id_type", "居住类型": "residence_type", "与户主关系": "relation", "性别": "sex"}
    for index, (title, values) in enumerate(blocks):
        col = index * 3
        lists.write_string(0, col, f"{title}·代码", bold)
        lists.write_string(0, col + 1, f"{title}·名称", bold)
        lists.set_column(col, col + 1, 16)
        for row, (code, name) in enumerate(values, start=1):
            lists.write_string(row, col, code)
            lists.write_string(row, col + 1, name)
        if title in validated and values:
            target = keys.index(validated[title])
            letter = xl_col_to_name(col + 1)
            sheet.data_validation(1, target, 20000, target, {
                "validate": "list", "source": f"='字典'!${letter}$2:${letter}${len(values) + 1}",
                "show_error": False, "input_title": title[:32],
                "input_message": "可填名称或代码，见“字典”表"[:255],
            })
    note_row = max(len(v) for _t, v in blocks) + 3
    notes = [
        "说明：第一行为表头，请勿改动；每行一人。可填代码或中文名称。",
        "证件号码、联系电话、网格编码、户编号请设为文本格式，以免 Excel 改写长数字。",
        "同一户的成员填同一“户编号”；新户以本户第一行的户地址、人均年收入、平安家庭年数建立，“户主”一行为户主。",
        "标签可填多个，用“、”或“,”分隔。不要使用公式或合并单元格。",
    ]
    for offset, line in enumerate(notes):
        lists.write_string(note_row + offset, 0, line)
    workbook.close()
    return output.getvalue()


# --- exporting the person list -----------------------------------------------------------------


def export_header() -> list[str]:
    return [_("Name"), _("ID type"), _("ID number"), _("Birth date"), _("Sex"), _("Phone"), _("Ethnicity"),
            _("Education"), _("Political status"), _("Residence type"), _("Grid code"), _("Grid"),
            _("Household number"), _("Relation to the head"), _("Household colour"), _("Tags")]


def person_export_rows(*, actor, filters: selectors.PersonFilters) -> Iterator[list]:
    """The rows of a person export: the actor's person list (filters as on the page) within their export
    scope, masked, with the current tags they may see."""
    export_scope = scope_for(actor, Perm.RESIDENT_EXPORT)
    sensitive_scope = scope_for(actor, Perm.SENSITIVE_TAGS)
    current = PersonTag.objects.filter(selectors.active_tags_q()).select_related("tag").order_by("tag__order")
    persons = (selectors.person_list(actor=actor, filters=filters).filter(export_scope.q("area__path"))
               .prefetch_related(Prefetch("person_tags", queryset=current, to_attr="current_tags")))
    id_types = {c: str(label) for c, label in Person._meta.get_field("id_type").choices}
    sexes = {c: str(label) for c, label in Person._meta.get_field("sex").choices}
    residences = {c: str(label) for c, label in Person._meta.get_field("residence_type").choices}
    relations = {c: str(label) for c, label in Person._meta.get_field("relation").choices}
    colours = {c: str(label) for c, label in HouseholdClass.choices}
    for p in persons.iterator(chunk_size=2000):
        household = p.household
        tags = [pt.tag.name for pt in p.current_tags
                if not pt.tag.sensitive or sensitive_scope.contains(p.area.path)]
        yield [
            p.name, id_types.get(p.id_type, p.id_type), p.id_number_masked,
            p.birth_date.isoformat() if p.birth_date else "", sexes.get(p.sex, ""), p.phone_masked,
            p.ethnicity, p.education, p.political_status, residences.get(p.residence_type, p.residence_type),
            p.area.code, p.area.name, household.number if household else "",
            relations.get(p.relation, ""), colours.get(household.household_class, "") if household else "",
            "、".join(tags),
        ]


def _filters_for_audit(filters: selectors.PersonFilters) -> dict:
    data = {
        "area": filters.area.code if filters.area else "", "name_prefix": filters.name_prefix,
        "id_number": bool(filters.id_number),  # never the number itself in the log
        "tag": filters.tag, "residence_type": filters.residence_type, "colour": filters.household_class,
        "include_inactive": filters.include_inactive,
    }
    return {k: v for k, v in data.items() if v}


def person_export(*, actor, filters: selectors.PersonFilters):
    """The filtered person list as an .xlsx download (a FileResponse); audited with its filters and size."""
    require_export(actor, filters.area)
    counted = _Counter(person_export_rows(actor=actor, filters=filters))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = xlsx_response(f"persons-{stamp}.xlsx", _("Persons"), export_header(), counted)
    scope = scope_for(actor, Perm.RESIDENT_EXPORT)
    area_path = filters.area.path if filters.area else (scope.roots[0] if len(scope.roots) == 1 else "")
    audit.record(actor=actor, action="residents.export", area_path=area_path,
                 object_repr=filters.area.name if filters.area else "",
                 data={"filters": _filters_for_audit(filters), "rows": counted.count, "format": "xlsx"})
    return response


class _Counter:
    def __init__(self, rows):
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


# --- exporting the household, house and place lists ---------------------------------------------------


def _labels(model, field: str) -> dict[str, str]:
    return {c: str(label) for c, label in model._meta.get_field(field).choices}


def household_export_rows(*, actor, area: Area | None, colour: str = "", number_prefix: str = "") -> Iterator[list]:
    scope = scope_for(actor, Perm.RESIDENT_EXPORT)
    households = selectors.household_list(actor=actor, area=area, household_class=colour,
                                          number_prefix=number_prefix).filter(scope.q("area__path"))
    colours = dict((c, str(label)) for c, label in HouseholdClass.choices)
    for h in households.iterator(chunk_size=2000):
        yield [
            h.number, h.head.name if h.head else "", h.member_count, h.address, h.area.code, h.area.name,
            colours.get(h.household_class, ""), "；".join(h.class_reasons or []),
            _("yes") if h.override_active else "", h.income_per_person, h.safe_family_years,
        ]


def house_export_rows(*, actor, area: Area | None) -> Iterator[list]:
    scope = scope_for(actor, Perm.RESIDENT_EXPORT)
    types, uses = _labels(House, "house_type"), _labels(House, "use")
    for h in selectors.house_list(actor=actor, area=area).filter(scope.q("area__path")).iterator(chunk_size=2000):
        yield [h.address, h.area.code, h.area.name, types.get(h.house_type, ""), h.owner_name,
               uses.get(h.use, ""), h.lng, h.lat]


def place_export_rows(*, actor, area: Area | None, place_type: str = "") -> Iterator[list]:
    scope = scope_for(actor, Perm.RESIDENT_EXPORT)
    types = _labels(Place, "place_type")
    places = selectors.place_list(actor=actor, area=area, place_type=place_type).filter(scope.q("area__path"))
    for p in places.iterator(chunk_size=2000):
        yield [p.name, types.get(p.place_type, ""), p.area.code, p.area.name, p.address, p.contact_name,
               mask_phone(p.contact_phone) if p.contact_phone else "", p.credit_code]


LIST_EXPORTS = {
    "households": (household_export_rows, lambda: [
        _("Household number"), _("Head"), _("Members"), _("Address"), _("Grid code"), _("Grid"), _("Colour"),
        _("Why"), _("Manual colour"), _("Yearly income per person (yuan)"), _("Years as 平安家庭")]),
    "houses": (house_export_rows, lambda: [
        _("Address"), _("Grid code"), _("Grid"), _("Type"), _("Owner"), _("Use"), _("Longitude"), _("Latitude")]),
    "places": (place_export_rows, lambda: [
        _("Name"), _("Type"), _("Grid code"), _("Grid"), _("Address"), _("Contact"), _("Contact phone"),
        _("Unified social credit code")]),
}


def list_export(*, actor, kind: str, area: Area | None, **filters):
    """The household, house or place list (``kind``) with the filters of its page as an .xlsx download:
    phones masked, only the actor's export scope, audited with the filters and the row count."""
    rows_for, header = LIST_EXPORTS[kind]
    require_export(actor, area)
    counted = _Counter(rows_for(actor=actor, area=area, **filters))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    sheet = {"households": _("Households"), "houses": _("Houses"), "places": _("Places")}[kind]
    response = xlsx_response(f"{kind}-{stamp}.xlsx", sheet, header(), counted)
    scope = scope_for(actor, Perm.RESIDENT_EXPORT)
    audit.record(actor=actor, action=f"{kind}.export",
                 area_path=area.path if area else (scope.roots[0] if len(scope.roots) == 1 else ""),
                 object_repr=area.name if area else "",
                 data={"filters": {k: v for k, v in filters.items() if v}, "rows": counted.count, "format": "xlsx"})
    return response
