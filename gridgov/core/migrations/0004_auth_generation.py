"""The counter behind the per-process cache of bearer tokens (gridgov.core.authcache), with its triggers on the
users and tokens. The areas app adds those on staff, posts, areas and levels."""

from django.db import migrations, models

from gridgov.core.authcache import triggers_operation

# Every column of a user but its last login, which each login writes.
USER_COLUMNS = ("password", "is_superuser", "username", "first_name", "last_name", "email", "is_staff", "is_active",
                "date_joined")
TRIGGERS = [
    ("auth_user", {"insert": False, "update": USER_COLUMNS}),
    # Not last_used_at, written once a minute by the token's use.
    ("core_apitoken", {"insert": False, "update": ("key_hash", "user_id", "expires_at", "revoked_at")}),
]


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("core", "0003_seed_calendar"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuthGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField()),
            ],
        ),
        migrations.RunSQL("INSERT INTO core_authgeneration (value) VALUES (1)", migrations.RunSQL.noop),
        triggers_operation(TRIGGERS),
    ]
