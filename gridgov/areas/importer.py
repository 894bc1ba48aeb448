"""Importing the area tree from a CSV or XLSX file (``gridgov import-areas``).

Columns ``code, name, parent_code, level, kind`` and optionally ``geometry`` (GeoJSON text) and
``dedicated_type``; Chinese headers are accepted too. The whole file is validated first: on any
problem nothing is imported and every bad row is reported with its line number (the header is
line 1). Otherwise everything is imported in one transaction, parents before children.

Importing the same file again changes nothing: a row whose code exists with the same parent,
level and kind is unchanged, or has its name, dedicated type or boundary updated. An empty
geometry cell leaves an existing boundary as it is. Moving an area is refused here: the tree
browser does that, with its own checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from gridgov.areas import services
from gridgov.areas.codes import decode_step, encode_step
from gridgov.areas.errors import AreaErrorCode
from gridgov.areas.geo import Boundary, parse_boundary
from gridgov.areas.models import PATH_STEP, Area, AreaKind, AreaLevel, DedicatedType
from gridgov.areas.scope import Perm
from gridgov.core import audit
from gridgov.core.errors import ApplicationError
from gridgov.core.models import AuditEvent
from gridgov.core.spreadsheets import SpreadsheetError, cell_text, code_text, header_key, open_table

REQUIRED = ("code", "name", "parent_code", "level", "kind")
HEADERS = {
    "code": "code", "代码": "code", "编码": "code",
    "name": "name", "名称": "name",
    "parent_code": "parent_code", "上级代码": "parent_code", "上级编码": "parent_code",
    "level": "level", "层级": "level",
    "kind": "kind", "类型": "kind",
    "geometry": "geometry", "边界": "geometry",
    "dedicated_type": "dedicated_type", "专属类型": "dedicated_type",
}
KINDS = {value: value for value in AreaKind.values} | {
    "行政区划": AreaKind.DIVISION, "网格": AreaKind.GRID, "基础网格": AreaKind.GRID,
    "专属网格": AreaKind.DEDICATED_GRID, "联防组": AreaKind.JOINT_DEFENSE_GROUP,
}
DEDICATED_TYPES = {value: value for value in DedicatedType.values} | {
    "学校": DedicatedType.SCHOOL, "医院": DedicatedType.HOSPITAL, "市场": DedicatedType.MARKET,
    "企业": DedicatedType.ENTERPRISE, "宗教场所": DedicatedType.RELIGIOUS_SITE, "其他": DedicatedType.OTHER,
}
_CODE_MAX = Area._meta.get_field("code").max_length
_NAME_MAX = Area._meta.get_field("name").max_length
_LOOKUP_BATCH = 2000


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


class AreaImportError(ApplicationError):
    """The file was refused and nothing was imported. ``problems`` are (line or None, reason) pairs."""

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        self.problems = sorted(problems, key=lambda p: (p[0] or 0))
        lines = [format_problem(line, message) for line, message in self.problems]
        super().__init__(AreaErrorCode.INVALID_IMPORT, "\n".join(lines), fields={"rows": lines})


def _file_error(message: str) -> AreaImportError:
    return AreaImportError([(None, message)])


def _tree_changed() -> AreaImportError:
    return _file_error(_("Someone changed the tree during the import; nothing was imported. Run it again."))


def format_problem(line: int | None, message: str) -> str:
    return message if line is None else _("Line %(line)d: %(message)s") % {"line": line, "message": message}


@dataclass
class _Row:
    line: int
    code: str = ""
    name: str = ""
    parent_code: str = ""
    level: AreaLevel | None = None
    kind: str = ""
    dedicated_type: str = ""
    boundary: Boundary | None = None  # None when the geometry cell is empty
    problems: list[str] = field(default_factory=list)


# --- reading the file ----------------------------------------------------------------------------


def _read_table(path: Path) -> list[list]:
    """The rows of the file's first sheet (header first) as lists of cell values.

    An area file is small (a county has a few thousand areas), so it is read whole; the reading itself is
    the shared one of gridgov.core.spreadsheets (encodings, workbooks, what is not a table)."""
    try:
        with open_table(path) as table:
            return list(table)
    except SpreadsheetError as exc:
        raise _file_error(exc.message) from None


_text = cell_text
_code = code_text


def _header_map(header: list) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = header_key(cell)
        if key in HEADERS and HEADERS[key] not in columns:
            columns[HEADERS[key]] = index
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise AreaImportError([(1, _(
            "Missing column(s): %(missing)s. The first row must name the columns "
            "code, name, parent_code, level, kind (optionally geometry, dedicated_type)."
        ) % {"missing": ", ".join(missing)})])
    return columns


def _parse_rows(table: list[list]) -> list[_Row]:
    if not table:
        raise _file_error(_("The file is empty."))
    columns = _header_map(table[0])
    levels = {level.name: level for level in AreaLevel.objects.all()}
    rows: list[_Row] = []
    for line, cells in enumerate(table[1:], start=2):
        if not any(_text(cell) for cell in cells):
            continue

        def cell(name, cells=cells):
            index = columns.get(name)
            return cells[index] if index is not None and index < len(cells) else None

        row = _Row(line=line, name=_text(cell("name")))
        row.code, problem = _code(cell("code"))
        row.parent_code, parent_problem = _code(cell("parent_code"))
        row.problems += [p for p in (problem, parent_problem) if p]
        if not row.code:
            row.problems.append(_("The code is missing."))
        elif len(row.code) > _CODE_MAX:
            row.problems.append(_("The code is longer than %(n)d characters.") % {"n": _CODE_MAX})
        if not row.name:
            row.problems.append(_("The name is missing."))
        elif len(row.name) > _NAME_MAX:
            row.problems.append(_("The name is longer than %(n)d characters.") % {"n": _NAME_MAX})
        level_name = _text(cell("level"))
        row.level = levels.get(level_name)
        if row.level is None:
            row.problems.append(_("Unknown level %(level)r; the levels are: %(known)s.") % {
                "level": level_name, "known": ", ".join(levels) or _("(none configured)")})
        kind = _text(cell("kind"))
        row.kind = KINDS.get(kind.lower(), "")
        if not row.kind:
            row.problems.append(_("Unknown kind %(kind)r; use one of: %(known)s.") % {
                "kind": kind, "known": ", ".join(KINDS)})
        dedicated = _text(cell("dedicated_type"))
        row.dedicated_type = DEDICATED_TYPES.get(dedicated.lower(), "")
        if dedicated and not row.dedicated_type:
            row.problems.append(_("Unknown dedicated grid type %(type)r; use one of: %(known)s.") % {
                "type": dedicated, "known": ", ".join(DEDICATED_TYPES)})
        try:
            row.boundary = parse_boundary(_text(cell("geometry")))
        except ApplicationError as exc:
            row.problems.append(exc.message)
        rows.append(row)
    if not rows:
        raise _file_error(_("The file has no rows to import."))
    return rows


# --- validating the whole file -------------------------------------------------------------------


def _batches(values) -> list[list]:
    ordered = sorted(values)
    return [ordered[start:start + _LOOKUP_BATCH] for start in range(0, len(ordered), _LOOKUP_BATCH)]


def _existing(codes: set[str]) -> dict[str, Area]:
    return {
        area.code: area
        for batch in _batches(codes)
        for area in Area.objects.filter(code__in=batch).select_related("level", "parent")
    }


def _on_cycle(by_code: dict[str, _Row]) -> set[str]:
    """Codes whose parent links inside the file lead back to themselves."""
    cyclic: set[str] = set()
    done: set[str] = set()
    for start in by_code:
        chain: list[str] = []
        code = start
        while code in by_code and code not in done and code not in chain:
            chain.append(code)
            code = by_code[code].parent_code
        if code in chain:
            cyclic.update(chain[chain.index(code):])
        done.update(chain)
    return cyclic


def _may_change(user, area: Area | None) -> bool:
    if user is None:
        return True
    if area is None:
        return user.is_superuser
    try:
        services.require(user, Perm.AREA_CHANGE, area)
    except ApplicationError:
        return False
    return True


def _validate(rows: list[_Row], user) -> tuple[dict[str, _Row], dict[str, Area]]:
    """Checks every row; returns the rows by code and the areas of the file that already exist."""
    by_code: dict[str, _Row] = {}
    for row in rows:
        if row.code in by_code:
            row.problems.append(_("The code %(code)s is also on line %(line)d.") % {
                "code": row.code, "line": by_code[row.code].line})
        elif row.code:
            by_code[row.code] = row
    existing = _existing({r.code for r in rows if r.code} | {r.parent_code for r in rows if r.parent_code})
    cyclic = _on_cycle(by_code)
    for row in by_code.values():
        if row.parent_code == row.code:
            row.problems.append(_("An area cannot be its own parent."))
            continue
        if row.code in cyclic:
            row.problems.append(_("The parent codes form a cycle through %(code)s.") % {"code": row.code})
            continue
        parent_row, parent_area = by_code.get(row.parent_code), existing.get(row.parent_code)
        if row.parent_code and parent_row is None and parent_area is None:
            row.problems.append(_("The parent %(code)s is neither in the database nor in this file.")
                                % {"code": row.parent_code})
            continue
        area = existing.get(row.code)
        if area is None and parent_row is None and not _may_change(user, parent_area):
            row.problems.append(_("You may not add areas under %(code)s.") % {"code": row.parent_code}
                                if row.parent_code else _("Only a system administrator creates a root area."))
            continue
        if area is not None:
            moved = []
            if (area.parent.code if area.parent else "") != row.parent_code:
                moved.append(_("parent"))
            if row.level is not None and area.level_id != row.level.pk:
                moved.append(_("level"))
            if row.kind and area.kind != row.kind:
                moved.append(_("kind"))
            if moved:
                row.problems.append(_(
                    "The area %(code)s exists with a different %(what)s; move it in the tree browser."
                ) % {"code": row.code, "what": ", ".join(moved)})
                continue
        if parent_area is None and parent_row is not None:
            if parent_row.level is None or not parent_row.kind:
                continue  # the parent's own row is reported; this one cannot be judged against it
            parent_area = Area(code=parent_row.code, level=parent_row.level, kind=parent_row.kind)
        if row.level is not None and row.kind:
            problems = services.validate_area(code=row.code, level=row.level, kind=row.kind,
                                              parent=parent_area, dedicated_type=row.dedicated_type)
            row.problems += [message for messages in problems.values() for message in messages]
    bad = [(row.line, message) for row in rows for message in row.problems]
    if bad:
        raise AreaImportError(bad)
    return by_code, existing


def _by_depth(by_code: dict[str, _Row]) -> list[list[_Row]]:
    """The rows in generations: those whose parent is not in the file first, then their children …"""
    depth: dict[str, int] = {}
    for code in by_code:
        chain = []
        while code in by_code and code not in depth:
            chain.append(code)
            code = by_code[code].parent_code
        base = depth.get(code, -1)
        for offset, item in enumerate(reversed(chain), start=1):
            depth[item] = base + offset
    generations: list[list[_Row]] = [[] for _i in range(max(depth.values(), default=-1) + 1)]
    for row in sorted(by_code.values(), key=lambda r: r.line):
        generations[depth[row.code]].append(row)
    return generations


# --- importing -----------------------------------------------------------------------------------


def _user(actor):
    return None if actor is None or isinstance(actor, str) else actor


def _as_stored(boundary: Boundary) -> dict:
    """The boundary exactly as the database gives it back (lists, not shapely's tuples)."""
    return json.loads(json.dumps(boundary.geojson))


def _next_steps(parents: list[Area], with_root: bool) -> dict[int | None, int]:
    """The next free path step under each existing parent (None: the roots), as services number them."""
    last: dict[int | None, str | None] = {}
    for batch in _batches(p.pk for p in parents):
        children = Area.objects.filter(parent_id__in=batch).order_by()
        last.update(children.values_list("parent_id").annotate(Max("path")))
    if with_root:
        last[None] = Area.objects.filter(parent=None).aggregate(last=Max("path"))["last"]
    return {key: decode_step(path[-PATH_STEP:]) + 1 if path else 0 for key, path in last.items()}


def _create(generations: list[list[_Row]], areas: dict[str, Area], actor) -> int:
    """Creates the new rows, a generation per bulk insert, with one audit row per area (as area_create).

    Permissions were checked with the rows; the parents are locked here so that siblings added at
    the same time by someone else cannot take the same path.
    """
    new = [[row for row in rows if row.code not in areas] for rows in generations]
    user = _user(actor)
    parent_codes = {row.parent_code for rows in new for row in rows if row.parent_code in areas}
    parents = [
        area for batch in _batches(areas[code].pk for code in parent_codes)
        for area in Area.objects.select_for_update().filter(pk__in=batch)
    ]
    if any(parent.code not in parent_codes for parent in parents):
        raise _tree_changed()
    areas.update((parent.code, parent) for parent in parents)
    has_roots = any(not row.parent_code for rows in new for row in rows)
    next_step = _next_steps(parents, has_roots)
    created = 0
    for rows in new:
        batch = []
        for row in rows:
            parent = areas[row.parent_code] if row.parent_code else None
            key = parent.pk if parent else None
            step = next_step.get(key, 0)
            next_step[key] = step + 1
            path = (parent.path if parent else "") + encode_step(step)
            area = Area(code=row.code, name=row.name, level=row.level, parent=parent, kind=row.kind,
                        dedicated_type=row.dedicated_type, path=path)
            services.apply_boundary(area, row.boundary)
            batch.append(area)
        Area.objects.bulk_create(batch, batch_size=500)
        AuditEvent.objects.bulk_create([
            AuditEvent(
                actor=user, actor_name=audit.actor_label(actor)[:150], ip=audit.current_ip.get(),
                action="area.create", object_type=Area._meta.label_lower, object_id=str(area.pk),
                object_repr=str(area)[:255], area_path=area.path,
                data={"code": area.code, "name": area.name, "kind": area.kind, "level": area.level.name},
            )
            for area in batch
        ], batch_size=500)
        areas.update((area.code, area) for area in batch)
        created += len(batch)
    return created


def _update(row: _Row, area: Area, actor) -> bool:
    """Renames an existing area or changes its dedicated type or boundary, through area_update."""
    changes = {}
    if area.name != row.name:
        changes["name"] = row.name
    if area.dedicated_type != row.dedicated_type:
        changes["dedicated_type"] = row.dedicated_type
    if row.boundary is not None and area.geometry != _as_stored(row.boundary):
        changes["geometry"] = row.boundary.geojson
    if changes:
        services.area_update(actor=_user(actor), area=area, **changes)
    return bool(changes)


def areas_import(*, actor, path: Path | str) -> ImportResult:
    """Imports the areas of a CSV or XLSX file, all or nothing.

    ``actor`` is a user, None (the system) or a label such as the command's name; a user must be
    allowed to change each existing parent (and be a superuser to create roots). Raises
    AreaImportError, listing every problem, when the file is refused.
    """
    path = Path(path)
    rows = _parse_rows(_read_table(path))
    by_code, existing = _validate(rows, _user(actor))
    generations = _by_depth(by_code)
    updated = unchanged = 0
    try:
        with transaction.atomic():
            for row in by_code.values():
                if row.code in existing:
                    try:
                        changed = _update(row, existing[row.code], actor)
                    except ApplicationError as exc:
                        raise AreaImportError([(row.line, exc.message)]) from exc
                    if changed:
                        updated += 1
                    else:
                        unchanged += 1
            created = _create(generations, dict(existing), actor)
            if created or updated:
                audit.record(actor=actor, action="areas.import", data={
                    "file": path.name, "created": created, "updated": updated, "unchanged": unchanged})
    except AreaImportError:
        raise
    except ApplicationError as exc:
        raise _file_error(exc.message) from exc
    except IntegrityError as exc:
        raise _tree_changed() from exc
    return ImportResult(created=created, updated=updated, unchanged=unchanged)
