"""Sensitive fields at rest: sealing with AES-256-GCM or SM4-GCM, tamper and wrong-key detection, search
hashes, what the database really holds, and ``gridgov rotate-field-key`` end to end."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation

from gridgov.core import crypto
from gridgov.core.idnumber import check_char
from gridgov.core.models import AuditEvent
from gridgov.registry import selectors, services
from gridgov.registry.models import Person

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()
KEY_C = base64.b64encode(bytes(range(200, 232))).decode()
ID1 = "34052419800101001X"


def valid_id(first17: str) -> str:
    return first17 + check_char(first17)


@pytest.fixture(autouse=True)
def _keys(settings):
    """Each test starts with key A and AES, and leaves no parsed key behind."""
    settings.FIELD_KEY, settings.FIELD_KEY_OLD, settings.FIELD_CIPHER = KEY_A, "", "aes-256-gcm"
    crypto.reset_caches()
    with translation.override("en"):
        yield
    crypto.reset_caches()


def use(settings, key: str, old: str = "", cipher: str = "aes-256-gcm") -> None:
    settings.FIELD_KEY, settings.FIELD_KEY_OLD, settings.FIELD_CIPHER = key, old, cipher
    crypto.reset_caches()


# --- sealing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "sm4-gcm"])
def test_round_trip(settings, cipher):
    use(settings, KEY_A, cipher=cipher)
    for value in (ID1, "13800138000", "张三 · 中文", "x" * 1000):
        token = crypto.encrypt(value)
        assert token.startswith(f"v1:{cipher}:{crypto.current_key().key_id}:")
        assert value not in token
        assert crypto.decrypt(token) == value
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""
    assert crypto.encrypt(ID1) != crypto.encrypt(ID1)  # a fresh nonce each time


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "sm4-gcm"])
def test_tampering_is_detected(settings, cipher):
    use(settings, KEY_A, cipher=cipher)
    token = crypto.encrypt(ID1)
    head, payload = token.rsplit(":", 1)
    blob = bytearray(base64.b64decode(payload))
    for position in (0, 12, len(blob) // 2, len(blob) - 1):  # nonce, ciphertext, tag
        changed = bytearray(blob)
        changed[position] ^= 0x01
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(f"{head}:{base64.b64encode(bytes(changed)).decode()}")
    other = "sm4-gcm" if cipher == "aes-256-gcm" else "aes-256-gcm"
    for broken in (token.replace(f":{cipher}:", f":{other}:"), token.replace("v1:", "v2:"), token[:-4],
                   "v1:aes-256-gcm:nothing", "not sealed at all", f"{head}:!!!"):
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(broken)


def test_a_wrong_key_opens_nothing(settings):
    token = crypto.encrypt(ID1)
    use(settings, KEY_B)
    with pytest.raises(crypto.DecryptionError, match="not configured"):
        crypto.decrypt(token)
    use(settings, KEY_B, old=KEY_A)
    assert crypto.decrypt(token) == ID1
    assert crypto.needs_reseal(token) and not crypto.needs_reseal(crypto.encrypt(ID1))
    # A token claiming key B's id but sealed under A fails the authentication tag.
    forged = token.replace(f":{crypto.FieldKey(base64.b64decode(KEY_A)).key_id}:", f":{crypto.current_key().key_id}:")
    use(settings, KEY_B)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(forged)


def test_search_hashes_are_stable_and_depend_on_key_and_cipher(settings):
    first = crypto.search_hash(f"citizen:{ID1}")
    assert first == crypto.search_hash(f"citizen:{ID1}") and len(first) == 64
    assert first != crypto.search_hash(f"citizen:{valid_id('34052419800101002')}")
    assert crypto.search_hash("") == ""
    use(settings, KEY_B)
    assert crypto.search_hash(f"citizen:{ID1}") != first
    use(settings, KEY_A, cipher="sm4-gcm")  # SM3 instead of SHA-256
    sm3 = crypto.search_hash(f"citizen:{ID1}")
    assert sm3 != first and sm3 == crypto.search_hash(f"citizen:{ID1}")
    use(settings, KEY_A)
    assert crypto.search_hash(f"citizen:{ID1}") == first
    # The hash of a number as users type it: normalised, so the search finds it.
    assert services.identity_hash("citizen", "３４０５２４１９８００１０１００１x ") == first


def raw_row(pk: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM registry_person WHERE id = %s", [pk])
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_id_numbers_and_phones_are_never_stored_in_clear(tree):
    person = services.person_create(actor=None, name="张三", area=tree.grid_a, id_number=ID1, phone="13800138000")
    stored = raw_row(person.pk)
    text = " ".join(str(v) for v in stored.values())
    assert ID1 not in text and "13800138000" not in text
    assert "19800101001" not in text and "00138000" not in text  # not even long pieces
    assert stored["id_number_masked"] == "3405**********001X" and stored["phone_masked"] == "138****8000"
    assert stored["id_number_sealed"].startswith("v1:aes-256-gcm:")
    assert crypto.decrypt(stored["id_number_sealed"]) == ID1


# --- rotation ---------------------------------------------------------------------------------------


@pytest.fixture
def residents(tree):
    people = [services.person_create(actor=None, name=f"人{i}", area=tree.grid_a,
                                     id_number=valid_id(f"61102319800101{i:03d}"),
                                     phone=f"1380013{i:04d}" if i % 2 else "") for i in range(25)]
    people.append(services.person_create(actor=None, name="护照", area=tree.grid_a, id_type="passport",
                                         id_number="E1234567", phone="13911112222"))
    people.append(services.person_create(actor=None, name="无号", area=tree.grid_a))
    return people


def plain(person: Person) -> tuple[str, str]:
    return services.reveal_value(person, "id_number"), services.reveal_value(person, "phone")


def test_rotate_to_a_new_key(settings, users, residents):
    before = {p.pk: plain(p) for p in residents}
    use(settings, KEY_B, old=KEY_A)
    key_b = crypto.current_key().key_id
    out, err = io.StringIO(), io.StringIO()

    call_command("rotate_field_key", "--batch-size", "10", stdout=out, stderr=err)

    assert out.getvalue().splitlines() == [f"26 persons to re-seal under key {key_b} with aes-256-gcm.",
                                           "Re-sealed 26 persons."]
    assert "re-sealed 26 of 26 persons" in err.getvalue()
    for person in Person.objects.all():
        for token in (person.id_number_sealed, person.phone_sealed):
            assert not token or token.startswith(f"v1:aes-256-gcm:{key_b}:")
        assert plain(person) == before[person.pk]
        number, phone = before[person.pk]
        assert person.id_number_hash == (crypto.search_hash(f"{person.id_type}:{number}") if number else "")
        assert person.phone_hash == crypto.search_hash(phone)
    found = selectors.person_list(actor=users.superuser,
                                  filters=selectors.PersonFilters(id_number=valid_id("61102319800101007")))
    assert [p.name for p in found] == ["人7"]
    event = AuditEvent.objects.get(action="crypto.rotate")
    assert event.actor_name == "gridgov rotate-field-key"
    assert event.data == {"key_id": key_b, "cipher": "aes-256-gcm", "resealed": 26, "unreadable": 0,
                          "duplicates": 0}
    # Done: a second run finds nothing, and the old key is no longer needed.
    out = io.StringIO()
    call_command("rotate_field_key", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("0 persons to re-seal")
    use(settings, KEY_B)
    assert {p.pk: plain(p) for p in Person.objects.all()} == before
    # The same person cannot be registered twice under the new key.
    with pytest.raises(services.ApplicationError, match="already registered"):
        services.person_create(actor=None, name="又来", area=residents[0].area, id_number=valid_id("61102319800101007"))


def test_rotate_to_sm4(settings, residents):
    before = {p.pk: plain(p) for p in residents}
    use(settings, KEY_A, cipher="sm4-gcm")
    call_command("rotate_field_key", stdout=io.StringIO(), stderr=io.StringIO())
    for person in Person.objects.all():
        assert not person.id_number_sealed or person.id_number_sealed.startswith("v1:sm4-gcm:")
        assert plain(person) == before[person.pk]
    person = Person.objects.get(name="人3")
    assert person.id_number_hash == crypto.search_hash(f"citizen:{before[person.pk][0]}")  # SM3 now
    assert AuditEvent.objects.get(action="crypto.rotate").data["cipher"] == "sm4-gcm"


def test_rotation_is_resumable_and_dry_run_changes_nothing(settings, residents):
    use(settings, KEY_B, old=KEY_A)
    snapshot = list(Person.objects.order_by("pk").values_list("id_number_sealed", "id_number_hash"))
    out = io.StringIO()
    call_command("rotate_field_key", "--dry-run", stdout=out)
    assert out.getvalue().startswith("26 persons to re-seal")
    assert list(Person.objects.order_by("pk").values_list("id_number_sealed", "id_number_hash")) == snapshot
    # Half done by an earlier run that stopped: only the rest is re-sealed.
    from gridgov.registry.management.commands.rotate_field_key import Command

    for person in Person.objects.order_by("pk")[:10]:
        Command._reseal(person)
        person.save()
    out = io.StringIO()
    call_command("rotate_field_key", stdout=out, stderr=io.StringIO())
    assert out.getvalue().splitlines()[0].startswith("16 persons to re-seal")
    key_id = crypto.current_key().key_id
    assert Person.objects.filter(id_number_sealed__contains=f":{key_id}:").count() == 26  # all with an ID number


def test_values_no_key_opens_are_reported(settings, residents):
    use(settings, KEY_C)
    stranger = services.person_create(actor=None, name="陌生", area=residents[0].area,
                                      id_number=valid_id("61102319700101001"))
    use(settings, KEY_B, old=KEY_A)  # key C is gone
    err = io.StringIO()
    with pytest.raises(CommandError, match=rf"1 persons have values that no configured key opens \(records "
                                           rf"{stranger.pk}\)"):
        call_command("rotate_field_key", stdout=io.StringIO(), stderr=err)
    assert Person.objects.filter(id_number_sealed__contains=f":{crypto.current_key().key_id}:").count() == 25 + 1
    assert AuditEvent.objects.get(action="crypto.rotate").data["unreadable"] == 1


def test_a_person_registered_twice_during_rotation_is_left_to_merge(settings, residents):
    use(settings, KEY_B, old=KEY_A)
    number = valid_id("61102319800101004")
    twin = services.person_create(actor=None, name="重复", area=residents[0].area, id_number=number)  # new hash
    original = Person.objects.get(name="人4")
    with pytest.raises(CommandError, match=rf"record pairs {original.pk}/{twin.pk}"):
        call_command("rotate_field_key", stdout=io.StringIO(), stderr=io.StringIO())
    original.refresh_from_db()
    assert crypto.needs_reseal(original.id_number_sealed)
    assert Person.objects.filter(id_number_hash=crypto.search_hash(f"citizen:{number}")).count() == 1
