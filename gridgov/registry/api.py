"""API of the resident registry: persons, households, houses, places, tags. Thin: parse, call, return."""


from ninja import Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm
from gridgov.core.errors import ApplicationError, ErrorCode, NotFound
from gridgov.core.pagination import Pagination
from gridgov.registry import selectors, services
from gridgov.registry.schemas import (
    ClassCountsOut,
    EndIn,
    GridIn,
    HelperIn,
    HelperOut,
    HouseCreateIn,
    HouseholdCreateIn,
    HouseholdDetail,
    HouseholdOut,
    HouseholdUpdateIn,
    HouseOut,
    LifeEventIn,
    MembershipIn,
    OverrideIn,
    PersonCreateIn,
    PersonDetail,
    PersonOut,
    PersonTagIn,
    PersonTagOut,
    PersonUpdateIn,
    PlaceCreateIn,
    PlaceOut,
    RevealIn,
    RevealOut,
    RuleSetIn,
    RuleSetOut,
    TagCreateIn,
    TagOut,
    TagUpdateIn,
)

router = Router(tags=["registry"])


def _area(request, code: str | None):
    return area_selectors.area_get(actor=request.user, code=code, perm=Perm.RESIDENT_VIEW) if code else None


def _person_detail(request, person):
    person.tag_list = list(selectors.person_tags(actor=request.user, person=person))
    person.timeline = selectors.person_timeline(actor=request.user, person=person)
    return person


class PersonQuery(Schema):
    area: str | None = None
    name: str = ""
    id_number: str = ""
    id_type: str = "citizen"
    tag: str = ""
    residence_type: str = ""
    colour: str = ""
    include_inactive: bool = False


@router.get("/tags", response=list[TagOut], summary="The tag dictionary (sensitive tags only for those who may)")
def tags(request):
    return selectors.visible_tags(actor=request.user)


@router.post("/tags", response={201: TagOut}, summary="Add a tag to the dictionary (system administrator)")
def create_tag(request, payload: TagCreateIn):
    return Status(201, services.tag_create(actor=request.user, **payload.dict()))


@router.patch("/tags/{code}", response=TagOut, summary="Rename, (de)activate or reorder a tag (system administrator)")
def update_tag(request, code: str, payload: TagUpdateIn):
    tag = selectors.visible_tags(actor=request.user).filter(code=code).first()
    if tag is None:
        raise NotFound("No such tag.")
    return services.tag_update(actor=request.user, tag=tag, **payload.dict(exclude_unset=True))


@router.get("/household-rules", response=RuleSetOut, summary="The classification rules (三色) in force")
def get_rules(request):
    return {"name": selectors.rules_in_force_name(), "rules": services.active_rules()}


@router.post("/household-rules", response={201: RuleSetOut}, summary="Put new classification rules in force")
def set_rules(request, payload: RuleSetIn):
    rule_set = services.rules_set(actor=request.user, name=payload.name, rules=payload.rules)
    return Status(201, {"name": rule_set.name, "rules": rule_set.rules})


@router.get("/persons", response=list[PersonOut], summary="Persons in my scope, filtered; ID numbers masked")
@paginate(Pagination, page_size=50)
def list_persons(request, q: Query[PersonQuery]):
    filters = selectors.PersonFilters(
        area=_area(request, q.area), name_prefix=q.name, id_number=q.id_number, id_type=q.id_type, tag=q.tag,
        residence_type=q.residence_type, household_class=q.colour, include_inactive=q.include_inactive,
    )
    return selectors.person_list(actor=request.user, filters=filters)


@router.post("/persons", response={201: PersonOut}, summary="Register a person")
def create_person(request, payload: PersonCreateIn):
    area = _area(request, payload.grid_code)
    data = payload.dict(exclude={"grid_code", "household_id", "house_id"})
    household = selectors.household_get(actor=request.user, pk=payload.household_id) if payload.household_id else None
    house = selectors.house_get(actor=request.user, pk=payload.house_id) if payload.house_id else None
    person = services.person_create(actor=request.user, area=area, household=household, house=house, **data)
    return Status(201, selectors.person_get(actor=request.user, pk=person.pk))


@router.get("/persons/{person_id}", response=PersonDetail, summary="One person with tags and timeline (一人一档)")
def get_person(request, person_id: int):
    return _person_detail(request, selectors.person_get(actor=request.user, pk=person_id))


@router.patch("/persons/{person_id}", response=PersonOut)
def update_person(request, person_id: int, payload: PersonUpdateIn):
    person = selectors.person_get(actor=request.user, pk=person_id)
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}  # null: unchanged
    services.person_update(actor=request.user, person=person, **changes)
    return selectors.person_get(actor=request.user, pk=person_id)


@router.post("/persons/{person_id}/events", response=PersonOut, summary="Move out (迁出), move in (迁入), death")
def life_event(request, person_id: int, payload: LifeEventIn):
    person = selectors.person_get(actor=request.user, pk=person_id)
    services.person_life_event(actor=request.user, person=person, kind=payload.kind, date=payload.date,
                               note=payload.note)
    return selectors.person_get(actor=request.user, pk=person_id)


@router.post("/persons/{person_id}/grid", response=PersonOut, summary="Move a person to another grid")
def move_grid(request, person_id: int, payload: GridIn):
    person = selectors.person_get(actor=request.user, pk=person_id)
    services.person_move_grid(actor=request.user, person=person, area=_area(request, payload.grid_code))
    return selectors.person_get(actor=request.user, pk=person_id)


@router.post("/persons/{person_id}/household", response=PersonOut, summary="Put a person in a household")
def set_household(request, person_id: int, payload: MembershipIn):
    person = selectors.person_get(actor=request.user, pk=person_id)
    household = selectors.household_get(actor=request.user, pk=payload.household_id)
    services.membership_start(actor=request.user, person=person, household=household, relation=payload.relation)
    return selectors.person_get(actor=request.user, pk=person_id)


@router.post("/persons/{person_id}/tags", response={201: PersonTagOut}, summary="Tag a person")
def add_tag(request, person_id: int, payload: PersonTagIn):
    person = selectors.person_get(actor=request.user, pk=person_id)
    tag = selectors.visible_tags(actor=request.user, area=person.area).filter(code=payload.tag).first()
    if tag is None:
        raise ApplicationError(ErrorCode.INVALID_INPUT, "Unknown tag.", fields={"tag": ["unknown"]})
    return Status(201, services.person_tag_add(actor=request.user, person=person, tag=tag,
                                               start_date=payload.start_date, source=payload.source, note=payload.note))


@router.post("/persons/{person_id}/tags/{person_tag_id}/end", response=PersonTagOut, summary="End a tag")
def end_tag(request, person_id: int, person_tag_id: int, payload: EndIn):
    person = selectors.person_get(actor=request.user, pk=person_id)
    person_tag = selectors.person_tags(actor=request.user, person=person).filter(pk=person_tag_id).first()
    if person_tag is None:
        raise NotFound("No such tag.")
    return services.person_tag_end(actor=request.user, person_tag=person_tag, end_date=payload.end_date)


@router.post("/persons/{person_id}/reveal", response=RevealOut, summary="The full ID number or phone (audited)")
def reveal(request, person_id: int, payload: RevealIn):
    person = selectors.person_get(actor=request.user, pk=person_id)
    return {"field": payload.field,
            "value": services.person_reveal(actor=request.user, person=person, field=payload.field)}


class HouseholdQuery(Schema):
    area: str | None = None
    colour: str = ""
    number: str = ""


@router.get("/households", response=list[HouseholdOut], summary="Households in my scope, by colour")
@paginate(Pagination, page_size=50)
def list_households(request, q: Query[HouseholdQuery]):
    return selectors.household_list(actor=request.user, area=_area(request, q.area), household_class=q.colour,
                                    number_prefix=q.number)


@router.get("/households/counts", response=ClassCountsOut, summary="Households per colour under an area")
def household_counts(request, area: str | None = None):
    return selectors.household_class_counts(actor=request.user, area=_area(request, area))


@router.post("/households", response={201: HouseholdOut}, summary="Create a household")
def create_household(request, payload: HouseholdCreateIn):
    house = selectors.house_get(actor=request.user, pk=payload.house_id) if payload.house_id else None
    household = services.household_create(
        actor=request.user, area=_area(request, payload.grid_code), number=payload.number, address=payload.address,
        income_per_person=payload.income_per_person, safe_family_years=payload.safe_family_years, house=house,
    )
    return Status(201, selectors.household_get(actor=request.user, pk=household.pk))


def _household_detail(request, household):
    household.member_list = list(selectors.household_members(actor=request.user, household=household))
    household.helper_list = list(household.helpers.filter(end_date__isnull=True))
    household.history_list = list(selectors.household_history(household=household))
    return household


@router.get("/households/{household_id}", response=HouseholdDetail, summary="One household (一户一档)")
def get_household(request, household_id: int):
    return _household_detail(request, selectors.household_get(actor=request.user, pk=household_id))


@router.patch("/households/{household_id}", response=HouseholdOut)
def update_household(request, household_id: int, payload: HouseholdUpdateIn):
    household = selectors.household_get(actor=request.user, pk=household_id)
    services.household_update(actor=request.user, household=household, **payload.dict(exclude_unset=True))
    return selectors.household_get(actor=request.user, pk=household_id)


@router.post("/households/{household_id}/override", response=HouseholdOut,
             summary="A manual colour with a reason and an expiry date")
def override(request, household_id: int, payload: OverrideIn):
    household = selectors.household_get(actor=request.user, pk=household_id)
    services.household_override(actor=request.user, household=household, colour=payload.colour,
                                reason=payload.reason, until=payload.until)
    return selectors.household_get(actor=request.user, pk=household_id)


@router.post("/households/{household_id}/helpers", response={201: HelperOut}, summary="一连一 / 一连多 helper")
def add_helper(request, household_id: int, payload: HelperIn):
    household = selectors.household_get(actor=request.user, pk=household_id)
    return Status(201, services.household_helper_add(actor=request.user, household=household, **payload.dict()))


@router.get("/houses", response=list[HouseOut])
@paginate(Pagination, page_size=50)
def list_houses(request, area: str | None = None):
    return selectors.house_list(actor=request.user, area=_area(request, area))


@router.post("/houses", response={201: HouseOut})
def create_house(request, payload: HouseCreateIn):
    house = services.house_create(actor=request.user, area=_area(request, payload.grid_code),
                                  **payload.dict(exclude={"grid_code"}))
    return Status(201, house)


@router.get("/houses/{house_id}", response=HouseOut)
def get_house(request, house_id: int):
    return selectors.house_get(actor=request.user, pk=house_id)


@router.get("/places", response=list[PlaceOut])
@paginate(Pagination, page_size=50)
def list_places(request, area: str | None = None, place_type: str = ""):
    return selectors.place_list(actor=request.user, area=_area(request, area), place_type=place_type)


@router.post("/places", response={201: PlaceOut})
def create_place(request, payload: PlaceCreateIn):
    place = services.place_create(actor=request.user, area=_area(request, payload.grid_code),
                                  **payload.dict(exclude={"grid_code"}))
    return Status(201, place)


@router.get("/places/{place_id}", response=PlaceOut)
def get_place(request, place_id: int):
    return selectors.place_get(actor=request.user, pk=place_id)


