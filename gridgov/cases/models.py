"""Cases (事件/诉求/工单) in a closed loop.

A case is placed in an area (the grid where it happens, or the county when it cannot be placed), owned by a
desk (the area whose command centre coordinates it: it accepts, dispatches, verifies and closes) and, once
dispatched, held by a unit (an area or a department) with optional assisting units. Its state moves only
through ``gridgov.cases.workflow.TRANSITIONS`` and every move appends an immutable ``CaseAction``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.areas.models import Area, AreaLevel, Department
from gridgov.core.models import AppendOnlyQuerySet


class Domain(models.Model):
    """One of the eight domains of 八抓八防."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=50, unique=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("domain")
        verbose_name_plural = _("domains")

    def __str__(self) -> str:
        return self.name


class Urgency(models.TextChoices):
    NORMAL = "normal", _("normal (一般)")
    URGENT = "urgent", _("urgent (紧急)")
    CRITICAL = "critical", _("critical (特急)")


class Category(models.Model):
    """An editable category of a domain, with its default handling level, urgency and deadline."""

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="categories", verbose_name=_("domain"))
    code = models.SlugField(_("code"), max_length=48, unique=True)
    name = models.CharField(_("name"), max_length=60)
    default_level = models.ForeignKey(
        AreaLevel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("default handling level"),
    )
    urgency = models.CharField(_("default urgency"), max_length=12, choices=Urgency.choices, default=Urgency.NORMAL)
    deadline_days = models.PositiveSmallIntegerField(_("deadline (working days)"), null=True, blank=True)
    deadline_hours = models.PositiveSmallIntegerField(_("deadline (hours)"), null=True, blank=True)
    onsite_required = models.BooleanField(_("on-site visit compulsory (五必到)"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["domain__order", "code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.UniqueConstraint(fields=["domain", "name"], name="category_unique_name_per_domain"),
            models.CheckConstraint(
                condition=Q(deadline_days__isnull=False) | Q(deadline_hours__isnull=False),
                name="category_has_a_deadline",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.domain.name} · {self.name}"


class Channel(models.TextChoices):
    GRID_WORKER = "grid_worker", _("grid worker report")
    HOTLINE = "hotline", _("hotline (民情热线)")
    SELF_REPORT = "self_report", _("resident self-report (随手拍)")
    PETITION = "petition", _("walk-in petition (信访)")
    DEPUTIES = "deputies", _("deputies' office (两代表一委员工作室)")
    VIDEO_AI = "video_ai", _("video AI alarm")
    OPEN311 = "open311", _("other system (Open311)")


class CaseSource(models.Model):
    """An outside system that files cases: an Open311 client (API key) or a video-AI webhook (secret).

    Only the SHA-256 of an API key is kept; a webhook secret is kept sealed, because verifying an HMAC
    needs the secret itself.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    key_hash = models.CharField(max_length=64, blank=True, db_index=True)
    key_prefix = models.CharField(_("key prefix"), max_length=8, blank=True)
    secret_sealed = models.TextField(blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("case source")
        verbose_name_plural = _("case sources")

    def __str__(self) -> str:
        return self.name


class State(models.TextChoices):
    SUBMITTED = "submitted", _("awaiting acceptance (待受理)")
    ACCEPTED = "accepted", _("accepted (已受理)")
    REGISTERED = "registered", _("registered, awaiting dispatch (已立案)")
    DISPATCHED = "dispatched", _("dispatched (已派遣)")
    HANDLING = "handling", _("being handled (处置中)")
    REPORTED = "reported", _("reported back, awaiting verification (已反馈)")
    SUSPENDED = "suspended", _("suspended (挂起)")
    CLOSED = "closed", _("closed (已结案)")
    REFUSED = "refused", _("refused as invalid (不予受理)")
    MERGED = "merged", _("merged into another case")


OPEN_STATES = frozenset({State.SUBMITTED, State.ACCEPTED, State.REGISTERED, State.DISPATCHED, State.HANDLING,
                         State.REPORTED, State.SUSPENDED})
FINAL_STATES = frozenset({State.CLOSED, State.REFUSED, State.MERGED})


class Outcome(models.TextChoices):
    FIXED = "fixed", _("fixed")
    NOT_RESPONSIBLE = "not_responsible", _("closed not fixed: not our responsibility")
    CANNOT_FIX = "cannot_fix", _("closed not fixed: cannot be fixed")
    DUPLICATE = "duplicate", _("closed not fixed: duplicate")
    REFERRED = "referred", _("closed not fixed: referred elsewhere")


class Rating(models.TextChoices):
    SATISFIED = "satisfied", _("satisfied (满意)")
    BASICALLY = "basically", _("basically satisfied (基本满意)")
    UNSATISFIED = "unsatisfied", _("unsatisfied (不满意)")


class Mode(models.TextChoices):
    DIRECT = "direct", _("handle directly (直办)")
    TRANSFER = "transfer", _("transfer (转办)")
    ASSIST = "assist", _("lead with assisting units (协办)")


class Case(models.Model):
    tracking_code = models.CharField(_("tracking code"), max_length=16, unique=True)
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"))
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("domain"))
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
                                 verbose_name=_("category"))
    urgency = models.CharField(_("urgency"), max_length=12, choices=Urgency.choices, default=Urgency.NORMAL)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    source = models.ForeignKey(CaseSource, null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
                               verbose_name=_("source"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.SUBMITTED)

    # Where it happens, who coordinates it, who holds it now.
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="cases", verbose_name=_("area"))
    placed = models.BooleanField(_("placed"), default=True, help_text=_("False: it could not be placed and "
                                                                        "landed with the county centre."))
    desk_area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", verbose_name=_("desk"))
    holder_area = models.ForeignKey(Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("handled by (area)"))
    holder_department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+", verbose_name=_("handled by (department)"))
    mode = models.CharField(_("handling mode"), max_length=12, choices=Mode.choices, blank=True)
    resolved_area = models.ForeignKey(Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                      verbose_name=_("level resolved"))
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)

    # Who reported it.
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("reported by"))
    reporter_name = models.CharField(_("reporter's name"), max_length=50, blank=True)
    reporter_phone_sealed = models.TextField(blank=True)
    reporter_phone_masked = models.CharField(_("reporter's phone"), max_length=32, blank=True)
    household = models.ForeignKey("registry.Household", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="cases", verbose_name=_("household"))
    person = models.ForeignKey("registry.Person", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="cases", verbose_name=_("person"))
    client_key = models.CharField(max_length=64, null=True, blank=True, unique=True)

    # Clock and results.
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    deadline_at = models.DateTimeField(_("deadline"), null=True, blank=True)
    supervision_deadline_at = models.DateTimeField(_("supervision deadline"), null=True, blank=True)
    review_on = models.DateField(_("review date"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    closed_on_time = models.BooleanField(_("closed on time"), null=True, blank=True)
    rating = models.CharField(_("rating"), max_length=12, choices=Rating.choices, blank=True)
    rated_at = models.DateTimeField(_("rated"), null=True, blank=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="duplicates", verbose_name=_("duplicate of"))
    urge_count = models.PositiveIntegerField(_("urged"), default=0)
    rework_count = models.PositiveIntegerField(_("sent back for rework"), default=0)
    escalation_count = models.PositiveIntegerField(_("escalated"), default=0)
    warned_at = models.DateTimeField(null=True, blank=True)
    auto_urged_at = models.DateTimeField(null=True, blank=True)
    auto_escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        indexes = [
            models.Index(fields=["state", "desk_area"], name="case_state_desk"),
            models.Index(fields=["state", "holder_area"], name="case_state_holder"),
            models.Index(fields=["state", "holder_department"], name="case_state_department"),
            models.Index(fields=["state", "deadline_at"], name="case_state_deadline"),
            models.Index(fields=["area", "created_at"], name="case_area_created"),
            models.Index(fields=["category", "state", "created_at"], name="case_category_state"),
            # The supervised tab (督办), about 2% of the cases: without it SQLite read the whole table after ANALYZE.
            models.Index(fields=["deadline_at"], condition=Q(supervision_deadline_at__isnull=False),
                         name="case_supervised"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def number(self) -> str:
        """The case number people quote: the day it was filed and its id (20261122000123)."""
        return f"{timezone.localtime(self.created_at):%Y%m%d}{self.pk:06d}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.deadline_at is not None and self.deadline_at < timezone.now()


class AssignmentRole(models.TextChoices):
    LEAD = "lead", _("lead unit")
    ASSIST = "assist", _("assisting unit")


class CaseAssignment(models.Model):
    """A unit a case was dispatched to: the lead, or an assisting unit that reports back to the lead."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments")
    role = models.CharField(_("role"), max_length=8, choices=AssignmentRole.choices)
    area = models.ForeignKey(Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    reported_at = models.DateTimeField(null=True, blank=True)
    report = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["area", "active"], name="assignment_area"),
            models.Index(fields=["department", "active"], name="assignment_department"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(area__isnull=False) & Q(department__isnull=True))
                | (Q(area__isnull=True) & Q(department__isnull=False)),
                name="assignment_one_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.role} {self.unit}"

    @property
    def unit(self):
        return self.area or self.department


class CaseAction(models.Model):
    """One step of a case's timeline. Immutable: the timeline replays to the case's current state."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="actions")
    verb = models.CharField(_("action"), max_length=24)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(_("by"), max_length=150, blank=True)
    from_state = models.CharField(_("from"), max_length=16, blank=True)
    to_state = models.CharField(_("to"), max_length=16)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="action_case_at"),
                   models.Index(fields=["actor", "at"], name="action_actor_at")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.verb} {self.from_state}→{self.to_state}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Case actions are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Case actions are never deleted.")


class CaseReach(models.Model):
    """An area or a department a case is visible through: where it is placed, its desk, its holder and every unit
    it was dispatched to. Kept by the services with every change of the case (``cases.derived``); ``open`` follows
    the case's state, so that the tabs of open cases read only the open rows."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reach")
    area = models.ForeignKey(Area, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    open = models.BooleanField()

    class Meta:
        indexes = [
            models.Index(fields=["area", "open"], name="reach_area_open"),
            models.Index(fields=["department", "open"], name="reach_department_open"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(area__isnull=False) & Q(department__isnull=True))
                | (Q(area__isnull=True) & Q(department__isnull=False)),
                name="reach_one_unit",
            ),
            models.UniqueConstraint(fields=["case", "area"], condition=Q(area__isnull=False), name="reach_case_area"),
            models.UniqueConstraint(fields=["case", "department"], condition=Q(department__isnull=False),
                                    name="reach_case_department"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.area_id or ''}{self.department_id or ''}"


class CaseParticipant(models.Model):
    """A user who acted on a case and the time of their last action there: the inbox's 已办 tab."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="participants")
    last_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "-last_at"], name="participant_user_last")]
        constraints = [models.UniqueConstraint(fields=["user", "case"], name="participant_user_case")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.case_id}"


class StatDimension(models.TextChoices):
    DOMAIN = "domain", _("domain")
    CHANNEL = "channel", _("channel")
    LEVEL = "level", _("level resolved")


class CaseDayStat(models.Model):
    """The statistics' counts of the cases filed on one day (Asia/Shanghai) and placed in the subtree of an area
    of the top two levels of the tree (a county, a town), by one dimension: the domain (its id), the channel (its
    code) or the level resolved at (the ``AreaLevel`` id of the resolved area); ``key`` is empty for none. One row
    per dimension: a case counts in three rows of its county and three of its town (of the county alone when it is
    placed there). Refused and merged cases count nowhere.

    Kept by the services with every change of a case (``cases.derived.day_stats_apply``), written anew by
    ``cases.derived.rebuild``. The counters mean what ``selectors._AGG`` counts."""

    day = models.DateField()
    # No index of its own: the unique constraint's index starts with the area.
    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+", db_index=False)
    dimension = models.CharField(max_length=8, choices=StatDimension.choices)
    key = models.CharField(max_length=32, blank=True)
    # Signed: an increment may be negative (a case leaving a row), and the upsert checks the proposed row.
    total = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    closed_on_time = models.IntegerField(default=0)
    reworked = models.IntegerField(default=0)
    rated = models.IntegerField(default=0)
    satisfied = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["area", "day", "dimension", "key"], name="daystat_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.area_id} {self.dimension}={self.key}: {self.total}"


def attachment_path(instance, filename: str) -> str:
    return f"cases/{timezone.now():%Y/%m}/{filename}"


class CaseAttachment(models.Model):
    """A photo or file of a case. ``public_file`` is the copy shown to the public, without location data."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    action = models.ForeignKey(CaseAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    public_file = models.FileField(upload_to=attachment_path, max_length=200, blank=True)
    thumbnail = models.FileField(upload_to=attachment_path, max_length=200, blank=True)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    taken_at = models.DateTimeField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class WebhookDelivery(models.Model):
    """A signed webhook request already accepted: a replay of the same signature is refused."""

    source = models.ForeignKey(CaseSource, on_delete=models.CASCADE, related_name="+")
    signature = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.source_id} {self.signature[:12]}"


class Notification(models.Model):
    """An in-app notice to a user (each dispatch notifies the new handlers). Without a case: a submission sent
    with ``Prefer: respond-async`` that could not be filed (it links to the user's submissions)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_notifications")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    message = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return self.message


class SubmissionStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    FILED = "filed", _("filed")
    REFUSED = "refused", _("refused")


class CaseSubmission(models.Model):
    """A case accepted for filing later: ``POST /api/v1/cases`` with ``Prefer: respond-async`` writes this row and
    answers 202; a background task files it with the same service as a synchronous request (``intake.case_file``)
    and records the case, or the error a synchronous request would have answered with."""

    # No foreign key in the database: checking one share-locks the reporter's row at every insert, and a burst
    # from one account (a video system, a hotline desk) then makes every insert wait on that one row. Users are
    # deactivated, not deleted; a deletion through the ORM still takes the user's submissions with it.
    # Every insert writes each index: only those that are used are kept. The unique (actor, client_key) index finds
    # a user's rows, and nothing looks a submission up by its case or by a pattern of its tracking code (the
    # unique constraint below has no LIKE index beside it on PostgreSQL, as unique=True would).
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                              db_constraint=False, db_index=False)
    client_key = models.CharField(max_length=64, null=True, blank=True)
    tracking_code = models.CharField(max_length=16)
    data = models.JSONField(help_text="the request's body as validated, without the phone")
    reporter_phone_sealed = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=SubmissionStatus.choices, default=SubmissionStatus.QUEUED)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             db_index=False)
    error = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    filed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Keys left out (NULL) never clash; the index also finds a user's submissions.
            models.UniqueConstraint(fields=["actor", "client_key"], name="submission_actor_key"),
            models.UniqueConstraint(fields=["tracking_code"], name="submission_tracking_code"),
        ]
        indexes = [models.Index(fields=["received_at"], condition=Q(status="queued"), name="submission_queued")]

    def __str__(self) -> str:
        return f"{self.tracking_code} {self.status}"
