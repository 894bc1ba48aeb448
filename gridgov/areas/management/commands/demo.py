import time

from django.core.management.base import BaseCommand, CommandError

from gridgov.areas import demo
from gridgov.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Loads a demo county modelled on Shangnan (商南县) into an empty database, with a login per role."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=list(demo.SCALES), default="county",
                            help="tiny (tests), county (about 3,300 grids; default) or city (8 counties).")
        parser.add_argument("--if-empty", action="store_true",
                            help="Do nothing, successfully, when the database already holds areas.")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed for names and sizes.")

    def handle(self, *args, scale, if_empty, seed, **options):
        started = time.perf_counter()
        try:
            result = demo.load(scale=scale, seed=seed)
        except demo.TreeNotEmpty as exc:
            if if_empty:
                self.stdout.write("The database already holds areas: no demo loaded.")
                return
            raise CommandError(exc.message) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        seconds = time.perf_counter() - started
        counts = ", ".join(f"{name} {n:,}" for name, n in result.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Demo ({scale}) loaded in {seconds:.1f} s: {counts}."))
        self.stdout.write(f"Demo logins (password {demo.DEMO_PASSWORD}):")
        for username, role, where in result.accounts:
            self.stdout.write(f"  {username:<16} {role} · {where}")
