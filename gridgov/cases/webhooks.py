"""Video-AI alarms through a signed webhook: POST /api/v1/webhooks/video-ai/{source_id}.

A video-AI source (``gridgov webhook-source create NAME``) holds a secret. Each request carries
``X-Gridgov-Timestamp`` (unix seconds) and ``X-Gridgov-Signature``: the hex HMAC-SHA256, under the secret,
of the timestamp, a dot and the raw body (``"<timestamp>.<body>"``). Refused with 401: an unknown or revoked
source, a missing or wrong signature, a timestamp more than ``WEBHOOK_MAX_SKEW_SECONDS`` from now; with 409:
a signature already accepted (a replay). The alarm files a case on the video-AI channel; its ``event_id``
makes a retry (signed anew) return the case already filed. The scheme is in docs/deploy.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import re
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.responses import Status

from gridgov.cases import services, sources
from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.models import Case, CaseSource, Category, Channel, WebhookDelivery
from gridgov.core import crypto
from gridgov.core.errors import ApplicationError, ErrorCode

TIMESTAMP_HEADER = "X-Gridgov-Timestamp"
SIGNATURE_HEADER = "X-Gridgov-Signature"
MAX_BODY = 64 * 1024

# Event types (lower case) to category codes; "*" is every other type. GRIDGOV settings may override entries
# with VIDEO_AI_EVENT_CATEGORIES = {"smoke": "forest_open_fire", ...}.
DEFAULT_EVENT_CATEGORIES = {
    "fire": "forest_fire",
    "smoke": "forest_fire",
    "wildfire": "forest_fire",
    "crowd": "security_case",
    "fight": "security_case",
    "intrusion": "security_case",
    "flood": "flood_hazard",
    "water_level": "flood_hazard",
    "*": "risk_safety",
}
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"\d{1,12}")


def _refused(message: str) -> ApplicationError:
    return ApplicationError(CaseErrorCode.INVALID_SIGNATURE, message, status=401)


def _invalid(message: str, field: str) -> ApplicationError:
    return ApplicationError(ErrorCode.INVALID_INPUT, message, fields={field: [message]})


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature a sender computes: hex HMAC-SHA256 of "<timestamp>.<body>" under the secret."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def verify(*, source_id, timestamp: str | None, signature: str | None, body: bytes,
           now: float | None = None) -> tuple[CaseSource, str]:
    """The source and the (lower-case) signature of a genuine, fresh request; raises 401 otherwise."""
    source = None
    if isinstance(source_id, int) and 0 < source_id < 2**31:
        source = CaseSource.objects.filter(pk=source_id, channel=Channel.VIDEO_AI).first()
    if source is None or not source.active or source.revoked_at is not None or not source.secret_sealed:
        raise _refused(_("Unknown or revoked webhook source."))
    timestamp, signature = (timestamp or "").strip(), (signature or "").strip()
    if not timestamp or not signature:
        raise _refused(_("Unsigned request: send %(ts)s and %(sig)s.") % {"ts": TIMESTAMP_HEADER,
                                                                          "sig": SIGNATURE_HEADER})
    if not _TIMESTAMP.fullmatch(timestamp) or not _HEX64.fullmatch(signature):
        raise _refused(_("Malformed signature headers: unix seconds and 64 hexadecimal digits."))
    try:
        secret = sources.source_webhook_secret(source)
    except crypto.DecryptionError:  # sealed under a field key that is gone: register the source anew
        raise _refused(_("This source's secret cannot be read on this server; register the source anew.")) from None
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise _refused(_("Bad signature."))
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > settings.WEBHOOK_MAX_SKEW_SECONDS:
        raise _refused(_("Stale request: its timestamp is more than %(n)d seconds away from the server's clock.")
                       % {"n": settings.WEBHOOK_MAX_SKEW_SECONDS})
    return source, signature.lower()


# --- the alarm ---------------------------------------------------------------------------------------


def event_category(event_type: str) -> Category | None:
    mapping = {**DEFAULT_EVENT_CATEGORIES, **settings.VIDEO_AI_EVENT_CATEGORIES}
    codes = [mapping.get(event_type.lower()), mapping.get("*"), DEFAULT_EVENT_CATEGORIES["*"]]
    found = {c.code: c for c in Category.objects.filter(code__in=[c for c in codes if c], active=True)}
    return next((found[c] for c in codes if c in found), None)


def _string(payload: dict, name: str, limit: int) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid(_("%(name)s must be a string.") % {"name": name}, name)
    value = str(value).strip()
    if len(value) > limit or "\x00" in value:
        raise _invalid(_("%(name)s is too long (at most %(n)d characters).") % {"name": name, "n": limit}, name)
    return value


def _number(payload: dict, name: str, low: float, high: float) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise _invalid(_("%(name)s must be a number between %(low)s and %(high)s (WGS-84).")
                       % {"name": name, "low": low, "high": high}, name)
    return float(value)


def _event_time(value) -> dt.datetime | None:
    if value is None:
        return None
    when = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            when = dt.datetime.fromtimestamp(value, tz=dt.UTC)
        elif isinstance(value, str):
            when = parse_datetime(value.strip())
    except (ValueError, OverflowError, OSError):
        when = None
    if when is None:
        raise _invalid(_("time must be unix seconds or an ISO 8601 date-time."), "time")
    return timezone.make_aware(when) if timezone.is_naive(when) else when


def parse_alarm(body: bytes) -> dict:
    """The alarm's fields, checked. Unknown fields are ignored."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _invalid(_("The body must be a JSON object."), "body") from None
    if not isinstance(payload, dict):
        raise _invalid(_("The body must be a JSON object."), "body")
    alarm = {
        "event_id": _string(payload, "event_id", 100),
        "camera_id": _string(payload, "camera_id", 64),
        "event_type": _string(payload, "event_type", 40),
        "description": _string(payload, "description", 3000),
        "snapshot_url": _string(payload, "snapshot_url", 900),
        "lng": _number(payload, "lng", -180, 180),
        "lat": _number(payload, "lat", -90, 90),
        "time": _event_time(payload.get("time")),
    }
    if (alarm["lng"] is None) != (alarm["lat"] is None):
        raise _invalid(_("Send both lng and lat, or neither."), "lng")
    if alarm["snapshot_url"]:
        try:
            URLValidator(schemes=["http", "https"])(alarm["snapshot_url"])
        except ValidationError:
            raise _invalid(_("snapshot_url is not an http or https URL."), "snapshot_url") from None
    return alarm


def _client_key(source: CaseSource, alarm: dict) -> str | None:
    """The same event from the same source is one case. Without an event_id, the camera, type and time
    identify it; without a time either, every delivery files a case."""
    if alarm["event_id"]:
        identity = "id:" + alarm["event_id"]
    elif alarm["time"] is not None:
        identity = f"at:{alarm['camera_id']}|{alarm['event_type']}|{alarm['time'].timestamp()}"
    else:
        return None
    return f"vai-{source.pk}-{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:48]}"


def webhook_receive(*, source_id, timestamp: str | None, signature: str | None, body: bytes,
                    now: float | None = None) -> tuple[Case, bool]:
    """Verify a delivery and file its alarm as a case. Returns the case and whether it is new."""
    source, signature = verify(source_id=source_id, timestamp=timestamp, signature=signature, body=body, now=now)
    if WebhookDelivery.objects.filter(signature=signature).exists():
        raise ApplicationError(CaseErrorCode.CONFLICT, _("Replayed request: this signature was accepted already."),
                               status=409)
    alarm = parse_alarm(body)
    category = event_category(alarm["event_type"])
    camera = alarm["camera_id"] or "?"
    kind = category.name if category is not None else (alarm["event_type"] or _("alarm"))
    title = (_("Video alarm: %(kind)s (camera %(camera)s)") % {"kind": kind, "camera": camera})[:120]
    details = [f"{name}: {value}" for name, value in (
        ("camera_id", alarm["camera_id"]), ("event_type", alarm["event_type"]), ("event_id", alarm["event_id"]),
        ("time", alarm["time"] and timezone.localtime(alarm["time"]).isoformat(timespec="seconds")),
        ("snapshot_url", alarm["snapshot_url"]),
    ) if value]
    description = "\n\n".join([alarm["description"] or title, "\n".join(details)]).strip()
    client_key = _client_key(source, alarm)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(source=source, signature=signature)
            existed = client_key is not None and Case.objects.filter(client_key=client_key).exists()
            case = services.case_create(
                actor=None, channel=Channel.VIDEO_AI, source=source, category=category, title=title,
                description=description, lng=alarm["lng"], lat=alarm["lat"], reporter_name=source.name[:50],
                client_key=client_key,
            )
            delivery.case = case
            delivery.save(update_fields=["case"])
    except IntegrityError:  # the same signature at the same moment
        raise ApplicationError(CaseErrorCode.CONFLICT, _("Replayed request: this signature was accepted already."),
                               status=409) from None
    return case, not existed


def webhook_deliveries_prune(*, now: dt.datetime | None = None) -> int:
    """Forget deliveries older than twice the allowed skew: a replay of them is refused as stale anyway."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=2 * settings.WEBHOOK_MAX_SKEW_SECONDS)
    deleted, _rows = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted


# --- the endpoint ------------------------------------------------------------------------------------

router = Router(tags=["webhooks"])


class AlarmOut(Schema):
    case_number: str
    created: bool


class ErrorOut(Schema):
    code: str
    message: str
    fields: dict[str, list[str]]


_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "event_id": {"type": "string", "description": "Unique per source: a retry with it files no "
                                                              "second case"},
                "camera_id": {"type": "string"},
                "event_type": {"type": "string", "description": "fire, smoke, crowd, fight, intrusion, flood, "
                                                                "water_level, or anything else (安全隐患)"},
                "lng": {"type": "number", "minimum": -180, "maximum": 180},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "time": {"type": "string", "description": "ISO 8601, or unix seconds as a number"},
                "snapshot_url": {"type": "string", "format": "uri"},
                "description": {"type": "string"},
            },
        }}},
    },
    "parameters": [
        {"in": "header", "name": TIMESTAMP_HEADER, "required": True, "schema": {"type": "string"},
         "description": "Unix seconds when the request was signed"},
        {"in": "header", "name": SIGNATURE_HEADER, "required": True, "schema": {"type": "string"},
         "description": 'Hex HMAC-SHA256 of "<timestamp>.<raw body>" under the source\'s secret'},
    ],
}


@router.post(
    "/webhooks/video-ai/{source_id}",
    auth=None,
    response={200: AlarmOut, 201: AlarmOut, 400: ErrorOut, 401: ErrorOut, 409: ErrorOut},
    summary="Receive a video-AI alarm (signed webhook)",
    openapi_extra=_BODY_DOC,
)
def video_ai_alarm(request, source_id: int):
    """Files the alarm as a case (channel video_ai). 201 for a new case, 200 when the event was filed before."""
    body = request.body
    if len(body) > MAX_BODY:
        raise _invalid(_("The body is too large (at most 64 KB)."), "body")
    case, created = webhook_receive(source_id=source_id, timestamp=request.headers.get(TIMESTAMP_HEADER),
                                    signature=request.headers.get(SIGNATURE_HEADER), body=body)
    return Status(201 if created else 200, {"case_number": case.number, "created": created})
