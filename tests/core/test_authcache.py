"""The per-process cache of bearer tokens and posts (gridgov.core.authcache): a kept token costs no query, and every
change that could make a kept row wrong is seen by the next request, whichever way it was written (a service, a
bulk update, raw SQL): the database's triggers raise the counter."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridgov.areas import services as area_services
from gridgov.areas.models import Area, AreaLevel, Post, Staff
from gridgov.core import authcache
from gridgov.core.models import ApiToken
from gridgov.core.services import token_authenticate
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def token_of(username: str) -> str:
    response = Client().post("/api/v1/auth/token", {"username": username, "password": PASSWORD},
                             content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def get(token: str, path: str):
    with CaptureQueriesContext(connection) as queries:
        response = Client().get("/api/v1" + path, HTTP_AUTHORIZATION=f"Bearer {token}")
    response.queries = [q["sql"] for q in queries.captured_queries]
    return response


TOKEN_QUERY, POSTS_QUERY = '"core_apitoken"."key_hash" =', '"areas_staff"."user_id" ='
COUNTER_QUERY = "core_authgeneration"


def touching(queries: list[str], marker: str) -> list[str]:
    return [q for q in queries if marker in q]


@pytest.fixture
def worker(tree, users):
    return token_of("grid_worker_a")


def test_a_kept_token_and_its_posts_cost_one_counter_read(tree, users, worker):
    first = get(worker, f"/areas/{tree.grid_a.code}")
    assert first.status_code == 200
    assert touching(first.queries, TOKEN_QUERY) and touching(first.queries, POSTS_QUERY)
    again = get(worker, f"/areas/{tree.grid_a.code}")
    assert again.status_code == 200 and again.json() == first.json()
    assert not touching(again.queries, TOKEN_QUERY) and not touching(again.queries, POSTS_QUERY)
    assert len(touching(again.queries, COUNTER_QUERY)) == 1


@pytest.mark.parametrize("change", [
    pytest.param(lambda users: ApiToken.objects.update(revoked_at=timezone.now()), id="token revoked in bulk"),
    pytest.param(lambda users: ApiToken.objects.update(expires_at=timezone.now()), id="token expired in bulk"),
    pytest.param(lambda users: ApiToken.objects.all().delete(), id="token deleted"),
    pytest.param(lambda users: get_user_model().objects.filter(username="grid_worker_a").update(is_active=False),
                 id="user deactivated in bulk"),
    pytest.param(lambda users: raw("UPDATE auth_user SET is_active = %s WHERE username = 'grid_worker_a'", False),
                 id="user deactivated by raw SQL"),
])
def test_a_kept_token_is_refused_at_once_when_it_no_longer_holds(tree, users, worker, change):
    assert get(worker, "/me").status_code == 200
    assert get(worker, "/me").status_code == 200  # kept
    change(users)
    assert get(worker, "/me").status_code == 401


def raw(sql: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize("change", [
    pytest.param(lambda users: Post.objects.filter(staff__user=users.grid_worker_a).update(
        end_date=timezone.localdate()), id="post ended in bulk"),
    pytest.param(lambda users: Post.objects.filter(staff__user=users.grid_worker_a).delete(), id="post deleted"),
    pytest.param(lambda users: Staff.objects.filter(user=users.grid_worker_a).update(active=False),
                 id="staff record deactivated in bulk"),
    pytest.param(lambda users: raw("UPDATE areas_post SET start_date = %s", timezone.localdate() + dt.timedelta(1)),
                 id="post moved to tomorrow by raw SQL"),
])
def test_a_kept_scope_shrinks_at_once_when_a_post_ends(tree, users, worker, change):
    path = f"/areas/{tree.grid_a.code}"
    assert get(worker, path).status_code == 200
    assert get(worker, path).status_code == 200  # kept
    change(users)
    assert get(worker, path).status_code == 404


def test_a_new_post_widens_a_kept_scope_at_once(tree, users, worker):
    assert get(worker, f"/areas/{tree.grid_b.code}").status_code == 404
    assert get(worker, f"/areas/{tree.grid_b.code}").status_code == 404  # kept
    staff = Staff.objects.get(user=users.grid_worker_a)
    Post.objects.bulk_create([Post(staff=staff, area=tree.grid_b, role="grid_worker", slot="B")])
    assert get(worker, f"/areas/{tree.grid_b.code}").status_code == 200


def test_a_moved_area_is_seen_at_once(tree, users, worker):
    """A village moved under another town: the kept posts' area paths change with it (a bulk update)."""
    operator = token_of("town_operator_a")
    village = f"/areas/{tree.village_a1.code}"
    assert get(operator, village).status_code == 200
    assert get(operator, village).status_code == 200  # kept
    area_services.area_move(actor=users.superuser, area=tree.village_a1, new_parent=tree.town_b,
                            new_code="611023101209")
    moved = Area.objects.get(pk=tree.village_a1.pk)
    assert get(operator, f"/areas/{moved.code}").status_code == 404


def test_logins_and_use_leave_the_counter_alone(tree, users, worker):
    """Each login writes the user's last login, each use the token's last use (once a minute): neither may empty
    every process's cache, or nothing would stay kept on a busy day."""
    before = authcache.generation()
    token_of("grid_worker_a")
    token_of("county_operator")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert get(worker, "/me").status_code == 200
    assert ApiToken.objects.filter(last_used_at__gt=timezone.now() + dt.timedelta(minutes=4)).exists()
    assert authcache.generation() == before
    AreaLevel.objects.filter(name="片").update(name="片区")  # what a kept post is made of: raises it
    assert authcache.generation() > before


def test_a_kept_token_still_expires_on_time(tree, users, worker):
    assert get(worker, "/me").status_code == 200
    with time_machine.travel(ApiToken.objects.get().expires_at):
        assert get(worker, "/me").status_code == 401


def test_posts_are_kept_per_day(tree, users):
    """A post ending tomorrow holds tonight, and not after midnight, with nothing written in between."""
    today = timezone.localdate()
    Post.objects.filter(staff__user=users.grid_worker_a).update(end_date=today + dt.timedelta(days=1))
    evening = timezone.make_aware(dt.datetime.combine(today, dt.time(23)))
    path = f"/areas/{tree.grid_a.code}"
    with time_machine.travel(evening, tick=False):
        token = token_of("grid_worker_a")
        assert get(token, path).status_code == 200
        assert get(token, path).status_code == 200  # kept
    with time_machine.travel(evening + dt.timedelta(hours=2), tick=False):
        assert get(token, path).status_code == 404


def test_each_request_gets_its_own_copy(tree, users, worker):
    first = token_authenticate(worker)
    first.user.__dict__["_something_of_one_request"] = 1
    first.user.first_name = "changed in memory"
    second = token_authenticate(worker)
    assert second is not first and second.user is not first.user
    assert "_something_of_one_request" not in second.user.__dict__ and second.user.first_name != "changed in memory"


def test_nothing_is_kept_without_a_counter(tree, users, worker):
    from gridgov.core.models import AuthGeneration

    AuthGeneration.objects.all().delete()
    assert authcache.generation() is None
    first, again = get(worker, "/me"), get(worker, "/me")
    assert first.status_code == again.status_code == 200
    assert touching(again.queries, TOKEN_QUERY)


def test_compacting_keeps_the_sum(tree, users, worker):
    for name in ("a", "b", "c"):
        Area.objects.filter(pk=tree.grid_a.pk).update(name=name)
    before = authcache.generation()
    folded = authcache.compact()
    assert authcache.generation() == before
    if connection.vendor == "postgresql":
        assert folded > 1 and authcache.compact() == 0
        from gridgov.core.models import AuthGeneration

        assert AuthGeneration.objects.count() == 1
    else:
        assert folded == 0


def test_the_cache_stays_bounded():
    kept = authcache.Kept(max_entries=3)
    for i in range(5):
        kept.put(i, 7, {"i": i})
    assert kept.get(0, 7) is None and kept.get(4, 7) == {"i": 4} and len(kept.entries) == 3
    assert kept.get(4, 8) is None and kept.get(4, None) is None


def test_threads_share_the_cache_safely():
    """The consumer's thread workers read and write one cache: eviction under way never breaks a read. (Threads
    switched every microsecond: without the lock a read meets a key evicted since it looked, a KeyError.)"""
    import sys
    import threading

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    kept = authcache.Kept(max_entries=50)
    errors = []

    def work(offset: int) -> None:
        try:
            for i in range(20_000):
                kept.put((offset + i) % 120, 1, i)
                kept.get((offset + i * 7) % 120, 1)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 13,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == [] and len(kept.entries) == 50
