import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridgov.core.errors import ApplicationError
from gridgov.registry.importer import residents_import


class Command(BaseCommand):
    help = gettext_lazy(
        "Import residents from a CSV or XLSX file laid out like the template (姓名, 证件类型, 证件号码, … 网格编码, "
        "户编号 …). Every row is checked first; if any row has a problem nothing is imported (unless "
        "--skip-invalid) and an error report is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help=gettext_lazy("a .csv (UTF-8 or GB18030) or .xlsx file"))
        parser.add_argument("--dry-run", action="store_true", help=gettext_lazy("check only, import nothing"))
        parser.add_argument("--skip-invalid", action="store_true",
                            help=gettext_lazy("import the good rows and report the bad ones"))

    def handle(self, *args, file, dry_run=False, skip_invalid=False, **options):
        bar = _ProgressLine(self.stderr)
        try:
            result = residents_import(actor="gridgov import-residents", path=file, dry_run=dry_run,
                                      skip_invalid=skip_invalid, progress=bar.update)
        except ApplicationError as exc:
            bar.end()
            raise CommandError(exc.message) from None
        bar.end()
        for line, message in result.problems[:20]:
            self.stderr.write(_("Line %(line)d: %(message)s") % {"line": line, "message": message})
        if result.error_rows > 20:
            self.stderr.write(_("… and %(n)d more rows with problems.") % {"n": result.error_rows - 20})
        if result.ignored_columns:
            self.stderr.write(_("Ignored columns: %(columns)s") % {"columns": "、".join(result.ignored_columns)})
        if result.warnings:
            self.stderr.write(_("%(n)d ID numbers have an unknown address code (imported; worth a look).")
                              % {"n": result.warnings})
        if result.report_path:
            self.stderr.write(_("Error report: %(path)s") % {"path": result.report_path})
        if result.refused:
            raise CommandError(result.message)
        self.stdout.write(result.message)
        self.stdout.write(_("%(rows)d rows in %(seconds).1f s (%(rate)d rows/s).") % {
            "rows": result.total_rows, "seconds": result.seconds,
            "rate": result.total_rows / result.seconds if result.seconds else 0})


class _ProgressLine:
    """A progress line rewritten in place on a terminal (no dependency); plain lines when not a terminal."""

    def __init__(self, stream):
        self.stream = stream  # the command's OutputWrapper
        self.tty = getattr(stream, "isatty", lambda: False)()
        self.last = 0.0
        self.shown = False

    def update(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == "checking" and done < total and now - self.last < 0.2:
            return
        self.last = now
        if stage == "writing":
            text = _("writing %(n)d rows …") % {"n": total}
        else:
            width = 30
            filled = width * done // total if total else width
            text = _("checking [%(bar)s] %(done)d/%(total)d rows") % {
                "bar": "#" * filled + "." * (width - filled), "done": done, "total": total}
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K", ending="")
        elif stage == "writing" or done >= total:
            self.stream.write(text)
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown and self.tty:
            self.stream.write("")
            self.stream.flush()
