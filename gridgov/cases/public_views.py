"""The resident's public pages, without login: 随手拍 (report a problem), follow a case by its tracking code,
rate it when it is closed.

What the public sees of a case, and nothing more:

- its state in plain words (``PUBLIC_STATES``), its domain and category, its title (the first line the reporter
  wrote), when it was filed, the expected completion while it is open, when it was closed and how (the
  outcome's kind: fixed, or closed not fixed because not responsible / cannot fix / duplicate / referred —
  never the closing note), and its rating;
- its timeline as plain steps (``PUBLIC_STEPS``): which step, and when. Staff names, notes, units and areas
  never show, and internal steps are left out altogether: urging (催办), formal supervision (督办) and its
  reports, comments, assisting units' reports, send-backs to the dispatcher and deadline warnings;
- photos: only the public copies (re-encoded without EXIF/GPS/XMP) and thumbnails of the case's own
  attachments; originals and PDF documents never;
- a report merged into another shows the original's state, steps and rating form (its own photos stay its own).

Never shown: the reporter's name or phone number, the address, the description beyond its first line,
coordinates, areas, units and staff.

Abuse: reports are limited per client address and hour (``CASE_PUBLIC_REPORTS_PER_HOUR``), a honeypot field
catches form-filling robots, and a client key generated with the form makes a double submit file once.
Tracking-code pages are limited per address and hour (``CASE_PUBLIC_LOOKUPS_PER_HOUR``) and unknown codes
much more strictly (``CASE_PUBLIC_MISSES_PER_HOUR``), so that codes cannot be enumerated. The counters live in
Django's cache: per process with the default local-memory cache, shared by all workers when the cache is Redis.
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from gridgov.cases import attachments, selectors, services
from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.models import Channel, Outcome, State
from gridgov.cases.public_forms import RATING_CHOICES, RatingForm, ReportForm, TrackForm
from gridgov.core.audit import client_ip
from gridgov.core.errors import ApplicationError, NotFound
from gridgov.core.forms import add_application_error

# The state in plain words, and where it stands on the four-step progress bar
# (received → accepted → being handled → done).
PUBLIC_STATES = {
    State.SUBMITTED: (gettext_lazy("Received, waiting to be accepted"), 1),
    State.ACCEPTED: (gettext_lazy("Accepted"), 2),
    State.REGISTERED: (gettext_lazy("Accepted, being arranged"), 2),
    State.DISPATCHED: (gettext_lazy("Being handled"), 3),
    State.HANDLING: (gettext_lazy("Being handled"), 3),
    State.REPORTED: (gettext_lazy("Handled, being checked"), 3),
    State.SUSPENDED: (gettext_lazy("On hold for long-term handling"), 3),
    State.CLOSED: (gettext_lazy("Closed"), 4),
    State.REFUSED: (gettext_lazy("Not accepted"), 0),
    State.MERGED: (gettext_lazy("Merged with an earlier report"), 0),
}
PROGRESS = (gettext_lazy("Received"), gettext_lazy("Accepted"), gettext_lazy("Being handled"), gettext_lazy("Done"))

# The public steps of a timeline. Any verb not listed here is internal and never shown.
PUBLIC_STEPS = {
    "create": gettext_lazy("Report received"),
    "accept": gettext_lazy("Accepted"),
    "refuse": gettext_lazy("Not accepted"),
    "register": gettext_lazy("Registered for handling"),
    "self_handle": gettext_lazy("Being handled on the spot"),
    "dispatch": gettext_lazy("Sent to the responsible unit"),
    "reassign": gettext_lazy("Sent to another responsible unit"),
    "start": gettext_lazy("Handling started"),
    "escalate": gettext_lazy("Passed to the level above"),
    "report": gettext_lazy("Handling done, being checked"),
    "rework": gettext_lazy("Checked: more work needed"),
    "close": gettext_lazy("Closed"),
    "rate": gettext_lazy("Rated"),
    "reopen": gettext_lazy("Reopened"),
    "suspend": gettext_lazy("On hold for long-term handling"),
    "resume": gettext_lazy("Handling resumed"),
    "merge": gettext_lazy("Merged with an earlier report of the same problem"),
    "visit": gettext_lazy("On-site visit"),
}
PUBLIC_OUTCOMES = {
    Outcome.FIXED: gettext_lazy("fixed"),
    Outcome.NOT_RESPONSIBLE: gettext_lazy("not fixed: not a matter for these offices"),
    Outcome.CANNOT_FIX: gettext_lazy("not fixed: it cannot be fixed"),
    Outcome.DUPLICATE: gettext_lazy("not fixed: a duplicate report"),
    Outcome.REFERRED: gettext_lazy("not fixed: referred to another office"),
}
RATING_LABELS = dict(RATING_CHOICES)

# --- rate limits ---------------------------------------------------------------------------------

HOUR = 3600


def _bucket_key(request, bucket: str) -> str:
    return f"gridgov:public:{bucket}:{client_ip(request) or '-'}:{int(time.time() // HOUR)}"


def _count(request, bucket: str) -> int:
    return cache.get(_bucket_key(request, bucket), 0)


def _hit(request, bucket: str) -> None:
    key = _bucket_key(request, bucket)
    cache.add(key, 0, HOUR + 60)
    try:
        cache.incr(key)
    except ValueError:  # evicted in between
        cache.set(key, 1, HOUR + 60)


def _lookups_exhausted(request) -> bool:
    return (_count(request, "lookup") >= settings.CASE_PUBLIC_LOOKUPS_PER_HOUR
            or _count(request, "miss") >= settings.CASE_PUBLIC_MISSES_PER_HOUR)


def _too_many(request, message: str):
    return render(request, "cases/public/limited.html", {"message": message}, status=429)


def _lookup_limited(request):
    return _too_many(request, _("Too many look-ups from your connection in the past hour. "
                                "Please try again later."))


def _not_found(request, code: str = ""):
    return render(request, "cases/public/not_found.html", {"code": code, "form": TrackForm(initial={"code": code})},
                  status=404)


# --- 随手拍 ----------------------------------------------------------------------------------------


def _render_report(request, form, status=200):
    return render(request, "cases/public/report.html", {
        "form": form,
        "max_files": settings.CASE_UPLOAD_MAX_FILES,
        "max_mb": settings.CASE_UPLOAD_MAX_MB,
    }, status=status)


@never_cache
def report(request):
    """The 随手拍 form; a valid report is filed as a self-report case and answered with its tracking code."""
    if request.method == "GET":
        return _render_report(request, ReportForm(initial={"client_key": uuid.uuid4()}))
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    form = ReportForm(request.POST, request.FILES)
    if form.is_robot:
        form.is_valid()
        form.add_error(None, _("Your report could not be sent. Please try again."))
        return _render_report(request, form, status=400)
    if not form.is_valid():
        return _render_report(request, form, status=400)
    data = form.cleaned_data
    key = f"web-{data['client_key'].hex}"
    done = cache.get(f"gridgov:public:filed:{key}")
    if done:  # a double submit: the report is already filed
        return _done_redirect(request, done, from_photo=False)
    if _count(request, "report") >= settings.CASE_PUBLIC_REPORTS_PER_HOUR:
        form.add_error(None, _("Too many reports from your connection in the past hour (at most %(count)s). "
                               "Please try again later.") % {"count": settings.CASE_PUBLIC_REPORTS_PER_HOUR})
        return _render_report(request, form, status=429)
    lng, lat = data.get("lng"), data.get("lat")
    from_photo = False
    if lng is None and data["photos"]:
        for upload in data["photos"]:
            found = attachments.read_location(upload)
            if found:
                (lng, lat), from_photo = found, True
                break
    started = timezone.now()
    try:
        with attachments.discard_on_error():
            case = services.case_create(
                actor=None, channel=Channel.SELF_REPORT, description=data["description"],
                category=data.get("category"), lng=lng, lat=lat, address=data.get("address", ""),
                reporter_name=data.get("name", ""), reporter_phone=data["phone"], client_key=key,
                uploads=data["photos"],
            )
    except ApplicationError as exc:
        if exc.code == CaseErrorCode.INVALID_ATTACHMENT:
            form.add_error("photos", exc.message)
        else:
            add_application_error(form, exc)
        return _render_report(request, form, status=exc.status)
    if case.created_at >= started:  # a new case, not the answer to a retry
        _hit(request, "report")
    cache.set(f"gridgov:public:filed:{key}", case.tracking_code, 24 * HOUR)
    return _done_redirect(request, case.tracking_code, from_photo=from_photo)


def _done_redirect(request, code: str, *, from_photo: bool):
    request.session["gridgov_report_done"] = {"code": code, "from_photo": from_photo}
    return redirect("report_done")


@never_cache
@require_GET
def report_done(request):
    done = request.session.get("gridgov_report_done")
    if not done:
        return redirect("report")
    return render(request, "cases/public/done.html", {
        "code": done["code"],
        "from_photo": done.get("from_photo"),
        "track_url": request.build_absolute_uri(reverse("track_case", args=[done["code"]])),
    })


@require_GET
def report_similar(request):
    """htmx partial: open cases of the chosen category near the chosen place, before filing.

    Only the category, the distance, the state in plain words and the day show. Not even the title: it is the
    first line another resident wrote, and people write names and numbers into it."""
    found = []
    if _count(request, "similar") < settings.CASE_PUBLIC_LOOKUPS_PER_HOUR * 3:
        try:
            lng, lat = float(request.GET.get("lng", "")), float(request.GET.get("lat", ""))
            category_id = int(request.GET.get("category", ""))
        except ValueError:
            lng = lat = category_id = None
        if category_id is not None and -180 <= lng <= 180 and -90 <= lat <= 90:
            _hit(request, "similar")
            category = selectors.categories_active().filter(pk=category_id).first()
            for case in selectors.duplicate_candidates(category=category, lng=lng, lat=lat):
                found.append({
                    "category": category.name,
                    "distance": round(selectors._distance_m(lng, lat, case.lng, case.lat)),
                    "state": PUBLIC_STATES[case.state][0],
                    "created_at": case.created_at,
                })
    return render(request, "cases/public/report.html#similar", {"similar": found})


@require_GET
def report_outlines(request):
    """GeoJSON of the county's outline and its towns, so that a place can be picked on a map without tiles."""
    data = cache.get("gridgov:public:outlines")
    if data is None:
        data = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": area.geometry, "properties": {"name": area.name, "depth": len(area.path)}}
            for area in selectors.public_area_outlines()
        ]}
        cache.set("gridgov:public:outlines", data, 600)
    response = JsonResponse(data)
    response["Cache-Control"] = "public, max-age=600"
    return response


# --- following a case ----------------------------------------------------------------------------


@require_GET
def track(request):
    """Enter a tracking code."""
    form = TrackForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return redirect("track_case", code=form.cleaned_data["code"])
    return render(request, "cases/public/track_form.html", {"form": form}, status=400 if form.is_bound else 200)


def _public_steps(case) -> list[dict]:
    steps = []
    for action in selectors.case_timeline(case=case):
        label = PUBLIC_STEPS.get(action.verb)
        if label is None:
            continue
        detail = ""
        if action.verb == "close":
            detail = PUBLIC_OUTCOMES.get(action.data.get("outcome"), "")
        elif action.verb == "rate":
            detail = RATING_LABELS.get(action.data.get("rating"), "")
        steps.append({"label": label, "detail": detail, "at": action.at, "verb": action.verb})
    return steps


@never_cache
def track_case(request, code: str):
    """The public status of one case (see the module docstring for what shows)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    if _lookups_exhausted(request):
        return _lookup_limited(request)
    _hit(request, "lookup")
    try:
        case = selectors.case_get_public(tracking_code=code)
    except NotFound:
        _hit(request, "miss")
        return _not_found(request, code[:16])
    return _render_track(request, case, RatingForm())


def _render_track(request, case, rating_form, status=200):
    shown = selectors.case_public_original(case=case)
    label, stage = PUBLIC_STATES[shown.state]
    can_rate = shown.state == State.CLOSED and not shown.rating
    return render(request, "cases/public/track.html", {
        "case": case,
        "shown": shown,
        "merged": shown.pk != case.pk,
        "state_label": label,
        "stage": stage,
        "progress": [{"label": p, "done": i < stage, "current": i + 1 == stage < len(PROGRESS)}
                     for i, p in enumerate(PROGRESS)],
        "outcome": PUBLIC_OUTCOMES.get(shown.outcome, "") if shown.state == State.CLOSED else "",
        "rating": RATING_LABELS.get(shown.rating, ""),
        "steps": _public_steps(shown),
        "photos": list(selectors.case_public_photos(case=case)),
        "can_rate": can_rate,
        "rating_form": rating_form,
    }, status=status)


@require_POST
def track_rate(request, code: str):
    """满意 / 基本满意 / 不满意 and a comment, once, when the case is closed."""
    if _lookups_exhausted(request):
        return _lookup_limited(request)
    _hit(request, "lookup")
    try:
        case = selectors.case_get_public(tracking_code=code)
    except NotFound:
        _hit(request, "miss")
        return _not_found(request, code[:16])
    form = RatingForm(request.POST)
    if not form.is_valid():
        return _render_track(request, case, form, status=400)
    try:
        rated = services.case_rate_public(tracking_code=case.tracking_code, rating=form.cleaned_data["rating"],
                                          note=form.cleaned_data["comment"])
    except ApplicationError as exc:
        add_application_error(form, exc)
        return _render_track(request, case, form, status=exc.status)
    if rated.rating == "unsatisfied":
        messages.success(request, _("Thank you. We are sorry it was not handled well: the centre has been told "
                                    "and may take the case up again."))
    else:
        messages.success(request, _("Thank you for your rating."))
    return redirect("track_case", code=case.tracking_code)


@require_GET
def track_photo(request, code: str, pk: int, size: str = "full"):
    """A public copy (or its thumbnail) of a photo of the case: metadata stripped, never the original."""
    if _count(request, "miss") >= settings.CASE_PUBLIC_MISSES_PER_HOUR:
        return _lookup_limited(request)
    try:
        case = selectors.case_get_public(tracking_code=code)
        photo = next((p for p in selectors.case_public_photos(case=case) if p.pk == pk), None)
        if photo is None:
            raise NotFound("No such photo.")
    except NotFound:
        _hit(request, "miss")
        raise Http404("No such photo.") from None
    field = photo.thumbnail if size == "thumb" and photo.thumbnail else photo.public_file
    try:
        handle = default_storage.open(field.name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("No such photo.") from None
    response = FileResponse(handle, content_type=attachments.public_content_type(field.name))
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = "inline"
    return response
