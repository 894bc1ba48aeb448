import datetime as dt
from decimal import Decimal

from ninja import Field, Schema


class TagOut(Schema):
    code: str
    name: str
    group: str
    sensitive: bool
    active: bool
    order: int


class TagCreateIn(Schema):
    code: str
    name: str
    group: str = "other"
    sensitive: bool = False
    order: int = 100


class TagUpdateIn(Schema):
    name: str | None = None
    sensitive: bool | None = None
    active: bool | None = None
    order: int | None = None


class RuleSetIn(Schema):
    name: str
    rules: list[dict]


class RuleSetOut(Schema):
    name: str
    rules: list[dict]


class PersonTagOut(Schema):
    id: int
    tag: str = Field(..., alias="tag.code")
    tag_name: str = Field(..., alias="tag.name")
    start_date: dt.date
    end_date: dt.date | None
    source: str
    note: str


class PersonOut(Schema):
    """A person as lists and pages show them: ID number and phone masked."""

    id: int
    name: str
    id_type: str
    id_number: str = Field(..., alias="id_number_masked")
    phone: str = Field(..., alias="phone_masked")
    birth_date: dt.date | None
    sex: str
    ethnicity: str
    education: str
    political_status: str
    residence_type: str
    grid_code: str = Field(..., alias="area.code")
    grid_name: str = Field(..., alias="area.name")
    household_id: int | None
    relation: str
    house_id: int | None
    alive: bool
    moved_out: bool


class EventOut(Schema):
    kind: str
    date: dt.date
    at: dt.datetime
    actor_name: str
    data: dict


class PersonDetail(PersonOut):
    tags: list[PersonTagOut] = Field(..., alias="tag_list")
    timeline: list[EventOut]


class PersonCreateIn(Schema):
    name: str
    grid_code: str
    id_type: str = "citizen"
    id_number: str = ""
    phone: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    ethnicity: str = ""
    education: str = ""
    political_status: str = ""
    residence_type: str = "registered"
    household_id: int | None = None
    relation: str = ""
    house_id: int | None = None


class PersonUpdateIn(Schema):
    name: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None
    ethnicity: str | None = None
    education: str | None = None
    political_status: str | None = None
    residence_type: str | None = None


class LifeEventIn(Schema):
    kind: str
    date: dt.date | None = None
    note: str = ""


class GridIn(Schema):
    grid_code: str


class MembershipIn(Schema):
    household_id: int
    relation: str


class PersonTagIn(Schema):
    tag: str
    start_date: dt.date | None = None
    source: str = ""
    note: str = ""


class EndIn(Schema):
    end_date: dt.date | None = None


class RevealIn(Schema):
    field: str


class RevealOut(Schema):
    field: str
    value: str


class HouseholdOut(Schema):
    id: int
    number: str
    address: str
    grid_code: str = Field(..., alias="area.code")
    grid_name: str = Field(..., alias="area.name")
    head_name: str | None = Field(None, alias="head.name")
    member_count: int | None = None
    income_per_person: Decimal | None
    safe_family_years: int
    household_class: str
    class_reasons: list[str]
    override_class: str
    override_until: dt.date | None


class HelperOut(Schema):
    id: int
    name: str
    kind: str
    phone: str
    duty: str


class ClassChangeOut(Schema):
    from_class: str
    to_class: str
    reasons: list[str]
    manual: bool
    at: dt.datetime
    actor_name: str


class HouseholdDetail(HouseholdOut):
    members: list[PersonOut] = Field(..., alias="member_list")
    helpers: list[HelperOut] = Field(..., alias="helper_list")
    history: list[ClassChangeOut] = Field(..., alias="history_list")


class HouseholdCreateIn(Schema):
    grid_code: str
    number: str
    address: str
    income_per_person: Decimal | None = None
    safe_family_years: int = 0
    house_id: int | None = None


class HouseholdUpdateIn(Schema):
    address: str | None = None
    income_per_person: Decimal | None = None
    safe_family_years: int | None = None


class OverrideIn(Schema):
    colour: str
    reason: str
    until: dt.date


class HelperIn(Schema):
    name: str
    kind: str
    phone: str = ""
    duty: str = ""


class ClassCountsOut(Schema):
    green: int
    yellow: int
    red: int


class HouseOut(Schema):
    id: int
    address: str
    grid_code: str = Field(..., alias="area.code")
    house_type: str
    owner_name: str
    use: str
    lng: float | None
    lat: float | None


class HouseCreateIn(Schema):
    grid_code: str
    address: str
    house_type: str = "brick"
    owner_name: str = ""
    use: str = "self_used"
    lng: float | None = None
    lat: float | None = None


class PlaceOut(Schema):
    id: int
    name: str
    place_type: str
    grid_code: str = Field(..., alias="area.code")
    address: str
    contact_name: str
    contact_phone: str
    credit_code: str


class PlaceCreateIn(Schema):
    grid_code: str
    name: str
    place_type: str
    address: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    credit_code: str = ""
