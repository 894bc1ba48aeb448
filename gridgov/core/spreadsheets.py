"""Reading tables from uploaded files: CSV (UTF-8 with or without BOM, GB18030/GBK, UTF-16) and XLSX.

Both are read as a stream: a CSV line by line, a workbook with openpyxl in read-only mode, so a file of a
million rows never sits in memory. ``open_table`` gives the records of the file (header first) as lists of
cell values: text for a CSV; text, numbers, datetimes or ``None`` for a workbook. Anything that is not a
table is refused with a ``SpreadsheetError`` whose message says why, in words a clerk understands.

The helpers below turn cells into text: ``cell_text`` (a whole-number float as its digits), ``code_text``
(codes as ASCII digits, refusing numbers Excel has rounded), ``parse_date`` (text or Excel serial numbers).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from django.utils.translation import gettext as _

from gridgov.core.errors import ApplicationError, ErrorCode

MAX_LINE_BYTES = 1 << 20  # a CSV line longer than this is not a row of a table
_CHUNK = 1 << 20
_EXCEL_EXACT = 10**15  # Excel keeps 15 significant digits: a longer number has lost some
_SCIENTIFIC = re.compile(r"\d+(\.\d+)?[eE]\+?\d+")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MERGE_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref=\"([^\"]+)\"")


class SpreadsheetError(ApplicationError):
    """The file cannot be read as a table; nothing was imported."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_INPUT, message)


@dataclass(frozen=True)
class Formula:
    """A cell holding a formula instead of a value (only when the table is opened with formulas=True)."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class CellError:
    """A workbook cell holding an error value such as #N/A or #REF!."""

    text: str

    def __str__(self) -> str:
        return self.text


def not_a_table() -> SpreadsheetError:
    return SpreadsheetError(_("The file is neither a CSV text file (UTF-8 or GB18030) nor an .xlsx workbook."))


def not_a_workbook() -> SpreadsheetError:
    return SpreadsheetError(_("The file is not a valid .xlsx workbook."))


# --- opening ---------------------------------------------------------------------------------------


class Table:
    """The records of one table file, header first. Use as a context manager; iterate once."""

    kind = ""

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __iter__(self) -> Iterator[list]:  # pragma: no cover - overridden
        raise NotImplementedError

    def estimated_rows(self) -> int | None:
        """About how many records the file holds (header included), cheaply; None if unknown."""
        return None

    def merged_ranges(self) -> list[str]:
        """The merged cell ranges of the sheet read (always empty for a CSV)."""
        return []


def open_table(path: Path | str, *, formulas: bool = False) -> Table:
    """Opens a CSV or XLSX file for streaming, deciding by its content, not its name.

    With ``formulas=True`` a workbook formula comes back as a ``Formula`` (and so does a CSV cell
    beginning with "=", which Excel would run as one); otherwise a workbook gives the value Excel last
    computed. Raises SpreadsheetError for anything that is not a table.
    """
    path = Path(path)
    try:
        with path.open("rb") as probe:
            head = probe.read(8192)
    except OSError as exc:
        raise SpreadsheetError(_("Cannot read %(file)s: %(error)s") % {"file": path, "error": exc.strerror}) \
            from None
    if not head.strip() and _blank(path):
        raise SpreadsheetError(_("The file is empty."))
    if head.startswith(b"PK\x03\x04"):
        return _XlsxTable(path, formulas=formulas)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SpreadsheetError(_("Old .xls workbooks are not supported: save the file as .xlsx or CSV."))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise not_a_workbook()
    if b"\x00" in head and head[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise not_a_table()  # binary data: text has no NUL bytes
    if _blank(path):
        raise SpreadsheetError(_("The file is empty."))
    return _CsvTable(path, formulas=formulas)


def _blank(path: Path) -> bool:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if chunk.strip():
                return False
    return True


# --- CSV -------------------------------------------------------------------------------------------


class _CsvTable(Table):
    kind = "csv"

    def __init__(self, path: Path, *, formulas: bool) -> None:
        self.path = path
        self.formulas = formulas
        self.file = path.open("rb")

    def close(self) -> None:
        self.file.close()

    def estimated_rows(self) -> int:
        count = last = 0
        with self.path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                count += chunk.count(b"\n")
                last = chunk[-1]
        return count + (last != ord("\n"))

    def __iter__(self) -> Iterator[list]:
        lines = self._lines()
        first = next(lines, None)
        if first is None:
            raise SpreadsheetError(_("The file is empty."))
        delimiter = "\t" if "\t" in first and "," not in first else ","
        reader = csv.reader(_chain(first, lines), delimiter=delimiter)
        try:
            if self.formulas:
                for record in reader:
                    yield [Formula(v) if v.startswith("=") else v for v in record]
            else:
                yield from reader
        except csv.Error as exc:
            raise SpreadsheetError(_("The file is not a readable CSV file: %(error)s") % {"error": exc}) from None

    def _lines(self) -> Iterator[str]:
        """The file's lines as text. The encoding is decided by the first line that is not plain ASCII;
        a later line in another encoding (a GBK file with UTF-8 lines pasted in) is refused."""
        f = self.file
        bom = f.read(3)
        if bom[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            f.seek(0)
            yield from self._utf16_lines()
            return
        if bom != codecs.BOM_UTF8:
            f.seek(0)
        encoding, since = ("utf-8", 1) if bom == codecs.BOM_UTF8 else ("", 0)
        number = 0
        while raw := f.readline(MAX_LINE_BYTES):
            number += 1
            if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise SpreadsheetError(_("Line %(line)d is longer than 1 MB: the file is not a table.")
                                       % {"line": number})
            if b"\x00" in raw or (number == 1 and _CONTROL.search(raw)):
                raise not_a_table()  # binary data; a header line has no control characters either
            if raw.isascii():
                yield raw.decode("ascii")
                continue
            try:
                text, kind = raw.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                try:
                    text, kind = raw.decode("gb18030"), "gb18030"
                except UnicodeDecodeError:
                    raise not_a_table() from None
            if not encoding:
                encoding, since = kind, number
            elif kind != encoding:
                names = {"utf-8": "UTF-8", "gb18030": "GBK/GB18030"}
                raise SpreadsheetError(_(
                    "The file mixes two text encodings: line %(first)d is %(enc1)s but line %(line)d is %(enc2)s. "
                    "Save the whole file again in one encoding (UTF-8 is best)."
                ) % {"first": since, "enc1": names[encoding], "line": number, "enc2": names[kind]})
            yield text

    def _utf16_lines(self) -> Iterator[str]:
        text = io.TextIOWrapper(self.file, encoding="utf-16", newline="")
        try:
            while line := text.readline(MAX_LINE_BYTES):
                if "\x00" in line:
                    raise not_a_table()
                yield line
        except UnicodeError:
            raise not_a_table() from None
        finally:
            text.detach()


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


# --- XLSX ------------------------------------------------------------------------------------------


class _XlsxTable(Table):
    kind = "xlsx"

    def __init__(self, path: Path, *, formulas: bool) -> None:
        self.path = path
        self.formulas = formulas
        try:
            self.workbook = openpyxl.load_workbook(path, read_only=True, data_only=not formulas)
        except Exception:  # a broken workbook: zipfile, openpyxl and the XML parser raise many kinds
            raise not_a_workbook() from None
        self.sheet = self.workbook.worksheets[0] if self.workbook.worksheets else None

    def close(self) -> None:
        self.workbook.close()

    def estimated_rows(self) -> int | None:
        try:
            return self.sheet.max_row if self.sheet is not None else 0
        except Exception:  # a sheet without a usable dimension
            return None

    def merged_ranges(self) -> list[str]:
        """Merged ranges, read from the sheet's XML (openpyxl's read-only mode does not report them)."""
        sheet_path = getattr(self.sheet, "_worksheet_path", None)
        if self.sheet is None or not sheet_path:
            return []
        found: list[str] = []
        tail = b""
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(sheet_path) as xml:
                while chunk := xml.read(_CHUNK):
                    data = tail + chunk  # the overlap catches an element cut between two chunks
                    found += [m.decode("ascii", "replace") for m in _MERGE_CELL.findall(data)]
                    tail = data[-1024:]
        except (zipfile.BadZipFile, KeyError, OSError):
            raise not_a_workbook() from None
        return list(dict.fromkeys(found))

    def __iter__(self) -> Iterator[list]:
        if self.sheet is None:
            return
        try:
            if not self.formulas:
                for row in self.sheet.iter_rows(values_only=True):
                    yield list(row)
                return
            for row in self.sheet.iter_rows():
                yield [_cell_value(cell) for cell in row]
        except SpreadsheetError:
            raise
        except Exception:  # a damaged sheet: the XML parser and openpyxl raise many kinds
            raise SpreadsheetError(_("The workbook is damaged and cannot be read to the end.")) from None


def _cell_value(cell):
    kind = getattr(cell, "data_type", None)
    value = cell.value
    if kind == "f":
        return Formula(str(getattr(value, "text", value)))
    if kind == "e":
        return CellError(str(value))
    return value


# --- cells -----------------------------------------------------------------------------------------


def cell_text(value) -> str:
    """A cell as trimmed text; a whole-number float (how Excel stores 12) as its digits."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    return str(value).strip()


def lost_digits(value) -> bool:
    """True for a number Excel has stored with more than 15 significant digits (the rest are lost)."""
    return isinstance(value, float) and abs(value) >= _EXCEL_EXACT


def code_text(value) -> tuple[str, str | None]:
    """A code cell as ASCII digits without spaces, and a problem if it cannot be trusted."""
    if type(value) is str and value.isascii() and value.isalnum() and not _SCIENTIFIC.fullmatch(value):
        return value, None  # the usual case, quickly: nothing to normalise
    if lost_digits(value):
        return cell_text(value), _(
            "The code %(code)s was stored by Excel as a number and lost its last digits: "
            "format the code columns as text and enter the codes again."
        ) % {"code": cell_text(value)}
    code = re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell_text(value)))
    if _SCIENTIFIC.fullmatch(code):
        return code, _(
            "The code %(code)s is written as a number in scientific notation: format the code columns "
            "as text and enter the codes again."
        ) % {"code": code}
    return code, None


def header_key(value) -> str:
    """A header cell reduced for matching: full-width forms folded, spaces and BOM removed, lower case."""
    text = unicodedata.normalize("NFKC", cell_text(value)).lstrip("\ufeff").strip().lower()
    return text.replace(" ", "_")


_DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+[\d:.]+)?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_date(value) -> dt.date | None:
    """A date cell: a workbook date, an Excel serial number, or text such as 1980-01-01, 1980/1/1,
    1980.1.1, 1980年1月1日 or 19800101. Empty gives None; anything else raises ValueError."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return _serial(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    match = _DATE_TEXT.fullmatch(text) or _DATE_COMPACT.fullmatch(text)
    if match:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    if re.fullmatch(r"\d{1,7}(\.0+)?", text):
        return _serial(float(text))
    raise ValueError(text)


def _serial(number: float) -> dt.date:
    """An Excel serial day number (1900 date system) as a date."""
    if not float(number).is_integer() or not 1 <= number <= 2958465:
        raise ValueError(number)
    return _EXCEL_EPOCH + dt.timedelta(days=int(number))
