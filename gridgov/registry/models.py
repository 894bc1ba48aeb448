"""The resident registry (人、户、房、场所): persons, households, houses, places, tags, and their history.

ID numbers and phones are stored sealed (gridgov.core.crypto) with a keyed hash beside them for exact
search, and a masked form for lists. Every change is an event row (PersonEvent, HouseholdClassChange).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.areas.models import Area


class TagGroup(models.TextChoices):
    SPECIAL = "special", _("special population (GB/T 31000)")
    CARE = "care", _("care group")
    OTHER = "other", _("other")


class Tag(models.Model):
    """An entry of the editable tag dictionary (特殊人群 / 关爱对象)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=40, unique=True)
    group = models.CharField(_("group"), max_length=16, choices=TagGroup.choices, default=TagGroup.OTHER)
    sensitive = models.BooleanField(
        _("sensitive"), default=False, help_text=_("Seen only by roles that need it (e.g. drug use, correction).")
    )
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class HouseType(models.TextChoices):
    BRICK = "brick", _("brick-concrete")
    FRAME = "frame", _("frame / high-rise")
    EARTH_WOOD = "earth_wood", _("earth-wood")
    OTHER = "other", _("other")


class HouseUse(models.TextChoices):
    SELF_USED = "self_used", _("self-used")
    RENTED = "rented", _("rented out (出租房)")
    VACANT = "vacant", _("vacant")


class House(models.Model):
    address = models.CharField(_("address"), max_length=200)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="houses", verbose_name=_("grid"))
    house_type = models.CharField(_("type"), max_length=16, choices=HouseType.choices, default=HouseType.BRICK)
    owner_name = models.CharField(_("owner"), max_length=50, blank=True)
    use = models.CharField(_("use"), max_length=16, choices=HouseUse.choices, default=HouseUse.SELF_USED)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address", "pk"]
        verbose_name = _("house")
        verbose_name_plural = _("houses")

    def __str__(self) -> str:
        return self.address


class HouseholdClass(models.TextChoices):
    GREEN = "green", _("green · 放心户")
    YELLOW = "yellow", _("yellow · 关心户")
    RED = "red", _("red · 连心户")


class Household(models.Model):
    number = models.CharField(_("household number"), max_length=32, unique=True)
    address = models.CharField(_("address"), max_length=200)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="households", verbose_name=_("grid"))
    joint_defense_group = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="member_households",
        verbose_name=_("joint-defense group"),
    )
    house = models.ForeignKey(House, null=True, blank=True, on_delete=models.PROTECT, related_name="households",
                              verbose_name=_("house"))
    head = models.ForeignKey("Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             verbose_name=_("head"))
    income_per_person = models.DecimalField(_("yearly income per person (yuan)"), max_digits=10, decimal_places=2,
                                            null=True, blank=True)
    safe_family_years = models.PositiveSmallIntegerField(_("years as 平安家庭"), default=0)
    household_class = models.CharField(_("colour"), max_length=8, choices=HouseholdClass.choices,
                                       default=HouseholdClass.GREEN, db_index=True)
    class_reasons = models.JSONField(_("reasons for the colour"), default=list, blank=True)
    override_class = models.CharField(_("manual colour"), max_length=8, choices=HouseholdClass.choices, blank=True)
    override_reason = models.CharField(_("reason for the manual colour"), max_length=200, blank=True)
    override_until = models.DateField(_("manual colour until"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        verbose_name = _("household")
        verbose_name_plural = _("households")
        indexes = [models.Index(fields=["area", "household_class"], name="household_area_class")]

    def __str__(self) -> str:
        return f"{self.number} {self.address}"

    @property
    def override_active(self) -> bool:
        return bool(self.override_class and self.override_until and self.override_until >= timezone.localdate())


class IdType(models.TextChoices):
    CITIZEN = "citizen", _("resident ID card")
    PASSPORT = "passport", _("passport")
    HK_MACAO = "hk_macao", _("Hong Kong / Macao resident permit")
    TAIWAN = "taiwan", _("Taiwan resident permit")
    FOREIGN_PERMANENT = "foreign_permanent", _("foreigner's permanent residence ID")


class ResidenceType(models.TextChoices):
    REGISTERED = "registered", _("registered (户籍)")
    FLOATING = "floating", _("floating (流动)")
    TEMPORARY = "temporary", _("temporary (暂住)")
    OVERSEAS = "overseas", _("overseas (境外)")


class Sex(models.TextChoices):
    MALE = "M", _("male")
    FEMALE = "F", _("female")


class Relation(models.TextChoices):
    HEAD = "head", _("head")
    SPOUSE = "spouse", _("spouse")
    CHILD = "child", _("child")
    PARENT = "parent", _("parent")
    GRANDCHILD = "grandchild", _("grandchild")
    GRANDPARENT = "grandparent", _("grandparent")
    SIBLING = "sibling", _("sibling")
    CHILD_IN_LAW = "child_in_law", _("son- or daughter-in-law")
    OTHER = "other", _("other")


class Person(models.Model):
    name = models.CharField(_("name"), max_length=50, db_index=True)
    id_type = models.CharField(_("ID type"), max_length=20, choices=IdType.choices, default=IdType.CITIZEN)
    id_number_sealed = models.TextField(_("ID number (sealed)"), blank=True)
    id_number_hash = models.CharField(max_length=64, blank=True)
    id_number_masked = models.CharField(_("ID number"), max_length=32, blank=True)
    phone_sealed = models.TextField(_("phone (sealed)"), blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=32, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    ethnicity = models.CharField(_("ethnicity"), max_length=20, blank=True)
    education = models.CharField(_("education"), max_length=20, blank=True)
    political_status = models.CharField(_("political status"), max_length=20, blank=True)
    residence_type = models.CharField(_("residence type"), max_length=16, choices=ResidenceType.choices,
                                      default=ResidenceType.REGISTERED)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="persons", verbose_name=_("grid"))
    household = models.ForeignKey(Household, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="members", verbose_name=_("household"))
    relation = models.CharField(_("relation to the head"), max_length=16, choices=Relation.choices, blank=True)
    house = models.ForeignKey(House, null=True, blank=True, on_delete=models.SET_NULL, related_name="residents",
                              verbose_name=_("house"))
    alive = models.BooleanField(_("alive"), default=True)
    moved_out = models.BooleanField(_("moved out"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        constraints = [
            models.UniqueConstraint(fields=["id_number_hash"], condition=~Q(id_number_hash=""),
                                    name="person_unique_id_number"),
        ]
        indexes = [models.Index(fields=["area", "name"], name="person_area_name")]

    def __str__(self) -> str:
        return f"{self.name} {self.id_number_masked}".strip()


class HouseholdMembership(models.Model):
    """Who belonged to which household, in which relation, from when until when (history)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="memberships")
    relation = models.CharField(_("relation to the head"), max_length=16, choices=Relation.choices)
    start_date = models.DateField(_("from"), default=timezone.localdate)
    end_date = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        ordering = ["-start_date", "-pk"]

    def __str__(self) -> str:
        return f"{self.person_id} in {self.household_id} ({self.relation})"


class PersonTag(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="person_tags")
    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="person_tags", verbose_name=_("tag"))
    start_date = models.DateField(_("from"), default=timezone.localdate)
    end_date = models.DateField(_("until"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=50, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["tag__order", "-start_date"]
        indexes = [models.Index(fields=["tag", "end_date"], name="persontag_tag_end")]

    def __str__(self) -> str:
        return f"{self.person_id} {self.tag}"

    def is_active_on(self, day) -> bool:
        return self.start_date <= day and (self.end_date is None or day < self.end_date)


class EventKind(models.TextChoices):
    REGISTERED = "registered", _("registered")
    UPDATED = "updated", _("updated")
    MOVE_IN = "move_in", _("moved in (迁入)")
    MOVE_OUT = "move_out", _("moved out (迁出)")
    BIRTH = "birth", _("birth")
    DEATH = "death", _("death")
    GRID_CHANGE = "grid_change", _("change of grid")
    HOUSEHOLD_CHANGE = "household_change", _("change of household")
    TAG_ADDED = "tag_added", _("tag added")
    TAG_ENDED = "tag_ended", _("tag ended")
    IMPORTED = "imported", _("imported")


class PersonEvent(models.Model):
    """One entry of a person's timeline (一人一档). Append-only."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=EventKind.choices)
    date = models.DateField(_("date"), default=timezone.localdate)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.person_id} {self.kind} {self.date}"


class HouseholdClassChange(models.Model):
    """Every colour change of a household, with its reasons. Append-only."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="class_changes")
    from_class = models.CharField(max_length=8, choices=HouseholdClass.choices, blank=True)
    to_class = models.CharField(max_length=8, choices=HouseholdClass.choices)
    reasons = models.JSONField(default=list)
    manual = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now)
    actor_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.household_id} {self.from_class}→{self.to_class}"


class HelperKind(models.TextChoices):
    PARTY_MEMBER = "party_member", _("party member")
    DEPUTY = "deputy", _("people's deputy")
    GRID_WORKER = "grid_worker", _("grid worker")
    CADRE = "cadre", _("cadre")
    OTHER = "other", _("other")


class HouseholdHelper(models.Model):
    """一连一 / 一连多: a named helper paired with a (red) household, with a contact duty."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="helpers")
    name = models.CharField(_("name"), max_length=50)
    kind = models.CharField(_("kind"), max_length=16, choices=HelperKind.choices)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    duty = models.CharField(_("contact duty"), max_length=100, blank=True)
    start_date = models.DateField(_("from"), default=timezone.localdate)
    end_date = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        ordering = ["start_date", "pk"]

    def __str__(self) -> str:
        return f"{self.name} → {self.household_id}"


class PlaceType(models.TextChoices):
    NINE_SMALL = "nine_small", _("nine small places (九小场所)")
    ENTERPRISE = "enterprise", _("enterprise")
    SCHOOL = "school", _("school")
    HOSPITAL = "hospital", _("hospital")
    RELIGIOUS_SITE = "religious_site", _("religious site")
    MARKET = "market", _("market")
    OTHER = "other", _("other")


class Place(models.Model):
    name = models.CharField(_("name"), max_length=100)
    place_type = models.CharField(_("type"), max_length=16, choices=PlaceType.choices)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="places", verbose_name=_("grid"))
    address = models.CharField(_("address"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("place")
        verbose_name_plural = _("places")

    def __str__(self) -> str:
        return self.name


class ClassRuleSet(models.Model):
    """The deployment's household classification rules (三色), as data; the newest row is in force.

    ``rules`` is a list of {"colour", "reason", "when": [condition, …]} checked red first, then yellow;
    a household matching no rule is green. See gridgov/registry/classification.py for the conditions.
    """

    name = models.CharField(_("name"), max_length=50)
    rules = models.JSONField(_("rules"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("classification rule set")
        verbose_name_plural = _("classification rule sets")

    def __str__(self) -> str:
        return self.name


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    REFUSED = "refused", _("refused: nothing imported")
    FAILED = "failed", _("failed")


class ImportJob(models.Model):
    """An upload of residents being validated and imported in the background, with its progress."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    file_name = models.CharField(max_length=255)
    stored_path = models.CharField(max_length=500)
    dry_run = models.BooleanField(default=False)
    skip_invalid = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    imported_rows = models.PositiveIntegerField(default=0)
    error_rows = models.PositiveIntegerField(default=0)
    report_path = models.CharField(max_length=500, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"
