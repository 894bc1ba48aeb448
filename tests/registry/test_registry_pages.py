"""Pages of the registry under /registry/: the authorization matrix (lists, files, forms, actions, the reveal
button), forms that refuse bad input and save nothing, masked values in every page, and query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridgov.core.models import AuditEvent
from gridgov.registry import services
from gridgov.registry.models import (
    ClassRuleSet,
    House,
    Household,
    HouseholdHelper,
    Person,
    PersonTag,
    Place,
    Tag,
)
from tests.registry.factories import (
    CHANGE,
    REVEAL,
    ROLES,
    SENSITIVE,
    SIDES,
    VIEW,
    build_world,
    holds,
    holds_anywhere,
    make_household,
    make_person,
    state,
    tag,
    today,
)


@pytest.fixture
def world(tree, users):
    return build_world(tree)


def secrets_of(world) -> list[str]:
    out = []
    for side in SIDES:
        w = getattr(world, side)
        out += [w.head_id, w.head_phone, w.member_id, w.head_id[4:-4], w.head_phone[3:-4] + w.head_phone[-4:]]
    return out


def assert_no_secrets(response, world) -> None:
    html = response.content.decode()
    for secret in secrets_of(world):
        assert secret not in html, (secret, response.request["PATH_INFO"])


def masked(number: str) -> str:
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


# --- reads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_read_pages(tree, users, world, as_role, role, side):
    w = getattr(world, side)
    client = as_role(role)
    inside = holds(tree, role, VIEW, f"grid_{side}")
    status = 200 if inside else 404
    for page in ("households", "persons", "houses", "places"):
        response = client.get(f"/registry/{page}/?area={w.grid.code}")
        assert (page, response.status_code) == (page, status)
        assert_no_secrets(response, world)
    for url in (f"/registry/households/{w.household.pk}/", f"/registry/persons/{w.head.pk}/",
                f"/registry/persons/{w.secret.pk}/"):
        response = client.get(url)
        assert (url, response.status_code) == (url, status)
        assert_no_secrets(response, world)
    # Lists without an area: the whole scope; the side's rows only if inside.
    html = client.get("/registry/households/").content.decode()
    assert (f"H{side.upper()}001" in html) is inside
    html = client.get("/registry/persons/").content.decode()
    assert (f"户主{side}" in html) is inside
    assert (masked(w.head_id) in html) is inside
    assert (f"{w.grid.name}1号" in client.get("/registry/houses/").content.decode()) is inside
    assert (f"{w.grid.name}商店" in client.get("/registry/places/").content.decode()) is inside
    if not inside:
        return
    html = client.get(f"/registry/persons/{w.head.pk}/").content.decode()
    assert masked(w.head_id) in html and w.head_phone[:3] + "****" + w.head_phone[-4:] in html
    can_reveal = holds(tree, role, REVEAL, f"grid_{side}")
    assert (f"/registry/persons/{w.head.pk}/reveal/id_number/" in html) is can_reveal
    assert (f"/registry/persons/{w.head.pk}/edit/" in html) is holds(tree, role, CHANGE, f"grid_{side}")
    html = client.get(f"/registry/persons/{w.secret.pk}/").content.decode()
    assert ("吸毒人员" in html) is holds(tree, role, SENSITIVE, f"grid_{side}")
    html = client.get(f"/registry/households/{w.household.pk}/").content.decode()
    assert f"户主{side}" in html and masked(w.member_id) in html
    assert (f"/registry/households/{w.household.pk}/override/" in html) is holds(tree, role, CHANGE, f"grid_{side}")


@pytest.mark.parametrize("url", ["/registry/households/", "/registry/persons/", "/registry/persons/1/",
                                 "/registry/persons/new/", "/registry/houses/", "/registry/tags/", "/registry/rules/"])
def test_anonymous_is_sent_to_the_login(db, client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/") or "login" in response["Location"]


def test_household_list_content(tree, users, world, as_role):
    services.person_tag_add(actor=None, person=world.a.member, tag=tag("left_behind_woman"))
    make_household(tree.grid_a, "HA003", safe_family_years=0)
    client = as_role("village_staff_a")
    response = client.get(f"/registry/households/?area={tree.grid_a.code}")
    assert response.context["counts"] == {"green": 1, "yellow": 1, "red": 1}
    assert [h.number for h in response.context["page"]] == ["HA001", "HA002", "HA003"]
    html = response.content.decode()
    assert "家有三留守人员（连心户）" in html and "连续两年未评为平安家庭（关心户）" in html
    red = client.get(f"/registry/households/?area={tree.grid_a.code}&colour=red")
    assert [h.number for h in red.context["page"]] == ["HA001"]
    odd = client.get(f"/registry/households/?area={tree.grid_a.code}&colour=purple")
    assert [h.number for h in odd.context["page"]] == ["HA001", "HA002", "HA003"]  # an unknown colour: no filter


def test_person_list_filters(tree, users, world, as_role):
    client = as_role("superuser")

    def names(query):
        return [p.name for p in client.get(f"/registry/persons/?{query}").context["page"]]

    assert names(f"area={tree.grid_a.code}") == sorted(["户主a", "成员a", "矫正a"])  # by grid, then name
    assert names("name=户主") == ["户主a", "户主b"]
    assert names(f"id_number={world.b.head_id.lower()}") == ["户主b"]
    assert names("tag=dibao") == ["成员a", "成员b"]
    assert names("tag=drug_user") == ["矫正a", "矫正b"]
    assert names("residence_type=overseas") == []
    services.person_life_event(actor=None, person=world.a.head, kind="death")
    assert names(f"area={tree.grid_a.code}") == sorted(["成员a", "矫正a"])
    assert names(f"area={tree.grid_a.code}&all=1") == sorted(["户主a", "成员a", "矫正a"])
    # The exact-ID search box never echoes anything else than what was typed.
    html = client.get(f"/registry/persons/?name=户主&area={tree.grid_a.code}").content.decode()
    assert world.a.head_id not in html


def test_person_list_sensitive_tag_filter_without_the_permission(tree, users, world, as_role):
    client = as_role("grid_worker_a")
    response = client.get(f"/registry/persons/?tag=drug_user&area={tree.grid_a.code}")
    assert list(response.context["page"]) == []
    assert "吸毒人员" not in response.content.decode()  # not even in the tag drop-down


# --- forms: GET -------------------------------------------------------------------------------------


CREATE_FORMS = ["/registry/persons/new/", "/registry/households/new/", "/registry/houses/new/",
                "/registry/places/new/"]


@pytest.mark.parametrize("role", ROLES)
def test_create_form_pages(request, tree, users, as_role, role):
    client = as_role(role)
    allowed = holds_anywhere(role, CHANGE)
    for url in CREATE_FORMS:
        response = client.get(f"{url}?area={tree.grid_a.code}")
        assert (url, response.status_code) == (url, 200 if allowed else 404)


# --- forms and actions: POST ----------------------------------------------------------------------------


def page_writes(tree, world, side):
    w = getattr(world, side)
    iso = str(today() + dt.timedelta(days=30))
    return [
        # name, url, data, permission, check
        ("edit_person", f"/registry/persons/{w.head.pk}/edit/",
         {"name": "页面改名", "id_type": "citizen", "id_number": "", "phone": "13922223333",
          "residence_type": "registered", "sex": "", "birth_date": "", "ethnicity": "", "education": "",
          "political_status": ""}, CHANGE,
         lambda: Person.objects.filter(pk=w.head.pk, name="页面改名", phone_masked="139****3333").exists()),
        ("tag_add", f"/registry/persons/{w.head.pk}/tags/", {"tag": "disabled", "source": "残联", "note": ""}, CHANGE,
         lambda: PersonTag.objects.filter(person=w.head, tag__code="disabled").exists()),
        ("tag_end", f"/registry/persons/{w.member.pk}/tags/{w.member_tag.pk}/end/", {}, CHANGE,
         lambda: PersonTag.objects.get(pk=w.member_tag.pk).end_date == today()),
        ("household_edit", f"/registry/households/{w.household.pk}/edit/",
         {"address": "新地址8号", "income_per_person": "800", "safe_family_years": "1"}, CHANGE,
         lambda: Household.objects.filter(pk=w.household.pk, address="新地址8号", household_class="yellow").exists()),
        ("override", f"/registry/households/{w.household.pk}/override/",
         {"colour": "red", "reason": "走访发现困难", "until": iso}, CHANGE,
         lambda: Household.objects.filter(pk=w.household.pk, household_class="red", override_class="red").exists()),
        ("helper", f"/registry/households/{w.household.pk}/helpers/",
         {"name": "李代表", "kind": "deputy", "phone": "", "duty": "每月上门"}, CHANGE,
         lambda: HouseholdHelper.objects.filter(household=w.household, name="李代表").exists()),
        ("event", f"/registry/persons/{w.head.pk}/events/", {"kind": "move_out", "date": "", "note": ""}, CHANGE,
         lambda: Person.objects.filter(pk=w.head.pk, moved_out=True).exists()),
    ]


def create_posts(tree, side):
    grid = getattr(tree, f"grid_{side}").code
    return [
        ("/registry/persons/new/", {"name": "页面新人", "id_type": "citizen", "id_number": "34052419800101001X",
                                    "phone": "", "sex": "", "birth_date": "", "ethnicity": "汉族", "education": "",
                                    "political_status": "", "residence_type": "registered", "grid_code": grid,
                                    "household_number": f"H{side.upper()}002", "relation": "child"},
         lambda: Person.objects.filter(name="页面新人", household__number=f"H{side.upper()}002").exists()),
        ("/registry/households/new/", {"grid_code": grid, "number": "HP1", "address": "页面1号",
                                       "income_per_person": "", "safe_family_years": "2"},
         lambda: Household.objects.filter(number="HP1").exists()),
        ("/registry/houses/new/", {"grid_code": grid, "address": "页面房", "house_type": "brick", "owner_name": "",
                                   "use": "vacant", "lng": "", "lat": ""},
         lambda: House.objects.filter(address="页面房", use="vacant").exists()),
        ("/registry/places/new/", {"grid_code": grid, "name": "页面店", "place_type": "market", "address": "",
                                   "contact_name": "", "contact_phone": "", "credit_code": "91350100M000100Y43"},
         lambda: Place.objects.filter(name="页面店").exists()),
    ]


def post_create_page(tree, users, client, role, side, url, data, check) -> None:
    allowed = holds(tree, role, VIEW, f"grid_{side}") and holds(tree, role, CHANGE, f"grid_{side}")
    before = state()
    response = client.post(url, data)
    if allowed:
        assert response.status_code == 302, response.content.decode()[:3000]
        assert check(), "not saved"
        return
    # Refused: the form again with the reason (or a 404), and nothing saved.
    assert response.status_code in (200, 404), response.status_code
    if response.status_code == 200:
        form = response.context["form"]
        assert form.errors, "no error shown"
        if not holds(tree, role, VIEW, f"grid_{side}"):
            assert "grid_code" in form.errors
    assert state() == before, "a refused POST changed something"


def post_action(tree, users, client, role, side, url, data, check) -> None:
    allowed = holds(tree, role, VIEW, f"grid_{side}") and holds(tree, role, CHANGE, f"grid_{side}")
    before = state()
    response = client.post(url, data)
    if not allowed:
        assert response.status_code == 404, response.status_code
        assert state() == before, "a denied POST changed something"
        return
    assert response.status_code == 302, response.content.decode()[:2000]
    assert check(), "not saved"
    assert AuditEvent.objects.latest("id").actor == getattr(users, role)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_post_pages(tree, users, world, as_role, role, side):
    """Every create page, form and action of a person's or household's file: a denied action is a 404 and
    changes nothing; a refused create page shows the form again and saves nothing. All are tried."""
    client = as_role(role)
    failures = []
    for url, data, check in create_posts(tree, side):
        try:
            post_create_page(tree, users, client, role, side, url, data, check)
        except AssertionError as exc:
            failures.append(f"{url}: {exc}")
    for name, url, data, _perm, check in page_writes(tree, world, side):
        try:
            post_action(tree, users, client, role, side, url, data, check)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


# --- the reveal button ------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_edit_form_and_reveal_button(tree, users, world, as_role, role, side):
    w = getattr(world, side)
    client = as_role(role)
    # The edit form: 404 without the change permission.
    response = client.get(f"/registry/persons/{w.head.pk}/edit/")
    allowed = holds(tree, role, VIEW, f"grid_{side}") and holds(tree, role, CHANGE, f"grid_{side}")
    assert response.status_code == (200 if allowed else 404)
    if allowed:
        assert "form" in response.context
        assert_no_secrets(response, world)
        assert masked(w.head_id) in response.content.decode()  # "now 6101…; leave empty to keep it"
    # The reveal button: 200 with the value and an audit row; 403 inside without the permission; 404 outside.
    for field, value in (("id_number", w.head_id), ("phone", w.head_phone)):
        before = AuditEvent.objects.count()
        response = client.post(f"/registry/persons/{w.head.pk}/reveal/{field}/")
        if not holds(tree, role, VIEW, f"grid_{side}"):
            assert response.status_code == 404
            assert AuditEvent.objects.count() == before
        elif not holds(tree, role, REVEAL, f"grid_{side}"):
            assert response.status_code == 403
            assert value not in response.content.decode()
            assert AuditEvent.objects.count() == before
        else:
            assert response.status_code == 200
            assert value in response.content.decode()
            event = AuditEvent.objects.latest("id")
            assert AuditEvent.objects.count() == before + 1
            assert (event.action, event.actor, event.object_id) == (f"person.reveal.{field}", getattr(users, role),
                                                                    str(w.head.pk))


def test_reveal_needs_a_post_and_a_known_field(tree, users, world, as_role):
    client = as_role("village_staff_a")
    before = AuditEvent.objects.count()
    assert client.get(f"/registry/persons/{world.a.head.pk}/reveal/id_number/").status_code == 405
    response = client.post(f"/registry/persons/{world.a.head.pk}/reveal/name/")
    assert response.status_code in (400, 403)
    assert AuditEvent.objects.count() == before


# --- invalid input: the form again with the error, nothing saved ---------------------------------------------


def assert_form_error(response, field: str | None) -> None:
    assert response.status_code == 200, response
    form = response.context["form"]
    if field is None:
        assert form.non_field_errors(), form.errors
    else:
        assert field in form.errors, form.errors
    assert "error" in response.content.decode()


PERSON = {"name": "张三", "id_type": "citizen", "id_number": "", "phone": "", "sex": "", "birth_date": "",
          "ethnicity": "", "education": "", "political_status": "", "residence_type": "registered",
          "grid_code": "611023100201001001", "household_number": "", "relation": ""}


@pytest.mark.parametrize(("data", "field"), [
    ({"name": ""}, "name"), ({"id_number": "360426199101010072"}, "id_number"),
    ({"id_number": "11010519490230002X"}, "id_number"), ({"phone": "abc"}, "phone"),
    ({"grid_code": "611023101201001001"}, "grid_code"),  # town B's grid: not the admin's
    ({"grid_code": "611023100201"}, None),  # a village, not a grid: shown above the form
    ({"grid_code": ""}, "grid_code"), ({"household_number": "NOPE"}, "household_number"),
    ({"household_number": "HB001"}, "household_number"),  # town B's household
    ({"household_number": "HA001", "relation": "head"}, "relation"),  # it has a head
    ({"residence_type": "alien"}, "residence_type"), ({"birth_date": "2026-02-30"}, "birth_date"),
    ({"ethnicity": "长" * 21}, "ethnicity"),
    ({"id_number": "{dup}"}, "id_number"),
])
def test_person_create_page_refuses_bad_input(tree, users, world, as_role, data, field):
    client = as_role("town_admin_a")
    data = {k: v.replace("{dup}", world.b.head_id) for k, v in data.items()}
    before = state()
    response = client.post("/registry/persons/new/", {**PERSON, **data})
    assert_form_error(response, field)
    assert state() == before
    assert world.b.head_id not in response.content.decode() or data.get("id_number") == world.b.head_id


@pytest.mark.parametrize(("url", "data", "field"), [
    ("/registry/households/new/", {"number": "HA001", "address": "x", "safe_family_years": "0"}, "number"),
    ("/registry/households/new/", {"number": "HX", "address": "", "safe_family_years": "0"}, "address"),
    ("/registry/households/new/", {"number": "HX", "address": "x", "safe_family_years": "101"}, "safe_family_years"),
    ("/registry/households/new/", {"number": "HX", "address": "x", "safe_family_years": "0",
                                   "income_per_person": "-1"}, "income_per_person"),
    ("/registry/houses/new/", {"address": "x", "house_type": "brick", "use": "rented", "lng": "110.8"}, "lng"),
    ("/registry/houses/new/", {"address": "x", "house_type": "castle", "use": "rented"}, "house_type"),
    ("/registry/places/new/", {"name": "x", "place_type": "school", "credit_code": "91350100M000100Y44"},
     "credit_code"),
    ("/registry/places/new/", {"name": "", "place_type": "school"}, "name"),
])
def test_create_pages_refuse_bad_input(tree, users, world, as_role, url, data, field):
    client = as_role("village_staff_a")
    before = state()
    assert_form_error(client.post(url, {"grid_code": tree.grid_a.code, **data}), field)
    assert state() == before


@pytest.mark.parametrize(("data", "field"), [
    ({"name": ""}, "name"), ({"id_number": "360426199101010072"}, "id_number"), ({"phone": "12"}, "phone"),
    ({"id_number": "{dup}"}, "id_number"),
])
def test_person_edit_refuses_bad_input(tree, users, world, as_role, data, field):
    client = as_role("village_staff_a")
    data = {k: v.replace("{dup}", world.a.member_id) for k, v in data.items()}
    base = {"name": "户主a", "id_type": "citizen", "id_number": "", "phone": "", "residence_type": "registered",
            "sex": "", "birth_date": "", "ethnicity": "", "education": "", "political_status": ""}
    before = state()
    assert_form_error(client.post(f"/registry/persons/{world.a.head.pk}/edit/", {**base, **data}), field)
    assert state() == before


@pytest.mark.parametrize(("action", "data"), [
    ("override", {"colour": "red", "reason": "", "until": "2999-01-01"}),
    ("override", {"colour": "red", "reason": "原因", "until": "2000-01-01"}),
    ("override", {"colour": "purple", "reason": "原因", "until": "2999-01-01"}),
    ("edit", {"address": "", "safe_family_years": "1"}),
    ("edit", {"address": "x", "safe_family_years": "-1"}),
    ("helpers", {"name": "", "kind": "deputy"}),
])
def test_household_actions_refuse_bad_input(tree, users, world, as_role, action, data):
    client = as_role("village_staff_a")
    before = state()
    response = client.post(f"/registry/households/{world.a.household.pk}/{action}/", data, follow=True)
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert state() == before


@pytest.mark.parametrize(("url", "data"), [
    ("events/", {"kind": "death", "date": "2999-01-01", "note": ""}),
    ("events/", {"kind": "birth", "date": "", "note": ""}),
    ("tags/", {"tag": "dibao", "start_date": "", "source": "", "note": ""}),  # the member already carries it
    ("tags/", {"tag": "no_such_tag", "start_date": "", "source": "", "note": ""}),
])
def test_person_actions_refuse_bad_input(tree, users, world, as_role, url, data):
    client = as_role("village_staff_a")
    before = state()
    response = client.post(f"/registry/persons/{world.a.member.pk}/{url}", data, follow=True)
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert state() == before


def test_sensitive_tag_cannot_be_added_through_the_page_without_the_permission(tree, users, world, as_role):
    client = as_role("grid_worker_a")
    before = state()
    response = client.post(f"/registry/persons/{world.a.head.pk}/tags/", {"tag": "drug_user"}, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    secret_tag = PersonTag.objects.get(person=world.a.secret)
    assert client.post(f"/registry/persons/{world.a.secret.pk}/tags/{secret_tag.pk}/end/").status_code == 404
    assert state() == before


# --- the tag dictionary and the rules pages -------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_dictionary_and_rules_pages(tree, users, as_role, role):
    client = as_role(role)
    response = client.get("/registry/tags/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "低保对象" in html
    assert ("吸毒人员" in html) is holds_anywhere(role, SENSITIVE)
    assert (response.context["form"] is not None) is (role == "superuser")
    rules = client.get("/registry/rules/")
    assert rules.status_code == (200 if holds_anywhere(role, VIEW) else 404)
    before = (list(Tag.objects.values()), ClassRuleSet.objects.count(), AuditEvent.objects.count())
    new_tag = client.post("/registry/tags/", {"code": "veteran", "name": "退役军人", "group": "care", "order": "5"})
    toggle = client.post("/registry/tags/", {"toggle": "dibao", "field": "active"})
    new_rules = client.post("/registry/rules/", {"name": "新规则", "rules": '[{"colour": "red", "reason": "低保", '
                                                                         '"when": [{"member_tag_in": ["dibao"]}]}]'})
    if role != "superuser":
        assert (new_tag.status_code, toggle.status_code, new_rules.status_code) == (404, 404, 404)
        assert (list(Tag.objects.values()), ClassRuleSet.objects.count(), AuditEvent.objects.count()) == before
        return
    assert (new_tag.status_code, toggle.status_code, new_rules.status_code) == (302, 302, 302)
    assert Tag.objects.get(code="veteran").name == "退役军人"
    assert Tag.objects.get(code="dibao").active is False
    assert ClassRuleSet.objects.get().name == "新规则"
    bad = client.post("/registry/rules/", {"name": "坏", "rules": '[{"colour": "green"}]'})
    assert bad.status_code == 200 and bad.context["form"].errors
    assert ClassRuleSet.objects.count() == 1


# --- query counts ---------------------------------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def add_households(tree, start: int, n: int) -> None:
    for i in range(start, start + n):
        household = make_household(tree.grid_a, f"Q{i:03d}", safe_family_years=i % 3)
        make_person(tree.grid_a, f"户主Q{i}", household=household, relation="head")
        make_person(tree.grid_a, f"成员Q{i}", household=household, relation="child")


@pytest.mark.parametrize("url", ["/registry/households/", "/registry/households/?colour=yellow",
                                 "/registry/persons/", "/registry/persons/?tag=dibao", "/registry/houses/",
                                 "/registry/places/"])
def test_list_page_query_counts_do_not_grow(tree, users, as_role, django_assert_max_num_queries, url):
    client = as_role("village_staff_a")
    add_households(tree, 0, 2)
    count_queries(client, url)
    few = count_queries(client, url)
    add_households(tree, 2, 15)
    with django_assert_max_num_queries(few):
        client.get(url)


def test_household_detail_page_query_count_does_not_grow(tree, users, as_role, django_assert_max_num_queries):
    client = as_role("village_staff_a")
    household = make_household(tree.grid_a, "BIG")
    make_person(tree.grid_a, "户主", household=household, relation="head")
    url = f"/registry/households/{household.pk}/"
    count_queries(client, url)
    few = count_queries(client, url)
    for i in range(8):
        person = make_person(tree.grid_a, f"子{i}", household=household, relation="child")
        services.person_tag_add(actor=None, person=person, tag=tag("left_behind_child"))
    with django_assert_max_num_queries(few):
        response = client.get(url)
    assert len(response.context["members"]) == 9
