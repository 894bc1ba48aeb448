from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from gridgov.areas.importer import AreaImportError, areas_import
from gridgov.core.errors import ApplicationError


class Command(BaseCommand):
    help = gettext_lazy(
        "Import areas from a CSV or XLSX file with the columns code, name, parent_code, level, kind "
        "(optionally geometry, dedicated_type). Nothing is imported if any row is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help=gettext_lazy("a .csv (UTF-8 or GB18030) or .xlsx file"))

    def handle(self, *args, file, **options):
        try:
            result = areas_import(actor="gridgov import-areas", path=file)
        except AreaImportError as exc:
            for line in exc.fields["rows"]:
                self.stderr.write(line)
            rows = len({line for line, _message in exc.problems if line is not None})
            message = ngettext(
                "Nothing was imported: %(n)d row of %(file)s has problems.",
                "Nothing was imported: %(n)d rows of %(file)s have problems.", rows,
            ) if rows else _("Nothing was imported from %(file)s.")
            raise CommandError(message % {"n": rows, "file": file}) from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(_("created %(created)d, updated %(updated)d, unchanged %(unchanged)d") % {
            "created": result.created, "updated": result.updated, "unchanged": result.unchanged})
