"""The area tree (divisions, grids, dedicated grids, joint-defense groups) and the people on duty."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import PathField

PATH_STEP = 4  # characters of the materialized path per tree level (base 36: 1.6 million siblings)


class Rank(models.TextChoices):
    """Where a level sits against the statistical division code (GB/T 2260 + 统计用区划代码)."""

    PROVINCE = "province", _("province")
    CITY = "city", _("city")
    COUNTY = "county", _("county")
    TOWN = "town", _("town / street")
    VILLAGE = "village", _("village / community")
    BELOW_VILLAGE = "below_village", _("below village (group, grid, joint-defense group)")


# Significant digits of a 12-digit division code at each rank: 2 province + 2 city + 2 county
# + 3 town + 3 village.
RANK_DIGITS = {Rank.PROVINCE: 2, Rank.CITY: 4, Rank.COUNTY: 6, Rank.TOWN: 9, Rank.VILLAGE: 12}
DIVISION_RANKS = list(RANK_DIGITS)


class AreaLevel(models.Model):
    """A named level of the tree in this deployment, e.g. 县 → 镇办 → 村/社区 → 组 → 片."""

    depth = models.PositiveSmallIntegerField(_("depth"), unique=True)
    name = models.CharField(_("name"), max_length=32, unique=True)
    rank = models.CharField(_("rank"), max_length=16, choices=Rank.choices)
    code_width = models.PositiveSmallIntegerField(
        _("code sequence width"),
        null=True,
        blank=True,
        help_text=_("Digits this level adds to its parent's code (below the village level only)."),
    )

    class Meta:
        ordering = ["depth"]
        verbose_name = _("area level")
        verbose_name_plural = _("area levels")

    def __str__(self) -> str:
        return self.name

    @property
    def is_division(self) -> bool:
        return self.rank in RANK_DIGITS

    @property
    def sequence_width(self) -> int:
        return self.code_width or settings.AREA_SEQUENCE_WIDTH


class AreaKind(models.TextChoices):
    DIVISION = "division", _("division")
    GRID = "grid", _("basic grid")
    DEDICATED_GRID = "dedicated_grid", _("dedicated grid")
    JOINT_DEFENSE_GROUP = "joint_defense_group", _("joint-defense group")


GRID_KINDS = (AreaKind.GRID, AreaKind.DEDICATED_GRID)


class DedicatedType(models.TextChoices):
    SCHOOL = "school", _("school")
    HOSPITAL = "hospital", _("hospital")
    MARKET = "market", _("market")
    ENTERPRISE = "enterprise", _("enterprise")
    RELIGIOUS_SITE = "religious_site", _("religious site")
    OTHER = "other", _("other")


class Area(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    level = models.ForeignKey(AreaLevel, on_delete=models.PROTECT, related_name="areas", verbose_name=_("level"))
    kind = models.CharField(_("kind"), max_length=24, choices=AreaKind.choices, default=AreaKind.DIVISION)
    dedicated_type = models.CharField(
        _("dedicated grid type"), max_length=24, choices=DedicatedType.choices, blank=True
    )
    path = PathField(_("path"), max_length=255, unique=True)
    geometry = models.JSONField(_("boundary (GeoJSON)"), null=True, blank=True)
    min_lng = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_lng = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["path"]
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        indexes = [
            models.Index(fields=["parent", "path"], name="area_parent_path"),
            models.Index(fields=["min_lng", "max_lng", "min_lat", "max_lat"], name="area_bbox"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="dedicated_grid") | Q(dedicated_type=""), name="area_dedicated_type_only_on_dedicated"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def depth(self) -> int:
        """Position in the tree, 0 for a root (the level's depth may skip numbers in a ragged tree)."""
        return len(self.path) // PATH_STEP - 1

    @property
    def is_grid(self) -> bool:
        return self.kind in GRID_KINDS

    def ancestor_paths(self) -> list[str]:
        return [self.path[:i] for i in range(PATH_STEP, len(self.path), PATH_STEP)]


class Department(models.Model):
    """A functional department (职能部门) of an area, e.g. the county's 水务局."""

    name = models.CharField(_("name"), max_length=100)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="departments", verbose_name=_("area"))
    phone = models.CharField(_("duty phone"), max_length=32, blank=True)

    class Meta:
        ordering = ["area__path", "name"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [models.UniqueConstraint(fields=["area", "name"], name="department_unique_name_per_area")]

    def __str__(self) -> str:
        return self.name


class Employment(models.TextChoices):
    FULL_TIME = "full_time", _("full-time")
    PART_TIME = "part_time", _("part-time")


class Staff(models.Model):
    """A person working in the system: grid worker, centre operator, department handler …"""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("work phone"), max_length=32, blank=True)
    employment = models.CharField(
        _("employment"), max_length=16, choices=Employment.choices, default=Employment.PART_TIME
    )
    yearly_stipend = models.PositiveIntegerField(_("yearly stipend (yuan)"), default=0)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="handlers",
        verbose_name=_("department"),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    GRID_LEADER = "grid_leader", _("grid leader (网格长)")
    GRID_WORKER = "grid_worker", _("grid worker (网格员/片长)")
    GRID_POLICE = "grid_police", _("grid police officer (网格警)")
    GRID_DOCTOR = "grid_doctor", _("grid doctor (网格医)")
    GRID_INSTRUCTOR = "grid_instructor", _("grid instructor (网格指导员)")
    HOUSEHOLD_LEADER = "household_leader", _("household group leader (联户长)")
    SECURITY_HEAD = "security_head", _("security household head (治安户长)")
    SUPERVISOR = "supervisor", _("supervisor (监督员)")
    LEGAL_ADVISER = "legal_adviser", _("legal adviser (法律顾问)")
    CENTRE_OPERATOR = "centre_operator", _("command-centre operator (综治中心)")
    VILLAGE_STAFF = "village_staff", _("village / community staff (村/社区两委)")
    LEADER = "leader", _("leader (read only)")
    AREA_ADMIN = "area_admin", _("area administrator")


class Slot(models.TextChoices):
    A = "A", _("post A")
    B = "B", _("backup post B")


class Post(models.Model):
    """A role of a staff member on an area, from a start date until an optional (exclusive) end date."""

    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="posts", verbose_name=_("staff member"))
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="posts", verbose_name=_("area"))
    role = models.CharField(_("role"), max_length=24, choices=Role.choices)
    slot = models.CharField(_("slot"), max_length=1, choices=Slot.choices, blank=True)
    start_date = models.DateField(_("start date"), default=timezone.localdate)
    end_date = models.DateField(_("end date"), null=True, blank=True)

    class Meta:
        ordering = ["area__path", "role", "slot"]
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        indexes = [models.Index(fields=["staff", "end_date"], name="post_staff_end")]
        constraints = [
            models.UniqueConstraint(
                fields=["area", "slot"],
                condition=Q(role="grid_worker", end_date__isnull=True),
                name="post_one_open_grid_worker_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(role="grid_worker", slot__in=["A", "B"]) | (~Q(role="grid_worker") & Q(slot="")),
                name="post_slot_only_for_grid_workers",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="post_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        slot = f" {self.slot}" if self.slot else ""
        return f"{self.staff} · {self.get_role_display()}{slot} · {self.area.name}"

    def is_active_on(self, day) -> bool:
        """The end date is exclusive: a post ended today no longer holds today."""
        return self.start_date <= day and (self.end_date is None or day < self.end_date)
