"""`gridgov visits-demo`: the demo county's visits (run by `gridgov demo` after the residents)."""

from django.core.management.base import BaseCommand, CommandError

from gridgov.core.errors import ApplicationError
from gridgov.visits import demo


class Command(BaseCommand):
    help = "Adds the last weeks of visits to the demo county (Shangnan's visit rules) and two 五必到 cases."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=demo.DEFAULT_DAYS, help="days of history (default 60)")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, days, seed, **options):
        try:
            result = demo.load_visits(days=days, seed=seed)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Visits: {result.visits:,} for {result.households:,} households over {days} days "
                          f"({result.onsite:,} on-site visits answering 五必到 cases), {result.cases} new 五必到 "
                          f"cases for the demo grid worker, in {result.seconds:.1f} s.")
