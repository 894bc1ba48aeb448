"""Every write of the resident registry. Keyword-only, one transaction each, validated before saving,
with an event row (PersonEvent) or audit row for each change; sensitive values sealed at rest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.areas.models import GRID_KINDS, Area
from gridgov.areas.scope import Perm, scope_for
from gridgov.core import audit, crypto
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.idnumber import InvalidIdNumber, mask_id, mask_phone, normalise, parse_id_number, valid_uscc
from gridgov.registry.classification import (
    SHANGNAN_RULES,
    VillageAverages,
    evaluate,
    member_tag_codes,
    rules_problems,
)
from gridgov.registry.errors import RegistryErrorCode
from gridgov.registry.models import (
    ClassRuleSet,
    EventKind,
    HelperKind,
    House,
    Household,
    HouseholdClass,
    HouseholdClassChange,
    HouseholdHelper,
    HouseholdMembership,
    HouseType,
    HouseUse,
    IdType,
    Person,
    PersonEvent,
    PersonTag,
    Place,
    PlaceType,
    Relation,
    ResidenceType,
    Sex,
    Tag,
)

# --- permission checks -------------------------------------------------------------------------


def require(actor, perm: Perm, area: Area) -> None:
    """Refuses unless the actor holds ``perm`` on ``area``; residents outside the scope are 'not found'."""
    if actor is None:
        return
    if not scope_for(actor, Perm.RESIDENT_VIEW).contains(area.path):
        raise NotFound("No such record.")
    if not scope_for(actor, perm).contains(area.path):
        raise PermissionDenied("You may not do this here.")


def _grid(area: Area | None, field: str = "area") -> Area:
    if area is None or area.kind not in GRID_KINDS:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("Choose a grid."), fields={field: ["not a grid"]})
    return area


def _refuse(problems: dict[str, list[str]], code) -> None:
    if problems:
        message = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in problems.items())
        raise ApplicationError(code, message, fields=problems)


def _length_problems(model, **values) -> dict[str, list[str]]:
    problems = {}
    for field, value in values.items():
        limit = model._meta.get_field(field).max_length
        if value and len(value) > limit:
            problems[field] = [_("At most %(n)d characters.") % {"n": limit}]
        elif value and "\x00" in value:
            problems[field] = [_("NUL characters are not allowed.")]
    return problems


def _event(person: Person, kind: str, actor, data: dict | None = None, date: dt.date | None = None) -> PersonEvent:
    return PersonEvent.objects.create(
        person=person, kind=kind, date=date or timezone.localdate(),
        actor=actor if getattr(actor, "pk", None) else None, actor_name=audit.actor_label(actor)[:150],
        data=data or {},
    )


# --- identity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A validated identity document: what is stored sealed, hashed and masked."""

    id_type: str
    number: str
    birth_date: dt.date | None
    sex: str
    warnings: tuple[str, ...]

    @property
    def hash(self) -> str:
        return crypto.search_hash(f"{self.id_type}:{self.number}") if self.number else ""


ID_TYPES = frozenset(IdType.values)


def check_identity(id_type: str, number: str, *, birth_date=None, sex: str = "") -> Identity:
    """Validates an ID number by its type (GB 11643 for the resident ID card); raises ApplicationError."""
    if id_type not in ID_TYPES:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("Unknown ID type."), fields={"id_type": ["unknown"]})
    number = normalise(number)
    if id_type == IdType.CITIZEN and number:
        try:
            parsed = parse_id_number(number)
        except InvalidIdNumber as exc:
            raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _(str(exc)), fields={"id_number": [_(str(exc))]}) \
                from exc
        return Identity(id_type, parsed.number, parsed.birth_date, parsed.sex, parsed.warnings)
    if number and (len(number) > 32 or not number.isascii() or not number.isalnum()):
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("The document number is not valid."),
                               fields={"id_number": ["invalid"]})
    if birth_date is not None and not dt.date(1880, 1, 1) <= birth_date <= timezone.localdate():
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("The birth date is impossible."),
                               fields={"birth_date": ["impossible"]})
    return Identity(id_type, number, birth_date, sex, ())


def identity_hash(id_type: str, number: str) -> str:
    """The search hash of an ID number as given by a user (normalised, upgraded if 15 digits)."""
    try:
        return check_identity(id_type, number).hash
    except ApplicationError:
        return ""


def normalise_phone(phone: str) -> str:
    phone = normalise(phone).replace("-", "")
    digits = phone[1:] if phone.startswith("+") else phone
    if phone and (not digits.isascii() or not digits.isdigit() or not 5 <= len(phone) <= 20):
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("The phone number is not valid."),
                               fields={"phone": ["invalid"]})
    return phone


def _seal_identity(person: Person, identity: Identity) -> None:
    person.id_type = identity.id_type
    person.id_number_sealed = crypto.encrypt(identity.number)
    person.id_number_hash = identity.hash
    person.id_number_masked = mask_id(identity.number) if identity.number else ""
    if identity.birth_date:
        person.birth_date = identity.birth_date
    if identity.sex:
        person.sex = identity.sex


def _seal_phone(person: Person, phone: str) -> None:
    person.phone_sealed = crypto.encrypt(phone)
    person.phone_hash = crypto.search_hash(phone)
    person.phone_masked = mask_phone(phone) if phone else ""


def _duplicate(identity: Identity, exclude_pk=None) -> Person | None:
    if not identity.hash:
        return None
    # The negated empty hash repeats the partial unique index's condition, so that both databases use it.
    qs = Person.objects.filter(~Q(id_number_hash=""), id_number_hash=identity.hash)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.first()


def _duplicate_error(existing: Person, actor) -> ApplicationError:
    """Points at the existing record; names it only to a user who may see it."""
    if actor is None or scope_for(actor, Perm.RESIDENT_VIEW).contains(existing.area.path):
        message = _("This person is already registered: %(name)s (record %(pk)d, %(grid)s).") % {
            "name": existing.name, "pk": existing.pk, "grid": existing.area.name}
    else:
        message = _("This person is already registered elsewhere (record %(pk)d).") % {"pk": existing.pk}
    return ApplicationError(RegistryErrorCode.DUPLICATE_PERSON, message,
                            fields={"id_number": [f"duplicate of person {existing.pk}"]})


# --- persons ---------------------------------------------------------------------------------


PERSON_TEXT_FIELDS = ("ethnicity", "education", "political_status")


@transaction.atomic
def person_create(
    *,
    actor,
    name: str,
    area: Area,
    id_type: str = IdType.CITIZEN,
    id_number: str = "",
    phone: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
    ethnicity: str = "",
    education: str = "",
    political_status: str = "",
    residence_type: str = ResidenceType.REGISTERED,
    household=None,
    relation: str = "",
    house: House | None = None,
    event: str = EventKind.REGISTERED,
) -> Person:
    """Registers a person on a grid. The same ID number twice is refused, naming the existing record."""
    require(actor, Perm.RESIDENT_CHANGE, area)
    _grid(area)
    name = (name or "").strip()
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = [_("A name is required.")]
    problems.update(_length_problems(Person, name=name, ethnicity=ethnicity, education=education,
                                     political_status=political_status))
    if residence_type not in ResidenceType.values:
        problems["residence_type"] = [_("Unknown residence type.")]
    if sex and sex not in Sex.values:
        problems["sex"] = [_("Unknown sex.")]
    if relation and relation not in Relation.values:
        problems["relation"] = [_("Unknown relation.")]
    _refuse(problems, RegistryErrorCode.INVALID_PERSON)
    identity = check_identity(id_type, id_number, birth_date=birth_date, sex=sex)
    phone = normalise_phone(phone)
    existing = _duplicate(identity)
    if existing is not None:
        raise _duplicate_error(existing, actor)
    if household is not None and household.area_id != area.pk:
        require(actor, Perm.RESIDENT_CHANGE, household.area)
    if house is not None and house.area_id != area.pk:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("Choose a house of this grid."),
                               fields={"house_id": ["another grid"]})
    person = Person(name=name, area=area, residence_type=residence_type, ethnicity=ethnicity.strip(),
                    education=education.strip(), political_status=political_status.strip(), house=house,
                    birth_date=birth_date, sex=sex)
    _seal_identity(person, identity)
    _seal_phone(person, phone)
    try:
        with transaction.atomic():
            person.save()
    except IntegrityError as exc:  # a concurrent registration of the same ID number
        raise _duplicate_error(Person.objects.get(id_number_hash=identity.hash), actor) from exc
    _event(person, event, actor, {"grid": area.code, "warnings": list(identity.warnings)})
    if household is not None:
        person = membership_start(actor=actor, person=person, household=household,
                                  relation=relation or Relation.OTHER)
    audit.record(actor=actor, action="person.create", obj=person, area_path=area.path)
    return person


@transaction.atomic
def person_update(*, actor, person: Person, **changes) -> Person:
    """Changes a person's own fields (not grid, household or life events, which have their services)."""
    person = Person.objects.select_for_update().select_related("area").get(pk=person.pk)
    require(actor, Perm.RESIDENT_CHANGE, person.area)
    allowed = {"name", "id_type", "id_number", "phone", "birth_date", "sex", "residence_type", *PERSON_TEXT_FIELDS}
    unknown = set(changes) - allowed
    if unknown:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, f"Cannot change {', '.join(sorted(unknown))} here.")
    changed: list[str] = []
    if "name" in changes:
        name = (changes["name"] or "").strip()
        _refuse({"name": [_("A name is required.")]} if not name else _length_problems(Person, name=name),
                RegistryErrorCode.INVALID_PERSON)
        if name != person.name:
            person.name = name
            changed.append("name")
    if "id_number" in changes or "id_type" in changes:
        identity = check_identity(changes.get("id_type", person.id_type),
                                  changes.get("id_number", reveal_value(person, "id_number")))
        existing = _duplicate(identity, exclude_pk=person.pk)
        if existing is not None:
            raise _duplicate_error(existing, actor)
        if identity.hash != person.id_number_hash or identity.id_type != person.id_type:
            _seal_identity(person, identity)
            changed.append("id_number")
    if "phone" in changes:
        phone = normalise_phone(changes["phone"] or "")
        if crypto.search_hash(phone) != person.phone_hash:
            _seal_phone(person, phone)
            changed.append("phone")
    for field in ("birth_date", "sex", "residence_type", *PERSON_TEXT_FIELDS):
        if field in changes and changes[field] is not None and getattr(person, field) != changes[field]:
            setattr(person, field, changes[field])
            changed.append(field)
    if person.residence_type not in ResidenceType.values or (person.sex and person.sex not in Sex.values):
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("Unknown residence type or sex."))
    _refuse(_length_problems(Person, **{f: getattr(person, f) for f in PERSON_TEXT_FIELDS}),
            RegistryErrorCode.INVALID_PERSON)
    if changed:
        person.updated_at = timezone.now()
        person.save()
        _event(person, EventKind.UPDATED, actor, {"fields": changed})
        audit.record(actor=actor, action="person.update", obj=person, area_path=person.area.path,
                     data={"fields": changed})
    return person


LIFE_EVENTS = {EventKind.MOVE_OUT, EventKind.MOVE_IN, EventKind.DEATH}


@transaction.atomic
def person_life_event(*, actor, person: Person, kind: str, date: dt.date | None = None, note: str = "") -> Person:
    """Records a move out (迁出), a move back in (迁入) or a death; the record is kept, never deleted."""
    person = Person.objects.select_for_update().select_related("area").get(pk=person.pk)
    require(actor, Perm.RESIDENT_CHANGE, person.area)
    date = date or timezone.localdate()
    if kind not in LIFE_EVENTS:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("Unknown event."), fields={"kind": ["unknown"]})
    if date > timezone.localdate():
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("The date lies in the future."),
                               fields={"date": ["future"]})
    if not person.alive:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("This person is recorded as deceased."))
    if kind == EventKind.MOVE_OUT and person.moved_out or kind == EventKind.MOVE_IN and not person.moved_out:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("This does not match the person's state."))
    if kind == EventKind.DEATH:
        person.alive = False
    else:
        person.moved_out = kind == EventKind.MOVE_OUT
    former_household = person.household
    if kind != EventKind.MOVE_IN:
        _end_memberships(person, date)
    person.updated_at = timezone.now()
    person.save()
    _event(person, kind, actor, {"note": note[:200]} if note else {}, date=date)
    audit.record(actor=actor, action=f"person.{kind}", obj=person, area_path=person.area.path)
    if former_household is not None:
        household_classify(actor=actor, household=Household.objects.select_related("area__level")
                           .get(pk=former_household.pk))
    return person


@transaction.atomic
def person_move_grid(*, actor, person: Person, area: Area) -> Person:
    """Moves a person to another grid (both in the actor's scope)."""
    person = Person.objects.select_for_update().select_related("area").get(pk=person.pk)
    require(actor, Perm.RESIDENT_CHANGE, person.area)
    require(actor, Perm.RESIDENT_CHANGE, _grid(area))
    if area.pk != person.area_id:
        old = person.area
        person.area = area
        person.updated_at = timezone.now()
        person.save()
        _event(person, EventKind.GRID_CHANGE, actor, {"from": old.code, "to": area.code})
        audit.record(actor=actor, action="person.grid_change", obj=person, area_path=area.path,
                     data={"from": old.code, "to": area.code})
    return person


def _reclassify_household_of(person: Person, actor) -> None:
    """A member's tags or presence changed: the household's colour may change with them."""
    household = Household.objects.select_related("area__level").filter(members=person).first()
    if household is not None:
        household_classify(actor=actor, household=household)


def _end_memberships(person: Person, date: dt.date) -> None:
    HouseholdMembership.objects.filter(person=person, end_date__isnull=True).update(end_date=date)
    if person.household_id:

        Household.objects.filter(pk=person.household_id, head=person).update(head=None)
    person.household = None
    person.relation = ""


@transaction.atomic
def membership_start(*, actor, person: Person, household, relation: str, date: dt.date | None = None) -> Person:
    """Puts a person in a household (ending their previous membership); a head becomes the household's head."""

    household = Household.objects.select_for_update().select_related("area").get(pk=household.pk)
    person = Person.objects.select_for_update(of=("self",)).select_related("area", "household").get(pk=person.pk)
    require(actor, Perm.RESIDENT_CHANGE, household.area)
    require(actor, Perm.RESIDENT_CHANGE, person.area)
    if relation not in Relation.values:
        raise ApplicationError(RegistryErrorCode.INVALID_HOUSEHOLD, _("Unknown relation."),
                               fields={"relation": ["unknown"]})
    if not person.alive or person.moved_out:
        raise ApplicationError(RegistryErrorCode.INVALID_HOUSEHOLD,
                               _("A deceased or moved-out person cannot join a household."))
    if relation == Relation.HEAD and household.head_id and household.head_id != person.pk:
        raise ApplicationError(RegistryErrorCode.INVALID_HOUSEHOLD, _("This household already has a head."),
                               fields={"relation": ["head taken"]})
    date = date or timezone.localdate()
    previous = person.household
    if previous is not None and previous.pk == household.pk and person.relation == relation:
        return person
    _end_memberships(person, date)
    HouseholdMembership.objects.create(person=person, household=household, relation=relation, start_date=date)
    person.household, person.relation = household, relation
    person.updated_at = timezone.now()
    person.save(update_fields=["household", "relation", "updated_at"])
    if relation == Relation.HEAD:
        household.head = person
        household.save(update_fields=["head"])
    if previous is not None:
        _event(person, EventKind.HOUSEHOLD_CHANGE, actor, {"from": previous.number, "to": household.number})
        household_classify(actor=actor, household=Household.objects.select_related("area__level").get(pk=previous.pk))
    household_classify(actor=actor, household=household)
    return person


# --- tags --------------------------------------------------------------------------------------


def tag_visible(actor, tag: Tag, area: Area) -> bool:
    return not tag.sensitive or actor is None or scope_for(actor, Perm.SENSITIVE_TAGS).contains(area.path)


@transaction.atomic
def person_tag_add(*, actor, person: Person, tag: Tag, start_date: dt.date | None = None, source: str = "",
                   note: str = "") -> PersonTag:
    require(actor, Perm.RESIDENT_CHANGE, person.area)
    if not tag_visible(actor, tag, person.area):
        raise NotFound("No such tag.")
    if not tag.active:
        raise ApplicationError(RegistryErrorCode.INVALID_TAG, _("This tag is no longer in use."))
    start_date = start_date or timezone.localdate()
    _refuse(_length_problems(PersonTag, source=source, note=note), RegistryErrorCode.INVALID_TAG)
    if PersonTag.objects.filter(person=person, tag=tag, end_date__isnull=True).exists():
        raise ApplicationError(RegistryErrorCode.INVALID_TAG, _("The person already carries this tag."),
                               fields={"tag": ["duplicate"]})
    person_tag = PersonTag.objects.create(person=person, tag=tag, start_date=start_date, source=source.strip(),
                                          note=note.strip())
    _event(person, EventKind.TAG_ADDED, actor, {"tag": tag.code, "sensitive": tag.sensitive}, date=start_date)
    _reclassify_household_of(person, actor)
    audit.record(actor=actor, action="person.tag_add", obj=person, area_path=person.area.path,
                 data={"tag": tag.code})
    return person_tag


@transaction.atomic
def person_tag_end(*, actor, person_tag: PersonTag, end_date: dt.date | None = None) -> PersonTag:
    person_tag = PersonTag.objects.select_for_update().select_related("person__area", "tag").get(pk=person_tag.pk)
    person = person_tag.person
    require(actor, Perm.RESIDENT_CHANGE, person.area)
    if not tag_visible(actor, person_tag.tag, person.area):
        raise NotFound("No such tag.")
    end_date = end_date or timezone.localdate()
    if person_tag.end_date is not None:
        raise ApplicationError(RegistryErrorCode.INVALID_TAG, _("This tag has already ended."))
    if end_date < person_tag.start_date:
        raise ApplicationError(RegistryErrorCode.INVALID_TAG, _("A tag cannot end before it starts."))
    person_tag.end_date = end_date
    person_tag.save(update_fields=["end_date"])
    _event(person, EventKind.TAG_ENDED, actor, {"tag": person_tag.tag.code}, date=end_date)
    _reclassify_household_of(person, actor)
    audit.record(actor=actor, action="person.tag_end", obj=person, area_path=person.area.path,
                 data={"tag": person_tag.tag.code})
    return person_tag


# --- reveal --------------------------------------------------------------------------------------


REVEALABLE = {"id_number": "id_number_sealed", "phone": "phone_sealed"}


def reveal_value(person: Person, field: str) -> str:
    """The plain value, for services that re-check or re-seal it. Pages and the API use ``person_reveal``."""
    return crypto.decrypt(getattr(person, REVEALABLE[field]))


@transaction.atomic
def person_reveal(*, actor, person: Person, field: str) -> str:
    """The full ID number or phone of a person, for a user who may see it; every reveal is audited."""
    if field not in REVEALABLE:
        raise ApplicationError(RegistryErrorCode.INVALID_PERSON, _("Nothing to reveal there."))
    require(actor, Perm.RESIDENT_REVEAL, person.area)
    value = reveal_value(person, field)
    audit.record(actor=actor, action=f"person.reveal.{field}", obj=person, area_path=person.area.path)
    return value


# --- houses and places ---------------------------------------------------------------------------


@transaction.atomic
def house_create(*, actor, area: Area, address: str, house_type: str = HouseType.BRICK, owner_name: str = "",
                 use: str = HouseUse.SELF_USED, lng: float | None = None, lat: float | None = None) -> House:
    require(actor, Perm.RESIDENT_CHANGE, area)
    _grid(area)
    address = (address or "").strip()
    problems = {} if address else {"address": [_("An address is required.")]}
    problems.update(_length_problems(House, address=address, owner_name=owner_name))
    if house_type not in HouseType.values:
        problems["house_type"] = [_("Unknown type.")]
    if use not in HouseUse.values:
        problems["use"] = [_("Unknown use.")]
    if (lng is None) != (lat is None) or lng is not None and not (-180 <= lng <= 180 and -90 <= lat <= 90):
        problems["lng"] = [_("Give longitude and latitude in degrees (WGS-84), or neither.")]
    _refuse(problems, RegistryErrorCode.INVALID_HOUSE)
    house = House.objects.create(area=area, address=address, house_type=house_type, owner_name=owner_name.strip(),
                                 use=use, lng=lng, lat=lat)
    audit.record(actor=actor, action="house.create", obj=house, area_path=area.path)
    return house


@transaction.atomic
def place_create(*, actor, area: Area, name: str, place_type: str, address: str = "", contact_name: str = "",
                 contact_phone: str = "", credit_code: str = "") -> Place:
    require(actor, Perm.RESIDENT_CHANGE, area)
    _grid(area)
    name = (name or "").strip()
    credit_code = normalise(credit_code)
    problems = {} if name else {"name": [_("A name is required.")]}
    problems.update(_length_problems(Place, name=name, address=address, contact_name=contact_name,
                                     contact_phone=contact_phone))
    if place_type not in PlaceType.values:
        problems["place_type"] = [_("Unknown type.")]
    if credit_code and not valid_uscc(credit_code):
        problems["credit_code"] = [_("The unified social credit code is not valid (GB 32100).")]
    _refuse(problems, RegistryErrorCode.INVALID_PLACE)
    place = Place.objects.create(area=area, name=name, place_type=place_type, address=address.strip(),
                                 contact_name=contact_name.strip(), contact_phone=contact_phone.strip(),
                                 credit_code=credit_code)
    audit.record(actor=actor, action="place.create", obj=place, area_path=area.path)
    return place



# --- households and their colour (三色) ---------------------------------------------------------


def active_rules() -> list[dict]:

    current = ClassRuleSet.objects.first()
    return current.rules if current else SHANGNAN_RULES


@transaction.atomic
def rules_set(*, actor, name: str, rules: list[dict]):
    """Puts a new classification rule set in force (the old ones are kept), then re-evaluates nothing:
    the nightly batch (or ``households_reclassify``) applies it."""

    _require_superuser(actor, "the classification rules")
    problems = rules_problems(rules)
    if problems or not (name or "").strip():
        raise ApplicationError(RegistryErrorCode.INVALID_CLASS, " ".join(problems) or _("A name is required."),
                               fields={"rules": problems} if problems else {"name": ["required"]})
    rule_set = ClassRuleSet.objects.create(name=name.strip()[:50], rules=rules)
    audit.record(actor=actor, action="class_rules.set", obj=rule_set, data={"rules": len(rules)})
    return rule_set


def _effective(household, verdict, today: dt.date) -> tuple[str, list[str], bool]:
    if household.override_class and household.override_until and household.override_until >= today:
        return household.override_class, [household.override_reason], True
    return verdict.colour, verdict.reasons, False


def household_classify(*, actor, household, rules=None, averages=None, today: dt.date | None = None) -> bool:
    """Re-evaluates one household's colour; records a change (with its reasons) if there is one.

    Returns whether the colour or its reasons changed. Runs inside the caller's transaction.
    """

    today = today or timezone.localdate()
    averages = averages or VillageAverages()
    verdict = evaluate(household, rules if rules is not None else active_rules(),
                       tag_codes=member_tag_codes(household, today),
                       village_average=averages.for_area(household.area), today=today)
    colour, reasons, manual = _effective(household, verdict, today)
    if colour == household.household_class and reasons == household.class_reasons:
        return False
    if colour != household.household_class:
        HouseholdClassChange.objects.create(household=household, from_class=household.household_class,
                                            to_class=colour, reasons=reasons, manual=manual,
                                            actor_name=audit.actor_label(actor)[:150])
    Household.objects.filter(pk=household.pk).update(household_class=colour, class_reasons=reasons)
    household.household_class, household.class_reasons = colour, reasons
    return True


def households_reclassify(*, actor=None, queryset=None, batch_size: int = 500) -> int:
    """The nightly batch: re-evaluates every household (or those given), in batches; returns the changes."""

    rules, averages, changed = active_rules(), VillageAverages(), 0
    qs = (queryset if queryset is not None else Household.objects.all()).select_related("area__level")
    ids = list(qs.values_list("pk", flat=True))
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            batch = Household.objects.select_related("area__level").filter(pk__in=ids[start:start + batch_size])
            for household in batch:
                changed += household_classify(actor=actor, household=household, rules=rules, averages=averages)
    return changed


HOUSEHOLD_FIELDS = ("address", "income_per_person", "safe_family_years", "house", "joint_defense_group")


def _household_problems(area: Area, fields: dict) -> dict[str, list[str]]:

    problems: dict[str, list[str]] = {}
    if "address" in fields and not (fields["address"] or "").strip():
        problems["address"] = [_("An address is required.")]
    if "safe_family_years" in fields and fields["safe_family_years"] is None:
        problems["safe_family_years"] = [_("Between 0 and 100 years.")]
    problems.update(_length_problems(Household, address=fields.get("address") or ""))
    income = fields.get("income_per_person")
    if income is not None and not (0 <= income < 10**8):
        problems["income_per_person"] = [_("The income lies between 0 and 99,999,999 yuan.")]
    years = fields.get("safe_family_years")
    if years is not None and not (0 <= years <= 100):
        problems["safe_family_years"] = [_("Between 0 and 100 years.")]
    group = fields.get("joint_defense_group")
    if group is not None and (group.kind != "joint_defense_group" or group.parent_id != area.pk):
        problems["joint_defense_group"] = [_("Choose a joint-defense group of this grid.")]
    house = fields.get("house")
    if house is not None and house.area_id != area.pk:
        problems["house"] = [_("Choose a house of this grid.")]
    return problems


@transaction.atomic
def household_create(*, actor, area: Area, number: str, address: str, income_per_person=None,
                     safe_family_years: int = 0, house: House | None = None, joint_defense_group: Area | None = None):

    require(actor, Perm.RESIDENT_CHANGE, area)
    _grid(area)
    number = (number or "").strip()
    fields = {"address": address, "income_per_person": income_per_person, "safe_family_years": safe_family_years,
              "house": house, "joint_defense_group": joint_defense_group}
    problems = _household_problems(area, fields)
    if not number:
        problems["number"] = [_("A household number is required.")]
    elif Household.objects.filter(number=number).exists():
        problems["number"] = [_("This household number is taken.")]
    problems.update(_length_problems(Household, number=number))
    _refuse(problems, RegistryErrorCode.INVALID_HOUSEHOLD)
    # No colour until the first evaluation, which is then recorded as the first change of its history.
    household = Household.objects.create(area=area, number=number, address=address.strip(),
                                         income_per_person=income_per_person, safe_family_years=safe_family_years,
                                         house=house, joint_defense_group=joint_defense_group, household_class="")
    household_classify(actor=actor, household=household)
    audit.record(actor=actor, action="household.create", obj=household, area_path=area.path)
    return household


@transaction.atomic
def household_update(*, actor, household, **changes):
    """Changes a household's data, then re-evaluates its colour."""

    household = Household.objects.select_for_update().select_related("area__level").get(pk=household.pk)
    require(actor, Perm.RESIDENT_CHANGE, household.area)
    unknown = set(changes) - set(HOUSEHOLD_FIELDS)
    if unknown:
        raise ApplicationError(RegistryErrorCode.INVALID_HOUSEHOLD, f"Cannot change {', '.join(sorted(unknown))}.")
    _refuse(_household_problems(household.area, changes), RegistryErrorCode.INVALID_HOUSEHOLD)
    changed = [f for f, v in changes.items() if getattr(household, f) != v]
    for field in changed:
        setattr(household, field, changes[field].strip() if field == "address" else changes[field])
    if changed:
        household.updated_at = timezone.now()
        household.save()
        audit.record(actor=actor, action="household.update", obj=household, area_path=household.area.path,
                     data={"fields": changed})
    household_classify(actor=actor, household=household)
    return household


@transaction.atomic
def household_override(*, actor, household, colour: str, reason: str, until: dt.date):
    """A manual colour with a reason and an expiry date; after it the rules decide again."""

    household = Household.objects.select_for_update().select_related("area__level").get(pk=household.pk)
    require(actor, Perm.RESIDENT_CHANGE, household.area)
    reason = (reason or "").strip()
    problems: dict[str, list[str]] = {}
    if colour not in HouseholdClass.values:
        problems["colour"] = [_("Choose green, yellow or red.")]
    if not reason:
        problems["reason"] = [_("A manual colour needs a reason.")]
    problems.update(_length_problems(Household, override_reason=reason))
    if until is None or until < timezone.localdate():
        problems["until"] = [_("A manual colour needs an expiry date from today on.")]
    _refuse(problems, RegistryErrorCode.INVALID_CLASS)
    household.override_class, household.override_reason, household.override_until = colour, reason, until
    household.save(update_fields=["override_class", "override_reason", "override_until"])
    audit.record(actor=actor, action="household.override", obj=household, area_path=household.area.path,
                 data={"colour": colour, "reason": reason, "until": str(until)})
    household_classify(actor=actor, household=household)
    return household


@transaction.atomic
def household_helper_add(*, actor, household, name: str, kind: str, phone: str = "", duty: str = ""):
    """一连一 / 一连多: pairs a named helper with a household, with a contact duty."""

    require(actor, Perm.RESIDENT_CHANGE, household.area)
    name = (name or "").strip()
    problems = {} if name else {"name": [_("A name is required.")]}
    if kind not in HelperKind.values:
        problems["kind"] = [_("Unknown kind.")]
    problems.update(_length_problems(HouseholdHelper, name=name, phone=phone, duty=duty))
    _refuse(problems, RegistryErrorCode.INVALID_HOUSEHOLD)
    helper = HouseholdHelper.objects.create(household=household, name=name, kind=kind, phone=phone.strip(),
                                            duty=duty.strip())
    audit.record(actor=actor, action="household.helper_add", obj=household, area_path=household.area.path,
                 data={"helper": name, "kind": kind})
    return helper


# --- the tag dictionary --------------------------------------------------------------------------


def _require_superuser(actor, what: str) -> None:
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied(f"Only a system administrator edits {what}.")


@transaction.atomic
def tag_create(*, actor, code: str, name: str, group: str, sensitive: bool = False, order: int = 100) -> Tag:
    from gridgov.registry.models import TagGroup

    _require_superuser(actor, "the tag dictionary")
    code, name = (code or "").strip(), (name or "").strip()
    problems: dict[str, list[str]] = {}
    if not code or not code.replace("_", "").isalnum() or not code.isascii():
        problems["code"] = [_("Use letters, digits and underscores.")]
    elif Tag.objects.filter(code=code).exists():
        problems["code"] = [_("This code is taken.")]
    if not name:
        problems["name"] = [_("A name is required.")]
    elif Tag.objects.filter(name=name).exists():
        problems["name"] = [_("This name is taken.")]
    problems.update(_length_problems(Tag, code=code, name=name))
    if group not in TagGroup.values:
        problems["group"] = [_("Unknown group.")]
    if not 0 <= order <= 32767:
        problems["order"] = [_("Between 0 and 32767.")]
    _refuse(problems, RegistryErrorCode.INVALID_TAG)
    tag = Tag.objects.create(code=code, name=name, group=group, sensitive=sensitive, order=order)
    audit.record(actor=actor, action="tag.create", obj=tag, data={"code": code, "sensitive": sensitive})
    return tag


@transaction.atomic
def tag_update(*, actor, tag: Tag, name: str | None = None, sensitive: bool | None = None,
               active: bool | None = None, order: int | None = None) -> Tag:
    """Renames, (de)activates or reorders a tag, or changes who may see it. Codes never change."""
    _require_superuser(actor, "the tag dictionary")
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    changes = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 40 or Tag.objects.filter(name=name).exclude(pk=tag.pk).exists():
            raise ApplicationError(RegistryErrorCode.INVALID_TAG, _("The name is empty, too long or taken."),
                                   fields={"name": ["invalid"]})
        changes["name"] = name
    if order is not None and not 0 <= order <= 32767:
        raise ApplicationError(RegistryErrorCode.INVALID_TAG, _("Between 0 and 32767."), fields={"order": ["range"]})
    for field, value in (("sensitive", sensitive), ("active", active), ("order", order)):
        if value is not None:
            changes[field] = value
    changes = {f: v for f, v in changes.items() if getattr(tag, f) != v}
    if changes:
        for field, value in changes.items():
            setattr(tag, field, value)
        tag.save()
        audit.record(actor=actor, action="tag.update", obj=tag, data={k: str(v) for k, v in changes.items()})
    return tag
