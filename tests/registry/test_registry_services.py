"""Services of the resident registry: validation, sealing at rest, events and history, tags and their
visibility, reveal with audit, houses and places; and a property test over sequences of life events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgov.areas import services as area_services
from gridgov.core import crypto
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.models import AuditEvent
from gridgov.registry import selectors, services
from gridgov.registry.classification import VillageAverages, evaluate, member_tag_codes
from gridgov.registry.models import (
    House,
    Household,
    HouseholdMembership,
    Person,
    PersonEvent,
    PersonTag,
    Place,
    Tag,
)
from tests.registry.factories import (
    make_house,
    make_household,
    make_person,
    phone,
    state,
    tag,
    today,
)

ID = "11010519491231002X"
PHONE = "13800138000"


def refused(call, code: str = "person_invalid", fields: set[str] | None = None) -> ApplicationError:
    """The call is refused with ``code`` (and these fields), and nothing at all changed."""
    before = state()
    with pytest.raises(ApplicationError) as exc:
        call()
    assert exc.value.code == code, exc.value.as_dict()
    if fields is not None:
        assert set(exc.value.fields) == fields, exc.value.as_dict()
    assert state() == before
    return exc.value


def raw_row(table: str, pk: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608  (a fixed table name)
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def events(person) -> list[tuple]:
    return [(e.kind, e.date, e.data) for e in PersonEvent.objects.filter(person=person).order_by("at", "pk")]


# --- person_create -------------------------------------------------------------------------------


def test_person_create_seals_hashes_masks_and_derives(tree, users):
    person = services.person_create(actor=users.village_staff_a, name=" 张三 ", area=tree.grid_a, id_number=ID,
                                    phone="138-0013-8000", ethnicity="汉族")
    person.refresh_from_db()
    assert (person.name, person.id_type, person.birth_date, person.sex) == ("张三", "citizen", dt.date(1949, 12, 31),
                                                                          "F")
    assert (person.id_number_masked, person.phone_masked) == ("1101**********002X", "138****8000")
    assert crypto.decrypt(person.id_number_sealed) == ID
    assert crypto.decrypt(person.phone_sealed) == PHONE
    assert person.id_number_hash == crypto.search_hash(f"citizen:{ID}")
    assert person.phone_hash == crypto.search_hash(PHONE)
    assert events(person) == [("registered", today(), {"grid": tree.grid_a.code, "warnings": []})]
    audit = AuditEvent.objects.get(action="person.create")
    assert (audit.actor, audit.object_id, audit.area_path) == (users.village_staff_a, str(person.pk), tree.grid_a.path)


def test_id_number_and_phone_never_in_clear_in_the_database_row(tree):
    person = make_person(tree.grid_a, "张三", id_number=ID, phone=PHONE)
    row = raw_row("registry_person", person.pk)
    for value in row.values():
        text = str(value)
        assert ID not in text and ID.lower() not in text
        assert PHONE not in text
        assert "19491231002" not in text  # not even the part after the region code
    assert row["id_number_sealed"].startswith("v1:aes-256-gcm:")
    assert row["id_number_masked"] == "1101**********002X"
    # Two people with the same phone: the same hash, but never the same ciphertext.
    other = make_person(tree.grid_a, "李四", phone=PHONE)
    assert raw_row("registry_person", other.pk)["phone_sealed"] != row["phone_sealed"]
    assert raw_row("registry_person", other.pk)["phone_hash"] == row["phone_hash"]
    # Nor in the audit log or the events.
    for table in ("core_auditevent", "registry_personevent"):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            dump = repr(cursor.fetchall())
        assert ID not in dump and PHONE not in dump


@pytest.mark.parametrize("name", ["", "   ", None])
def test_name_is_required(tree, name):
    refused(lambda: services.person_create(actor=None, name=name, area=tree.grid_a, id_number=ID), fields={"name"})


@pytest.mark.parametrize("number", ["360426199101010072", "11010519490230002X", "1101051949123100", "abc",
                                    "11010520990101002X"])
def test_bad_id_number_is_refused_and_nothing_saved(tree, number):
    refused(lambda: services.person_create(actor=None, name="张三", area=tree.grid_a, id_number=number),
            fields={"id_number"})


@pytest.mark.parametrize("again", [ID, "11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", "110105491231002",
                                   " 110105 19491231 002X "])
def test_duplicate_id_number_is_refused_naming_the_existing_record(tree, again):
    first = make_person(tree.grid_a, "张三", id_number=ID)
    error = refused(lambda: services.person_create(actor=None, name="张三丰", area=tree.grid_b, id_number=again),
                    code="person_duplicate", fields={"id_number"})
    assert str(first.pk) in error.message and "张三" in error.message and tree.grid_a.name in error.message
    assert error.fields == {"id_number": [f"duplicate of person {first.pk}"]}


def test_duplicate_in_other_digits_is_refused(tree):
    make_person(tree.grid_a, "张三", id_number=ID)
    with pytest.raises(ApplicationError):
        services.person_create(actor=None, name="张三", area=tree.grid_a, id_number="١١٠١٠٥١٩٤٩١٢٣١٠٠٢X")


@pytest.mark.parametrize(("id_type", "number", "masked"), [
    ("passport", "E12345678", "E123*5678"), ("hk_macao", "h1234567801", "H123***7801"),
    ("taiwan", "8300001234", "8300**1234"), ("foreign_permanent", "USA110079120101", "USA1*******0101"),
])
def test_other_id_types(tree, id_type, number, masked):
    person = services.person_create(actor=None, name="Smith", area=tree.grid_a, id_type=id_type, id_number=number,
                                    birth_date=dt.date(1970, 5, 6), sex="M", residence_type="overseas")
    assert (person.id_type, person.id_number_masked, person.birth_date, person.sex) == (
        id_type, masked, dt.date(1970, 5, 6), "M")
    assert services.reveal_value(person, "id_number") == number.upper()
    # The same document number under another type is another document.
    services.person_create(actor=None, name="Other", area=tree.grid_a, id_type="passport" if id_type != "passport"
                           else "taiwan", id_number=number)
    refused(lambda: services.person_create(actor=None, name="Smith", area=tree.grid_a, id_type=id_type,
                                           id_number=number), code="person_duplicate")


def test_no_id_number_at_all_is_allowed_and_never_a_duplicate(tree):
    a = make_person(tree.grid_a, "无证甲", id_number="")
    b = make_person(tree.grid_a, "无证乙", id_number="")
    assert (a.id_number_hash, b.id_number_hash, a.id_number_sealed, a.id_number_masked) == ("", "", "", "")


@pytest.mark.parametrize(("id_type", "number", "field"), [
    ("passport", "E-1234567", "id_number"), ("passport", "E" * 33, "id_number"), ("passport", "护照123", "id_number"),
    ("driving_licence", "123456", "id_type"), ("", ID, "id_type"),
])
def test_bad_documents_are_refused(tree, id_type, number, field):
    if field is None:  # Chinese characters are alphanumeric to Python: accepted as a document number
        services.person_create(actor=None, name="x", area=tree.grid_a, id_type=id_type, id_number=number)
        return
    refused(lambda: services.person_create(actor=None, name="x", area=tree.grid_a, id_type=id_type, id_number=number),
            fields={field})


@pytest.mark.parametrize(("raw", "stored"), [
    ("13800138000", "13800138000"), ("138 0013 8000", "13800138000"), ("138-0013-8000", "13800138000"),
    ("+8613800138000", "+8613800138000"), ("０２９－８７６５４３２１", "02987654321"), ("12345", "12345"),
])
def test_phone_is_normalised(tree, raw, stored):
    person = make_person(tree.grid_a, phone=raw)
    assert services.reveal_value(person, "phone") == stored
    assert person.phone_hash == crypto.search_hash(stored)


@pytest.mark.parametrize("raw", ["1234", "1" * 21, "phone", "138OO138000", "+", "13800138000#1", "++8613800138000"])
def test_bad_phone_is_refused(tree, raw):
    refused(lambda: services.person_create(actor=None, name="x", area=tree.grid_a, id_number=ID, phone=raw),
            fields={"phone"})


@pytest.mark.parametrize(("field", "size"), [("name", 50), ("ethnicity", 20), ("education", 20),
                                             ("political_status", 20)])
def test_over_long_texts_are_refused(tree, field, size):
    base = {"name": "张三"}
    make_person(tree.grid_a, **{**base, field: "长" * size})  # the limit itself is fine
    refused(lambda: services.person_create(actor=None, area=tree.grid_a, **{**base, field: "长" * (size + 1)}),
            fields={field})


@pytest.mark.parametrize(("field", "value"), [("residence_type", "alien"), ("sex", "X"), ("relation", "butler")])
def test_unknown_choices_are_refused(tree, field, value):
    refused(lambda: services.person_create(actor=None, name="x", area=tree.grid_a, **{field: value}), fields={field})


@pytest.mark.parametrize("key", ["county", "town_a", "village_a1", "group_a1"])
def test_the_grid_must_be_a_grid(tree, key):
    refused(lambda: services.person_create(actor=None, name="x", area=getattr(tree, key), id_number=ID),
            fields={"area"})


def test_unknown_address_code_is_kept_as_a_warning(tree):
    number = "99010519800101001" + "X"
    from gridgov.core.idnumber import check_char

    number = number[:17] + check_char(number[:17])
    person = make_person(tree.grid_a, id_number=number)
    assert events(person)[0][2]["warnings"] == ["Unknown address code 990105."]


def test_future_birth_date_is_refused_for_every_document(tree):
    with pytest.raises(ApplicationError):
        services.person_create(actor=None, name="Smith", area=tree.grid_a, id_type="passport", id_number="E1234567",
                               birth_date=today() + dt.timedelta(days=365))


@pytest.mark.parametrize(("role", "side", "error"), [
    ("leader", "a", PermissionDenied), ("grid_police_a", "a", PermissionDenied), ("town_admin_b", "a", NotFound),
    ("grid_worker_a", "b", NotFound), ("nobody", "a", NotFound), ("dept_handler", "a", NotFound),
])
def test_person_create_permission(tree, users, role, side, error):
    before = state()
    with pytest.raises(error):
        services.person_create(actor=getattr(users, role), name="x", area=getattr(tree, f"grid_{side}"))
    assert state() == before


# --- person_update --------------------------------------------------------------------------------


def test_person_update_reseals_and_rehashes(tree, users):
    person = make_person(tree.grid_a, "张三", id_number=ID, phone=PHONE)
    old = raw_row("registry_person", person.pk)
    new_id = "34052419800101001X"
    services.person_update(actor=users.village_staff_a, person=person, id_number=new_id.lower(), phone="13912345678")
    row = raw_row("registry_person", person.pk)
    assert row["id_number_sealed"] != old["id_number_sealed"] and row["phone_sealed"] != old["phone_sealed"]
    assert crypto.decrypt(row["id_number_sealed"]) == new_id
    assert row["id_number_hash"] == crypto.search_hash(f"citizen:{new_id}")
    assert (row["id_number_masked"], row["phone_masked"]) == ("3405**********001X", "139****5678")
    assert (row["birth_date"], row["sex"]) in {(dt.date(1980, 1, 1), "M"), ("1980-01-01", "M")}
    assert new_id not in repr(row) and "13912345678" not in repr(row)
    assert events(person)[-1] == ("updated", today(), {"fields": ["id_number", "phone"]})
    assert AuditEvent.objects.filter(action="person.update", data={"fields": ["id_number", "phone"]}).count() == 1
    # The old number is free again; the new one is found by its hash.
    assert selectors.person_list(actor=users.superuser, filters=selectors.PersonFilters(id_number=new_id)).get() \
        == person
    make_person(tree.grid_a, "新人", id_number=ID)


def test_person_update_refuses_a_duplicate(tree):
    make_person(tree.grid_a, "张三", id_number=ID)
    other = make_person(tree.grid_a, "李四", id_number="34052419800101001X")
    error = refused(lambda: services.person_update(actor=None, person=other, id_number="110105491231002"),
                    code="person_duplicate", fields={"id_number"})
    assert "张三" in error.message


def test_person_update_with_the_same_values_changes_nothing(tree):
    person = make_person(tree.grid_a, "张三", id_number=ID, phone=PHONE)
    before = state()
    services.person_update(actor=None, person=person, name="张三", id_number=ID.lower(), phone="138 0013 8000")
    assert state() == before


def test_person_update_other_fields(tree):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    services.person_update(actor=None, person=person, name=" 张三丰 ", education="大专", residence_type="floating",
                           phone="")
    person.refresh_from_db()
    assert (person.name, person.education, person.residence_type) == ("张三丰", "大专", "floating")
    assert events(person)[-1][2] == {"fields": ["name", "residence_type", "education"]}


def test_person_update_changing_only_the_type_rehashes(tree):
    person = make_person(tree.grid_a, "Smith", id_type="passport", id_number="E1234567")
    services.person_update(actor=None, person=person, id_type="hk_macao")
    person.refresh_from_db()
    assert person.id_type == "hk_macao"
    assert person.id_number_hash == crypto.search_hash("hk_macao:E1234567")


@pytest.mark.parametrize(("changes", "fields"), [
    ({"name": ""}, {"name"}), ({"name": "长" * 51}, {"name"}), ({"id_number": "360426199101010072"}, {"id_number"}),
    ({"phone": "12"}, {"phone"}), ({"education": "长" * 21}, {"education"}), ({"id_type": "licence"}, {"id_type"}),
    ({"residence_type": "alien"}, set()), ({"sex": "Q"}, set()), ({"area": None}, set()),
    ({"household": None}, set()), ({"alive": False}, set()),
])
def test_person_update_refusals_change_nothing(tree, changes, fields):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    refused(lambda: services.person_update(actor=None, person=person, **changes), fields=fields)


def test_person_update_permission(tree, users):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    for role, error in [("leader", PermissionDenied), ("grid_police_a", PermissionDenied), ("town_admin_b", NotFound)]:
        before = state()
        with pytest.raises(error):
            services.person_update(actor=getattr(users, role), person=person, name="改")
        assert state() == before


# --- life events ----------------------------------------------------------------------------------------


def test_move_out_and_back_in(tree, users):
    household = make_household(tree.grid_a, "H1", safe_family_years=3)
    person = make_person(tree.grid_a, "张三", id_number=ID, household=household, relation="head")
    moved = today() - dt.timedelta(days=3)
    services.person_life_event(actor=users.grid_worker_a, person=person, kind="move_out", date=moved, note="去西安务工")
    person.refresh_from_db()
    household.refresh_from_db()
    assert (person.alive, person.moved_out, person.household_id, person.relation) == (True, True, None, "")
    assert household.head_id is None
    assert HouseholdMembership.objects.get(person=person).end_date == moved
    assert Person.objects.filter(pk=person.pk).exists()  # kept, never deleted
    assert selectors.person_list(actor=users.superuser).count() == 0
    assert selectors.person_list(actor=users.superuser, filters=selectors.PersonFilters(include_inactive=True)) \
        .get() == person
    refused(lambda: services.person_life_event(actor=None, person=person, kind="move_out"))
    services.person_life_event(actor=None, person=person, kind="move_in")
    person.refresh_from_db()
    assert (person.moved_out, person.household_id) == (False, None)
    refused(lambda: services.person_life_event(actor=None, person=person, kind="move_in"))
    assert [(k, d) for k, d, _data in events(person)] == [("registered", today()), ("move_out", moved),
                                                          ("move_in", today())]
    assert events(person)[1][2] == {"note": "去西安务工"}
    assert AuditEvent.objects.filter(action__in=["person.move_out", "person.move_in"], object_id=str(person.pk)) \
        .count() == 2


def test_death_keeps_the_record_and_a_dead_person_cannot_move(tree):
    household = make_household(tree.grid_a, "H1", safe_family_years=3)
    person = make_person(tree.grid_a, "张三", id_number=ID, household=household, relation="head")
    services.person_life_event(actor=None, person=person, kind="death", date=today() - dt.timedelta(days=1))
    person.refresh_from_db()
    assert (person.alive, person.household_id) == (False, None)
    assert HouseholdMembership.objects.get(person=person).end_date == today() - dt.timedelta(days=1)
    for kind in ("move_out", "move_in", "death"):
        refused(lambda kind=kind: services.person_life_event(actor=None, person=person, kind=kind))
    refused(lambda: make_person(tree.grid_a, "张三", id_number=ID), code="person_duplicate")


@pytest.mark.parametrize(("kind", "days", "fields"), [
    ("move_out", 1, {"date"}), ("death", 365, {"date"}), ("birth", 0, {"kind"}), ("grid_change", 0, {"kind"}),
    ("", 0, {"kind"}),
])
def test_life_event_refusals(tree, kind, days, fields):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    refused(lambda: services.person_life_event(actor=None, person=person, kind=kind,
                                               date=today() + dt.timedelta(days=days)), fields=fields)


def test_life_event_permission(tree, users):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    for role, error in [("leader", PermissionDenied), ("grid_police_a", PermissionDenied), ("town_admin_b", NotFound)]:
        before = state()
        with pytest.raises(error):
            services.person_life_event(actor=getattr(users, role), person=person, kind="death")
        assert state() == before


def test_move_grid(tree, users):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    services.person_move_grid(actor=users.village_staff_a, person=person, area=tree.grid_a2)
    person.refresh_from_db()
    assert person.area == tree.grid_a2
    assert events(person)[-1][:1] == ("grid_change",)
    assert events(person)[-1][2] == {"from": tree.grid_a.code, "to": tree.grid_a2.code}
    refused(lambda: services.person_move_grid(actor=None, person=person, area=tree.village_a1), fields={"area"})
    before = state()
    with pytest.raises(NotFound):  # grid A2 is outside the grid worker's grid
        services.person_move_grid(actor=users.grid_worker_a, person=person, area=tree.grid_a)
    with pytest.raises(NotFound):
        services.person_move_grid(actor=users.village_staff_a, person=person, area=tree.grid_b)
    assert state() == before
    services.person_move_grid(actor=None, person=person, area=tree.grid_a2)  # the same grid: nothing
    assert state() == before


# --- memberships --------------------------------------------------------------------------------------


def test_membership_history(tree, users):
    h1 = make_household(tree.grid_a, "H1", safe_family_years=3)
    h2 = make_household(tree.grid_a, "H2", safe_family_years=3)
    head = make_person(tree.grid_a, "张父", household=h1, relation="head")
    child = make_person(tree.grid_a, "张子", household=h1, relation="child")
    h1.refresh_from_db()
    assert h1.head == head
    services.membership_start(actor=users.village_staff_a, person=child, household=h2, relation="head")
    child.refresh_from_db()
    h2.refresh_from_db()
    assert (child.household, child.relation, h2.head) == (h2, "head", child)
    rows = list(HouseholdMembership.objects.filter(person=child).order_by("pk")
                .values_list("household__number", "relation", "start_date", "end_date"))
    assert rows == [("H1", "child", today(), today()), ("H2", "head", today(), None)]
    assert events(child)[-1][0] == "household_change"
    assert events(child)[-1][2]["to"] == "H2"
    # The same membership again: nothing happens.
    before = state()
    services.membership_start(actor=None, person=child, household=h2, relation="head")
    assert state() == before


def test_household_change_names_both_households_alike(tree):
    h1 = make_household(tree.grid_a, "H1")
    h2 = make_household(tree.grid_a, "H2")
    person = make_person(tree.grid_a, household=h1, relation="child")
    services.membership_start(actor=None, person=person, household=h2, relation="child")
    assert events(person)[-1][2] == {"from": "H1", "to": "H2"}


def test_only_one_head(tree):
    household = make_household(tree.grid_a, "H1")
    make_person(tree.grid_a, "户主", household=household, relation="head")
    other = make_person(tree.grid_a, "另一人")
    error = refused(lambda: services.membership_start(actor=None, person=other, household=household, relation="head"),
                    code="household_invalid", fields={"relation"})
    assert error.fields == {"relation": ["head taken"]}
    refused(lambda: make_person(tree.grid_a, "第三人", household=household, relation="head"),
            code="household_invalid")
    refused(lambda: services.membership_start(actor=None, person=other, household=household, relation="boss"),
            code="household_invalid", fields={"relation"})


def test_the_head_changing_relation_frees_the_head(tree):
    household = make_household(tree.grid_a, "H1")
    head = make_person(tree.grid_a, "户主", household=household, relation="head")
    services.membership_start(actor=None, person=head, household=household, relation="spouse")
    household.refresh_from_db()
    assert household.head is None
    son = make_person(tree.grid_a, "儿子", household=household, relation="head")
    household.refresh_from_db()
    assert household.head == son


@pytest.mark.parametrize("kind", ["death", "move_out"])
def test_an_absent_person_cannot_join_a_household(tree, kind):
    household = make_household(tree.grid_a, "H1")
    person = make_person(tree.grid_a, "张三")
    services.person_life_event(actor=None, person=person, kind=kind)
    refused(lambda: services.membership_start(actor=None, person=person, household=household, relation="head"),
            code="household_invalid")


def test_membership_permission(tree, users):
    household = make_household(tree.grid_b, "HB")
    person = make_person(tree.grid_a, "张三")
    before = state()
    with pytest.raises(NotFound):
        services.membership_start(actor=users.town_admin_a, person=person, household=household, relation="child")
    with pytest.raises(PermissionDenied):
        services.membership_start(actor=users.leader, person=person, household=household, relation="child")
    assert state() == before
    services.membership_start(actor=users.county_operator, person=person, household=household, relation="child")


# --- tags -----------------------------------------------------------------------------------------------


def test_tag_add_and_end_with_dates(tree, users):
    household = make_household(tree.grid_a, "H1", safe_family_years=3)
    person = make_person(tree.grid_a, "王奶奶", household=household, relation="head")
    start = today() - dt.timedelta(days=30)
    pt = services.person_tag_add(actor=users.grid_worker_a, person=person, tag=tag("living_alone_elderly"),
                                 start_date=start, source=" 走访 ", note="子女在外地")
    assert (pt.start_date, pt.end_date, pt.source, pt.note) == (start, None, "走访", "子女在外地")
    household.refresh_from_db()
    assert household.household_class == "red"
    refused(lambda: services.person_tag_add(actor=None, person=person, tag=tag("living_alone_elderly")),
            code="tag_invalid", fields={"tag"})
    refused(lambda: services.person_tag_end(actor=None, person_tag=pt, end_date=start - dt.timedelta(days=1)),
            code="tag_invalid")
    services.person_tag_end(actor=users.grid_worker_a, person_tag=pt)
    pt.refresh_from_db()
    assert pt.end_date == today()
    assert not pt.is_active_on(today()) and pt.is_active_on(today() - dt.timedelta(days=1))
    household.refresh_from_db()
    assert household.household_class == "green"
    refused(lambda: services.person_tag_end(actor=None, person_tag=pt), code="tag_invalid")
    assert [(k, d, data.get("tag")) for k, d, data in events(person)][1:] == [
        ("tag_added", start, "living_alone_elderly"), ("tag_ended", today(), "living_alone_elderly")]
    # After it ended, the tag can be given again.
    services.person_tag_add(actor=None, person=person, tag=tag("living_alone_elderly"))
    assert AuditEvent.objects.filter(action="person.tag_add").count() == 2


def test_tag_refusals(tree):
    person = make_person(tree.grid_a, "张三")
    retired = Tag.objects.create(code="retired_tag", name="旧标签", active=False)
    refused(lambda: services.person_tag_add(actor=None, person=person, tag=retired), code="tag_invalid")
    refused(lambda: services.person_tag_add(actor=None, person=person, tag=tag("dibao"), source="长" * 51),
            code="tag_invalid", fields={"source"})
    refused(lambda: services.person_tag_add(actor=None, person=person, tag=tag("dibao"), note="长" * 201),
            code="tag_invalid", fields={"note"})


def test_sensitive_tags_only_for_roles_that_may_see_them(tree, users):
    person = make_person(tree.grid_a, "赵某")
    before = state()
    with pytest.raises(NotFound):  # the grid worker keeps the registry but may not see drug use
        services.person_tag_add(actor=users.grid_worker_a, person=person, tag=tag("drug_user"))
    with pytest.raises(NotFound):
        services.person_tag_add(actor=users.town_admin_a, person=person, tag=tag("community_correction"))
    with pytest.raises(PermissionDenied):  # the police sees them but does not edit
        services.person_tag_add(actor=users.grid_police_a, person=person, tag=tag("drug_user"))
    assert state() == before
    secret = services.person_tag_add(actor=users.village_staff_a, person=person, tag=tag("drug_user"))
    plain = services.person_tag_add(actor=users.grid_worker_a, person=person, tag=tag("dibao"))
    before = state()
    with pytest.raises(NotFound):
        services.person_tag_end(actor=users.grid_worker_a, person_tag=secret)
    assert state() == before

    def seen(role):
        actor = getattr(users, role)
        tags = sorted(pt.tag.code for pt in selectors.person_tags(actor=actor, person=person))
        timeline = sorted(e.data.get("tag", "-") for e in selectors.person_timeline(actor=actor, person=person))
        return tags, timeline

    assert seen("grid_worker_a") == (["dibao"], ["-", "dibao"])
    assert seen("town_admin_a") == (["dibao"], ["-", "dibao"])
    assert seen("leader") == (["dibao"], ["-", "dibao"])
    assert seen("grid_police_a") == (["dibao", "drug_user"], ["-", "dibao", "drug_user"])
    assert seen("village_staff_a") == (["dibao", "drug_user"], ["-", "dibao", "drug_user"])
    assert seen("superuser") == (["dibao", "drug_user"], ["-", "dibao", "drug_user"])
    services.person_tag_end(actor=users.village_staff_a, person_tag=secret)
    services.person_tag_end(actor=users.grid_worker_a, person_tag=plain)
    assert seen("grid_worker_a") == (["dibao"], ["-", "dibao", "dibao"])


# --- reveal ----------------------------------------------------------------------------------------


def test_reveal_is_audited_every_time(tree, users):
    person = make_person(tree.grid_a, "张三", id_number=ID, phone=PHONE)
    actor = users.grid_worker_a
    assert services.person_reveal(actor=actor, person=person, field="id_number") == ID
    assert services.person_reveal(actor=actor, person=person, field="id_number") == ID
    assert services.person_reveal(actor=actor, person=person, field="phone") == PHONE
    rows = list(AuditEvent.objects.filter(action__startswith="person.reveal").order_by("pk")
                .values_list("action", "actor", "object_id", "area_path"))
    assert rows == [("person.reveal.id_number", actor.pk, str(person.pk), tree.grid_a.path)] * 2 + [
        ("person.reveal.phone", actor.pk, str(person.pk), tree.grid_a.path)]
    assert all(ID not in repr(e.data) and PHONE not in repr(e.data) for e in AuditEvent.objects.all())


@pytest.mark.parametrize(("role", "error"), [
    ("town_admin_a", PermissionDenied), ("leader", PermissionDenied), ("town_admin_b", NotFound),
    ("nobody", NotFound), ("dept_handler", NotFound),
])
def test_reveal_needs_the_permission(tree, users, role, error):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    before = state()
    with pytest.raises(error):
        services.person_reveal(actor=getattr(users, role), person=person, field="id_number")
    assert state() == before


@pytest.mark.parametrize("role", ["grid_police_a", "village_staff_a", "county_operator", "town_operator_a",
                                  "superuser"])
def test_reveal_allowed(tree, users, role):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    assert services.person_reveal(actor=getattr(users, role), person=person, field="id_number") == ID


def test_reveal_other_fields_is_refused(tree, users):
    person = make_person(tree.grid_a, "张三", id_number=ID)
    for field in ("name", "id_number_sealed", "", "__class__"):
        refused(lambda field=field: services.person_reveal(actor=users.village_staff_a, person=person, field=field))


# --- houses, places, households ------------------------------------------------------------------------


def test_house_create(tree, users):
    house = services.house_create(actor=users.grid_worker_a, area=tree.grid_a, address=" 一组5号 ", use="rented",
                                  owner_name="刘房东", lng=110.81, lat=33.51)
    assert (house.address, house.use, house.owner_name, house.lng, house.lat) == ("一组5号", "rented", "刘房东",
                                                                                   110.81, 33.51)
    assert AuditEvent.objects.filter(action="house.create", object_id=str(house.pk)).count() == 1


@pytest.mark.parametrize(("fields", "problems"), [
    ({"address": ""}, {"address"}), ({"address": "长" * 201}, {"address"}), ({"owner_name": "长" * 51}, {"owner_name"}),
    ({"house_type": "castle"}, {"house_type"}), ({"use": "party"}, {"use"}), ({"lng": 110.0}, {"lng"}),
    ({"lat": 33.0}, {"lng"}), ({"lng": 181.0, "lat": 33.0}, {"lng"}), ({"lng": 110.0, "lat": -90.5}, {"lng"}),
    ({"lng": float("nan"), "lat": 33.0}, {"lng"}), ({"lng": float("inf"), "lat": 33.0}, {"lng"}),
])
def test_house_create_refusals(tree, fields, problems):
    refused(lambda: services.house_create(actor=None, area=tree.grid_a, **{"address": "一组1号", **fields}),
            code="house_invalid", fields=problems)


def test_house_and_place_need_a_grid(tree):
    refused(lambda: services.house_create(actor=None, area=tree.village_a1, address="x"), fields={"area"})
    refused(lambda: services.place_create(actor=None, area=tree.town_a, name="x", place_type="school"),
            fields={"area"})
    refused(lambda: services.household_create(actor=None, area=tree.county, number="H1", address="x"),
            fields={"area"})


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000802100433b", " 91110000802100433B"])
def test_place_create_with_a_valid_credit_code(tree, code):
    place = services.place_create(actor=None, area=tree.grid_a, name=" 小卖部 ", place_type="nine_small",
                                  credit_code=code, contact_phone="13800000000")
    assert (place.name, place.credit_code) == ("小卖部", code.strip().upper())


@pytest.mark.parametrize(("fields", "problems"), [
    ({"credit_code": "91350100M000100Y44"}, {"credit_code"}), ({"credit_code": "91110000802100433"}, {"credit_code"}),
    ({"credit_code": "9135010OM000100Y43"}, {"credit_code"}), ({"name": ""}, {"name"}),
    ({"name": "长" * 101}, {"name"}), ({"place_type": "casino"}, {"place_type"}),
    ({"contact_phone": "1" * 33}, {"contact_phone"}), ({"address": "长" * 201}, {"address"}),
])
def test_place_create_refusals(tree, fields, problems):
    refused(lambda: services.place_create(actor=None, area=tree.grid_a, **{"name": "小卖部", "place_type": "market",
                                                                           **fields}),
            code="place_invalid", fields=problems)


def test_house_and_place_permission(tree, users):
    before = state()
    for role, side, error in [("leader", "a", PermissionDenied), ("grid_police_a", "a", PermissionDenied),
                              ("town_admin_b", "a", NotFound), ("grid_worker_a", "b", NotFound)]:
        area = getattr(tree, f"grid_{side}")
        with pytest.raises(error):
            services.house_create(actor=getattr(users, role), area=area, address="x")
        with pytest.raises(error):
            services.place_create(actor=getattr(users, role), area=area, name="x", place_type="school")
        with pytest.raises(error):
            services.household_create(actor=getattr(users, role), area=area, number="HX", address="x")
    assert state() == before


def joint_defense_group(tree, grid):
    return area_services.area_create(actor=None, code=grid.code + "01", name="联防组", level=tree.levels["联防组"],
                                     parent=grid, kind="joint_defense_group")


def test_household_create_refusals(tree):
    make_household(tree.grid_a, "H1")
    other_house = make_house(tree.grid_b)
    group = joint_defense_group(tree, tree.grid_a2)
    for fields, problems in [
        ({"number": ""}, {"number"}), ({"number": "H1"}, {"number"}), ({"number": "长" * 33}, {"number"}),
        ({"address": ""}, {"address"}), ({"income_per_person": Decimal("-1")}, {"income_per_person"}),
        ({"income_per_person": Decimal("100000000")}, {"income_per_person"}),
        ({"safe_family_years": 101}, {"safe_family_years"}), ({"safe_family_years": -1}, {"safe_family_years"}),
        ({"house": other_house}, {"house"}), ({"joint_defense_group": group}, {"joint_defense_group"}),
        ({"joint_defense_group": tree.grid_a2}, {"joint_defense_group"}),
    ]:
        refused(lambda fields=fields: services.household_create(
            actor=None, area=tree.grid_a, **{"number": "H2", "address": "一组2号", **fields}),
            code="household_invalid", fields=problems)
    own_group = joint_defense_group(tree, tree.grid_a)
    household = services.household_create(actor=None, area=tree.grid_a, number="H2", address="一组2号",
                                          joint_defense_group=own_group, income_per_person=Decimal("99999999.99"))
    assert household.joint_defense_group == own_group


def test_household_update_refusals(tree):
    household = make_household(tree.grid_a, "H1")
    for fields, problems in [({"address": ""}, {"address"}), ({"address": None}, {"address"}),
                             ({"income_per_person": Decimal("-0.01")}, {"income_per_person"}),
                             ({"safe_family_years": 1000}, {"safe_family_years"}), ({"number": "H9"}, set()),
                             ({"area": tree.grid_b}, set())]:
        refused(lambda fields=fields: services.household_update(actor=None, household=household, **fields),
                code="household_invalid", fields=problems)


def test_helper_add(tree, users):
    household = make_household(tree.grid_a, "H1")
    helper = services.household_helper_add(actor=users.grid_worker_a, household=household, name=" 王党员 ",
                                           kind="party_member", phone="13700000000", duty="每周电话")
    assert (helper.name, helper.kind, helper.end_date) == ("王党员", "party_member", None)
    refused(lambda: services.household_helper_add(actor=None, household=household, name="", kind="deputy"),
            code="household_invalid", fields={"name"})
    refused(lambda: services.household_helper_add(actor=None, household=household, name="x", kind="friend"),
            code="household_invalid", fields={"kind"})
    with pytest.raises(PermissionDenied):
        services.household_helper_add(actor=users.leader, household=household, name="x", kind="deputy")


# --- property: no sequence of actions reaches an invalid state --------------------------------------------

TAG_CODES = ["living_alone_elderly", "dibao", "left_behind_child"]
actions = st.lists(st.one_of(
    st.tuples(st.just("join"), st.integers(0, 3), st.integers(0, 1), st.sampled_from(["head", "spouse", "child"])),
    st.tuples(st.just("life"), st.integers(0, 3), st.sampled_from(["move_out", "move_in", "death"])),
    st.tuples(st.just("tag"), st.integers(0, 3), st.sampled_from(TAG_CODES)),
    st.tuples(st.just("untag"), st.integers(0, 3), st.sampled_from(TAG_CODES)),
    st.tuples(st.just("income"), st.integers(0, 1), st.integers(0, 30000)),
), min_size=1, max_size=12)


def assert_registry_consistent(households: list[Household]) -> None:
    open_rows = list(HouseholdMembership.objects.filter(end_date__isnull=True)
                     .values_list("person_id", "household_id", "relation"))
    assert len({p for p, _h, _r in open_rows}) == len(open_rows)  # at most one open membership each
    by_person = {p: (h, r) for p, h, r in open_rows}
    for person in Person.objects.all():
        assert (person.household_id, person.relation or None) == by_person.get(person.pk, (None, None))
        if not person.alive or person.moved_out:
            assert person.household_id is None
    averages = VillageAverages()
    for household in Household.objects.filter(pk__in=[h.pk for h in households]).select_related("area__level"):
        heads = [p for p, (h, r) in by_person.items() if h == household.pk and r == "head"]
        assert len(heads) <= 1
        assert household.head_id == (heads[0] if heads else None)
        verdict = evaluate(household, services.active_rules(), tag_codes=member_tag_codes(household, today()),
                           village_average=averages.for_area(household.area), today=today())
        assert (household.household_class, household.class_reasons) == (verdict.colour, verdict.reasons)
    for pt in PersonTag.objects.all():
        assert pt.end_date is None or pt.end_date >= pt.start_date
    assert PersonTag.objects.filter(end_date__isnull=True).values("person", "tag").distinct().count() == \
        PersonTag.objects.filter(end_date__isnull=True).count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
def test_random_life_stories_keep_the_registry_consistent(tree, steps):
    with transaction.atomic():
        households = [make_household(tree.grid_a, f"P{n}", income_per_person=Decimal(10000), safe_family_years=3)
                      for n in range(2)]
        people = [make_person(tree.grid_a, f"人{n}", phone=phone()) for n in range(4)]
        for step in steps:
            person = Person.objects.get(pk=people[step[1]].pk)
            try:
                if step[0] == "join":
                    if not person.alive or person.moved_out:
                        continue  # see test_an_absent_person_cannot_join_a_household
                    services.membership_start(actor=None, person=person, household=households[step[2]],
                                              relation=step[3])
                elif step[0] == "life":
                    services.person_life_event(actor=None, person=person, kind=step[2])
                elif step[0] == "tag":
                    services.person_tag_add(actor=None, person=person, tag=tag(step[2]))
                elif step[0] == "untag":
                    pt = PersonTag.objects.filter(person=person, tag__code=step[2], end_date__isnull=True).first()
                    if pt is not None:
                        services.person_tag_end(actor=None, person_tag=pt)
                else:
                    # Incomes change the village average: re-evaluate as the nightly batch would.
                    services.household_update(actor=None, household=households[step[1] % 2],
                                              income_per_person=Decimal(step[2]))
                    services.households_reclassify()
            except ApplicationError:
                pass
            assert_registry_consistent(households)
        transaction.set_rollback(True)


def test_the_random_stories_are_not_vacuous(tree):
    """The generator's actions do succeed: a head, a spouse, a red tag, a death."""
    household = make_household(tree.grid_a, "P0", income_per_person=Decimal(10000), safe_family_years=3)
    a, b = make_person(tree.grid_a, "甲"), make_person(tree.grid_a, "乙")
    services.membership_start(actor=None, person=a, household=household, relation="head")
    services.membership_start(actor=None, person=b, household=household, relation="spouse")
    services.person_tag_add(actor=None, person=b, tag=tag("living_alone_elderly"))
    services.person_life_event(actor=None, person=a, kind="death")
    assert_registry_consistent([household])
    household.refresh_from_db()
    assert (household.head_id, household.household_class) == (None, "red")


def test_house_is_kept_by_residents(tree):
    house = make_house(tree.grid_a)
    person = make_person(tree.grid_a, house=house)
    assert list(House.objects.get(pk=house.pk).residents.all()) == [person]
    assert Place.objects.count() == 0
