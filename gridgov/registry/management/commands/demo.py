"""`gridgov demo`: the demo county (gridgov.areas.demo) and its residents (gridgov.registry.demo).

The command lives in the registry app because it loads both: the registry may use the areas, never the
other way round.
"""

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from gridgov.areas import demo
from gridgov.core.errors import ApplicationError
from gridgov.registry import demo as residents


class Command(BaseCommand):
    help = ("Loads a demo county modelled on Shangnan (商南县) into an empty database: areas, staff, a login per "
            "role, and its residents (households, persons, houses, places, tags, colours).")

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=list(demo.SCALES), default="county",
                            help="tiny (tests), county (about 3,300 grids, 93,000 households and 248,500 persons; "
                                 "default) or city (8 counties).")
        parser.add_argument("--if-empty", action="store_true",
                            help="Do nothing, successfully, when the database already holds areas.")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed for names and sizes.")
        parser.add_argument("--without-residents", action="store_true",
                            help="Load the areas, staff and logins only.")
        parser.add_argument("--verify", type=int, default=residents.DEFAULT_VERIFY, metavar="N",
                            help="Households the registry's classification batch re-evaluates after the load, "
                                 "a sample of each colour (default %(default)s; all if there are no more; 0: none).")
        parser.add_argument("--cases", type=int, default=None, metavar="N",
                            help="Cases to load (default: by scale, 4,000 for the county; 0: none).")

    def handle(self, *args, scale, if_empty, seed, without_residents, verify, **options):
        started = time.perf_counter()
        try:
            with transaction.atomic():
                result = demo.load(scale=scale, seed=seed)
                areas_done = time.perf_counter()
                people = None if without_residents else residents.load_residents(scale=scale, seed=seed,
                                                                                 verify=verify)
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
        if people is not None:
            counts = ", ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in people.counts.items())
            classes = ", ".join(f"{colour} {n:,}" for colour, n in people.classes.items())
            self.stdout.write(f"Residents: {counts}.")
            self.stdout.write(f"Household colours: {classes} (the registry's batch re-evaluated "
                              f"{people.verified:,} households and changed {people.reclassified:,}).")
            areas_seconds = areas_done - started
            self.stdout.write(f"Areas and staff in {areas_seconds:.1f} s, residents in {people.seconds:.1f} s, "
                              f"commit {seconds - areas_seconds - people.seconds:.1f} s.")
        self.stdout.write(f"Demo logins (password {demo.DEMO_PASSWORD}):")
        for username, role, where in result.accounts:
            self.stdout.write(f"  {username:<16} {role} · {where}")
        if people is not None and options.get("cases") != 0:  # by name: the registry may not import cases
            call_command("demo_cases", scale=scale, seed=seed, count=options.get("cases"), stdout=self.stdout)
        if people is not None:  # by name: the registry may not import the visits app
            call_command("visits_demo", seed=seed, stdout=self.stdout)
