"""Open311 GeoReport v2 under /open311/v2/: discovery, services, service definitions, service requests, tokens.

Plain Django views (no session, no CSRF: a client authenticates a POST with its ``api_key``), in both .json and
.xml, with the spec's element names and error format. Decisions (docs/deploy.md, "Open311 GeoReport v2"):

* A service is an active case category: ``service_code`` is the category's code, ``group`` its domain.
  Services take no attributes (``metadata`` false, ``type`` realtime: a POST answers with the case number).
* Exposed: only cases filed through Open311. GeoReport is public by design, so cases from the hotline,
  petitions, grid workers or residents' own reports are never listed, and of an exposed case only public
  fields go out: no reporter data, no staff names, no staff notes (``status_notes`` is the state's label).
* ``service_request_id`` is the case number. ``token`` is the case's tracking code: the POST's
  ``service_notice`` names it, so the client can hand it to the resident; ``tokens/{code}`` maps it back.
* Retries: GeoReport has no idempotency key, so a retried POST files a second case unless the client sends
  ``attribute[client_key]`` (any string up to 200 characters, unique per client); the same key from the same
  client returns the case already filed.
* ``email``, ``device_id`` and ``account_id`` are not kept with the case (there is no field for them, and
  the phone is how residents are called back); ``account_id`` and ``device_id`` go into the audit row.
  ``media_url`` is never fetched: it is kept in the description and returned as ``media_url``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import xml.etree.ElementTree as ET
from functools import wraps

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import DataError, transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from gridgov.areas.models import Area
from gridgov.cases import selectors, services, sources
from gridgov.cases.models import (
    FINAL_STATES,
    OPEN_STATES,
    Case,
    CaseAttachment,
    Category,
    Channel,
    State,
)
from gridgov.core import audit
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.models import AuditEvent

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
MAX_RESULTS = 1000
MAX_SPAN = dt.timedelta(days=90)
EXPOSED_CHANNELS = (Channel.OPEN311,)
MEDIA_MARKER = "\n\nmedia_url: "
MAX_DESCRIPTION = 4000
MAX_MEDIA_URL = 900  # with the description (4,000) it stays within a case description's 5,000
MAX_CLIENT_KEY = 200
# Element names of the items of each list, for XML (JSON uses plain arrays: the spec's "Spark convention").
ITEM_TAGS = {
    "services": "service", "service_requests": "request", "endpoints": "endpoint", "formats": "format",
    "attributes": "attribute", "values": "value", "errors": "error",
}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Open311Error(Exception):
    """Rendered as the spec's error list with this HTTP status (403 key, 404 not found, 400 anything else)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = str(description)


# --- rendering -----------------------------------------------------------------------------------


def _xml_node(tag: str, value) -> ET.Element:
    node = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            node.append(_xml_node(key, item))
    elif isinstance(value, list | tuple):
        for item in value:
            node.append(_xml_node(ITEM_TAGS[tag], item))
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = _XML_INVALID.sub("", str(value))
    return node


def render(fmt: str, root: str, data, status: int = 200) -> HttpResponse:
    """``data`` in JSON, or in XML under the element ``root`` (list items named by ITEM_TAGS)."""
    if fmt == "xml":
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(_xml_node(root, data), encoding="unicode")
    else:
        body = json.dumps(data, ensure_ascii=False)
    response = HttpResponse(body.encode("utf-8"), status=status, content_type=CONTENT_TYPES[fmt])
    response["Cache-Control"] = "no-store"
    return response


def render_error(fmt: str, status: int, description: str) -> HttpResponse:
    return render(fmt, "errors", [{"code": status, "description": description}], status=status)


def _format_of(path: str) -> str:
    return "xml" if path.rstrip("/").endswith(".xml") else "json"


def open311_view(*methods: str):
    """A GeoReport view: CSRF-exempt, the allowed methods only, every refusal in the spec's error format."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, fmt: str = "json", **kwargs):
            if request.method not in methods:
                response = render_error(fmt, 405, _("Method %(method)s is not allowed here.")
                                        % {"method": request.method})
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, fmt=fmt, **kwargs)
            except Open311Error as exc:
                return render_error(fmt, exc.status, exc.description)
            except PermissionDenied as exc:
                return render_error(fmt, 403, exc.message)
            except NotFound as exc:
                return render_error(fmt, 404, exc.message)
            except ApplicationError as exc:
                problems = [p for ps in exc.fields.values() for p in ps if p != exc.message]
                return render_error(fmt, 400, " ".join([exc.message, *problems]))
            except DataError:
                return render_error(fmt, 400, _("The input contains characters that cannot be stored."))

        return wrapper

    return decorate


def w3(value: dt.datetime | None) -> str | None:
    """W3C date-time with the offset (2026-11-22T09:30:00+08:00)."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


# --- discovery and services ------------------------------------------------------------------------


def _changeset() -> str:
    """When the service list last changed: the latest taxonomy edit or migration of the cases app."""
    from django.db.migrations.recorder import MigrationRecorder

    times = [
        AuditEvent.objects.filter(action__in=["case_category.create", "case_category.update"])
        .order_by("-at").values_list("at", flat=True).first(),
        MigrationRecorder.Migration.objects.filter(app="cases").order_by("-applied")
        .values_list("applied", flat=True).first(),
    ]
    times = [t for t in times if t is not None]
    return w3(max(times)) if times else "1970-01-01T00:00:00+00:00"


def endpoint_url(request) -> str:
    return request.build_absolute_uri(reverse("open311_root")).rstrip("/")


@open311_view("GET")
def discovery(request, fmt: str):
    changeset = _changeset()
    return render(fmt, "discovery", {
        "changeset": changeset,
        "contact": _("Questions about this interface go to the system administrator of %(product)s.")
        % {"product": str(settings.PRODUCT_NAME)},
        "key_service": _("API keys are issued by the system administrator (page Outside systems, or the "
                         "command `gridgov open311-key create NAME`)."),
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": endpoint_url(request),
            "changeset": changeset,
            "type": "test" if settings.DEBUG else "production",
            "formats": ["text/xml", "application/json"],
        }],
    })


@csrf_exempt
def root(request):
    return HttpResponseRedirect(reverse("open311_discovery", kwargs={"fmt": "json"}))


def _active_categories() -> QuerySet[Category]:
    return Category.objects.filter(active=True).select_related("domain").order_by("domain__order", "code")


def _service(category: Category) -> dict:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": f"{category.domain.name} · {category.name}",
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join([category.name, category.domain.name, category.domain.code]),
        "group": category.domain.name,
    }


@open311_view("GET")
def service_list(request, fmt: str):
    return render(fmt, "services", [_service(c) for c in _active_categories()])


def _category(code: str | None) -> Category:
    code = (code or "").strip()
    if not code:
        raise Open311Error(400, _("service_code was not provided."))
    category = _active_categories().filter(code=code).first()
    if category is None:
        raise Open311Error(404, _("service_code %(code)s was not found.") % {"code": code[:60]})
    return category


@open311_view("GET")
def service_definition(request, code: str, fmt: str):
    category = _category(code)
    return render(fmt, "service_definition", {"service_code": category.code, "attributes": []})


# --- service requests ----------------------------------------------------------------------------


def exposed_cases() -> QuerySet[Case]:
    """The cases GeoReport shows: those filed through Open311 (see the module's docstring)."""
    public_files = CaseAttachment.objects.exclude(public_file="").order_by("created_at", "id")
    return (Case.objects.filter(channel__in=EXPOSED_CHANNELS)
            .select_related("category", "area", "desk_area", "holder_area", "holder_department", "duplicate_of")
            .prefetch_related(Prefetch("attachments", queryset=public_files, to_attr="public_attachments")))


def _split_media(description: str) -> tuple[str, str]:
    head, marker, url = description.rpartition(MEDIA_MARKER)
    if marker and url and "\n" not in url:
        return head, url
    return description, ""


def _status_notes(case: Case) -> str:
    if case.state == State.CLOSED:
        return case.get_outcome_display() if case.outcome else case.get_state_display()
    if case.state == State.MERGED and case.duplicate_of_id:
        return _("Duplicate request: merged into %(number)s.") % {"number": case.duplicate_of.number}
    return case.get_state_display()


def _agency(case: Case) -> str:
    unit = case.holder_department or case.holder_area or case.desk_area
    return unit.name if unit is not None else ""


def request_data(case: Case, request) -> dict:
    """The public fields of one case, in the spec's order."""
    description, media_url = _split_media(case.description)
    if not media_url:
        attachments = getattr(case, "public_attachments", None)
        if attachments is None:
            attachments = list(case.attachments.exclude(public_file="").order_by("created_at", "id")[:1])
        if attachments:
            media_url = request.build_absolute_uri(attachments[0].public_file.url)
    is_open = case.state in OPEN_STATES
    notice = (_("To be handled by %(date)s.") % {"date": f"{timezone.localtime(case.deadline_at):%Y-%m-%d %H:%M}"}
              if is_open and case.deadline_at else None)
    return {
        "service_request_id": case.number,
        "status": "open" if is_open else "closed",
        "status_notes": _status_notes(case),
        "service_name": case.category.name if case.category else None,
        "service_code": case.category.code if case.category else None,
        "description": description or None,
        "agency_responsible": _agency(case) or None,
        "service_notice": notice,
        "requested_datetime": w3(case.created_at),
        "updated_datetime": w3(case.closed_at if case.state in FINAL_STATES and case.closed_at else case.updated_at),
        "expected_datetime": w3(case.deadline_at),
        "address": case.address or (case.area.name if case.placed else None),
        "address_id": case.area.code if case.placed else None,
        "lat": case.lat,
        "long": case.lng,
        "media_url": media_url or None,
    }


def _pk_of_number(number: str) -> int:
    number = number.strip()
    pk = selectors.pk_from_number(number)
    if pk is None:
        raise Open311Error(400, _("%(id)s is not a service_request_id (a case number such as 20261122000123).")
                           % {"id": number[:40]})
    return pk


def _parse_when(value: str, name: str, *, end: bool = False) -> dt.datetime:
    value = value.strip()
    try:
        day = parse_date(value) if len(value) == 10 else None  # a date alone: from its start, to its end
        if day is not None:
            when = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time.min)
        else:
            when = parse_datetime(value)
    except (ValueError, OverflowError):
        when = None
    if when is None or not 1970 <= when.year <= 2999:
        raise Open311Error(400, _("%(name)s is not a W3C date-time such as 2026-01-01T00:00:00Z.") % {"name": name})
    return timezone.make_aware(when) if timezone.is_naive(when) else when


def _search(request) -> list[Case]:
    params = request.GET
    qs = exposed_cases()
    ids = (params.get("service_request_id") or "").strip()
    if ids:  # overrides every other argument
        numbers = [n.strip() for n in ids.split(",") if n.strip()]
        if len(numbers) > MAX_RESULTS:
            raise Open311Error(400, _("Ask for at most %(n)d service requests at once.") % {"n": MAX_RESULTS})
        wanted = {n: _pk_of_number(n) for n in numbers}
        found = {c.pk: c for c in qs.filter(pk__in=set(wanted.values()))}
        return [found[pk] for n, pk in wanted.items() if pk in found and found[pk].number == n]

    codes = [c.strip() for c in (params.get("service_code") or "").split(",") if c.strip()]
    if codes:
        known = set(Category.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise Open311Error(400, _("Unknown service_code: %(codes)s.") % {"codes": ", ".join(unknown)[:200]})
        qs = qs.filter(category__code__in=codes)
    statuses = {s.strip() for s in (params.get("status") or "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, _("status takes open, closed or both, comma separated."))
    if statuses == {"open"}:
        qs = qs.filter(state__in=OPEN_STATES)
    elif statuses == {"closed"}:
        qs = qs.filter(state__in=FINAL_STATES)
    start = _parse_when(params["start_date"], "start_date") if params.get("start_date", "").strip() else None
    end = _parse_when(params["end_date"], "end_date", end=True) if params.get("end_date", "").strip() else None
    if start is None and end is None:
        end = timezone.now() + dt.timedelta(minutes=1)
        start = end - MAX_SPAN
    elif start is None:
        start = end - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error(400, _("end_date lies before start_date."))
    if end - start > MAX_SPAN:
        raise Open311Error(400, _("The range from start_date to end_date may not span more than 90 days."))
    qs = qs.filter(created_at__gte=start, created_at__lte=end)
    return list(qs.order_by("-created_at", "-id")[:MAX_RESULTS])


def _text(data, name: str, limit: int) -> str:
    value = (data.get(name) or "").strip()
    if len(value) > limit:
        raise Open311Error(400, _("%(name)s is too long (at most %(n)d characters).") % {"name": name, "n": limit})
    return value


def _coordinate(data, name: str, low: float, high: float) -> float | None:
    raw = (data.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, _("%(name)s is not a number.") % {"name": name}) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise Open311Error(400, _("%(name)s must lie between %(low)s and %(high)s (WGS-84).")
                           % {"name": name, "low": low, "high": high})
    return value


def _client_key(source, data) -> str | None:
    raw = data.get("attribute[client_key]")
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if len(raw) > MAX_CLIENT_KEY:
        raise Open311Error(400, _("attribute[client_key] is too long (at most %(n)d characters).")
                           % {"n": MAX_CLIENT_KEY})
    return f"o311-{source.pk}-{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:48]}"


def request_create(*, source, data) -> tuple[Case, str]:
    """File a case from the form of a POST Service Request. Returns the case and the client's account_id."""
    for key, values in data.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            raise Open311Error(400, _("NUL characters are not allowed."))
    category = _category(data.get("service_code"))
    lat = _coordinate(data, "lat", -90, 90)
    lng = _coordinate(data, "long", -180, 180)
    if (lat is None) != (lng is None):
        raise Open311Error(400, _("Send both lat and long."))
    address = _text(data, "address_string", 200)
    address_id = _text(data, "address_id", 40)
    area = None
    if address_id:
        area = Area.objects.filter(code=address_id).first()
        if area is None:
            raise Open311Error(400, _("address_id %(id)s is not an area code of this platform.") % {"id": address_id})
    if lat is None and not address and area is None:
        raise Open311Error(400, _("A location is required: lat and long, address_string or address_id."))
    description = _text(data, "description", MAX_DESCRIPTION) or category.name
    media_url = _text(data, "media_url", MAX_MEDIA_URL)
    if media_url:
        try:
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            raise Open311Error(400, _("media_url is not an http or https URL.")) from None
        description += MEDIA_MARKER + media_url
    first, last = _text(data, "first_name", 50), _text(data, "last_name", 50)
    name = f"{first} {last}".strip() if (first + last).isascii() else f"{last}{first}"
    if len(name) > 50:
        raise Open311Error(400, _("first_name and last_name are too long together (at most 50 characters)."))
    phone = _text(data, "phone", 20)
    account_id = _text(data, "account_id", 100)
    device_id = _text(data, "device_id", 100)
    client_key = _client_key(source, data)
    with transaction.atomic():
        existed = client_key is not None and Case.objects.filter(client_key=client_key).exists()
        case = services.case_create(
            actor=None, channel=Channel.OPEN311, source=source, category=category, description=description,
            lng=lng, lat=lat, area=area, address=address, reporter_name=name, reporter_phone=phone,
            client_key=client_key,
        )
        if not existed:
            audit.record(actor=f"open311:{source.name}", action="case.open311_create", obj=case,
                         area_path=case.area.path,
                         data={"source": source.name, "account_id": account_id, "device_id": device_id})
    return case, account_id


@open311_view("GET", "POST")
def service_requests(request, fmt: str):
    if request.method == "POST":
        source = sources.source_by_api_key(request.POST.get("api_key") or request.GET.get("api_key"))
        case, account_id = request_create(source=source, data=request.POST)
        notice = _("Received by %(desk)s. Tracking code %(code)s: the resident follows and rates the case with it.") \
            % {"desk": case.desk_area.name, "code": case.tracking_code}
        return render(fmt, "service_requests", [{
            "service_request_id": case.number, "service_notice": notice, "account_id": account_id or None,
        }])
    return render(fmt, "service_requests", [request_data(c, request) for c in _search(request)])


@open311_view("GET")
def service_request(request, request_id: str, fmt: str):
    pk = _pk_of_number(request_id)
    case = exposed_cases().filter(pk=pk).first()
    if case is None or case.number != request_id:
        raise Open311Error(404, _("service_request_id %(id)s was not found.") % {"id": request_id[:40]})
    return render(fmt, "service_requests", [request_data(case, request)])


@open311_view("GET")
def token(request, token: str, fmt: str):
    code = token.strip().upper()
    case = exposed_cases().filter(tracking_code=code).first() if 0 < len(code) <= 16 else None
    if case is None:
        raise Open311Error(404, _("token %(token)s was not found.") % {"token": token[:40]})
    return render(fmt, "service_requests", [{"service_request_id": case.number, "token": case.tracking_code}])


@csrf_exempt
def not_found(request, path: str = ""):
    return render_error(_format_of(request.path), 404, _("No such resource: use the paths and the .json or .xml "
                                                         "formats of GeoReport v2 (see discovery.xml)."))
