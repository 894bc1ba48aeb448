"""What a bearer token stands for, kept in each worker process and checked against one counter on every request.

Without it every API request spends two joined queries before its own work: the token with its user and staff
record, and the user's posts today (together about 4 ms on PostgreSQL, most of it building and planning them). The
rows those queries returned are kept here, pickled, keyed by what they were looked up by, beside the value of the
counter row ``core_authgeneration`` read before them. A request reads the counter (one single-row query) and uses
what is kept only if the counter still has that value.

Triggers (``trigger_sql``, created by the migrations of the apps that own the tables) raise the counter in the same
statement as any change that could make a kept row wrong: a user changed (but for its last login), a token revoked,
expired or deleted, a staff record or a post written, an area or a level changed or deleted. The raise becomes
visible with that change, at its commit, so every process sees a revoked token or an ended post at the same moment
as the database does; nothing waits for a cache to expire.

The counter is the sum of the table's ``value`` column. On PostgreSQL each changing statement inserts a row of 1:
inserts by concurrent transactions never wait for each other (one row raised by all of them would make every
change of staff and posts wait for the others, and could deadlock them), and the sum grows exactly when a
transaction that changed something commits. ``compact`` folds the rows into one (every few minutes, a huey task);
the sum stays the same. SQLite has one writer at a time: there its triggers raise a single row. An empty table (a
flushed test database) turns the cache off until the next change.

Each request gets its own unpickled copy, so what a request attaches to its user never reaches another request.
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict

from django.db import connection, transaction

MAX_ENTRIES = 20_000
# Where a user authenticated by a kept (or just kept) token carries the counter's value read for it.
USER_GENERATION = "_gridgov_auth_generation"


def generation() -> int | None:
    """The counter's value now, or None when the table is empty (then nothing is kept)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(value) FROM core_authgeneration")
        return cursor.fetchone()[0]


def compact() -> int:
    """Fold the counter's rows into one row of their sum (PostgreSQL; SQLite keeps one row). The rows folded."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:  # the sum never seen smaller
        cursor.execute(
            "WITH gone AS (DELETE FROM core_authgeneration WHERE (SELECT count(*) FROM core_authgeneration) > 1 "
            "RETURNING value) SELECT count(*), sum(value) FROM gone"
        )
        folded, total = cursor.fetchone()
        if folded:
            cursor.execute("INSERT INTO core_authgeneration (value) VALUES (%s)", [total])
    return folded


def trigger_sql(vendor: str, table: str, *, insert: bool = True, update: tuple[str, ...] | None = (),
                delete: bool = True) -> tuple[list[str], list[str]]:
    """The statements that create, and those that drop, the triggers raising the counter on writes to ``table``:
    inserts and deletes when asked, updates of the columns ``update`` names (None: of any column; (): none)."""
    events = [("insert", "INSERT")] if insert else []
    if update is None or update:
        events.append(("update", "UPDATE" + (" OF " + ", ".join(update) if update else "")))
    if delete:
        events.append(("delete", "DELETE"))
    name = f"gridgov_auth_{table}"
    if vendor == "postgresql":
        return (
            [PG_FUNCTION, f"CREATE TRIGGER {name} AFTER {' OR '.join(e for _n, e in events)} ON {table} "
                          "FOR EACH STATEMENT EXECUTE FUNCTION gridgov_auth_changed()"],
            [f"DROP TRIGGER IF EXISTS {name} ON {table}"],
        )
    return (
        [f"CREATE TRIGGER {name}_{n} AFTER {e} ON {table} BEGIN {SQLITE_RAISE} END" for n, e in events],
        [f"DROP TRIGGER IF EXISTS {name}_{n}" for n, _e in events],
    )


def triggers_operation(triggers: list[tuple[str, dict]]):
    """A migration operation creating (and, backwards, dropping) the triggers of ``trigger_sql`` on each table."""
    from django.db import migrations

    def run(schema_editor, which: int) -> None:
        for table, events in triggers:
            for statement in trigger_sql(schema_editor.connection.vendor, table, **events)[which]:
                schema_editor.execute(statement)

    return migrations.RunPython(lambda _apps, editor: run(editor, 0), lambda _apps, editor: run(editor, 1))


PG_FUNCTION = """CREATE OR REPLACE FUNCTION gridgov_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core_authgeneration (value) VALUES (1);
    RETURN NULL;
END $$"""
SQLITE_RAISE = ("INSERT INTO core_authgeneration (id, value) VALUES (1, 1) "
                "ON CONFLICT (id) DO UPDATE SET value = value + 1;")


class Kept:
    """One kind of kept rows (tokens, posts), per process, least recently used out first, safe across threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.entries: OrderedDict = OrderedDict()
        self.max_entries = max_entries
        self.lock = threading.Lock()  # the consumer's thread workers and a threaded server share one

    def get(self, key, gen: int | None):
        """A fresh copy of what was kept for ``key`` at counter value ``gen``, or None."""
        if gen is None:
            return None
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != gen:
                return None
            self.entries.move_to_end(key)
        return pickle.loads(entry[1])  # noqa: S301  (bytes this process pickled itself)

    def put(self, key, gen: int | None, value) -> None:
        if gen is None:
            return
        entry = (gen, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        with self.lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


tokens = Kept()
posts = Kept()


def clear() -> None:
    """Forget everything kept in this process (tests, between databases)."""
    tokens.clear()
    posts.clear()
