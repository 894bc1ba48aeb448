"""Every write of visits: the policy in force, visits (idempotent by their client ID), corrections, photos, and
cases opened from findings. Keyword-only, one transaction each, validated before saving, an audit row each."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid as uuid_
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from gridgov.areas.models import Area
from gridgov.areas.scope import Perm, scope_for
from gridgov.cases import services as case_services
from gridgov.cases.models import OPEN_STATES, Case, Channel
from gridgov.core import audit
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.geo import distance_m, gcj02_to_wgs84
from gridgov.registry.models import HelperKind, Household
from gridgov.visits import policy as rules_
from gridgov.visits.errors import VisitErrorCode
from gridgov.visits.models import (
    CoordinateSystem,
    Finding,
    FindingCase,
    Visit,
    VisitKind,
    VisitPhoto,
    VisitPolicy,
)
from gridgov.visits.selectors import policy_in_force

MAX_AGE_DAYS = 90  # a visit may be uploaded this long after it took place
CLOCK_SKEW = dt.timedelta(minutes=10)  # a phone's clock may run this far ahead
NOTE_MAX = 2000
COMPANIONS_MAX = 10
PHOTOS_MAX = 9
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_PIXELS = 50_000_000
PHOTO_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
HELPER_KINDS = {HelperKind.PARTY_MEMBER, HelperKind.DEPUTY}  # whose presence serves the "helper" duty


def _invalid(message: str, field: str) -> ApplicationError:
    return ApplicationError(VisitErrorCode.INVALID_VISIT, message, fields={field: [message]})


def require(actor, perm: Perm, area: Area) -> None:
    """Refuses unless the actor holds ``perm`` on ``area``; outside the actor's visit scope: 'not found'."""
    if actor is None or isinstance(actor, str):
        return
    if not scope_for(actor, Perm.VISIT_VIEW).contains(area.path):
        raise NotFound(_("No such record."))
    if not scope_for(actor, perm).contains(area.path):
        raise PermissionDenied(_("You may not record visits here."))


def _user(actor):
    return actor if getattr(actor, "pk", None) and not isinstance(actor, str) else None


# --- the policy -----------------------------------------------------------------------------------


def _require_superuser(actor) -> None:
    if actor is None or isinstance(actor, str):
        return  # the system or a management command
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied(_("Only a system administrator may change the visit rules."))


@transaction.atomic
def visit_policy_set(*, actor, preset: str = "", rules: list | None = None, name: str = "",
                     onsite_hours: int | None = None, far_metres: int | None = None,
                     red_contact_days: int | None = None) -> VisitPolicy:
    """Puts visit rules in force: a preset (shangnan, qingyang) or rules of one's own. The old ones are kept.
    Due lists follow at once (nothing is stored that would need recomputing)."""
    _require_superuser(actor)
    problems: dict[str, list[str]] = {}
    if preset:
        if preset not in rules_.PRESETS:
            raise ApplicationError(VisitErrorCode.INVALID_POLICY, _("Unknown preset."),
                                   fields={"preset": [", ".join(rules_.PRESETS)]})
        if red_contact_days is not None and not 1 <= red_contact_days <= 60:
            problems["red_contact_days"] = [_("From 1 to 60 days.")]
        defaults = rules_.PRESETS[preset]
        rules = rules_.preset_rules(preset, red_contact_days=red_contact_days or rules_.RED_CONTACT_DAYS)
        name = name or defaults["name"]
        onsite_hours = defaults["onsite_hours"] if onsite_hours is None else onsite_hours
        far_metres = defaults["far_metres"] if far_metres is None else far_metres
    else:
        listed = rules_.rules_problems(rules)
        if listed:
            problems["rules"] = listed
        current = policy_in_force()
        onsite_hours = current.onsite_hours if onsite_hours is None else onsite_hours
        far_metres = current.far_metres if far_metres is None else far_metres
    name = (name or "").strip()
    if not name or len(name) > 60:
        problems["name"] = [_("A name of at most 60 characters is required.")]
    if not isinstance(onsite_hours, int) or not 1 <= onsite_hours <= 720:
        problems["onsite_hours"] = [_("From 1 to 720 hours.")]
    if not isinstance(far_metres, int) or not 10 <= far_metres <= 100_000:
        problems["far_metres"] = [_("From 10 to 100,000 metres.")]
    if problems:
        message = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in problems.items())
        raise ApplicationError(VisitErrorCode.INVALID_POLICY, message, fields=problems)
    policy = VisitPolicy.objects.create(name=name, preset=preset, rules=rules, onsite_hours=onsite_hours,
                                        far_metres=far_metres, actor_name=audit.actor_label(actor)[:150])
    audit.record(actor=actor, action="visit_policy.set", obj=policy,
                 data={"preset": preset, "rules": len(rules), "onsite_hours": onsite_hours, "far_metres": far_metres})
    return policy


# --- visits -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    lng: float
    lat: float  # WGS-84
    crs: str
    accuracy_m: int | None


def parse_location(lng, lat, crs: str = CoordinateSystem.WGS84, accuracy_m=None) -> Location | None:
    """A point as sent (WGS-84 or GCJ-02), as stored (WGS-84); None when no point was sent."""
    if lng is None and lat is None:
        return None
    if lng is None or lat is None:
        raise _invalid(_("Send both longitude and latitude, or neither."), "lng")
    try:
        lng, lat = float(lng), float(lat)
    except (TypeError, ValueError) as exc:
        raise _invalid(_("The coordinates are not numbers."), "lng") from exc
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise _invalid(_("The coordinates are out of range."), "lng")
    crs = crs or CoordinateSystem.WGS84
    if crs not in CoordinateSystem.values:
        raise _invalid(_("The coordinate system is WGS-84 or GCJ-02."), "crs")
    if accuracy_m is not None:
        if not isinstance(accuracy_m, int | float) or isinstance(accuracy_m, bool) or not 0 <= accuracy_m <= 100_000:
            raise _invalid(_("The accuracy is a number of metres."), "accuracy_m")
        accuracy_m = round(accuracy_m)
    if crs == CoordinateSystem.GCJ02:
        lng, lat = gcj02_to_wgs84(lng, lat)
    return Location(round(lng, 7), round(lat, 7), crs, accuracy_m)


def _companions(companions) -> list[dict]:
    out = []
    for item in companions or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise _invalid(_("Each companion has a name and a kind."), "companions")
        name, kind = item["name"].strip(), item.get("kind") or HelperKind.OTHER
        if not name or len(name) > 50 or "\x00" in name:
            raise _invalid(_("A companion's name has 1 to 50 characters."), "companions")
        if kind not in HelperKind.values:
            raise _invalid(_("Unknown kind of companion."), "companions")
        out.append({"name": name, "kind": kind})
    if len(out) > COMPANIONS_MAX:
        raise _invalid(_("At most %(n)d companions.") % {"n": COMPANIONS_MAX}, "companions")
    return out


def _findings(findings) -> list[str]:
    findings = list(findings or [])
    if not all(isinstance(f, str) for f in findings) or set(findings) - set(Finding.values):
        raise _invalid(_("Unknown finding."), "findings")
    return [f for f in Finding.values if f in findings]


def _visited_at(visited_at, now: dt.datetime) -> dt.datetime:
    if visited_at is None:
        return now
    if not isinstance(visited_at, dt.datetime):
        raise _invalid(_("The time of the visit is not a date and time."), "visited_at")
    if timezone.is_naive(visited_at):
        visited_at = timezone.make_aware(visited_at, timezone.get_default_timezone())
    if visited_at > now + CLOCK_SKEW:
        raise _invalid(_("The time of the visit is in the future."), "visited_at")
    if visited_at < now - dt.timedelta(days=MAX_AGE_DAYS):
        raise _invalid(_("The visit is more than %(n)d days old.") % {"n": MAX_AGE_DAYS}, "visited_at")
    return visited_at.replace(microsecond=0)


def fingerprint(payload: dict) -> str:
    """The identity of a visit's content, to tell a retry (same content) from a reuse of its client ID."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _parse_uuid(value) -> uuid_.UUID:
    try:
        return value if isinstance(value, uuid_.UUID) else uuid_.UUID(str(value))
    except (TypeError, ValueError, AttributeError) as exc:
        raise _invalid(_("The client ID is not a UUID."), "uuid") from exc


def _replay(existing: Visit, actor, print_: str) -> Visit:
    if existing.fingerprint != print_ or existing.visitor_id != getattr(_user(actor), "pk", None):
        raise ApplicationError(
            VisitErrorCode.UUID_REUSED,
            _("This visit ID has already been used for a different visit; a retry must send the same visit."),
            fields={"uuid": [_("Already used for a different visit.")]}, status=409,
        )
    return existing


@transaction.atomic
def visit_create(
    *,
    actor,
    uuid,
    household: Household | None = None,
    case: Case | None = None,
    kind: str = VisitKind.ROUTINE,
    visited_at: dt.datetime | None = None,
    lng: float | None = None,
    lat: float | None = None,
    crs: str = CoordinateSystem.WGS84,
    accuracy_m: int | None = None,
    findings=(),
    note: str = "",
    companions=(),
    photos=(),
    corrects: Visit | None = None,
    withdrawn: bool = False,
) -> tuple[Visit, bool]:
    """Records a visit; returns it and whether it is new.

    Idempotent by ``uuid``, the client's ID for the visit: sending the same visit again (a retry, a late
    upload from a phone that was offline) returns the first record; the same ID with a different visit is
    refused (409). A visit for a 五必到 case is noted in the case's timeline in the same transaction.
    """
    now = timezone.now()
    uuid = _parse_uuid(uuid)
    note = (note or "").strip()
    location = parse_location(lng, lat, crs, accuracy_m)
    visited_at = _visited_at(visited_at, now)
    findings, companions = _findings(findings), _companions(companions)
    print_ = fingerprint({
        "household": getattr(household, "pk", None), "case": getattr(case, "pk", None), "kind": kind,
        "visited_at": visited_at.astimezone(dt.UTC).isoformat(), "lng": lng, "lat": lat,
        "crs": crs if location else "", "accuracy_m": accuracy_m, "findings": findings, "note": note,
        "companions": companions, "corrects": getattr(corrects, "pk", None), "withdrawn": bool(withdrawn),
    })
    existing = Visit.objects.filter(uuid=uuid).first()
    if existing is not None:
        _replay(existing, actor, print_)
        require(actor, Perm.VISIT_VIEW, existing.area)
        return existing, False

    if household is None and case is None:
        raise _invalid(_("Choose a household."), "household")
    area = household.area if household is not None else case.area
    require(actor, Perm.VISIT_LOG, area)
    if kind not in VisitKind.values:
        raise _invalid(_("Unknown kind of visit."), "kind")
    if case is not None:
        _check_case(case, household, kind)
    elif kind == VisitKind.ONSITE:
        raise _invalid(_("A compulsory on-site visit answers a case: choose it."), "case")
    if len(note) > NOTE_MAX or "\x00" in note:
        raise _invalid(_("The note has at most %(n)d characters.") % {"n": NOTE_MAX}, "note")
    if withdrawn and corrects is None:
        raise _invalid(_("Only a correction can withdraw a visit."), "withdrawn")
    if corrects is not None:
        corrects = _check_correction(actor, corrects, household, case)
    photos = [check_photo(p) for p in photos]
    if len(photos) > PHOTOS_MAX:
        raise ApplicationError(VisitErrorCode.INVALID_PHOTO, _("At most %(n)d photos.") % {"n": PHOTOS_MAX},
                               fields={"photos": ["too many"]})

    distance = _distance(location, household, case)
    policy = policy_in_force()
    user = _user(actor)
    staff = getattr(user, "staff", None) if user is not None else None
    visit = Visit(
        uuid=uuid, fingerprint=print_, household=household, area=area, kind=kind, visited_at=visited_at,
        received_at=now, visitor=user,
        visitor_name=(staff.name if staff else audit.actor_label(actor))[:150],
        companions=companions, with_helper=any(c["kind"] in HELPER_KINDS for c in companions),
        lng=location.lng if location else None, lat=location.lat if location else None,
        accuracy_m=location.accuracy_m if location else None, source_crs=location.crs if location else "",
        distance_m=round(distance) if distance is not None else None,
        far_from_house=distance is not None and distance > policy.far_metres,
        findings=findings, note=note, case=case, corrects=corrects, withdrawn=bool(withdrawn),
    )
    try:
        with transaction.atomic():
            visit.save()
    except IntegrityError:  # the same client ID saved concurrently
        existing = Visit.objects.filter(uuid=uuid).first()
        if existing is None:
            raise
        return _replay(existing, actor, print_), False
    corrected = Visit.objects.filter(pk=getattr(corrects, "pk", None), superseded_by__isnull=True)
    if corrects is not None and corrected.update(superseded_by=visit) != 1:
        raise _already_corrected()
    for photo in photos:
        _store_photo(visit, photo)
    if case is not None:
        case_services.case_note_visit(actor=actor, case=case, visit_id=visit.pk, summary=_summary(visit))
    action = "visit.withdraw" if withdrawn else "visit.correct" if corrects is not None else "visit.create"
    audit.record(actor=actor, action=action, obj=visit, area_path=area.path,
                 data={"kind": kind, "household": getattr(household, "pk", None), "case": getattr(case, "pk", None),
                       "corrects": getattr(corrects, "pk", None), "findings": findings,
                       "far_from_house": visit.far_from_house})
    return visit, True


def _check_case(case: Case, household: Household | None, kind: str) -> None:
    if kind != VisitKind.ONSITE:
        raise _invalid(_("A visit for a case is a compulsory on-site visit."), "kind")
    if case.category is None or not case.category.onsite_required:
        raise _invalid(_("This case does not call for a compulsory on-site visit."), "case")
    if case.state not in OPEN_STATES:
        raise _invalid(_("This case is no longer open."), "case")
    if household is not None and case.household_id is not None and case.household_id != household.pk:
        raise _invalid(_("This case concerns another household."), "household")
    if household is not None and household.area_id != case.area_id:
        raise _invalid(_("This case happened in another grid."), "household")


def _already_corrected() -> ApplicationError:
    return ApplicationError(VisitErrorCode.ALREADY_CORRECTED,
                            _("This visit has already been corrected: correct the latest record."),
                            fields={"corrects": [_("Already corrected.")]}, status=409)


def _check_correction(actor, original: Visit, household, case) -> Visit:
    original = Visit.objects.select_for_update().select_related("area").get(pk=original.pk)
    require(actor, Perm.VISIT_LOG, original.area)
    if original.superseded_by_id is not None:
        raise _already_corrected()
    if original.withdrawn:
        raise _invalid(_("A withdrawal cannot be corrected; record the visit anew."), "corrects")
    if original.household_id != getattr(household, "pk", None) or original.case_id != getattr(case, "pk", None):
        raise _invalid(_("A correction keeps the household and the case; withdraw the visit and record a new one."),
                       "household")
    return original


def _distance(location: Location | None, household: Household | None, case: Case | None) -> float | None:
    if location is None:
        return None
    house = household.house if household is not None else None
    if house is not None and house.lng is not None and house.lat is not None:
        return distance_m(location.lng, location.lat, house.lng, house.lat)
    if household is None and case is not None and case.lng is not None and case.lat is not None:
        return distance_m(location.lng, location.lat, case.lng, case.lat)
    return None


def _summary(visit: Visit) -> str:
    findings = "、".join(str(Finding(f).label) for f in visit.findings)
    parts = [_("On-site visit by %(name)s at %(time)s.") % {
        "name": visit.visitor_name, "time": timezone.localtime(visit.visited_at).strftime("%Y-%m-%d %H:%M")}]
    if findings:
        parts.append(_("Findings: %(findings)s.") % {"findings": findings})
    if visit.note:
        parts.append(visit.note)
    return " ".join(parts)


def visit_correct(*, actor, original: Visit, uuid, **fields) -> tuple[Visit, bool]:
    """A correction: a new record with the right content, linked to the original, which stops counting."""
    fields.setdefault("household", original.household)
    fields.setdefault("case", original.case)
    return visit_create(actor=actor, uuid=uuid, corrects=original, **fields)


def visit_withdraw(*, actor, original: Visit, uuid, note: str) -> tuple[Visit, bool]:
    """A correction saying the visit did not take place (a wrong household, a mistake): neither counts."""
    if not (note or "").strip():
        raise _invalid(_("Say why the visit is withdrawn."), "note")
    return visit_create(actor=actor, uuid=uuid, household=original.household, case=original.case,
                        kind=original.kind, visited_at=original.visited_at, note=note, corrects=original,
                        withdrawn=True)


# --- photos -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedPhoto:
    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int


def check_photo(upload) -> CheckedPhoto:
    """Reads an upload and checks that it really is a JPEG, PNG or WebP image of sensible size."""
    size = getattr(upload, "size", None)
    if size is not None and size > PHOTO_MAX_BYTES:
        raise _photo_error(_("A photo is at most %(n)d MB.") % {"n": PHOTO_MAX_BYTES // (1024 * 1024)})
    data = upload.read(PHOTO_MAX_BYTES + 1) if hasattr(upload, "read") else bytes(upload)
    if len(data) > PHOTO_MAX_BYTES:
        raise _photo_error(_("A photo is at most %(n)d MB.") % {"n": PHOTO_MAX_BYTES // (1024 * 1024)})
    if not data:
        raise _photo_error(_("The photo is empty."))
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            if width * height > PHOTO_MAX_PIXELS:
                raise _photo_error(_("The photo has too many pixels."))
            image.verify()
    except ApplicationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _photo_error(_("This file is not a JPEG, PNG or WebP image.")) from exc
    if kind not in PHOTO_TYPES:
        raise _photo_error(_("This file is not a JPEG, PNG or WebP image."))
    return CheckedPhoto(data, hashlib.sha256(data).hexdigest(), PHOTO_TYPES[kind], width, height)


def _photo_error(message: str) -> ApplicationError:
    return ApplicationError(VisitErrorCode.INVALID_PHOTO, message, fields={"photos": [message]})


def _store_photo(visit: Visit, photo: CheckedPhoto) -> tuple[VisitPhoto, bool]:
    existing = VisitPhoto.objects.filter(visit=visit, sha256=photo.sha256).first()
    if existing is not None:
        return existing, False
    if VisitPhoto.objects.filter(visit=visit).count() >= PHOTOS_MAX:
        raise ApplicationError(VisitErrorCode.INVALID_PHOTO, _("At most %(n)d photos.") % {"n": PHOTOS_MAX},
                               fields={"photos": ["too many"]})
    row = VisitPhoto(visit=visit, sha256=photo.sha256, content_type=photo.content_type, size=len(photo.data),
                     width=photo.width, height=photo.height)
    row.file.save(f"{photo.sha256}.{row.extension}", ContentFile(photo.data), save=False)
    row.save()
    return row, True


@transaction.atomic
def visit_photo_add(*, actor, visit: Visit, upload) -> tuple[VisitPhoto, bool]:
    """Adds a photo to one's own visit (taken offline, uploaded later); the same photo twice is kept once."""
    require(actor, Perm.VISIT_LOG, visit.area)
    if _user(actor) is not None and visit.visitor_id != actor.pk:
        raise PermissionDenied(_("Only the visitor may add photos to a visit."))
    if visit.withdrawn:
        raise _photo_error(_("This visit was withdrawn."))
    if visit.visited_at < timezone.now() - dt.timedelta(days=MAX_AGE_DAYS):
        raise _photo_error(_("The visit is more than %(n)d days old.") % {"n": MAX_AGE_DAYS})
    photo, created = _store_photo(visit, check_photo(upload))
    if created:
        audit.record(actor=actor, action="visit.photo", obj=visit, area_path=visit.area.path,
                     data={"photo": photo.pk, "sha256": photo.sha256})
    return photo, created


# --- a finding opens a case ---------------------------------------------------------------------------


def finding_case_defaults(visit: Visit, finding: str) -> dict:
    """The prefilled title and description of the case a finding opens."""
    label = str(Finding(finding).label)
    household = visit.household
    lines = [_("Found on a visit on %(day)s: %(finding)s.") % {
        "day": timezone.localtime(visit.visited_at).strftime("%Y-%m-%d"), "finding": label}]
    if household is not None:
        lines.append(_("Household %(number)s, %(address)s.") % {"number": household.number,
                                                                 "address": household.address})
    if visit.note:
        lines.append(visit.note)
    title = f"{label} · {household.address}" if household is not None else label
    return {"title": title[:120], "description": "\n".join(lines)}


@transaction.atomic
def finding_case_open(*, actor, visit: Visit, finding: str, title: str = "", description: str = "",
                      category=None) -> tuple[Case, bool]:
    """Opens a case from a finding of a visit, prefilled from the visit (one case per finding)."""
    require(actor, Perm.VISIT_VIEW, visit.area)
    if finding not in visit.findings:
        raise _invalid(_("The visit did not record this finding."), "finding")
    if not visit.counts:
        raise _invalid(_("This visit was corrected or withdrawn: open the case from the latest record."),
                       "finding")
    existing = FindingCase.objects.filter(visit=visit, finding=finding).select_related("case").first()
    if existing is not None:
        return existing.case, False
    defaults = finding_case_defaults(visit, finding)
    case = case_services.case_create(
        actor=actor, channel=Channel.GRID_WORKER, title=(title or "").strip() or defaults["title"],
        description=(description or "").strip() or defaults["description"], category=category, area=visit.area,
        lng=visit.lng, lat=visit.lat, household=visit.household, client_key=f"visit-{visit.uuid}-{finding}",
    )
    FindingCase.objects.create(visit=visit, finding=finding, case=case)
    audit.record(actor=actor, action="visit.finding_case", obj=visit, area_path=visit.area.path,
                 data={"finding": finding, "case": case.pk})
    return case, True
