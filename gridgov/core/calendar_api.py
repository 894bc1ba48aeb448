"""API of the official working-day calendar: read a year, compute a deadline, change days and years."""

import datetime as dt
from typing import Literal

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from gridgov.core import calendar

router = Router(tags=["calendar"])


class DayOut(Schema):
    date: dt.date
    kind: Literal["holiday", "workday", "ordinary"] = Field(
        description="holiday: a day off (法定节假日); workday: a make-up workday (调休上班); "
                    "ordinary: as the week has it")
    name: str
    workday: bool


class YearOut(Schema):
    year: int
    known: bool = Field(description="Its official holidays have been entered; otherwise only weekends are off")
    source: str | None = Field(None, description="chinese_calendar when loaded from the bundled package")
    published_at: dt.datetime | None = None
    days: list[DayOut] = Field(description="The days that differ from the ordinary week, or name a holiday")


class DeadlineQuery(Schema):
    start: dt.datetime = Field(description="When the matter was received (ISO 8601; without an offset: Beijing time)")
    days: int | None = Field(None, description="Working days: the end of the Nth working day after the day of "
                                               "receipt; 0 is the end of that day")
    hours: float | None = Field(None, description="Clock hours from the moment of receipt, holidays included")


class DeadlineOut(Schema):
    start: dt.datetime
    days: int | None
    hours: float | None
    deadline: dt.datetime
    known: bool = Field(description="Every year from the start to the deadline is known; otherwise holidays of "
                                    "an unknown year were not counted")


class DayIn(Schema):
    kind: Literal["holiday", "workday", "ordinary"]
    name: str = ""


class DaysIn(DayIn):
    first: dt.date
    last: dt.date | None = Field(None, description="The last day of the range (inclusive); none: the first only")


class PublishIn(Schema):
    published: bool = True


class ImportDayIn(Schema):
    date: dt.date
    kind: Literal["holiday", "workday"]
    name: str = ""


class YearImportIn(Schema):
    days: list[ImportDayIn] = Field(max_length=366)
    published: bool = True


def _year_out(year: int) -> dict:
    row = calendar.year_record(year)
    return {
        "year": year,
        "known": row is not None,
        "source": row.source if row else None,
        "published_at": row.published_at if row else None,
        "days": calendar.current().year_days(year),
    }


@router.get("/calendar/deadline", response=DeadlineOut, summary="When a matter received at a moment is due")
def deadline(request, q: Query[DeadlineQuery]):
    snapshot = calendar.current()
    due = snapshot.deadline(q.start, days=q.days, hours=q.hours)
    start = q.start if timezone.is_aware(q.start) else q.start.replace(tzinfo=calendar.local_tz())
    return {"start": start.astimezone(calendar.local_tz()), "days": q.days, "hours": q.hours, "deadline": due,
            "known": snapshot.known_between(calendar.local_date(start), due.date())}


@router.get("/calendar/{int:year}", response=YearOut, summary="A year: its holidays, make-up workdays, known flag")
def get_year(request, year: int):
    calendar.check_year(year)
    return _year_out(year)


@router.put("/calendar/{int:year}", response=YearOut,
            summary="Replace a year's holidays and make-up workdays, and publish it (county administrators)")
def import_year(request, year: int, payload: YearImportIn):
    calendar.calendar_year_import(actor=request.user, year=year, days=[(d.date, d.kind, d.name) for d in payload.days],
                                  publish=payload.published)
    return _year_out(year)


@router.put("/calendar/{int:year}/published", response=YearOut,
            summary="Mark a year as published (its holidays entered in full), or take the mark back")
def publish_year(request, year: int, payload: PublishIn):
    calendar.calendar_year_publish(actor=request.user, year=year, published=payload.published)
    return _year_out(year)


@router.post("/calendar/{int:year}/library", response=YearOut,
             summary="Load a year from the bundled chinese-calendar package and publish it")
def import_library(request, year: int):
    calendar.calendar_year_import_library(actor=request.user, year=year)
    return _year_out(year)


@router.put("/calendar/days/{day}", response=DayOut, summary="Make one day a holiday, a make-up workday or ordinary")
def set_day(request, day: dt.date, payload: DayIn):
    calendar.calendar_days_set(actor=request.user, first=day, kind=payload.kind, name=payload.name)
    return calendar.day_info(day)


@router.post("/calendar/days", response=list[DayOut], summary="Set a range of days (at most 31) to one kind")
def set_days(request, payload: DaysIn):
    calendar.calendar_days_set(actor=request.user, first=payload.first, last=payload.last, kind=payload.kind,
                               name=payload.name)
    last = payload.last or payload.first
    snapshot = calendar.current()
    return [snapshot.day(payload.first + dt.timedelta(days=i)) for i in range((last - payload.first).days + 1)]
