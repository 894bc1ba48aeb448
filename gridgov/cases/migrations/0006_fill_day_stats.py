from django.db import migrations


def fill(apps, schema_editor):
    """The statistics' day rows of the cases already filed."""
    from gridgov.cases.derived import day_stats_rebuild

    day_stats_rebuild()


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_day_stats")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
