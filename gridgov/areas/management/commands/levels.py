"""gridgov levels: show the area levels, or set them (before any area exists)."""

from django.core.management.base import BaseCommand, CommandError

from gridgov.areas import services
from gridgov.areas.models import AreaLevel, Rank
from gridgov.core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Shows the levels of the area tree, or sets them with --preset or --set before any area exists. "
        "--set takes name:rank[:width] items separated by commas, top down, e.g. "
        "'县:county,镇办:town,村/社区:village,组:below_village:3,片:below_village:3'."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--preset", choices=sorted(services.LEVEL_PRESETS))
        group.add_argument("--set", dest="spec")

    def handle(self, *args, preset=None, spec=None, **options):
        if preset or spec:
            levels = services.LEVEL_PRESETS[preset] if preset else self.parse(spec)
            try:
                services.levels_configure(actor=None, levels=levels)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        for level in AreaLevel.objects.all():
            width = f" +{level.sequence_width} digits" if not level.is_division else ""
            self.stdout.write(f"{level.depth}  {level.name}  ({level.rank}{width})")

    @staticmethod
    def parse(spec: str):
        levels = []
        for item in spec.split(","):
            parts = [p.strip() for p in item.split(":")]
            if len(parts) not in (2, 3) or not parts[0] or parts[1] not in Rank.values:
                ranks = ", ".join(Rank.values)
                raise CommandError(f"Bad level {item!r}: use name:rank[:width] with rank one of {ranks}.")
            try:
                width = int(parts[2]) if len(parts) == 3 else None
            except ValueError as exc:
                raise CommandError(f"Bad width in {item!r}.") from exc
            levels.append((parts[0], parts[1], width))
        return levels
