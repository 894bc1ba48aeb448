"""Exports of the household, house and place lists: who may export where, masking, filters, the audit row."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.utils import translation

from gridgov.core.models import AuditEvent
from tests.registry.factories import build_world

pytestmark = pytest.mark.django_db

API = "/api/v1"
KINDS = ["households", "houses", "places"]
ROLES = ["superuser", "county_operator", "leader", "town_admin_a", "town_admin_b", "town_operator_a",
         "village_staff_a", "grid_worker_a", "grid_police_a", "dept_handler", "nobody"]
# Who may export (Perm.RESIDENT_EXPORT) and which side they see: written down here, apart from the code.
EXPORTERS = {"superuser": {"a", "b"}, "county_operator": {"a", "b"}, "town_admin_a": {"a"}, "town_admin_b": {"b"},
             "town_operator_a": {"a"}, "village_staff_a": {"a"}}
VIEWERS = {"leader", "grid_worker_a", "grid_police_a"}  # see residents, may not export: 403


@pytest.fixture(autouse=True)
def _english(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def world(tree):
    return build_world(tree)


def rows_of(response) -> list[list]:
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]


def first_column(kind, world, sides):
    values = {
        "households": lambda s: [s.household.number, s.household2.number],
        "houses": lambda s: [s.house.address],
        "places": lambda s: [s.place.name],
    }[kind]
    return sorted(v for side in sorted(sides) for v in values(getattr(world, side)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("prefix", [API + "/registry", "/registry"])
def test_export_matrix(tree, users, client, world, kind, role, prefix):
    client.force_login(getattr(users, role))
    before = AuditEvent.objects.filter(action=f"{kind}.export").count()
    response = client.get(f"{prefix}/{kind}/export.xlsx")
    if role not in EXPORTERS:
        assert response.status_code == (403 if role in VIEWERS or prefix == API + "/registry" else 404)
        assert AuditEvent.objects.filter(action=f"{kind}.export").count() == before
        return
    assert response.status_code == 200
    rows = rows_of(response)
    assert sorted(r[0] for r in rows[1:]) == first_column(kind, world, EXPORTERS[role])
    event = AuditEvent.objects.filter(action=f"{kind}.export").latest("pk")
    assert event.actor == getattr(users, role) and event.data["rows"] == len(rows) - 1


@pytest.mark.parametrize(("role", "area", "status"), [
    ("town_admin_a", "grid_a", 200), ("town_admin_a", "grid_b", 404), ("leader", "grid_a", 403),
    ("grid_worker_a", "grid_a", 403), ("nobody", "grid_a", 404), ("village_staff_a", "grid_b", 404),
])
def test_export_of_an_area(tree, users, client, world, role, area, status):
    client.force_login(getattr(users, role))
    code = getattr(tree, area).code
    for kind in KINDS:
        assert client.get(f"{API}/registry/{kind}/export.xlsx", {"area": code}).status_code == status
        assert client.get(f"/registry/{kind}/export.xlsx", {"area": code}).status_code == status


def test_household_export_follows_the_colour_filter(tree, users, client, world):
    client.force_login(users.county_operator)
    rows = rows_of(client.get("/registry/households/export.xlsx", {"area": tree.grid_a.code}))
    assert rows[0][:3] == ["Household number", "Head", "Members"]
    by_number = {r[0]: r for r in rows[1:]}
    assert set(by_number) == {world.a.household.number, world.a.household2.number}
    head_row = by_number[world.a.household.number]
    assert head_row[1] == world.a.head.name and head_row[2] == 2 and head_row[4] == tree.grid_a.code
    colour = world.a.household.household_class
    rows = rows_of(client.get("/registry/households/export.xlsx", {"colour": colour, "area": tree.grid_a.code}))
    expected = sorted(h.number for h in (world.a.household, world.a.household2) if h.household_class == colour)
    assert sorted(r[0] for r in rows[1:]) == expected
    assert AuditEvent.objects.filter(action="households.export").latest("pk").data["filters"] == {"colour": colour}


def test_place_export_masks_the_contact_phone(tree, users, client, world):
    place = world.a.place
    type(place).objects.filter(pk=place.pk).update(contact_phone="13912345678", contact_name="店主")
    client.force_login(users.village_staff_a)
    rows = rows_of(client.get("/registry/places/export.xlsx", {"type": "nine_small"}))
    assert rows[1][0] == place.name and rows[1][6] == "139****5678"
    assert "13912345678" not in str(rows)
    assert rows_of(client.get("/registry/places/export.xlsx", {"type": "school"}))[1:] == []
