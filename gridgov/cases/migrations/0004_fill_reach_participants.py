from django.db import migrations


def fill(apps, schema_editor):
    """The reach and participant rows of the cases already filed."""
    from gridgov.cases.derived import rebuild

    rebuild()


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_reach_participants")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
