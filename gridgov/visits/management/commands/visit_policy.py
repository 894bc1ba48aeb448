"""`gridgov visit-policy shangnan|qingyang`: put a preset of visit rules in force (the old ones are kept)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext_lazy

from gridgov.core.errors import ApplicationError
from gridgov.visits import services
from gridgov.visits.policy import PRESETS


class Command(BaseCommand):
    help = gettext_lazy("Put a preset of visit rules in force: shangnan (三色管理) or qingyang (三必访). "
                        "Without a preset, show the rules in force.")

    def add_arguments(self, parser):
        parser.add_argument("preset", nargs="?", choices=list(PRESETS))
        parser.add_argument("--red-contact-days", type=int, help=gettext_lazy(
            "shangnan: red households are contacted at least this often (days; default 7)"))
        parser.add_argument("--onsite-hours", type=int, help=gettext_lazy(
            "compulsory on-site visits (五必到) are due within this many hours (default 24)"))
        parser.add_argument("--far-metres", type=int, help=gettext_lazy(
            "a visit farther than this from the house is flagged (default 300)"))

    def handle(self, *args, preset=None, red_contact_days=None, onsite_hours=None, far_metres=None, **options):
        from gridgov.visits.selectors import policy_in_force

        if preset:
            try:
                services.visit_policy_set(actor="gridgov visit-policy", preset=preset, onsite_hours=onsite_hours,
                                          far_metres=far_metres, red_contact_days=red_contact_days)
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
        policy = policy_in_force()
        self.stdout.write(f"{policy.name} (onsite {policy.onsite_hours} h, far {policy.far_metres} m)")
        for rule in policy.rules:
            when = ", ".join(f"{k}={'/'.join(v)}" for k, v in rule["when"].items()) or "all"
            self.stdout.write(f"  {rule['duty']:<8} every {rule['every_days']:>3} d  [{when}]  {rule['reason']}")
