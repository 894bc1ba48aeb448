"""Two handlers act on one case at the same moment, each in its own thread with its own database connection.

The first takes the row lock and is held inside its action until the second is waiting for the lock (on
PostgreSQL seen in pg_locks; on SQLite, where BEGIN IMMEDIATE serializes writers on the whole database, once the
second is about to begin). Then the first commits; the second finds the case moved on and gets the conflict.
Exactly one of the two actions is in the timeline; nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from gridgov.cases import services
from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.models import CaseAction
from gridgov.core.errors import ApplicationError
from tests.cases.spec import prepare

pytestmark = pytest.mark.django_db(transaction=True)  # the seeded taxonomy: _reseeded in tests/conftest.py

PATIENCE = 30  # seconds before giving up on a thread that never blocks or never ends (a hang, not a timing check)


def waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("state, first, second", [
    ("dispatched", ("grid_worker_a", "start"), ("grid_police_a", "start")),
    ("handling", ("grid_worker_a", "report"), ("grid_police_a", "send_back")),
])
def test_one_wins_the_other_gets_a_conflict(tree, users, monkeypatch, state, first, second):
    case, _setup = prepare(tree, users, "a", state)
    actions_before = CaseAction.objects.filter(case=case).count()
    holding = threading.Event()  # the first is inside its action, holding the row
    about_to_act = threading.Event()  # the second is about to ask for the row
    release = threading.Event()
    outcome: dict[str, object] = {}
    first_thread = "first"

    original = services.HANDLERS.get(first[1], services._no_change)

    def held(actor, locked, *, note, **params):
        if threading.current_thread().name == first_thread:
            holding.set()
            assert release.wait(PATIENCE), "the second handler never came"
        return original(actor, locked, note=note, **params)

    monkeypatch.setitem(services.HANDLERS, first[1], held)

    def run(name: str, role: str, verb: str, before=None):
        try:
            if before is not None:
                before.set()
            services.case_act(actor=getattr(users, role), case=case.pk, verb=verb, note="现场处理")
            outcome[name] = "done"
        except ApplicationError as exc:
            outcome[name] = exc
        finally:
            connection.close()

    one = threading.Thread(target=run, name=first_thread, args=("first", *first))
    two = threading.Thread(target=run, name="second", args=("second", *second, about_to_act))
    one.start()
    assert holding.wait(PATIENCE)
    two.start()
    assert about_to_act.wait(PATIENCE)
    if connection.vendor == "postgresql":
        give_up = time.monotonic() + PATIENCE
        while not waiting_for_a_lock() and two.is_alive() and time.monotonic() < give_up:
            time.sleep(0.01)
        assert two.is_alive() and waiting_for_a_lock(), "the second handler did not wait for the row lock"
    release.set()
    one.join(PATIENCE)
    two.join(PATIENCE)
    assert not one.is_alive() and not two.is_alive()

    assert outcome["first"] == "done", outcome
    conflict = outcome["second"]
    assert isinstance(conflict, ApplicationError), outcome
    assert (conflict.code, conflict.status) == (CaseErrorCode.CONFLICT, 409)
    case.refresh_from_db()
    verbs = list(CaseAction.objects.filter(case=case).order_by("id").values_list("verb", "actor__username"))
    assert len(verbs) == actions_before + 1
    assert verbs[-1] == (first[1], first[0])
    assert case.state == {"start": "handling", "report": "reported"}[first[1]]
