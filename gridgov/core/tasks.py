"""Background work of the core app (huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from gridgov.core import authcache


@db_periodic_task(crontab(minute="*/10"))
def compact_auth_counter() -> int:
    """Every ten minutes: fold the rows of the bearer-token cache's counter into one (PostgreSQL adds a row for each
    change of users, tokens, staff, posts or areas; their sum, which is all that is read, stays the same)."""
    return authcache.compact()
