"""Departments and their handlers: API and pages, for every role inside and outside its subtree."""

import json

import pytest
from django.contrib.auth import get_user_model

from gridgov.areas import services
from gridgov.areas.models import Department, Staff
from gridgov.core.models import AuditEvent
from tests.areas.matrix import AREA_CHANGE, ROLES, SIDES, STAFF_CHANGE, VIEW, expected

API = "/api/v1"


@pytest.fixture
def departments(tree):
    return {
        "a": services.department_create(actor=None, area=tree.town_a, name="富水镇派出所"),
        "b": services.department_create(actor=None, area=tree.town_b, name="湘河镇派出所"),
    }


@pytest.fixture
def as_role(client, users):
    def login(role):
        client.force_login(getattr(users, role))
        return client

    return login


def counts():
    return (Department.objects.count(), Staff.objects.count(), get_user_model().objects.count(),
            AuditEvent.objects.count())


def post_json(client, path, data):
    return client.post(API + path, data=json.dumps(data), content_type="application/json")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_create_department_api(tree, users, as_role, role, side):
    town = f"town_{side}"
    client = as_role(role)
    before = counts()
    response = post_json(client, "/departments", {"area_code": getattr(tree, town).code, "name": "司法所"})
    status = expected(tree, role, view=[town], change=[town], perm=AREA_CHANGE, ok=201)
    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["name"] == "司法所"
        assert Department.objects.filter(area=getattr(tree, town), name="司法所").exists()
        assert AuditEvent.objects.latest("id").action == "department.create"
    else:
        assert counts() == before


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_department_handlers_api(tree, users, departments, as_role, role, side):
    department = departments[side]
    town = f"town_{side}"
    client = as_role(role)
    read = client.get(f"{API}/departments/{department.pk}/handlers")
    assert read.status_code == expected(tree, role, view=[town], change=[], perm=VIEW, ok=200)
    before = counts()
    response = post_json(client, f"/departments/{department.pk}/handlers",
                         {"name": "值班民警", "username": f"handler_{role}", "password": "Duty-pass-2026"})
    status = expected(tree, role, view=[town], change=[town], perm=STAFF_CHANGE, ok=201)
    assert response.status_code == status, response.content
    if status == 201:
        staff = Staff.objects.get(pk=response.json()["id"])
        assert (staff.department, staff.user.username) == (department, f"handler_{role}")
        assert staff.user.check_password("Duty-pass-2026")
        assert counts()[1:3] == (before[1] + 1, before[2] + 1)
    else:
        assert counts() == before


def test_weak_handler_password_is_refused_and_nothing_saved(tree, users, departments, as_role):
    client = as_role("town_admin_a")
    before = counts()
    response = post_json(client, f"/departments/{departments['a'].pk}/handlers",
                         {"name": "值班民警", "username": "weak", "password": "short"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"password"}
    assert counts() == before


def test_duplicate_department_name_is_refused(tree, users, departments, as_role):
    response = post_json(as_role("town_admin_a"), "/departments",
                         {"area_code": tree.town_a.code, "name": "富水镇派出所"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"name": ["taken"]}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_department_pages(tree, users, departments, as_role, role, side):
    """Pages answer 404 to a form the user may not use, as the other area forms do."""
    department = departments[side]
    town = f"town_{side}"
    client = as_role(role)
    page = client.get(f"/areas/departments/{department.pk}/")
    view_status = expected(tree, role, view=[town], change=[], perm=VIEW, ok=200)
    assert page.status_code == view_status
    if view_status == 200:
        assert department.name in page.content.decode()
    new_page = client.get(f"/areas/{getattr(tree, town).code}/departments/new/")
    assert new_page.status_code == page_status(tree, role, town, AREA_CHANGE, ok=200)
    before = counts()
    response = client.post(f"/areas/departments/{department.pk}/", {"name": "辅警", "phone": "0914-1234567"})
    status = page_status(tree, role, town, STAFF_CHANGE, ok=302)
    assert response.status_code == status
    if status == 302:
        assert department.handlers.filter(name="辅警").exists()
    else:
        assert counts() == before


def page_status(tree, role, key, perm, ok):
    status = expected(tree, role, view=[key], change=[key], perm=perm, ok=ok)
    return 404 if status == 403 else status


def test_area_page_lists_its_departments(tree, users, departments, as_role):
    html = as_role("town_admin_a").get(f"/areas/{tree.town_a.code}/").content.decode()
    assert "富水镇派出所" in html
    assert "湘河镇派出所" not in html
