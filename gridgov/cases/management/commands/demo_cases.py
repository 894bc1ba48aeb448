"""`gridgov demo_cases`: a year of cases for the demo county (gridgov.cases.demo).

`gridgov demo` runs it after the residents; on its own it adds the cases to a demo loaded without them
(``--count 500000`` for the benchmarks).
"""

from django.core.management.base import BaseCommand, CommandError

from gridgov.areas import demo as areas_demo
from gridgov.cases import demo
from gridgov.core.errors import ApplicationError


class Command(BaseCommand):
    help = ("Loads a year of demo cases into the demo county (the case table must be empty): every channel and "
            "domain, each case with its full timeline, a few open ones in each demo login's inbox.")

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=list(demo.CASES_PER_SCALE), default="county",
                            help="tiny (200 cases), county (4,000; default) or city (8,000).")
        parser.add_argument("--count", type=int, default=None, metavar="N",
                            help="Load N cases instead of the scale's number (e.g. 500000 for the benchmarks).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed.")

    def handle(self, *args, scale, count, seed, **options):
        try:
            result = demo.load_cases(scale=scale, seed=seed, count=count)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        counts = result.counts
        rate = counts["cases"] / result.seconds if result.seconds else 0
        self.stdout.write(f"Cases: {counts['cases']:,} with {counts['actions']:,} actions, "
                          f"{counts['assignments']:,} assignments and {counts['notifications']:,} notifications "
                          f"in {result.seconds:.1f} s ({rate:,.0f} cases/s).")
        states = ", ".join(f"{state} {n:,}" for state, n in sorted(result.states.items(), key=lambda p: -p[1]))
        levels = ", ".join(f"{level} {n:,}" for level, n in sorted(result.resolved.items(), key=lambda p: -p[1]))
        self.stdout.write(f"Case states: {states}. Closed cases by the level resolved: {levels}.")
        if counts["cases"] <= 20_000:
            self._inboxes()

    def _inboxes(self):
        from django.contrib.auth import get_user_model

        from gridgov.cases.selectors import INBOX_TABS, inbox_counts

        names = [username for username, _role, _where in areas_demo.ACCOUNTS if username != "admin"]
        users = get_user_model().objects.filter(username__in=names).order_by("pk")
        for user in users:
            counts = inbox_counts(actor=user)
            self.stdout.write(f"  {user.username:<16} " + ", ".join(f"{tab} {counts[tab]:,}" for tab in INBOX_TABS))
