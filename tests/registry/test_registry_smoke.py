"""The registry's main paths, end to end through the API and the pages (the full matrix is in test_api_matrix)."""

import json

import pytest

from gridgov.core.models import AuditEvent
from gridgov.registry.models import Person, Tag

API = "/api/v1"


@pytest.fixture
def admin_client(client, users):
    client.force_login(users.village_staff_a)
    return client


def post(client, path, data):
    return client.post(API + path, data=json.dumps(data), content_type="application/json")


def test_register_person_household_colour_and_reveal(tree, users, admin_client):
    h = post(admin_client, "/households", {"grid_code": tree.grid_a.code, "number": "H001", "address": "梁家湾一组1号",
                                           "income_per_person": "9000", "safe_family_years": 3})
    assert h.status_code == 201, h.content
    assert h.json()["household_class"] == "green"
    p = post(admin_client, "/persons", {"name": "张三", "grid_code": tree.grid_a.code,
                                        "id_number": "３４０５２４１９８００１０１００１x", "phone": "13800138000",
                                        "household_id": h.json()["id"], "relation": "head"})
    assert p.status_code == 201, p.content
    body = p.json()
    assert body["id_number"] == "3405**********001X"
    assert body["phone"] == "138****8000"
    assert (body["sex"], body["birth_date"]) == ("M", "1980-01-01")
    person = Person.objects.get(pk=body["id"])
    assert "34052419800101001X" not in person.id_number_sealed
    # The same person twice is refused, pointing at the existing record.
    dup = post(admin_client, "/persons", {"name": "张三", "grid_code": tree.grid_a.code,
                                          "id_number": "34052419800101001X"})
    assert dup.status_code == 400
    assert dup.json()["code"] == "person_duplicate"
    assert str(person.pk) in dup.json()["message"]
    # A red tag on a member turns the household red at once, with its reason.
    tag = post(admin_client, f"/persons/{person.pk}/tags", {"tag": "living_alone_elderly"})
    assert tag.status_code == 201, tag.content
    from gridgov.registry.services import households_reclassify
    assert households_reclassify() == 0  # the nightly batch finds nothing left to change
    detail = admin_client.get(f"{API}/households/{h.json()['id']}").json()
    assert detail["household_class"] == "red"
    assert detail["class_reasons"] == ["独居老人（连心户）"]
    assert [(c["from_class"], c["to_class"]) for c in detail["history"]] == [("green", "red"), ("", "green")]
    # Reveal: full value, audited.
    before = AuditEvent.objects.filter(action="person.reveal.id_number").count()
    r = post(admin_client, f"/persons/{person.pk}/reveal", {"field": "id_number"})
    assert r.json() == {"field": "id_number", "value": "34052419800101001X"}
    assert AuditEvent.objects.filter(action="person.reveal.id_number").count() == before + 1
    # Exact search by ID number through its hash.
    found = admin_client.get(f"{API}/persons", {"id_number": "34052419800101001x"}).json()
    assert [i["id"] for i in found["items"]] == [person.pk]


def test_leader_cannot_reveal_and_sensitive_tags_are_hidden(tree, users, client):
    from gridgov.registry import services

    person = services.person_create(actor=None, name="李四", area=tree.grid_a, id_number="11010519491231002X")
    services.person_tag_add(actor=None, person=person, tag=Tag.objects.get(code="drug_user"))
    client.force_login(users.leader)
    r = post(client, f"/persons/{person.pk}/reveal", {"field": "id_number"})
    assert r.status_code == 403
    detail = client.get(f"{API}/persons/{person.pk}").json()
    assert detail["tags"] == []
    assert all(e["data"].get("tag") != "drug_user" for e in detail["timeline"])
    client.force_login(users.grid_police_a)
    assert [t["tag"] for t in client.get(f"{API}/persons/{person.pk}").json()["tags"]] == ["drug_user"]
    client.force_login(users.town_admin_b)
    assert client.get(f"{API}/persons/{person.pk}").status_code == 404


def test_pages_render(tree, users, client):
    from gridgov.registry import services

    h = services.household_create(actor=None, area=tree.grid_a, number="H9", address="一组9号")
    p = services.person_create(actor=None, name="王五", area=tree.grid_a, id_number="11010519491231002X",
                               household=h, relation="head")
    client.force_login(users.village_staff_a)
    for url in ["/registry/households/", f"/registry/households/?area={tree.village_a1.code}&colour=green",
                f"/registry/households/{h.pk}/", "/registry/persons/", f"/registry/persons/{p.pk}/",
                f"/registry/persons/{p.pk}/edit/", "/registry/persons/new/", "/registry/households/new/",
                "/registry/houses/", "/registry/places/", "/registry/houses/new/", "/registry/places/new/"]:
        response = client.get(url)
        assert response.status_code == 200, url
    html = client.get(f"/registry/persons/{p.pk}/").content.decode()
    assert "1101**********002X" in html and "11010519491231002X" not in html
    shown = client.post(f"/registry/persons/{p.pk}/reveal/id_number/")
    assert shown.status_code == 200 and "11010519491231002X" in shown.content.decode()
    client.force_login(users.town_admin_b)
    assert client.get(f"/registry/persons/{p.pk}/").status_code == 404
    assert client.get(f"/registry/households/{h.pk}/").status_code == 404


def test_tag_dictionary_and_rules_are_editable_by_superusers_only(tree, users, client):
    client.force_login(users.village_staff_a)
    assert post(client, "/tags", {"code": "veteran", "name": "退役军人", "group": "care"}).status_code == 403
    assert client.get("/registry/tags/").status_code == 200
    assert client.post("/registry/tags/", {"code": "x", "name": "x", "group": "care", "order": 1}).status_code == 404
    rules = client.get(f"{API}/household-rules").json()
    assert rules["rules"][0]["colour"] == "red"
    assert post(client, "/household-rules", {"name": "x", "rules": rules["rules"]}).status_code == 403
    client.force_login(users.superuser)
    created = post(client, "/tags", {"code": "veteran", "name": "退役军人", "group": "care"})
    assert created.status_code == 201, created.content
    bad = post(client, "/household-rules", {"name": "坏", "rules": [{"colour": "purple", "reason": "x", "when": []}]})
    assert bad.status_code == 400
    new = [{"colour": "red", "reason": "退役军人", "when": [{"member_tag_in": ["veteran"]}]}]
    assert post(client, "/household-rules", {"name": "新规则", "rules": new}).status_code == 201
    assert client.get(f"{API}/household-rules").json() == {"name": "新规则", "rules": new}
    assert client.get("/registry/rules/").status_code == 200
