"""Triggers raising the counter of gridgov.core.authcache on writes to staff, posts, areas and levels: the rows a
bearer token's kept posts are made of. A new area or level changes nobody's posts."""

from django.db import migrations

from gridgov.core.authcache import triggers_operation

TRIGGERS = [
    ("areas_staff", {"update": None}),
    ("areas_post", {"update": None}),
    ("areas_area", {"insert": False, "update": None}),
    ("areas_arealevel", {"insert": False, "update": None}),
]


class Migration(migrations.Migration):

    dependencies = [
        ("areas", "0001_initial"),
        ("core", "0004_auth_generation"),
    ]

    operations = [triggers_operation(TRIGGERS)]
