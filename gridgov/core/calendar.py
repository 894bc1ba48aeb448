"""The official working-day calendar: the one place where working days and deadlines are computed.

The ordinary week works Monday to Friday. The exceptions are stored in ``CalendarDay``: a *holiday*
(法定节假日, a day off whatever its weekday) or a *make-up workday* (调休上班, a Saturday or Sunday that
is worked). A year with a ``CalendarYear`` row is *known*: its official holidays have been entered in
full. The table is seeded from the chinese-calendar package for every year it knows; later years are
entered when the State Council publishes them. Until then such a year counts weekends only (and any
exceptions already entered), and the calendar page warns about it.

Deadlines follow the 12345 hotline convention, in the Asia/Shanghai day (``settings.TIME_ZONE``):

- the day of receipt is day 0, whatever kind of day it is;
- ``days=N`` working days end at 23:59:59.999999 of the Nth working day after the day of receipt;
  ``days=0`` ends at the end of the day of receipt ("same day", emergencies);
- ``hours=H`` are plain clock hours from the moment of receipt, holidays included.

So a complaint received on Friday 2025-09-26 with 3 working days ends on Tuesday 2025-09-30
(Sunday 09-28 is a make-up workday), and one received during the National Day holiday on 2025-10-03
with 1 working day ends on Thursday 2025-10-09.

Reads use a per-process copy of the table. Every write bumps the random token of ``CalendarRevision``
in the same transaction, and each read compares its copy's token with the database's (one primary-key
query, about 10 µs on SQLite), so a change made by another process, or undone by a rollback, is never
read stale. Callers that compute many deadlines at once take one snapshot with ``current()`` and ask it.

Writes go through the ``calendar_*`` services below; who may write is ``can_change``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.core import audit
from gridgov.core.errors import ApplicationError, PermissionDenied
from gridgov.core.models import CalendarDay, CalendarRevision, CalendarYear, DayKind
from gridgov.core.scope import Perm, holds_on_whole_tree

MIN_YEAR = 2000  # the years the calendar can be read and edited for
MAX_YEAR = 2199
MAX_DAYS = 366  # the longest deadline in working days
MAX_HOURS = 24 * 366  # the longest deadline in clock hours
MAX_SPAN = 31  # the most days one change may cover
ORDINARY = "ordinary"  # not a stored kind: the day follows the ordinary week again
SET_KINDS = (DayKind.HOLIDAY.value, DayKind.WORKDAY.value, ORDINARY)
LIBRARY_SOURCE = "chinese_calendar"

# chinese-calendar names holidays in English; the calendar keeps the official Chinese names.
LIBRARY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


class CalendarErrorCode(StrEnum):
    INVALID_DAY = "calendar_invalid_day"
    INVALID_YEAR = "calendar_invalid_year"
    INVALID_DEADLINE = "calendar_invalid_deadline"


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    workday: bool
    kind: str  # "holiday", "workday" (make-up), or "ordinary"
    name: str = ""

    @property
    def weekend(self) -> bool:
        return self.date.weekday() >= 5


# --- reading -------------------------------------------------------------------------------------------------


def local_tz():
    return timezone.get_default_timezone()


def local_date(value: dt.date | dt.datetime) -> dt.date:
    """The Asia/Shanghai date of a moment; a naive datetime is taken as local time already."""
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            return value.date()
        return value.astimezone(local_tz()).date()
    return value


def end_of_day(day: dt.date) -> dt.datetime:
    """23:59:59.999999 of ``day``, Asia/Shanghai time (aware)."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=local_tz())


def _weekdays_through(day: dt.date) -> int:
    """How many Mondays to Fridays there are from 0001-01-01 (a Monday) to ``day`` inclusive."""
    n = day.toordinal()
    return n // 7 * 5 + min(n % 7, 5)


@dataclass(frozen=True)
class WorkCalendar:
    """An immutable snapshot of the calendar. All answers come from memory."""

    token: str
    days: dict[dt.date, tuple[str, str]]  # the exceptions: date -> (kind, name)
    known_years: frozenset[int]
    _weekday_holidays: list[dt.date] = field(default_factory=list, repr=False)  # holidays on Monday to Friday
    _weekend_workdays: list[dt.date] = field(default_factory=list, repr=False)

    @classmethod
    def build(cls, token: str, rows: Iterable[tuple[dt.date, str, str]], years: Iterable[int]) -> WorkCalendar:
        days = {d: (kind, name) for d, kind, name in rows}
        return cls(
            token=token,
            days=days,
            known_years=frozenset(years),
            _weekday_holidays=sorted(d for d, (k, _n) in days.items() if k == DayKind.HOLIDAY and d.weekday() < 5),
            _weekend_workdays=sorted(d for d, (k, _n) in days.items() if k == DayKind.WORKDAY and d.weekday() >= 5),
        )

    def is_workday(self, day: dt.date) -> bool:
        entry = self.days.get(day)
        if entry is not None:
            return entry[0] == DayKind.WORKDAY
        return day.weekday() < 5

    def day(self, day: dt.date) -> DayInfo:
        kind, name = self.days.get(day, (ORDINARY, ""))
        return DayInfo(date=day, workday=self.is_workday(day), kind=kind, name=name)

    def known_year(self, year: int) -> bool:
        return year in self.known_years

    def known_between(self, first: dt.date, last: dt.date) -> bool:
        """Whether every year from ``first`` to ``last`` is known."""
        return all(y in self.known_years for y in range(first.year, last.year + 1))

    def add_working_days(self, day: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``day`` (``day`` itself for 0). ``days`` is checked by the caller."""
        while days > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                days -= 1
        return day

    def deadline(self, start: dt.date | dt.datetime, *, days: int | None = None,
                 hours: float | None = None) -> dt.datetime:
        _check_deadline_args(start, days, hours)
        if hours is not None:
            moment = start if isinstance(start, dt.datetime) else dt.datetime.combine(start, dt.time())
            if timezone.is_naive(moment):
                moment = moment.replace(tzinfo=local_tz())
            return (moment + dt.timedelta(hours=hours)).astimezone(local_tz())
        return end_of_day(self.add_working_days(local_date(start), days))

    def workdays_between(self, start: dt.date | dt.datetime, end: dt.date | dt.datetime) -> int:
        """Working days after ``start``'s day up to and including ``end``'s day; negative when ``end`` is earlier.

        ``workdays_between(d, add_working_days(d, n)) == n``; a deadline missed by one working day gives 1.
        """
        a, b = local_date(start), local_date(end)
        if b < a:
            return -self.workdays_between(b, a)
        count = _weekdays_through(b) - _weekdays_through(a)
        count -= bisect.bisect_right(self._weekday_holidays, b) - bisect.bisect_right(self._weekday_holidays, a)
        count += bisect.bisect_right(self._weekend_workdays, b) - bisect.bisect_right(self._weekend_workdays, a)
        return count

    def year_days(self, year: int) -> list[DayInfo]:
        """The exceptions of ``year``, in date order."""
        return [self.day(d) for d in sorted(d for d in self.days if d.year == year)]


_cache: WorkCalendar | None = None
_load_lock = threading.Lock()


def _token() -> str:
    # Plain SQL: this runs for every deadline, and the ORM's own work would cost ten times the query.
    table = connection.ops.quote_name(CalendarRevision._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {table} WHERE id = 1")  # noqa: S608  (no outside input)
        row = cursor.fetchone()
    return row[0] if row else ""


def current() -> WorkCalendar:
    """The calendar as stored now (one query when the cached copy is still current)."""
    global _cache
    token = _token()
    cached = _cache
    if cached is not None and cached.token == token:
        return cached
    with _load_lock:
        calendar = WorkCalendar.build(
            token,
            CalendarDay.objects.order_by().values_list("date", "kind", "name"),
            CalendarYear.objects.order_by().values_list("year", flat=True),
        )
        _cache = calendar
    return calendar


def clear_cache() -> None:
    """Forget this process's copy; the next read loads the table again."""
    global _cache
    _cache = None


def is_workday(day: dt.date | dt.datetime) -> bool:
    """Whether ``day`` (a date, or a moment's Asia/Shanghai date) is a working day."""
    return current().is_workday(local_date(day))


def day_info(day: dt.date | dt.datetime) -> DayInfo:
    return current().day(local_date(day))


def known_year(year: int) -> bool:
    """Whether ``year``'s official holidays have been entered (otherwise it counts weekends only)."""
    return current().known_year(year)


def add_working_days(day: dt.date | dt.datetime, days: int) -> dt.date:
    """The date of the ``days``-th working day after ``day``'s date; ``day``'s own date for 0.

    ``days`` runs from 0 to MAX_DAYS; anything else raises ApplicationError.
    """
    _check_deadline_args(day, days, None)
    return current().add_working_days(local_date(day), days)


def deadline(start: dt.date | dt.datetime, *, days: int | None = None, hours: float | None = None) -> dt.datetime:
    """When something received at ``start`` is due, as an aware Asia/Shanghai datetime.

    Exactly one of ``days`` (working days, 0 to MAX_DAYS: the end of the ``days``-th working day after the day
    of receipt; 0 is the end of that same day) or ``hours`` (clock hours, more than 0 and at most MAX_HOURS,
    holidays included). A naive ``start`` is Asia/Shanghai time; a date is its midnight.
    Raises ApplicationError for anything else.
    """
    return current().deadline(start, days=days, hours=hours)


def workdays_between(start: dt.date | dt.datetime, end: dt.date | dt.datetime) -> int:
    """Working days elapsed from ``start``'s date to ``end``'s date: those after the first, up to and including
    the last (negative when ``end`` is earlier). For statistics: how many working days a case took or is late."""
    return current().workdays_between(start, end)


def _check_deadline_args(start, days, hours) -> None:
    def refuse(message: str, field_name: str):
        raise ApplicationError(CalendarErrorCode.INVALID_DEADLINE, message, fields={field_name: [message]})

    if not isinstance(start, dt.date):
        refuse(_("Give the start as a date and time."), "start")
    if not MIN_YEAR <= start.year <= MAX_YEAR:
        refuse(_("The calendar covers the years %(first)d to %(last)d.") % {"first": MIN_YEAR, "last": MAX_YEAR},
               "start")
    if (days is None) == (hours is None):
        refuse(_("Give either a number of working days or a number of hours."), "days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS):
        refuse(_("Working days run from 0 to %(max)d.") % {"max": MAX_DAYS}, "days")
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int | float)
                              or not math.isfinite(hours) or not 0 < hours <= MAX_HOURS):
        refuse(_("Hours must be more than 0 and at most %(max)d.") % {"max": MAX_HOURS}, "hours")


def year_record(year: int) -> CalendarYear | None:
    """The publication record of ``year``, or None while it is not known."""
    return CalendarYear.objects.filter(year=year).first()


def library_years() -> range:
    """The years the bundled chinese-calendar package knows."""
    from chinese_calendar import constants

    return range(min(constants.holidays).year, max(constants.holidays).year + 1)


def library_days(year: int) -> list[tuple[dt.date, str, str]] | None:
    """The exceptions of ``year`` as the chinese-calendar package has them, or None if it does not know the year."""
    from chinese_calendar import constants

    if year not in library_years():
        return None

    def name(value) -> str:
        text = str(getattr(value, "value", value))
        return LIBRARY_NAMES.get(text, text)[:50]

    days = {d: (DayKind.HOLIDAY.value, name(v)) for d, v in constants.holidays.items() if d.year == year}
    days.update({d: (DayKind.WORKDAY.value, name(v)) for d, v in constants.workdays.items() if d.year == year})
    return [(d, kind, n) for d, (kind, n) in sorted(days.items())]


# --- writing -------------------------------------------------------------------------------------------------


def can_change(user) -> bool:
    """Who may change the calendar: superusers, and area administrators whose posts cover every top-level
    area (the county). The calendar is the same for the whole county, so a town's administrator may not."""
    return holds_on_whole_tree(user, Perm.CALENDAR_CHANGE)


def _require_change(actor) -> None:
    if not can_change(actor):
        raise PermissionDenied(_("Only a county administrator may change the calendar."))


def _lock_revision() -> CalendarRevision:
    """The revision row, locked: calendar writes queue here, one after the other."""
    revision = CalendarRevision.objects.select_for_update().filter(pk=1).first()
    return revision or CalendarRevision.objects.create(pk=1, token=uuid.uuid4().hex)


def _bump(revision: CalendarRevision) -> None:
    """A new revision token, in the caller's transaction: every process reloads the table at its next read."""
    revision.token = uuid.uuid4().hex
    revision.changed_at = timezone.now()
    revision.save(update_fields=["token", "changed_at"])
    clear_cache()
    transaction.on_commit(clear_cache)


def check_year(year, field_name: str = "year") -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        message = _("The calendar covers the years %(first)d to %(last)d.") % {"first": MIN_YEAR, "last": MAX_YEAR}
        raise ApplicationError(CalendarErrorCode.INVALID_YEAR, message, fields={field_name: [message]})
    return year


def _day_problems(day: dt.date, kind: str, name: str) -> list[str]:
    """What is wrong with giving ``day`` this kind and name (empty when nothing)."""
    if kind not in SET_KINDS:
        return [_("Unknown kind of day: choose holiday, make-up workday or ordinary day.")]
    if len(name) > 50:
        return [_("At most %(n)d characters.") % {"n": 50}]
    if "\x00" in name:
        return [_("NUL characters are not allowed.")]
    if kind == DayKind.HOLIDAY and not name:
        return [_("A holiday needs its name, such as 春节.")]
    if kind == DayKind.WORKDAY and day.weekday() < 5:
        return [_("%(date)s is a weekday, a working day already: only a Saturday or Sunday can be a make-up "
                  "workday.") % {"date": day.isoformat()}]
    return []


def calendar_days_set(*, actor, first: dt.date, last: dt.date | None = None, kind: str,
                      name: str = "") -> list[dt.date]:
    """Makes every day from ``first`` to ``last`` (inclusive; ``first`` alone without it) a holiday, a make-up
    workday or an ordinary day again (``ORDINARY``, which deletes the exception). Returns the dates that changed.

    At most MAX_SPAN days at once; a make-up workday must fall on a Saturday or Sunday; a holiday needs a name.
    """
    _require_change(actor)
    last = first if last is None else last
    if not isinstance(first, dt.date) or not isinstance(last, dt.date):
        raise ApplicationError(CalendarErrorCode.INVALID_DAY, _("Give a date."), fields={"first": ["required"]})
    first, last = local_date(first), local_date(last)
    check_year(first.year, "first")
    check_year(last.year, "last")
    if last < first:
        message = _("The last day comes before the first.")
        raise ApplicationError(CalendarErrorCode.INVALID_DAY, message, fields={"last": [message]})
    if (last - first).days >= MAX_SPAN:
        message = _("At most %(n)d days at once.") % {"n": MAX_SPAN}
        raise ApplicationError(CalendarErrorCode.INVALID_DAY, message, fields={"last": [message]})
    name = (name or "").strip() if kind != ORDINARY else ""
    dates = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    for day in dates:
        problems = _day_problems(day, kind, name)
        if problems:
            field_name = "kind" if kind not in SET_KINDS else "name" if kind == DayKind.HOLIDAY else "first"
            raise ApplicationError(CalendarErrorCode.INVALID_DAY, problems[0], fields={field_name: problems})

    with transaction.atomic():
        revision = _lock_revision()
        before = {row.date: row for row in CalendarDay.objects.select_for_update().filter(date__in=dates)}
        changed: list[dict] = []
        now = timezone.now()
        for day in dates:
            row = before.get(day)
            old = (row.kind, row.name) if row else (ORDINARY, "")
            if old == (kind, name):
                continue
            if kind == ORDINARY:
                row.delete()
            elif row is None:
                CalendarDay.objects.create(date=day, kind=kind, name=name, updated_at=now)
            else:
                row.kind, row.name, row.updated_at = kind, name, now
                row.save(update_fields=["kind", "name", "updated_at"])
            changed.append({"date": day.isoformat(), "before": old[0], "before_name": old[1]})
        if changed:
            _bump(revision)
            span = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
            audit.record(actor=actor, action="calendar.days_set", object_repr=f"{span} {kind} {name}".strip(),
                         data={"first": first.isoformat(), "last": last.isoformat(), "kind": kind, "name": name,
                               "changed": changed})
    return [dt.date.fromisoformat(c["date"]) for c in changed]


def calendar_year_publish(*, actor, year: int, published: bool = True, source: str = "") -> CalendarYear | None:
    """Marks ``year``'s official holidays as entered in full (known), or takes the mark back. Returns the row."""
    _require_change(actor)
    check_year(year)
    with transaction.atomic():
        revision = _lock_revision()
        row = CalendarYear.objects.filter(year=year).first()
        if published and row is None:
            _bump(revision)
            row = CalendarYear.objects.create(year=year, source=source[:32])
            audit.record(actor=actor, action="calendar.year_publish", obj=row, data={"year": year, "source": source})
        elif not published and row is not None:
            _bump(revision)
            audit.record(actor=actor, action="calendar.year_unpublish", object_repr=str(year),
                         data={"year": year, "source": row.source})
            row.delete()
            row = None
    return row


def calendar_year_import(*, actor, year: int, days: Iterable[tuple[dt.date, str, str]], publish: bool = True,
                         source: str = "") -> int:
    """Replaces every exception of ``year`` with ``days`` (date, kind, name), all or nothing, and publishes the
    year unless told not to. ``kind`` is holiday or workday. Returns how many days the year now has."""
    _require_change(actor)
    check_year(year)
    rows: dict[dt.date, tuple[str, str]] = {}
    problems: dict[str, list[str]] = {}
    for index, item in enumerate(days):
        try:
            day, kind, name = item
        except (TypeError, ValueError):
            problems[f"days.{index}"] = [_("Give a date, a kind and a name.")]
            continue
        name = (name or "").strip()
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime) or day.year != year:
            problems[f"days.{index}"] = [_("A day of %(year)d is needed here.") % {"year": year}]
        elif day in rows:
            problems[f"days.{index}"] = [_("%(date)s is given twice.") % {"date": day.isoformat()}]
        elif kind == ORDINARY:
            problems[f"days.{index}"] = [_("Unknown kind of day: choose holiday, make-up workday or ordinary day.")]
        elif found := _day_problems(day, kind, name):
            problems[f"days.{index}"] = found
        else:
            rows[day] = (kind, name)
        if len(problems) >= 20:
            break
    if problems:
        raise ApplicationError(CalendarErrorCode.INVALID_DAY, _("Some days are not valid; nothing was saved."),
                               fields=problems)

    with transaction.atomic():
        _bump(_lock_revision())
        removed = CalendarDay.objects.filter(date__year=year).delete()[0]
        now = timezone.now()
        CalendarDay.objects.bulk_create(
            [CalendarDay(date=d, kind=k, name=n, updated_at=now) for d, (k, n) in sorted(rows.items())]
        )
        if publish:
            CalendarYear.objects.update_or_create(year=year, defaults={"source": source[:32],
                                                                       "published_at": now})
        audit.record(actor=actor, action="calendar.year_import", object_repr=str(year),
                     data={"year": year, "days": len(rows), "removed": removed, "publish": publish,
                           "source": source})
    return len(rows)


def calendar_year_import_library(*, actor, year: int) -> int:
    """Loads ``year`` from the bundled chinese-calendar package (after an upgrade brings a new year) and
    publishes it. Refused when the package does not know the year."""
    _require_change(actor)
    check_year(year)
    days = library_days(year)
    if days is None:
        message = _("The bundled calendar package does not know %(year)d: enter its holidays by hand.") % {
            "year": year}
        raise ApplicationError(CalendarErrorCode.INVALID_YEAR, message, fields={"year": [message]})
    return calendar_year_import(actor=actor, year=year, days=days, publish=True, source=LIBRARY_SOURCE)
