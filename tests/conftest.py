"""Shared fixtures: a tiny county with two towns and one user per role.

    商南县 611023000000 (county)
    ├── 富水镇 611023100000 (town A)
    │   ├── 梁家湾村 611023100201 (village A1)
    │   │   └── 一组 611023100201001 (group)
    │   │       ├── 牛家庄片 611023100201001001 (grid, with a boundary)
    │   │       └── 河口片   611023100201001002 (grid)
    │   └── 富水街社区 611023100202 (village A2)
    │       └── 九组片区 611023100202001 (grid directly under the community)
    └── 湘河镇 611023101000 (town B)
        └── 洞场村 611023101201 (village B1)
            └── 一组 611023101201001 (group)
                └── 上湾片 611023101201001001 (grid, with a boundary)
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from pytest_django.fixtures import validate_django_db

from gridgov.areas import services
from gridgov.areas.models import AreaKind, Rank, Role, Slot, Staff
from gridgov.core import authcache
from tests.browser import reseed

PASSWORD = "Test-pass-2026"


def square(lng: float, lat: float, size: float = 0.01) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]],
    }


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _django_db_of(item: pytest.Item) -> tuple[bool, bool]:
    """(transactional, serialized rollback) for a test, as pytest-django decides them."""
    marker = item.get_closest_marker("django_db")
    transaction, reset_sequences, _databases, serialized_rollback, _apps = (
        validate_django_db(marker) if marker else (False, False, None, False, None)
    )
    fixtures = set(getattr(item, "fixturenames", ()))
    transactional = bool(
        transaction or reset_sequences or fixtures & {"transactional_db", "live_server", "django_db_reset_sequences"}
    )
    return transactional, bool(serialized_rollback or "django_db_serialized_rollback" in fixtures)


def pytest_collection_modifyitems(config, items):
    """Serialized rollback breaks depending on which transactional test ran before: after one without it, the flush
    runs post_migrate, which creates the content types and permissions again under new ids (sequences are not
    reset); restoring the serialized rows (content type 1 is admin.logentry) then violates their unique keys. All
    transactional tests therefore start from flushed tables and get the seeded dictionaries from ``_reseeded``."""
    serialized = [item.nodeid for item in items if _django_db_of(item)[1]]
    if serialized:
        raise pytest.UsageError(
            "serialized_rollback clashes with the other transactional tests (see tests/conftest.py); the seeded "
            "dictionaries are seeded again anyway:\n  " + "\n  ".join(serialized)
        )


@pytest.fixture(autouse=True)
def _reseeded(request):
    """A transactional test starts from the migrated database or, after another one, from emptied tables (with
    the content types and permissions only); either way it gets the dictionaries the data migrations seed. Every
    test starts with nothing kept in the process's cache of bearer tokens: a rolled-back test takes its raises of
    the cache's counter with it, so the next test could meet the same values."""
    authcache.clear()
    if _django_db_of(request.node)[0]:
        request.getfixturevalue("transactional_db")
        reseed()


@pytest.fixture
def as_role(client, users):
    """Log the test client in as one of the ``users`` by role name: ``as_role("county_operator")``."""

    def login(role: str):
        client.force_login(getattr(users, role))
        return client

    return login


@pytest.fixture
def levels(db):
    return {
        level.name: level
        for level in services.levels_configure(
            actor=None,
            levels=[
                ("县", Rank.COUNTY, None),
                ("镇办", Rank.TOWN, None),
                ("村/社区", Rank.VILLAGE, None),
                ("组", Rank.BELOW_VILLAGE, 3),
                ("片", Rank.BELOW_VILLAGE, 3),
                ("联防组", Rank.BELOW_VILLAGE, 2),
            ],
        )
    }


@pytest.fixture
def tree(levels):
    L = levels
    mk = services.area_create
    county = mk(actor=None, code="611023000000", name="商南县", level=L["县"], parent=None)
    town_a = mk(actor=None, code="611023100000", name="富水镇", level=L["镇办"], parent=county)
    town_b = mk(actor=None, code="611023101000", name="湘河镇", level=L["镇办"], parent=county)
    village_a1 = mk(actor=None, code="611023100201", name="梁家湾村", level=L["村/社区"], parent=town_a)
    village_a2 = mk(actor=None, code="611023100202", name="富水街社区", level=L["村/社区"], parent=town_a)
    village_b1 = mk(actor=None, code="611023101201", name="洞场村", level=L["村/社区"], parent=town_b)
    group_a1 = mk(actor=None, code="611023100201001", name="一组", level=L["组"], parent=village_a1)
    group_b1 = mk(actor=None, code="611023101201001", name="一组", level=L["组"], parent=village_b1)
    grid_a = mk(actor=None, code="611023100201001001", name="牛家庄片", level=L["片"], parent=group_a1,
                kind=AreaKind.GRID, geometry=square(110.80, 33.50))
    grid_a2 = mk(actor=None, code="611023100201001002", name="河口片", level=L["片"], parent=group_a1,
                 kind=AreaKind.GRID)
    grid_a3 = mk(actor=None, code="611023100202001", name="九组片区", level=L["片"], parent=village_a2,
                 kind=AreaKind.GRID)
    grid_b = mk(actor=None, code="611023101201001001", name="上湾片", level=L["片"], parent=group_b1,
                kind=AreaKind.GRID, geometry=square(110.90, 33.60))
    return SimpleNamespace(
        county=county, town_a=town_a, town_b=town_b, village_a1=village_a1, village_a2=village_a2,
        village_b1=village_b1, group_a1=group_a1, group_b1=group_b1, grid_a=grid_a, grid_a2=grid_a2,
        grid_a3=grid_a3, grid_b=grid_b, levels=levels,
    )


def make_user(username: str, *, area=None, role: str | None = None, slot: str = "", superuser: bool = False,
              department=None):
    User = get_user_model()
    if superuser:
        user = User.objects.create_superuser(username=username, password=PASSWORD)
    else:
        user = User.objects.create_user(username=username, password=PASSWORD)
    staff = Staff.objects.create(user=user, name=f"{username}-name", department=department)
    if area is not None and role is not None:
        services.post_create(actor=None, staff=staff, area=area, role=role, slot=slot)
    return user


@pytest.fixture
def users(tree):
    """One user per role. ``*_a`` roles sit in town A's subtree, ``*_b`` in town B's."""
    dept = services.department_create(actor=None, area=tree.county, name="水务局")
    return SimpleNamespace(
        superuser=make_user("root", superuser=True),
        county_operator=make_user("county_operator", area=tree.county, role=Role.CENTRE_OPERATOR),
        leader=make_user("leader", area=tree.county, role=Role.LEADER),
        town_admin_a=make_user("town_admin_a", area=tree.town_a, role=Role.AREA_ADMIN),
        town_admin_b=make_user("town_admin_b", area=tree.town_b, role=Role.AREA_ADMIN),
        town_operator_a=make_user("town_operator_a", area=tree.town_a, role=Role.CENTRE_OPERATOR),
        village_staff_a=make_user("village_staff_a", area=tree.village_a1, role=Role.VILLAGE_STAFF),
        grid_worker_a=make_user("grid_worker_a", area=tree.grid_a, role=Role.GRID_WORKER, slot=Slot.A),
        grid_police_a=make_user("grid_police_a", area=tree.grid_a, role=Role.GRID_POLICE),
        dept_handler=make_user("dept_handler", department=dept),
        nobody=make_user("nobody"),
    )
