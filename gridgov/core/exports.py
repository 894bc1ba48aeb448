"""Streaming exports: rows go out as they are read, never all in memory."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Sequence

import xlsxwriter
from django.http import FileResponse, StreamingHttpResponse


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def stream():
        yield "\ufeff"  # so that Excel opens UTF-8 Chinese text correctly
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(filename: str, sheet: str, header: Sequence[str], rows: Iterable[Sequence]) -> FileResponse:
    """Writes an .xlsx in xlsxwriter's constant-memory mode to a temporary file and streams it."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (closed by the FileResponse)
    # Text stays text: a value beginning with "=" must never become a live formula in the export.
    workbook = xlsxwriter.Workbook(spool, {"constant_memory": True, "remove_timezone": True,
                                           "strings_to_formulas": False, "strings_to_urls": False})
    worksheet = workbook.add_worksheet(sheet[:31])
    bold = workbook.add_format({"bold": True})
    worksheet.write_row(0, 0, list(header), bold)
    for i, row in enumerate(rows, start=1):
        worksheet.write_row(i, 0, [("" if v is None else v) for v in row])
    workbook.close()
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename,
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
