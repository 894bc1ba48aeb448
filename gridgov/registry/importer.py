"""Importing residents from a CSV or XLSX file: ``gridgov import-residents`` and the upload page.

The header row names the columns in Chinese (姓名, 证件类型, 证件号码, … see COLUMNS; the English keys work
too, and unknown columns such as 序号 are ignored). Every row is checked: a name and a grid code are
required, the grid must lie in the importer's scope (Perm.RESIDENT_EXPORT), the ID number is validated as
``services.check_identity`` does, the same person may not appear twice in the file nor exist already, phones,
dates, dictionary values (by code or Chinese name), household numbers and tags are checked. Formulas and
merged cells are refused.

The import runs in two passes over the file, so that a million rows never sit in memory:

1. *Checking* streams the file and checks each row (looking things up in the database a batch at a time).
   Good rows are sealed exactly as ``services.person_create`` seals them and spooled, ready to insert, to a
   temporary file; bad rows go to the error report (.xlsx: the original cells, the line number and what is
   wrong, plus a summary sheet), written under GRIDGOV_DATA_DIR/reports/. Progress is reported here,
   outside any transaction (SQLite allows only one writer). A large file is parsed, validated and sealed in
   forked worker processes too, a batch at a time; the batches are cross-checked and spooled in file order.
2. *Writing*, only if no row failed (or with ``skip_invalid``), and not for a dry run: one transaction
   inserts the persons, their "imported" events, memberships and tags in batches (PostgreSQL COPY;
   executemany on SQLite), then the new households with their heads (the foreign keys are checked at
   commit), gives each new household its colour (三色) with the same evaluator, village averages and history
   rows as the nightly batch, and writes one summary AuditEvent.

A file that is no table at all (not a spreadsheet, wrong headers, empty, mixed encodings …) raises
``ResidentImportError``; a file with bad rows returns an ``ImportResult`` with ``refused`` set. Either way,
a refused import leaves the database exactly as it was.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import decimal
import gc
import json
import multiprocessing
import os
import pickle
import re
import secrets
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.areas.models import GRID_KINDS, PATH_STEP, Area
from gridgov.areas.scope import Perm, scope_for
from gridgov.core import audit
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.idnumber import normalise
from gridgov.core.spreadsheets import (
    CellError,
    Formula,
    SpreadsheetError,
    cell_text,
    code_text,
    header_key,
    lost_digits,
    open_table,
    parse_date,
)
from gridgov.registry import services
from gridgov.registry.classification import VillageAverages, evaluate, village_of
from gridgov.registry.errors import RegistryErrorCode
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
    Sex,
    Tag,
)

BATCH = 2000  # rows checked, looked up and inserted together
PARALLEL_MIN_ROWS = 20_000  # from this many rows, the checking pass parses in worker processes too
MAX_BATCHES_AHEAD = 16  # batches parsed but waiting for an earlier one (bounds the memory when a worker lags)
PROGRESS_EVERY = 1000
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
SQLITE_IMPORT_CACHE_KIB = 128 * 1024  # page cache while writing, on SQLite (see _bulk_load_cache)
MAX_PROBLEMS_KEPT = 200  # problems kept in the result for display; the report has all of them
JOB_PROBLEMS_SHOWN = 5  # the first problems, written into a job's message

# --- the columns and their dictionaries ----------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # the Chinese header of the template
    aliases: tuple[str, ...] = ()
    note: str = ""  # shown as a comment on the template's header cell (Chinese, like the file)


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", ("姓名*",), "必填"),
    Column("id_type", "证件类型", (), "空白即居民身份证；可填代码或名称，见“字典”表"),
    Column("id_number", "证件号码", ("身份证号", "身份证号码", "公民身份号码", "证件号"),
           "请把本列设为文本格式；15位旧号自动升为18位"),
    Column("phone", "联系电话", ("电话", "手机", "手机号", "手机号码", "联系方式"), "请把本列设为文本格式"),
    Column("ethnicity", "民族"),
    Column("education", "文化程度", ("学历",)),
    Column("political_status", "政治面貌"),
    Column("residence_type", "居住类型", ("人口类型", "居住性质"), "空白即户籍；见“字典”表"),
    Column("grid_code", "网格编码", ("网格代码", "所属网格编码", "网格"), "必填：本人所在网格的编码"),
    Column("household_number", "户编号", ("户号", "家庭户号"), "同一户的成员填同一户编号；新户自动建立"),
    Column("relation", "与户主关系", ("与户主的关系", "关系"), "填了户编号就必填；见“字典”表"),
    Column("household_address", "户地址", ("家庭住址", "住址", "地址"), "新户必填"),
    Column("income_per_person", "人均年收入", ("家庭人均年收入", "人均收入"), "元"),
    Column("safe_family_years", "平安家庭年数", ("平安家庭",), "整数"),
    Column("tags", "标签", ("人员标签", "特殊人群"), "可填多个，用“、”或“,”分隔；见“字典”表"),
    Column("birth_date", "出生日期", (), "居民身份证可不填（由号码得出）；其他证件请填"),
    Column("sex", "性别", (), "居民身份证可不填（由号码得出）"),
)
REQUIRED_COLUMNS = ("name", "grid_code")
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}

# Chinese names of the dictionaries, as written in the file; codes and the English labels work too.
ID_TYPE_NAMES = {
    IdType.CITIZEN: "居民身份证", IdType.PASSPORT: "护照", IdType.HK_MACAO: "港澳居民居住证",
    IdType.TAIWAN: "台湾居民居住证", IdType.FOREIGN_PERMANENT: "外国人永久居留身份证",
}
ID_TYPE_ALIASES = {
    "身份证": IdType.CITIZEN, "居民身份证号码": IdType.CITIZEN, "港澳居民来往内地通行证": IdType.HK_MACAO,
    "港澳通行证": IdType.HK_MACAO, "回乡证": IdType.HK_MACAO, "台湾居民来往大陆通行证": IdType.TAIWAN,
    "台胞证": IdType.TAIWAN, "外国人永久居留证": IdType.FOREIGN_PERMANENT,
}
RESIDENCE_NAMES = {
    ResidenceType.REGISTERED: "户籍", ResidenceType.FLOATING: "流动", ResidenceType.TEMPORARY: "暂住",
    ResidenceType.OVERSEAS: "境外",
}
RESIDENCE_ALIASES = {
    "户籍人口": ResidenceType.REGISTERED, "常住": ResidenceType.REGISTERED, "流动人口": ResidenceType.FLOATING,
    "暂住人口": ResidenceType.TEMPORARY, "境外人员": ResidenceType.OVERSEAS, "境外人口": ResidenceType.OVERSEAS,
}
RELATION_NAMES = {
    Relation.HEAD: "户主", Relation.SPOUSE: "配偶", Relation.CHILD: "子女", Relation.PARENT: "父母",
    Relation.GRANDCHILD: "孙子女", Relation.GRANDPARENT: "祖父母", Relation.SIBLING: "兄弟姐妹",
    Relation.CHILD_IN_LAW: "儿媳/女婿", Relation.OTHER: "其他",
}
RELATION_ALIASES = {
    "本人": Relation.HEAD, "妻": Relation.SPOUSE, "妻子": Relation.SPOUSE, "夫": Relation.SPOUSE,
    "丈夫": Relation.SPOUSE, "子": Relation.CHILD, "女": Relation.CHILD, "儿子": Relation.CHILD,
    "女儿": Relation.CHILD, "长子": Relation.CHILD, "次子": Relation.CHILD, "长女": Relation.CHILD,
    "次女": Relation.CHILD, "父亲": Relation.PARENT, "母亲": Relation.PARENT, "父": Relation.PARENT,
    "母": Relation.PARENT, "孙子": Relation.GRANDCHILD, "孙女": Relation.GRANDCHILD, "外孙": Relation.GRANDCHILD,
    "外孙子": Relation.GRANDCHILD, "外孙女": Relation.GRANDCHILD, "祖父": Relation.GRANDPARENT,
    "祖母": Relation.GRANDPARENT, "外祖父": Relation.GRANDPARENT, "外祖母": Relation.GRANDPARENT,
    "兄": Relation.SIBLING, "弟": Relation.SIBLING, "姐": Relation.SIBLING, "妹": Relation.SIBLING,
    "哥哥": Relation.SIBLING, "弟弟": Relation.SIBLING, "姐姐": Relation.SIBLING, "妹妹": Relation.SIBLING,
    "儿媳": Relation.CHILD_IN_LAW, "女婿": Relation.CHILD_IN_LAW, "媳妇": Relation.CHILD_IN_LAW,
}
SEX_NAMES = {Sex.MALE: "男", Sex.FEMALE: "女"}
SEX_ALIASES = {"男性": Sex.MALE, "女性": Sex.FEMALE, "male": Sex.MALE, "female": Sex.FEMALE}
_CITIZEN, _REGISTERED = str(IdType.CITIZEN), str(ResidenceType.REGISTERED)
_EARLIEST_BIRTH = dt.date(1880, 1, 1)
_TAG_SEPARATORS = re.compile(r"[、,，;；/]+")


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def _dictionary(choices, names: dict, aliases: dict) -> dict[str, str]:
    """Every accepted spelling (code, Chinese name, alias, English label), reduced by ``_key``, to its code."""
    lookup = {}
    for code, label in choices.choices:
        lookup[_key(code)] = code
        lookup[_key(str(label))] = code
    with_english = {_key(names[code]): code for code in names} | {_key(k): v for k, v in aliases.items()}
    return {spelling: str(code) for spelling, code in (lookup | with_english).items()}  # plain str: cheap to pickle


# --- results and errors --------------------------------------------------------------------------


class ResidentImportError(ApplicationError):
    """The file was refused as a whole (not a table, wrong headers …); nothing was imported."""

    def __init__(self, message: str) -> None:
        super().__init__(RegistryErrorCode.INVALID_IMPORT, message)


@dataclass
class ImportResult:
    file_name: str
    dry_run: bool = False
    skip_invalid: bool = False
    total_rows: int = 0  # data rows (blank lines not counted)
    valid_rows: int = 0
    error_rows: int = 0
    imported_rows: int = 0
    households_created: int = 0
    households_joined: int = 0
    tags_added: int = 0
    warnings: int = 0  # e.g. ID numbers with an unknown address code (imported, but worth a look)
    refused: bool = False
    report_path: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_PROBLEMS_KEPT
    seconds: float = 0.0

    @property
    def message(self) -> str:
        if self.dry_run:
            if self.error_rows and not self.skip_invalid:
                return _("Dry run: %(bad)d of %(total)d rows have problems; nothing would be imported.") % {
                    "bad": self.error_rows, "total": self.total_rows}
            return _("Dry run: %(good)d of %(total)d rows would be imported, %(bad)d rows have problems.") % {
                "good": self.valid_rows, "total": self.total_rows, "bad": self.error_rows}
        if self.refused:
            return _("Nothing was imported: %(bad)d of %(total)d rows have problems.") % {
                "bad": self.error_rows, "total": self.total_rows}
        text = _("Imported %(n)d persons (%(created)d new households, %(joined)d existing households joined).") % {
            "n": self.imported_rows, "created": self.households_created, "joined": self.households_joined}
        if self.error_rows:
            text += " " + _("%(bad)d rows with problems were skipped.") % {"bad": self.error_rows}
        return text


ProgressCallback = Callable[[str, int, int], None]  # (stage, rows done, rows in all): "checking", "writing"


def _is_user(actor) -> bool:
    return actor is not None and not isinstance(actor, str) and getattr(actor, "pk", None) is not None


# --- pass 1: checking --------------------------------------------------------------------------


class _Sealed:
    """What services._seal_identity and services._seal_phone write, without building a model instance."""

    __slots__ = ("id_type", "id_number_sealed", "id_number_hash", "id_number_masked", "birth_date", "sex",
                 "phone_sealed", "phone_hash", "phone_masked")

    def __init__(self, birth_date, sex):
        self.birth_date, self.sex = birth_date, sex
        self.id_type = self.id_number_sealed = self.id_number_hash = self.id_number_masked = ""
        self.phone_sealed = self.phone_hash = self.phone_masked = ""


class _Row:
    __slots__ = ("line", "cells", "errors", "name", "id_type", "sealed", "warnings", "ethnicity", "education",
                 "political_status", "residence_type", "grid_code", "household", "relation", "address", "income",
                 "years", "tags")

    def __reduce__(self):
        """From a worker process: the values as one flat tuple (the cheapest to pickle), without the cells,
        which the main process still has."""
        s = self.sealed
        sealed = None if s is None else (s.id_type, s.id_number_sealed, s.id_number_hash, s.id_number_masked,
                                         s.birth_date, s.sex, s.phone_sealed, s.phone_hash, s.phone_masked)
        return _row, (self.line, self.errors, self.name, self.id_type, sealed, self.warnings, self.ethnicity,
                      self.education, self.political_status, self.residence_type, self.grid_code, self.household,
                      self.relation, self.address, self.income, self.years, self.tags)


def _row(line, errors, name, id_type, sealed, warnings, ethnicity, education, political_status, residence_type,
         grid_code, household, relation, address, income, years, tags) -> _Row:
    row = _Row()
    row.line, row.cells, row.errors, row.name, row.id_type, row.warnings = line, None, errors, name, id_type, warnings
    row.ethnicity, row.education, row.political_status = ethnicity, education, political_status
    row.residence_type, row.grid_code, row.household, row.relation = residence_type, grid_code, household, relation
    row.address, row.income, row.years, row.tags = address, income, years, tags
    if sealed is None:
        row.sealed = None
    else:
        row.sealed = s = _Sealed.__new__(_Sealed)
        (s.id_type, s.id_number_sealed, s.id_number_hash, s.id_number_masked, s.birth_date, s.sex, s.phone_sealed,
         s.phone_hash, s.phone_masked) = sealed
    return row


class _Household:
    __slots__ = ("number", "area_id", "address", "income", "years", "line", "head_line", "existing_pk",
                 "has_head", "pk", "head_id", "tag_ids", "members")

    def __init__(self, number, area_id, line, existing_pk=None, has_head=False):
        self.number, self.area_id, self.line = number, area_id, line
        self.existing_pk, self.has_head = existing_pk, has_head
        self.address, self.income, self.years = "", None, None
        self.head_line = 0
        self.pk = existing_pk
        self.head_id = None
        self.tag_ids: set[int] | None = None
        self.members = 0


class _Checker:
    """Pass 1: reads the rows, checks them in batches, spools the good ones and reports the bad ones."""

    def __init__(self, *, actor, header: list, file_name: str, report_dir: Path):
        self.actor = actor
        self.user = actor if _is_user(actor) else None
        self.file_name = file_name
        self.header = header
        self.columns, self.ignored = _columns(header)
        self.labels = {key: cell_text(header[i]) or COLUMN_BY_KEY[key].title for key, i in self.columns.items()}
        self.header_length = len(header)
        self.width = max((i + 1 for i, h in enumerate(header) if _filled(h)), default=0)
        self.view_scope = scope_for(self.user, Perm.RESIDENT_VIEW) if self.user else None
        self.import_scope = scope_for(self.user, Perm.RESIDENT_EXPORT) if self.user else None
        self.id_types = _dictionary(IdType, ID_TYPE_NAMES, ID_TYPE_ALIASES)
        self.residences = _dictionary(ResidenceType, RESIDENCE_NAMES, RESIDENCE_ALIASES)
        self.relations = _dictionary(Relation, RELATION_NAMES, RELATION_ALIASES)
        self.sexes = _dictionary(Sex, SEX_NAMES, SEX_ALIASES)
        self.tags: dict[str, Tag] = {}
        for tag in Tag.objects.all():
            self.tags[_key(tag.code)] = tag
            self.tags[_key(tag.name)] = tag
        self.tag_by_id = {tag.pk: tag for tag in self.tags.values()}
        self.column_items = tuple(self.columns.items())
        self.no_values = dict.fromkeys(COLUMN_BY_KEY)
        self.no_texts = dict.fromkeys(COLUMN_BY_KEY, "")
        self.memo: dict[int, dict[str, object]] = {}
        self.grids: dict[str, Area | None] = {}
        self.checked_grids: dict[str, tuple[Area | None, str]] = {}
        self.grid_codes: dict[int, str] = {}
        self.used_grids: set[int] = set()  # the grids of the good rows
        self.households: dict[str, _Household] = {}
        self.db_households: dict[str, tuple] = {}
        self.seen: dict[int, int] = {}  # 64 bits of an ID number's hash → the line it is on
        self.pending: list[tuple[int, list]] = []  # (line, cells) read, not yet parsed
        self.pool = None
        self.depth = 0  # batches handed to the workers at a time
        self.handed_out = 0
        self.in_flight: collections.deque = collections.deque()  # (items, parsed rows to come) in file order
        self.existing: dict[str, tuple] = {}
        spool_dir = Path(settings.DATA_DIR) / "tmp"  # beside the database: a million rows take ~400 MB
        spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool = tempfile.TemporaryFile(prefix="gridgov-import-", dir=spool_dir)  # noqa: SIM115  (see close)
        self.good: list[tuple] = []
        self.report = _Report(report_dir, header, file_name)
        self.rows = self.valid = self.errors = self.warnings = 0
        self.problems: list[tuple[int, str]] = []
        self.today = timezone.localdate()

    def close(self) -> None:
        self.spool.close()
        self.report.discard_if_open()

    def look_up(self, dictionary: dict, text: str):
        """``dictionary[_key(text)]``, remembering the spellings seen (a file repeats the same few)."""
        memo = self.memo.setdefault(id(dictionary), {})
        found = memo.get(text)
        if found is None:
            found = dictionary.get(_key(text), "")
            if len(memo) < 10000:
                memo[text] = found
        return found or ("" if dictionary is not self.tags else None)

    # rows in ----------------------------------------------------------------------------------------

    def add(self, line: int, cells: list) -> None:
        self.rows += 1
        self.pending.append((line, cells))
        if len(self.pending) >= BATCH:
            self._submit()

    def flush(self) -> None:
        """Checks the rows still pending; at the end of the file."""
        self._submit()
        while self.in_flight:
            self._receive()

    @contextlib.contextmanager
    def workers(self, *, processes: int):
        """Forked worker processes that parse, validate and seal batches of rows (the main process looks them
        up, checks them against each other and spools them, in the order of the file). They inherit this
        checker, never touch the database connection, and end with the block."""
        if not processes:
            yield
            return
        # Forked: the checker reaches the workers as it is, without pickling.
        with multiprocessing.get_context("fork").Pool(processes, _start_worker, (self,)) as pool:
            self.pool, self.depth = pool, 2 * processes
            try:
                yield
            finally:
                self.pool = None

    def _submit(self) -> None:
        items, self.pending = self.pending, []
        if not items:
            return
        if self.pool is None:
            self._check([self._parse(line, cells) for line, cells in items])
            return
        if self.handed_out < self.depth:
            self.in_flight.append((items, self.pool.apply_async(_parse_in_worker, (items,))))
            self.handed_out += 1
        else:  # the workers have enough to do (or the machine is busy): this process parses the batch itself
            self.in_flight.append((items, _Parsed([self._parse(line, cells) for line, cells in items])))
        while self.in_flight and (self.in_flight[0][1].ready() or len(self.in_flight) > MAX_BATCHES_AHEAD):
            self._receive()

    def _receive(self) -> None:
        items, parsed = self.in_flight.popleft()
        if not isinstance(parsed, _Parsed):
            self.handed_out -= 1
        rows = parsed.get()
        for row, (_line, cells) in zip(rows, items, strict=True):
            row.cells = cells
        self._check(rows)

    def _check(self, rows: list[_Row]) -> None:
        self._look_up(rows)
        for row in rows:
            self._finish(row)
        if self.good:
            pickle.dump(self.good, self.spool, protocol=pickle.HIGHEST_PROTOCOL)
            self.good = []

    def spooled(self) -> Iterator[list[tuple]]:
        self.spool.seek(0)
        while True:
            try:
                yield pickle.load(self.spool)  # noqa: S301  (our own temporary file, written above)
            except EOFError:
                return

    # one row -------------------------------------------------------------------------------------

    def _parse(self, line: int, cells: list) -> _Row:  # noqa: C901  (one check per column, in order)
        row = _Row()
        row.line, row.cells, row.errors, row.warnings, row.sealed = line, cells, [], (), None
        errors = row.errors
        labels = self.labels

        unreadable: set[str] = set()  # columns already reported: no second message about them

        def bad(key: str, message: str) -> None:
            if key not in unreadable:
                errors.append(f"{labels.get(key, key)}: {message}")

        raw, text = dict(self.no_values), dict(self.no_texts)
        count = len(cells)
        for key, index in self.column_items:
            value = cells[index] if index < count else None
            kind = type(value)
            if kind is str:
                raw[key], text[key] = value, value.strip()
            elif kind is Formula:
                bad(key, _("a formula, not a value (%(formula)s); enter the value itself.") % {"formula": value})
                unreadable.add(key)
            elif kind is CellError:
                bad(key, _("the cell shows the error %(error)s.") % {"error": value})
                unreadable.add(key)
            elif value is not None:
                raw[key], text[key] = value, cell_text(value)
        if count > self.header_length or (count > self.width and any(
                _filled(c) for c in cells[self.width:] if not isinstance(c, Formula))):
            errors.append(_("The row has more cells than the header has columns: is there a comma inside a value? "
                            "Put such values in double quotes."))

        row.name = text["name"]
        if not row.name:
            bad("name", _("A name is required."))
        elif len(row.name) > 50:
            bad("name", _("At most %(n)d characters.") % {"n": 50})

        id_type_text = text["id_type"]
        row.id_type = self.look_up(self.id_types, id_type_text) if id_type_text else _CITIZEN
        if not row.id_type:
            bad("id_type", _("Unknown ID type %(value)r: use one of the “字典” sheet.") % {"value": id_type_text})

        birth_date, sex = None, ""
        raw_birth = raw["birth_date"]
        try:
            birth_date = parse_date(raw_birth) if text["birth_date"] else None
        except (ValueError, OverflowError):
            bad("birth_date", _("Not a date: %(value)r. Write it as 1980-01-01.") % {"value": text["birth_date"]})
        if birth_date is not None and not _EARLIEST_BIRTH <= birth_date <= self.today:
            bad("birth_date", _("The birth date %(date)s is impossible.") % {"date": birth_date})
            birth_date = None
        sex_text = text["sex"]
        if sex_text:
            sex = self.look_up(self.sexes, sex_text)
            if not sex:
                bad("sex", _("Unknown sex %(value)r: write 男 or 女.") % {"value": sex_text})

        if lost_digits(raw["id_number"]):
            bad("id_number", _("The number was stored by Excel as a number and lost its last digits: format the "
                               "column as text and enter the numbers again."))
        elif row.id_type:
            try:
                identity = services.check_identity(row.id_type, text["id_number"], birth_date=birth_date, sex=sex)
            except ApplicationError as exc:
                bad("id_number", exc.message)
            else:
                if identity.number and row.id_type == IdType.CITIZEN:
                    if birth_date is not None and birth_date != identity.birth_date:
                        bad("birth_date", _("The birth date does not match the ID number (%(date)s).")
                            % {"date": identity.birth_date})
                    if sex and sex != identity.sex:
                        bad("sex", _("The sex does not match the ID number."))
                row.sealed = _Sealed(birth_date, sex)
                services._seal_identity(row.sealed, identity)
                row.warnings = identity.warnings

        try:
            phone = services.normalise_phone(text["phone"])
        except ApplicationError as exc:
            bad("phone", exc.message)
        else:
            if row.sealed is None:
                row.sealed = _Sealed(birth_date, sex)
                row.sealed.id_type, row.sealed.id_number_sealed = row.id_type, ""
                row.sealed.id_number_hash = row.sealed.id_number_masked = ""
            services._seal_phone(row.sealed, phone)

        for key in ("ethnicity", "education", "political_status"):
            if len(text[key]) > 20:
                bad(key, _("At most %(n)d characters.") % {"n": 20})
            setattr(row, key, text[key])

        residence_text = text["residence_type"]
        row.residence_type = self.look_up(self.residences, residence_text) if residence_text \
            else _REGISTERED
        if not row.residence_type:
            bad("residence_type", _("Unknown residence type %(value)r: use one of the “字典” sheet.")
                % {"value": residence_text})

        row.grid_code, problem = code_text(raw["grid_code"])
        if problem:
            bad("grid_code", problem)
            row.grid_code = ""
        elif not row.grid_code:
            bad("grid_code", _("A grid code is required."))

        row.household, problem = code_text(raw["household_number"])
        if problem:
            bad("household_number", problem)
        elif len(row.household) > 32:
            bad("household_number", _("At most %(n)d characters.") % {"n": 32})
        relation_text = text["relation"]
        row.relation = self.look_up(self.relations, relation_text) if relation_text else ""
        if relation_text and not row.relation:
            bad("relation", _("Unknown relation %(value)r: use one of the “字典” sheet.") % {"value": relation_text})
        elif row.household and not row.relation:
            bad("relation", _("Give the relation to the head of the household (与户主关系)."))
        elif row.relation and not row.household:
            bad("relation", _("A relation to the head needs a household number (户编号)."))
        row.address = text["household_address"]
        if len(row.address) > 200:
            bad("household_address", _("At most %(n)d characters.") % {"n": 200})
        row.income = row.years = None
        if text["income_per_person"]:
            row.income = _money(raw["income_per_person"])
            if row.income is None:
                bad("income_per_person", _("Not an amount of yuan between 0 and 99,999,999: %(value)r.")
                    % {"value": text["income_per_person"]})
        if text["safe_family_years"]:
            row.years = _years(raw["safe_family_years"])
            if row.years is None:
                bad("safe_family_years", _("Not a whole number of years between 0 and 100: %(value)r.")
                    % {"value": text["safe_family_years"]})

        row.tags = ()
        tag_text = text["tags"]
        if tag_text:
            tag_ids = []
            for part in _TAG_SEPARATORS.split(tag_text):
                if not part.strip():
                    continue
                tag = self.look_up(self.tags, part)
                if tag is None:
                    bad("tags", _("Unknown tag %(value)r.") % {"value": part.strip()})
                elif not tag.active:
                    bad("tags", _("The tag %(value)s is no longer in use.") % {"value": tag.name})
                elif tag.pk not in tag_ids:
                    tag_ids.append(tag.pk)
            row.tags = tuple(tag_ids)
        return row

    # looking up a batch ----------------------------------------------------------------------------

    def _look_up(self, rows: list[_Row]) -> None:
        codes = {r.grid_code for r in rows if r.grid_code and r.grid_code not in self.grids}
        if codes:
            found = {a.code: a for a in Area.objects.filter(code__in=codes).select_related("level")}
            for code in codes:
                self.grids[code] = found.get(code)
                if code in found:
                    self.grid_codes[found[code].pk] = code
        hashes = [h for h in {r.sealed.id_number_hash for r in rows if r.sealed is not None} if h]
        # The NOT (… = '') repeats the condition of the partial unique index, so that SQLite and PostgreSQL use
        # it (neither infers it from a long IN list, and both scanned the whole table without it).
        self.existing = {h: (pk, name, grid, path) for h, pk, name, grid, path in _select(
            "SELECT p.id_number_hash, p.id, p.name, a.name, a.path FROM {person} p INNER JOIN {area} a "
            "ON a.id = p.area_id WHERE NOT (p.id_number_hash = '') AND p.id_number_hash", hashes)}
        numbers = [n for n in {r.household for r in rows} if n and n not in self.households
                   and n not in self.db_households]
        for values in _select(
                "SELECT h.number, h.id, h.area_id, a.path, a.name, h.head_id, h.address, h.income_per_person, "
                "h.safe_family_years FROM {household} h INNER JOIN {area} a ON a.id = h.area_id WHERE h.number",
                numbers):
            self.db_households[values[0]] = values[1:]

    # finishing a row ---------------------------------------------------------------------------

    def _grid_problem(self, code: str) -> tuple[Area | None, str]:
        """The grid of a code and what forbids importing into it; remembered, as a file repeats its grids."""
        checked = self.checked_grids.get(code)
        if checked is None:
            checked = self.checked_grids[code] = self._check_grid(code)
        return checked

    def _check_grid(self, code: str) -> tuple[Area | None, str]:
        area = self.grids.get(code)
        if area is None or (self.view_scope is not None and not self.view_scope.contains(area.path)):
            return None, _("No grid with the code %(code)s in your area.") % {"code": code}
        if area.kind not in GRID_KINDS:
            return None, _("%(name)s (%(code)s) is not a grid: residents are registered on grids.") % {
                "name": area.name, "code": code}
        if self.import_scope is not None and not self.import_scope.contains(area.path):
            return None, _("You may not import residents into %(name)s (%(code)s).") % {
                "name": area.name, "code": code}
        return area, ""

    def _finish(self, row: _Row) -> None:  # noqa: C901  (the checks that need the database or earlier rows)
        errors, labels = row.errors, self.labels

        def bad(key: str, message: str) -> None:
            errors.append(f"{labels.get(key, key)}: {message}")

        area = None
        if row.grid_code:
            area, problem = self._grid_problem(row.grid_code)
            if problem:
                bad("grid_code", problem)
        if area is not None and row.tags and self.user is not None:
            for tag_id in row.tags:
                tag = self.tag_by_id[tag_id]
                if not services.tag_visible(self.user, tag, area):
                    bad("tags", _("Unknown tag %(value)r.") % {"value": tag.name})
        sealed = row.sealed
        if sealed is not None and sealed.id_number_hash:
            key = int(sealed.id_number_hash[:16], 16)
            first = self.seen.get(key)
            if first is not None:
                bad("id_number", _("The same person is already on line %(line)d.") % {"line": first})
            else:
                self.seen[key] = row.line
            existing = self.existing.get(sealed.id_number_hash)
            if existing is not None:
                pk, name, grid, path = existing
                if self.view_scope is None or self.view_scope.contains(path):
                    bad("id_number", _("This person is already registered: %(name)s (record %(pk)d, %(grid)s).")
                        % {"name": name, "pk": pk, "grid": grid})
                else:
                    bad("id_number", _("This person is already registered outside your area (record %(pk)d).")
                        % {"pk": pk})
        household = None
        if row.household and area is not None:
            household = self._household(row, area, bad)
        if errors:
            self._reject(row)
            return
        if household is not None:
            self.households.setdefault(household.number, household)
            if row.relation == Relation.HEAD:
                household.head_line = row.line
            if household.existing_pk is None:
                household.address = household.address or row.address
                household.income = household.income if household.income is not None else row.income
                household.years = household.years if household.years is not None else row.years
            if row.tags:
                household.tag_ids = (household.tag_ids or set()) | set(row.tags)
            household.members += 1
        self.valid += 1
        self.warnings += bool(row.warnings)
        self.used_grids.add(area.pk)
        birth = sealed.birth_date
        self.good.append((  # the birth date as the text the databases store: cheaper to spool than a date
            row.line, row.name, row.id_type, sealed.id_number_sealed, sealed.id_number_hash,
            sealed.id_number_masked, sealed.phone_sealed, sealed.phone_hash, sealed.phone_masked,
            birth.isoformat() if birth is not None else None, sealed.sex, row.ethnicity, row.education,
            row.political_status, row.residence_type, area.pk, row.household, row.relation, row.tags, row.warnings,
        ))

    def _household(self, row: _Row, area: Area, bad) -> _Household | None:
        """The household a row joins (not yet recorded: that happens only if the whole row is good)."""
        number = row.household
        household = self.households.get(number)
        grid = ""  # where the household is shown: its grid if it exists already, else its first line
        if household is None:
            existing = self.db_households.get(number)
            if existing is None:
                if not row.address:
                    bad("household_address", _("A new household needs its address."))
                return _Household(number, area.pk, row.line)
            pk, area_id, path, grid, head_id, address, income, years = existing
            if self.view_scope is not None and not self.view_scope.contains(path):
                bad("household_number", _("The household number %(number)s is taken.") % {"number": number})
                return None
            household = _Household(number, area_id, row.line, existing_pk=pk, has_head=head_id is not None)
            household.address, household.income, household.years = address, _decimal(income), years

        def where() -> str:
            return _("on its page") if household.existing_pk is not None else _("line %(line)d") % {
                "line": household.line}

        if household.area_id != area.pk:
            bad("household_number", _("Household %(number)s is on another grid (%(where)s).") % {
                "number": number, "where": grid if household.existing_pk is not None else where()})
            return None
        if row.address and household.address and row.address != household.address:
            bad("household_address", _("Household %(number)s has another address (%(where)s).") % {
                "number": number, "where": where()})
        if row.income is not None and household.income is not None and row.income != household.income:
            bad("income_per_person", _("Household %(number)s has another income (%(where)s).") % {
                "number": number, "where": where()})
        if row.years is not None and household.years is not None and row.years != household.years:
            bad("safe_family_years", _("Household %(number)s has another number of years (%(where)s).") % {
                "number": number, "where": where()})
        if row.relation == Relation.HEAD and (household.head_line or household.has_head):
            bad("relation", _("Household %(number)s already has a head (%(where)s).") % {
                "number": number, "where": _("line %(line)d") % {"line": household.head_line}
                if household.head_line else where()})
        return household

    def _reject(self, row: _Row) -> None:
        self.errors += 1
        message = "; ".join(row.errors)
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append((row.line, message))
        self.report.add(row.line, message, row.cells)


def _select(sql: str, values: list) -> list[tuple]:
    """The rows of ``sql``, whose last term is completed to be IN ``values``; {person}, {household} and {area} in
    it name the tables. Raw SQL: the ORM spends longer building an IN of 2,000 values than the database
    takes to answer it."""
    if not values:
        return []
    quote = connection.ops.quote_name
    sql = sql.format(person=quote(Person._meta.db_table), household=quote(Household._meta.db_table),
                     area=quote(Area._meta.db_table))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql + " = ANY(%s)", [values])
        else:
            cursor.execute(sql + f" IN ({', '.join(['%s'] * len(values))})", values)
        return cursor.fetchall()


_CENTS = Decimal("0.01")
_FLOAT_TO_DECIMAL = decimal.Context(prec=15).create_decimal_from_float


def _decimal(value) -> Decimal | None:
    """An amount of a DecimalField(decimal_places=2) read by raw SQL, as the ORM gives it (SQLite returns a
    float or an integer; the conversion is Django's)."""
    if value is None or isinstance(value, Decimal):
        return value
    return _FLOAT_TO_DECIMAL(value).quantize(_CENTS, context=Household._meta.get_field("income_per_person").context)


_worker_checker: _Checker | None = None  # in a worker process: the checker it parses for


def _start_worker(checker: _Checker) -> None:
    global _worker_checker  # noqa: PLW0603  (set once in each worker process)
    _worker_checker = checker


def _parse_in_worker(items: list[tuple[int, list]]) -> list[_Row]:
    return [_worker_checker._parse(line, cells) for line, cells in items]


class _Parsed:
    """A batch parsed in this process, waiting in line with those the workers parse."""

    def __init__(self, rows: list[_Row]):
        self.rows = rows

    def ready(self) -> bool:
        return True

    def get(self) -> list[_Row]:
        return self.rows


def _parse_processes(rows: int) -> int:
    """Worker processes for the checking pass. Parsing, validating and sealing a row cost more than reading,
    looking up, cross-checking and spooling it, so on two cores one worker shares the pass with this process.
    This process never waits for a worker while there are rows to read: it parses a batch itself whenever the
    workers have two each. Workers only pay when a core is idle (measured on a two-core machine busy with other
    work, handing rows over made the pass slower), so there are as many as the load average leaves cores idle,
    at most three, and none below PARALLEL_MIN_ROWS rows or where fork is unavailable."""
    cores = os.cpu_count() or 1
    if rows < PARALLEL_MIN_ROWS or cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    try:
        idle = cores - os.getloadavg()[0]
    except OSError:  # no load average on this system
        idle = cores - 1
    return max(0, min(3, cores - 1, int(idle)))


def _columns(header: list) -> tuple[dict[str, int], list[str]]:
    """Which column holds what; refuses a header without the required columns or with one twice."""
    spellings = {}
    for column in COLUMNS:
        for spelling in (column.key, column.title, *column.aliases):
            spellings[header_key(spelling).replace("_", "")] = column.key
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        key = header_key(cell).replace("_", "").replace("*", "").replace("＊", "")
        if not key:
            continue
        name = spellings.get(key)
        if name is None:
            ignored.append(cell_text(cell))
        elif name in columns:
            raise ResidentImportError(_("The column %(name)s appears twice in the header row.") % {
                "name": COLUMN_BY_KEY[name].title})
        else:
            columns[name] = index
    missing = [COLUMN_BY_KEY[k].title for k in REQUIRED_COLUMNS if k not in columns]
    if missing:
        raise ResidentImportError(_(
            "The header row lacks the column(s) %(missing)s. The first row must name the columns, as in the "
            "template: %(columns)s."
        ) % {"missing": "、".join(missing), "columns": "、".join(c.title for c in COLUMNS)})
    return columns, ignored


def _money(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    text = normalise(cell_text(value)).replace(",", "").removesuffix("元")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or not 0 <= amount < 10**8:
        return None
    return amount.quantize(Decimal("0.01"))


def _years(value) -> int | None:
    if isinstance(value, bool):
        return None
    text = normalise(cell_text(value)).removesuffix("年")
    if not re.fullmatch(r"\d{1,3}(\.0+)?", text):
        return None
    years = int(float(text))
    return years if years <= 100 else None


# --- the error report ----------------------------------------------------------------------------


class _Report:
    """The .xlsx of the bad rows (line, problems, original cells) and a summary; opened at the first bad row."""

    def __init__(self, directory: Path, header: list, file_name: str):
        self.directory, self.header, self.file_name = directory, header, file_name
        self.workbook = self.sheet = None
        self.path: Path | None = None
        self.next_row = 1

    def add(self, line: int, message: str, cells: list) -> None:
        if self.workbook is None:
            self._open()
        self.sheet.write_row(self.next_row, 0, [line, message, *(_report_value(c) for c in cells)])
        self.next_row += 1

    def _open(self) -> None:
        import xlsxwriter

        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        self.path = self.directory / f"residents-errors-{stamp}-{secrets.token_hex(4)}.xlsx"
        self.workbook = xlsxwriter.Workbook(str(self.path), {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False})
        self.bold = self.workbook.add_format({"bold": True})
        self.sheet = self.workbook.add_worksheet(_("Rows with problems")[:31])
        self.sheet.write_row(0, 0, [_("Line"), _("Problems"), *(cell_text(h) for h in self.header)], self.bold)
        self.sheet.set_column(1, 1, 60)
        self.sheet.freeze_panes(1, 0)

    def finish(self, result: ImportResult, actor) -> str:
        """Writes the summary sheet and closes the workbook; returns its path ('' if no row was bad)."""
        if self.workbook is None:
            return ""
        summary = self.workbook.add_worksheet(_("Summary")[:31])
        summary.set_column(0, 0, 28)
        summary.set_column(1, 1, 70)
        rows = [
            (_("File"), self.file_name),
            (_("Checked at"), timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")),
            (_("By"), audit.actor_label(actor)),
            (_("Rows"), result.total_rows),
            (_("Good rows"), result.valid_rows),
            (_("Rows with problems"), result.error_rows),
            (_("Result"), result.message),
            (_("Ignored columns"), "、".join(result.ignored_columns)),
            ("", ""),
            (_("How to go on"), _("Correct the rows on the first sheet (or in your file) and import them again. "
                                  "The columns Line and Problems are ignored on import.")),
        ]
        for i, (label, value) in enumerate(rows):
            summary.write(i, 0, label, self.bold)
            summary.write(i, 1, value)
        self.workbook.close()
        self.workbook = None
        return str(self.path)

    def discard_if_open(self) -> None:
        if self.workbook is not None:
            try:
                self.workbook.close()
            finally:
                self.workbook = None
                if self.path is not None:
                    self.path.unlink(missing_ok=True)


def _report_value(value):
    if value is None:
        return ""
    if isinstance(value, Formula | CellError):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, str | int | float | bool | Decimal):
        return value
    return str(value)


# --- pass 2: writing -----------------------------------------------------------------------------


class _Writer:
    """Inserts rows given as tuples: COPY on PostgreSQL, executemany elsewhere (SQLite).

    Fields not given get their model default, adapted once. Primary keys that later rows refer to are
    reserved first (the sequence on PostgreSQL; above the largest id on SQLite, whose write lock this
    transaction holds), so no row has to be read back.
    """

    def __init__(self):
        self.vendor = connection.vendor
        self.quote = connection.ops.quote_name
        self.next_id: dict[str, int] = {}
        self.pool: dict[str, list[int]] = {}

    def _defaults(self, model, given: tuple[str, ...]) -> tuple[list[str], tuple]:
        names, values = [], []
        for f in model._meta.concrete_fields:
            if f.name in given or f.primary_key:
                continue
            names.append(f.column)
            values.append(f.get_db_prep_save(f.get_default(), connection))
        return names, tuple(values)

    def columns(self, model, given: tuple[str, ...]) -> tuple[str, tuple]:
        """The column list for rows of ``given`` fields followed by the defaults of the others."""
        meta = model._meta
        extra, defaults = self._defaults(model, given)
        columns = [meta.get_field(name).column for name in given] + extra
        return ", ".join(self.quote(c) for c in columns), defaults

    def reserve(self, model, count: int) -> list[int]:
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":  # from the sequence, in blocks (unused ones are mere gaps)
                pool = self.pool.setdefault(table, [])
                if len(pool) < count:
                    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                                   [table, max(count - len(pool), 10 * BATCH)])
                    pool.extend(r[0] for r in cursor.fetchall())
                taken, self.pool[table] = pool[:count], pool[count:]
                return taken
            if table not in self.next_id:
                cursor.execute(f"SELECT MAX(id) FROM {self.quote(table)}")  # noqa: S608  (a model's table)
                highest = cursor.fetchone()[0] or 0
                if self.vendor == "sqlite":
                    cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
                    seq = cursor.fetchone()
                    highest = max(highest, seq[0] if seq else 0)
                self.next_id[table] = highest + 1
        start = self.next_id[table]
        self.next_id[table] = start + count
        return list(range(start, start + count))

    def insert(self, model, columns: tuple[str, tuple], rows: Iterable[tuple]) -> int:
        names, defaults = columns
        table = self.quote(model._meta.db_table)
        count = 0
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row + defaults)
                        count += 1
                return count
            batch = [row + defaults for row in rows]
            if batch:
                marks = ", ".join(["%s"] * len(batch[0]))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)  # noqa: S608
            return len(batch)

    def update(self, model, fields: tuple[str, ...], rows: list[tuple]) -> None:
        """Sets ``fields`` of rows given as (pk, *values) (not used on PostgreSQL, where rows go in complete)."""
        if not rows:
            return
        meta = model._meta
        sets = ", ".join(f"{self.quote(meta.get_field(f).column)} = %s" for f in fields)
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {self.quote(meta.db_table)} SET {sets} WHERE id = %s",  # noqa: S608
                               [(*row[1:], row[0]) for row in rows])


PERSON_FIELDS = ("id", "name", "id_type", "id_number_sealed", "id_number_hash", "id_number_masked", "phone_sealed",
                 "phone_hash", "phone_masked", "birth_date", "sex", "ethnicity", "education", "political_status",
                 "residence_type", "area", "household", "relation")
EVENT_FIELDS = ("person", "kind", "date", "at", "actor", "actor_name", "data")
MEMBERSHIP_FIELDS = ("person", "household", "relation", "start_date")
TAG_FIELDS = ("person", "tag", "start_date", "source")
HOUSEHOLD_FIELDS = ("id", "number", "address", "area", "income_per_person", "safe_family_years", "head",
                    "household_class", "class_reasons")
CHANGE_FIELDS = ("household", "from_class", "to_class", "reasons", "manual", "at", "actor_name")


def _write(checker: _Checker, result: ImportResult, actor) -> None:
    """Pass 2, inside the caller's transaction: the persons with their events, memberships and tags, then the
    new households (whose ids the persons already carry: the foreign keys are checked at commit) with their
    heads and colours, then the households that existed are given their heads and colours."""
    writer = _Writer()
    now, today = timezone.now(), checker.today
    user_id = checker.user.pk if checker.user else None
    actor_name = audit.actor_label(actor)[:150]
    at = connection.ops.adapt_datetimefield_value(now) if connection.vendor != "postgresql" else now

    new = [h for h in checker.households.values() if h.existing_pk is None]
    for start in range(0, len(new), 10 * BATCH):
        chunk = new[start:start + 10 * BATCH]
        for household, pk in zip(chunk, writer.reserve(Household, len(chunk)), strict=True):
            household.pk = pk
    result.households_created = len(new)
    result.households_joined = sum(1 for h in checker.households.values() if h.existing_pk is not None)

    person_columns = writer.columns(Person, PERSON_FIELDS)
    event_columns = writer.columns(PersonEvent, EVENT_FIELDS)
    membership_columns = writer.columns(HouseholdMembership, MEMBERSHIP_FIELDS)
    tag_columns = writer.columns(PersonTag, TAG_FIELDS)
    source = (_("import") + " " + checker.file_name)[:50]
    file_name = checker.file_name[:100]
    # The event data {"grid": …, "file": …, "line": n} as json.dumps writes it, its start made once per grid.
    event_starts = {area_id: json.dumps({"grid": code, "file": file_name, "line": 0})[:-2]
                    for area_id, code in checker.grid_codes.items()}
    tag_events = {pk: (tag, json.dumps({"tag": tag.code, "sensitive": tag.sensitive}))
                  for pk, tag in checker.tag_by_id.items()}
    imported, tag_added, head = EventKind.IMPORTED.value, EventKind.TAG_ADDED.value, Relation.HEAD.value
    households = checker.households
    done = 0
    for batch in checker.spooled():
        ids = writer.reserve(Person, len(batch))
        persons, events, memberships, tags = [], [], [], []
        for pk, row in zip(ids, batch, strict=True):
            (line, name, id_type, id_sealed, id_hash, id_masked, phone_sealed, phone_hash, phone_masked, birth,
             sex, ethnicity, education, political, residence, area_id, number, relation, tag_ids, warnings) = row
            household = households[number] if number else None
            household_pk = household.pk if household is not None else None
            persons.append((pk, name, id_type, id_sealed, id_hash, id_masked, phone_sealed, phone_hash,
                            phone_masked, birth, sex, ethnicity, education, political, residence, area_id,
                            household_pk, relation))
            if warnings:
                data = json.dumps({"grid": checker.grid_codes[area_id], "file": file_name, "line": line,
                                   "warnings": list(warnings)})
            else:
                data = f"{event_starts[area_id]}{line}}}"
            events.append((pk, imported, today, at, user_id, actor_name, data))
            if household is not None:
                memberships.append((pk, household_pk, relation, today))
                if relation == head:
                    household.head_id = pk
            for tag_id in tag_ids:
                tags.append((pk, tag_id, today, source))
                events.append((pk, tag_added, today, at, user_id, actor_name, tag_events[tag_id][1]))
        writer.insert(Person, person_columns, persons)
        writer.insert(PersonEvent, event_columns, events)
        writer.insert(HouseholdMembership, membership_columns, memberships)
        writer.insert(PersonTag, tag_columns, tags)
        done += len(batch)
        result.tags_added += len(tags)
    result.imported_rows = done
    _insert_households(writer, checker, new, at, actor_name)
    _classify_joined(checker, actor)


def _insert_households(writer: _Writer, checker: _Checker, new: list[_Household], at, actor_name: str) -> None:
    """The new households with their heads and colours (三色) and the first row of their colour history.

    The colour is the one ``services.households_reclassify`` gives, by the same evaluator, rules and village
    averages (a new household's members are all in the file, so their tags are known). The average of a
    village counts the new households too: on PostgreSQL it is computed before the households go in, by the
    database's own avg() over the stored incomes and the new ones, so the rows go in complete; elsewhere the
    households go in first and get their colours by an update, as the averages are read back.
    """
    columns = writer.columns(Household, HOUSEHOLD_FIELDS)
    change_columns = writer.columns(HouseholdClassChange, CHANGE_FIELDS)
    complete = writer.vendor == "postgresql"
    if complete:
        average_by_grid = _village_averages(checker, new)
    else:
        for start in range(0, len(new), 10 * BATCH):
            writer.insert(Household, columns, (
                (h.pk, h.number, h.address, h.area_id, h.income, h.years or 0, h.head_id, "", "[]")
                for h in new[start:start + 10 * BATCH]))
        averages = VillageAverages()
        average_by_grid = {area_id: averages.for_area(checker.grids[checker.grid_codes[area_id]])
                           for area_id in {h.area_id for h in new}}
    rules, today = services.active_rules(), checker.today
    tag_codes = {pk: tag.code for pk, tag in checker.tag_by_id.items()}
    reasons_json: dict[tuple[str, ...], str] = {}
    for start in range(0, len(new), 10 * BATCH):
        rows, changes = [], []
        for household in new[start:start + 10 * BATCH]:
            verdict = evaluate(
                _HouseholdFacts(household.income, household.years or 0), rules,
                tag_codes={tag_codes[t] for t in household.tag_ids} if household.tag_ids else set(),
                village_average=average_by_grid[household.area_id], today=today)
            key = tuple(verdict.reasons)
            reasons = reasons_json.get(key)
            if reasons is None:
                reasons = reasons_json[key] = json.dumps(verdict.reasons)
            if complete:
                rows.append((household.pk, household.number, household.address, household.area_id, household.income,
                             household.years or 0, household.head_id, verdict.colour, reasons))
            else:
                rows.append((household.pk, verdict.colour, reasons))
            changes.append((household.pk, "", verdict.colour, reasons, False, at, actor_name))
        if complete:
            writer.insert(Household, columns, rows)
        else:
            writer.update(Household, ("household_class", "class_reasons"), rows)
        writer.insert(HouseholdClassChange, change_columns, changes)


def _village_averages(checker: _Checker, new: list[_Household]) -> dict[int, Decimal | None]:
    """For each grid of the new households, what ``VillageAverages`` will give once they are stored: avg() of
    the incomes stored in the village and those of the new households (PostgreSQL's avg of numeric is exact
    and does not depend on the order, so this is the very value the nightly batch will read)."""
    village_by_grid = {area_id: village_of(checker.grids[checker.grid_codes[area_id]])
                       for area_id in {h.area_id for h in new}}
    villages = {v.pk: v for v in village_by_grid.values() if v is not None}
    incomes: dict[int, list[Decimal]] = {pk: [] for pk in villages}
    for household in new:
        village = village_by_grid[household.area_id]
        if household.income is not None and village is not None:
            incomes[village.pk].append(household.income)
    quote = connection.ops.quote_name
    sql = (f"SELECT AVG(v) FROM (SELECT h.income_per_person AS v FROM {quote(Household._meta.db_table)} h "  # noqa: S608
           f"INNER JOIN {quote(Area._meta.db_table)} a ON a.id = h.area_id WHERE a.path >= %s AND a.path < %s "
           "AND h.income_per_person IS NOT NULL UNION ALL SELECT unnest(%s::numeric[])) AS incomes")
    average: dict[int, Decimal | None] = {}
    with connection.cursor() as cursor:
        for pk, village in villages.items():
            after = village.path[:-1] + chr(ord(village.path[-1]) + 1)
            cursor.execute(sql, [village.path, after, incomes[pk]])
            average[pk] = cursor.fetchone()[0]
    return {area_id: average[v.pk] if v is not None else None for area_id, v in village_by_grid.items()}


def _classify_joined(checker: _Checker, actor) -> None:
    """Households that existed get their head from the file if they had none, and are re-evaluated through the
    service one by one (their other members are in the database)."""
    joined = [h for h in checker.households.values() if h.existing_pk is not None]
    if not joined:
        return
    for household in joined:
        if household.head_id:
            Household.objects.filter(pk=household.pk, head__isnull=True).update(head_id=household.head_id)
    rules, averages = services.active_rules(), VillageAverages()
    for existing in Household.objects.filter(pk__in=[h.pk for h in joined]).select_related("area__level"):
        services.household_classify(actor=actor, household=existing, rules=rules, averages=averages,
                                    today=checker.today)


@dataclass(frozen=True)
class _HouseholdFacts:
    """What the classification rules read of a household."""

    income_per_person: Decimal | None
    safe_family_years: int


def _common_path(paths: Iterable[str]) -> str:
    """The deepest area path that all the given paths lie under ('' if none)."""
    common = os.path.commonprefix(list(paths))
    return common[:len(common) - len(common) % PATH_STEP]


# --- the service -----------------------------------------------------------------------------------


def residents_import(*, actor, path: Path | str, dry_run: bool = False, skip_invalid: bool = False,
                     progress: ProgressCallback | None = None, file_name: str = "") -> ImportResult:
    """Checks every row of a CSV or XLSX file of residents and imports them all at once, or none.

    ``actor`` is a user (who needs Perm.RESIDENT_EXPORT on each row's grid), None (the system) or a label
    such as the command's name (the system too). ``progress(stage, done, total)`` is called every
    PROGRESS_EVERY rows while checking, and once when writing starts. Raises ResidentImportError for a file
    refused as a whole; returns the result otherwise (``refused`` when rows had problems and nothing was
    imported). ``file_name`` is the name shown in the report and the audit log (default: the path's).
    """
    with _no_cycle_collection():
        return _residents_import(actor=actor, path=path, dry_run=dry_run, skip_invalid=skip_invalid,
                                 progress=progress, file_name=file_name)


@contextlib.contextmanager
def _no_cycle_collection():
    """Python's cycle collector off while the import runs (and so in its worker processes). The import makes
    millions of short-lived tuples and keeps hundreds of thousands of households: the collector kept walking
    them, a quarter of the checking pass's time, and they hold no reference cycles to free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _residents_import(*, actor, path: Path | str, dry_run: bool, skip_invalid: bool,
                      progress: ProgressCallback | None, file_name: str) -> ImportResult:
    started = time.monotonic()
    path = Path(path)
    file_name = file_name or path.name
    user = actor if _is_user(actor) else None
    if user is not None and scope_for(user, Perm.RESIDENT_EXPORT).is_empty:
        raise PermissionDenied("You may not import residents.")
    result = ImportResult(file_name=file_name, dry_run=dry_run, skip_invalid=skip_invalid)
    report_dir = Path(settings.DATA_DIR) / "reports"
    checker = None
    try:
        with open_table(path, formulas=True) as table:
            merged = table.merged_ranges()
            if merged:
                shown = "、".join(merged[:5]) + ("…" if len(merged) > 5 else "")
                raise ResidentImportError(_(
                    "The sheet has merged cells (%(ranges)s). Unmerge them and fill in every cell: each row must "
                    "stand for one person."
                ) % {"ranges": shown})
            total = max((table.estimated_rows() or 1) - 1, 0)
            records = iter(table)
            header = next(records, None)
            if header is None or not any(cell_text(c) for c in header if not isinstance(c, Formula)):
                raise ResidentImportError(_("The file is empty.") if header is None else _(
                    "The first row must be the header row naming the columns, as in the template."))
            checker = _Checker(actor=actor, header=header, file_name=file_name, report_dir=report_dir)
            result.ignored_columns = checker.ignored
            with checker.workers(processes=_parse_processes(total)):
                for line, cells in enumerate(records, start=2):
                    if not any(_filled(c) for c in cells):
                        continue
                    checker.add(line, cells)
                    if progress is not None and checker.rows % PROGRESS_EVERY == 0:
                        progress("checking", checker.rows, max(total, checker.rows))
                checker.flush()
        if checker.rows == 0:
            raise ResidentImportError(_("The file has no rows to import."))
        result.total_rows, result.valid_rows, result.error_rows = checker.rows, checker.valid, checker.errors
        result.warnings, result.problems = checker.warnings, checker.problems
        if progress is not None:
            progress("checking", checker.rows, checker.rows)
        result.refused = bool(checker.errors) and (not skip_invalid or not checker.valid)
        checker.seen.clear()  # the duplicate index is done with; free it before writing
        if not dry_run and not result.refused:
            if progress is not None:
                progress("writing", 0, checker.valid)
            try:
                with transaction.atomic(), _bulk_load_cache():
                    _write(checker, result, actor)
                    grid_paths = {checker.grids[checker.grid_codes[pk]].path for pk in checker.used_grids}
                    audit.record(actor=actor, action="residents.import", object_repr=file_name,
                                 area_path=_common_path(grid_paths), data={
                                     "file": file_name, "rows": result.total_rows, "imported": result.imported_rows,
                                     "errors": result.error_rows, "skip_invalid": skip_invalid,
                                     "households_created": result.households_created,
                                     "households_joined": result.households_joined, "tags": result.tags_added})
            except IntegrityError as exc:
                result.imported_rows = result.households_created = result.households_joined = 0
                raise ResidentImportError(_(
                    "Someone registered some of these persons or households while the file was being imported; "
                    "nothing was imported. Import the file again to see which."
                )) from exc
        result.seconds = time.monotonic() - started
        result.report_path = checker.report.finish(result, actor)
        return result
    except SpreadsheetError as exc:
        raise ResidentImportError(exc.message) from None
    finally:
        if checker is not None:
            checker.close()


@contextlib.contextmanager
def _bulk_load_cache():
    """On SQLite, a larger page cache while writing: a big import inserts into indexes of random keys (the
    ID number hashes), and with the default 2 MB cache most of those inserts would read pages from disk."""
    if connection.vendor != "sqlite" or not SQLITE_IMPORT_CACHE_KIB:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{int(SQLITE_IMPORT_CACHE_KIB)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _filled(value) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


# --- jobs: an upload checked and imported in the background ------------------------------------


UPLOAD_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls"}


def import_job_create(*, actor, upload, dry_run: bool = False, skip_invalid: bool = False) -> ImportJob:
    """Stores an uploaded file under GRIDGOV_DATA_DIR/uploads/ and queues its import (a huey task)."""
    _require_import(actor)
    name = Path(getattr(upload, "name", "") or "upload").name[:200]
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise ApplicationError(RegistryErrorCode.INVALID_IMPORT, _("The file is larger than %(mb)d MB.") % {
            "mb": MAX_UPLOAD_BYTES // (1024 * 1024)}, fields={"file": ["too large"]})
    if not size:
        raise ApplicationError(RegistryErrorCode.INVALID_IMPORT, _("The file is empty."), fields={"file": ["empty"]})
    directory = Path(settings.DATA_DIR) / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix.lower()
    stored = directory / f"{timezone.localtime():%Y%m%d-%H%M%S}-{secrets.token_hex(8)}" \
                         f"{suffix if suffix in UPLOAD_SUFFIXES else ''}"
    with stored.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    job = ImportJob.objects.create(actor=actor, file_name=name, stored_path=str(stored), dry_run=dry_run,
                                   skip_invalid=skip_invalid)
    from gridgov.registry.tasks import run_import_job

    transaction.on_commit(lambda: run_import_job(job.pk))
    return job


def _require_import(actor) -> None:
    if actor is None:
        return
    if scope_for(actor, Perm.RESIDENT_EXPORT).is_empty:
        raise PermissionDenied("You may not import or export residents.")


def import_job_run(*, job_id: int) -> ImportJob:
    """Runs a queued job (called by the huey task): progress, counts, report and status end up on the job."""
    job = ImportJob.objects.select_related("actor").get(pk=job_id)
    if job.status != JobStatus.QUEUED:
        return job
    if job.actor is None:  # the uploader's account is gone: never run their file as the system
        ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.REFUSED, finished_at=timezone.now(),
                                                   message=_("The user who uploaded the file no longer exists."))
        Path(job.stored_path).unlink(missing_ok=True)
        job.refresh_from_db()
        return job
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, message=_("Checking the rows…"))
    state = {"last": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == "checking" and done < total and now - state["last"] < 0.5:
            return
        state["last"] = now
        fields = {"processed_rows": done, "total_rows": total} if stage == "checking" else {
            "message": _("Writing %(n)d rows…") % {"n": total}}
        ImportJob.objects.filter(pk=job.pk).update(**fields)

    try:
        result = residents_import(actor=job.actor, path=job.stored_path, dry_run=job.dry_run,
                                  skip_invalid=job.skip_invalid, progress=progress, file_name=job.file_name)
    except ApplicationError as exc:
        status, message, counts = JobStatus.REFUSED, exc.message, {}
    except Exception:
        import logging

        logging.getLogger(__name__).exception("import job %s failed", job.pk)
        status, message, counts = JobStatus.FAILED, _("The import failed unexpectedly; nothing was imported. "
                                                      "The administrator can read the details in the log."), {}
    else:
        status = JobStatus.REFUSED if result.refused or (result.error_rows and not result.valid_rows) \
            else JobStatus.DONE
        message = "\n".join([result.message, *(
            _("Line %(line)d: %(message)s") % {"line": line, "message": problem}
            for line, problem in result.problems[:JOB_PROBLEMS_SHOWN])])
        counts = {"total_rows": result.total_rows, "processed_rows": result.total_rows,
                  "imported_rows": result.imported_rows, "error_rows": result.error_rows,
                  "report_path": result.report_path}
    ImportJob.objects.filter(pk=job.pk).update(status=status, message=message, finished_at=timezone.now(),
                                               **counts)
    Path(job.stored_path).unlink(missing_ok=True)  # the upload holds ID numbers in clear: keep it no longer
    job.refresh_from_db()
    return job


def import_job_get(*, actor, pk: int) -> ImportJob:
    """A job, for its own user or a superuser; anybody else gets 'not found'."""
    job = ImportJob.objects.filter(pk=pk).first()
    if job is None or actor is None or not (actor.is_superuser or job.actor_id == actor.pk):
        raise NotFound("No such import.")
    return job


def import_job_list(*, actor, limit: int = 10) -> list[ImportJob]:
    return list(ImportJob.objects.filter(actor=actor).order_by("-created_at", "-pk")[:limit])


def import_report_open(*, actor, job: ImportJob):
    """The error report of a job, opened for reading; the download is audited (it holds the rows in clear)."""
    job = import_job_get(actor=actor, pk=job.pk)
    path = Path(job.report_path) if job.report_path else None
    reports = (Path(settings.DATA_DIR) / "reports").resolve()
    if path is None or not path.resolve().is_relative_to(reports) or not path.is_file():
        raise NotFound("This import has no error report.")
    audit.record(actor=actor, action="residents.import_report", obj=job, object_repr=job.file_name,
                 data={"file": job.file_name, "error_rows": job.error_rows})
    return path.open("rb")
