"""Seeds the official calendar from the chinese-calendar package: every year it knows, published.

Later years are entered on the calendar page (or through the API) when the State Council publishes them.
"""

import uuid

from django.db import migrations
from django.utils import timezone

# The package names holidays in English; the calendar shows the official Chinese names.
NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}
SOURCE = "chinese_calendar"


def _name(value) -> str:
    text = getattr(value, "value", value)
    if isinstance(text, tuple):  # older releases: (english, chinese, days)
        return str(text[1])[:50]
    return NAMES.get(str(text), str(text))[:50]


def seed(apps, schema_editor):
    from chinese_calendar import constants

    CalendarDay = apps.get_model("core", "CalendarDay")
    CalendarYear = apps.get_model("core", "CalendarYear")
    CalendarRevision = apps.get_model("core", "CalendarRevision")
    now = timezone.now()
    days = {d: ("holiday", _name(v)) for d, v in constants.holidays.items()}
    days.update({d: ("workday", _name(v)) for d, v in constants.workdays.items()})
    years = sorted({d.year for d in days})
    taken = set(CalendarDay.objects.filter(date__year__in=years).values_list("date", flat=True))
    CalendarDay.objects.bulk_create(
        [CalendarDay(date=d, kind=kind, name=name, updated_at=now)
         for d, (kind, name) in sorted(days.items()) if d not in taken],
        batch_size=500,
    )
    published = set(CalendarYear.objects.values_list("year", flat=True))
    CalendarYear.objects.bulk_create(
        [CalendarYear(year=y, source=SOURCE, published_at=now) for y in range(years[0], years[-1] + 1)
         if y not in published]
    )
    CalendarRevision.objects.update_or_create(pk=1, defaults={"token": uuid.uuid4().hex, "changed_at": now})


def unseed(apps, schema_editor):
    apps.get_model("core", "CalendarDay").objects.all().delete()
    apps.get_model("core", "CalendarYear").objects.all().delete()
    apps.get_model("core", "CalendarRevision").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0002_working_day_calendar")]
    operations = [migrations.RunPython(seed, unseed)]
