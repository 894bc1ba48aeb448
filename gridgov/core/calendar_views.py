"""Pages of the official working-day calendar: a year in month grids, and its changes. Thin: parse, call, render."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gridgov.core import calendar as workcal
from gridgov.core.errors import ApplicationError
from gridgov.core.forms import add_application_error
from gridgov.core.models import DayKind


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DaysForm(forms.Form):
    first = forms.DateField(label=gettext_lazy("Date"), widget=DateInput)
    last = forms.DateField(label=gettext_lazy("To (optional)"), widget=DateInput, required=False,
                           help_text=gettext_lazy("For a range of days, at most 31."))
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=[
        (DayKind.HOLIDAY.value, gettext_lazy("Holiday (day off)")),
        (DayKind.WORKDAY.value, gettext_lazy("Make-up workday (Saturday or Sunday worked)")),
        (workcal.ORDINARY, gettext_lazy("Ordinary day (as the week has it)")),
    ])
    name = forms.CharField(label=gettext_lazy("Name"), max_length=50, required=False,
                           help_text=gettext_lazy("The holiday, such as 春节 or 国庆节."))


class DeadlineForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("Received on"), widget=DateInput)
    days = forms.IntegerField(label=gettext_lazy("Working days"), min_value=0, max_value=workcal.MAX_DAYS)


@dataclass(frozen=True)
class Cell:
    info: workcal.DayInfo
    today: bool
    show_name: bool  # the first day of a run of days with this name

    @property
    def css(self) -> str:
        classes = ["day"]
        if self.info.kind == DayKind.HOLIDAY:
            classes.append("holiday")
        elif self.info.kind == DayKind.WORKDAY:
            classes.append("makeup")
        elif self.info.weekend:
            classes.append("weekend")
        if self.today:
            classes.append("today")
        return " ".join(classes)


@dataclass(frozen=True)
class Period:
    name: str
    kind: str
    first: dt.date
    last: dt.date
    count: int


def _months(snapshot: workcal.WorkCalendar, year: int) -> list[dict]:
    today = timezone.localdate()
    months = []
    for month in range(1, 13):
        weeks = []
        for week in pycalendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            row = []
            for day in week:
                if day.month != month:
                    row.append(None)
                    continue
                info = snapshot.day(day)
                before = snapshot.day(day - dt.timedelta(days=1))
                show = bool(info.name) and (before.name != info.name or before.kind != info.kind or day.day == 1)
                row.append(Cell(info=info, today=day == today, show_name=show))
            weeks.append(row)
        months.append({"first": dt.date(year, month, 1), "weeks": weeks})
    return months


def _periods(days: list[workcal.DayInfo]) -> list[Period]:
    """Consecutive days of the same kind and name, as one line each."""
    periods: list[Period] = []
    for info in days:
        last = periods[-1] if periods else None
        if (last and last.kind == info.kind and last.name == info.name
                and (info.date - last.last).days == 1):
            periods[-1] = Period(last.name, last.kind, last.first, info.date, last.count + 1)
        else:
            periods.append(Period(info.name, info.kind, info.date, info.date, 1))
    return periods


def _render(request, year: int, *, form: DaysForm | None = None, status: int = 200):
    if not workcal.MIN_YEAR <= year <= workcal.MAX_YEAR:
        raise Http404
    snapshot = workcal.current()
    can_change = workcal.can_change(request.user)
    if can_change and form is None:
        initial = {"first": request.GET.get("date") or None}
        form = DaysForm(initial=initial)
    deadline_form = DeadlineForm(request.GET if "start" in request.GET else None)
    due, due_known = None, True
    if deadline_form.is_bound and deadline_form.is_valid():
        start = deadline_form.cleaned_data["start"]
        try:
            due = snapshot.deadline(start, days=deadline_form.cleaned_data["days"])
        except ApplicationError as exc:
            add_application_error(deadline_form, exc)
        else:
            due_known = snapshot.known_between(start, due.date())
    record = workcal.year_record(year)
    days = snapshot.year_days(year)
    context = {
        "year": year,
        "previous": year - 1 if year > workcal.MIN_YEAR else None,
        "next": year + 1 if year < workcal.MAX_YEAR else None,
        "this_year": timezone.localdate().year,
        "record": record,
        "known": record is not None,
        "months": _months(snapshot, year),
        "holidays": [p for p in _periods(days) if p.kind == DayKind.HOLIDAY],
        "makeups": [p for p in _periods(days) if p.kind == DayKind.WORKDAY],
        "can_change": can_change,
        "form": form if can_change else None,
        "library_knows": year in workcal.library_years(),
        "deadline_form": deadline_form,
        "due": due,
        "due_known": due_known,
        "weekday_names": [_("Mo"), _("Tu"), _("We"), _("Th"), _("Fr"), _("Sa"), _("Su")],
        "nav_section": "calendar",
    }
    return render(request, "core/calendar.html", context, status=status)


@login_required
def calendar_year(request, year: int | None = None):
    if year is None:
        try:
            year = int(request.GET.get("year") or timezone.localdate().year)
        except ValueError:
            year = timezone.localdate().year
    return _render(request, year)


def _require_change(request) -> None:
    if not workcal.can_change(request.user):
        raise PermissionDenied


@login_required
@require_POST
def calendar_days_set(request):
    _require_change(request)
    form = DaysForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = workcal.calendar_days_set(actor=request.user, first=data["first"], last=data["last"],
                                                kind=data["kind"], name=data["name"])
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            if changed:
                messages.success(request, _("%(n)d days changed.") % {"n": len(changed)})
            else:
                messages.info(request, _("Nothing to change."))
            return redirect("calendar_year", year=data["first"].year)
    year = form.cleaned_data.get("first").year if form.cleaned_data.get("first") else timezone.localdate().year
    year = min(max(year, workcal.MIN_YEAR), workcal.MAX_YEAR)
    return _render(request, year, form=form, status=400)


@login_required
@require_POST
def calendar_year_publish(request, year: int):
    _require_change(request)
    published = request.POST.get("published") != "0"
    try:
        workcal.calendar_year_publish(actor=request.user, year=year, published=published)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("calendar")
    if published:
        messages.success(request, _("The holidays of %(year)d are marked as published.") % {"year": year})
    else:
        messages.success(request, _("%(year)d is no longer marked as published.") % {"year": year})
    return redirect("calendar_year", year=year)


@login_required
@require_POST
def calendar_year_library(request, year: int):
    _require_change(request)
    try:
        count = workcal.calendar_year_import_library(actor=request.user, year=year)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("calendar")
    messages.success(request, _("%(year)d loaded from the bundled calendar: %(n)d days.") % {"year": year, "n": count})
    return redirect("calendar_year", year=year)
