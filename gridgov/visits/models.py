"""Visits (走访): the visit rules in force (VisitPolicy) and the visit records, append-only.

A visit is never edited or deleted. A correction is a new record that names the one it corrects
(``corrects``); the corrected record gets, once, a pointer to its correction (``superseded_by``) so that the
lists and statistics can skip it without a join. Everything it recorded stays as it was.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.areas.models import Area


class VisitPolicy(models.Model):
    """The deployment's visit rules (走访规则), as data; the newest row is in force.

    ``rules`` is a list of {"duty", "every_days", "reason", "when"}; see gridgov/visits/policy.py.
    """

    name = models.CharField(_("name"), max_length=60)
    preset = models.CharField(_("preset"), max_length=16, blank=True)
    rules = models.JSONField(_("rules"))
    onsite_hours = models.PositiveSmallIntegerField(_("on-site visit due within (hours)"), default=24)
    far_metres = models.PositiveIntegerField(_("flag a visit farther from the house than (m)"), default=300)
    created_at = models.DateTimeField(_("in force since"), default=timezone.now)
    actor_name = models.CharField(_("set by"), max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("visit policy")
        verbose_name_plural = _("visit policies")

    def __str__(self) -> str:
        return self.name


class VisitKind(models.TextChoices):
    ROUTINE = "routine", _("routine visit")
    ONSITE = "onsite", _("compulsory on-site visit (五必到)")
    MONITORING = "monitoring", _("relapse monitoring visit")
    EVACUATION = "evacuation", _("evacuation")
    PHONE = "phone", _("phone contact")


class Finding(models.TextChoices):
    """The checklist of a visit: each item ticked is a problem found."""

    FOOD_CLOTHING = "food_clothing", _("food or clothing insecure (两不愁)")
    EDUCATION = "education", _("compulsory education at risk")
    MEDICAL = "medical", _("basic medical care not secured")
    HOUSING = "housing", _("housing unsafe")
    DRINKING_WATER = "drinking_water", _("drinking water unsafe")
    SAFETY_HAZARD = "safety_hazard", _("safety hazard")
    DISPUTE = "dispute", _("dispute")


class CoordinateSystem(models.TextChoices):
    WGS84 = "wgs84", _("WGS-84 (GPS)")
    GCJ02 = "gcj02", _("GCJ-02 (Chinese phone maps)")


class VisitQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if set(kwargs) != {"superseded_by"}:
            raise ValueError("Visits are append-only: only the pointer to a correction is ever written.")
        return super().update(**kwargs)

    def delete(self):
        raise ValueError("Visits are never deleted.")

    def effective(self):
        """The records that count: neither corrected by a later record nor a withdrawal."""
        return self.filter(superseded_by__isnull=True, withdrawn=False)


class Visit(models.Model):
    uuid = models.UUIDField(_("client ID"), unique=True)
    fingerprint = models.CharField(max_length=64)  # of the payload, to tell a retry from a reuse of the ID
    # The foreign keys that lead an index below get no index of their own; the visitor is not searched by.
    household = models.ForeignKey("registry.Household", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="visits", verbose_name=_("household"), db_index=False)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="visits", verbose_name=_("grid"),
                             db_index=False)
    kind = models.CharField(_("kind"), max_length=12, choices=VisitKind.choices, default=VisitKind.ROUTINE)
    visited_at = models.DateTimeField(_("time of the visit"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    visitor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("visitor"), db_index=False)
    visitor_name = models.CharField(_("visitor"), max_length=150, blank=True)
    companions = models.JSONField(_("companions"), default=list, blank=True)  # [{"name", "kind"}]
    with_helper = models.BooleanField(_("with a party member or deputy"), default=False)
    lng = models.FloatField(_("longitude (WGS-84)"), null=True, blank=True)
    lat = models.FloatField(_("latitude (WGS-84)"), null=True, blank=True)
    accuracy_m = models.PositiveIntegerField(_("location accuracy (m)"), null=True, blank=True)
    source_crs = models.CharField(_("coordinates as sent"), max_length=8, choices=CoordinateSystem.choices,
                                  blank=True)
    distance_m = models.PositiveIntegerField(_("distance from the house (m)"), null=True, blank=True)
    far_from_house = models.BooleanField(_("far from the house"), default=False)
    findings = models.JSONField(_("findings"), default=list, blank=True)
    note = models.TextField(_("note"), blank=True)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="visits",
                             verbose_name=_("case (五必到)"))
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="corrections", verbose_name=_("corrects"))
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                      verbose_name=_("corrected by"), db_index=False)  # followed, never searched
    withdrawn = models.BooleanField(_("withdrawn"), default=False,
                                    help_text=_("A correction saying the corrected visit did not take place."))

    objects = VisitQuerySet.as_manager()

    class Meta:
        ordering = ["-visited_at", "-pk"]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [
            models.Index(fields=["household", "visited_at"], name="visit_household_time"),
            # Completion statistics read only this index: the visits that count, by grid and time.
            models.Index(fields=["area", "visited_at", "household", "kind", "with_helper"],
                         condition=Q(superseded_by__isnull=True, withdrawn=False), name="visit_effective_area_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(household__isnull=False) | Q(case__isnull=False),
                                   name="visit_of_a_household_or_a_case"),
            models.CheckConstraint(condition=Q(withdrawn=False) | Q(corrects__isnull=False),
                                   name="visit_only_a_correction_withdraws"),
        ]

    def __str__(self) -> str:
        return f"{self.visited_at:%Y-%m-%d %H:%M} {self.visitor_name} {self.kind}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Visits are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Visits are never deleted.")

    @property
    def counts(self) -> bool:
        return self.superseded_by_id is None and not self.withdrawn


def photo_path(instance, filename: str) -> str:
    now = timezone.localtime()
    return f"visits/{now:%Y/%m}/{instance.visit.uuid}-{instance.sha256[:16]}.{instance.extension}"


class VisitPhoto(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="photos")
    file = models.FileField(upload_to=photo_path, max_length=200)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["visit", "sha256"], name="visit_photo_once")]

    def __str__(self) -> str:
        return self.file.name

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(self.content_type, "bin")


class FindingCase(models.Model):
    """A case opened from a finding of a visit (one per finding)."""

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="finding_cases")
    finding = models.CharField(max_length=16, choices=Finding.choices)
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["visit", "finding"], name="finding_case_once")]

    def __str__(self) -> str:
        return f"{self.visit_id} {self.finding} → {self.case_id}"
