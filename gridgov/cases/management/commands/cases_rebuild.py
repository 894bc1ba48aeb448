"""``gridgov cases-rebuild``: writes the rows derived from the cases anew (``gridgov.cases.derived.rebuild``).

The services keep them with every change of a case; rebuild them after loading cases past the services, if they
are ever doubted, or to count at once the cases of a village moved to another town (the nightly task does it too).
"""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from gridgov.cases import derived


class Command(BaseCommand):
    help = ("Writes anew the rows derived from the cases: who may see each case, who acted on it, and the "
            "statistics by day.")

    def handle(self, *args, **options):
        counts = derived.rebuild()
        self.stdout.write(_("Rebuilt %(reach)d reach rows, %(participants)d participant rows and %(day_stats)d "
                            "statistics rows.") % counts)
