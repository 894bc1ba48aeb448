"""When a household is due for a visit: the one function every list, page and endpoint asks. Never stored.

``due_state`` works in whole days of the deployment's time zone (Asia/Shanghai): a visit at 23:50 and one at
00:10 fall on different days, whatever the server's clock zone. The due date counts from the later of

- the day of the last visit that serves the duty (by the time of the visit, not of its upload: a visit
  counts for the period it was made in, however late it arrives), and
- the anchor: the day the household's colour last changed, or the day it was registered. A change of colour
  re-anchors the count, so that a household that turns red is due one red interval after the change, not at
  once for a visit missed under its old colour; and a household never visited is due one interval after it
  was registered.

due date = that day + the interval; overdue when today is after it; due today on it; "this week" when it
falls within the next six days.

A compulsory on-site visit (五必到) is due a number of hours after its case was filed (``onsite_due_at``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.utils import timezone

WEEK_DAYS = 6  # "this week": due within the next six days


class Status(StrEnum):
    OVERDUE = "overdue"
    TODAY = "today"
    WEEK = "week"
    LATER = "later"


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar day of an aware moment in the deployment's time zone (settings.TIME_ZONE)."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


@dataclass(frozen=True)
class DueState:
    duty: str
    every_days: int
    last_visit: dt.date | None
    anchor: dt.date
    due_date: dt.date
    days_left: int  # negative: overdue by that many days

    @property
    def status(self) -> Status:
        if self.days_left < 0:
            return Status.OVERDUE
        if self.days_left == 0:
            return Status.TODAY
        if self.days_left <= WEEK_DAYS:
            return Status.WEEK
        return Status.LATER

    @property
    def days_overdue(self) -> int:
        return max(0, -self.days_left)


def due_state(*, duty: str, every_days: int, last_visit: dt.datetime | None, anchor: dt.datetime,
              now: dt.datetime) -> DueState:
    """The due date of one duty of one household, and where ``now`` stands against it (see the module)."""
    if every_days < 1:
        raise ValueError("every_days must be at least 1")
    anchor_day = local_date(anchor)
    last_day = local_date(last_visit) if last_visit is not None else None
    start = max(last_day, anchor_day) if last_day is not None else anchor_day
    due_date = start + dt.timedelta(days=every_days)
    return DueState(duty=duty, every_days=every_days, last_visit=last_day, anchor=anchor_day, due_date=due_date,
                    days_left=(due_date - local_date(now)).days)


def onsite_due_at(case_created_at: dt.datetime, hours: int) -> dt.datetime:
    return case_created_at + dt.timedelta(hours=hours)
