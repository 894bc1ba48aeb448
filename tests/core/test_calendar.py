"""The official working-day calendar: the seeded holidays, deadlines in working days and hours, unknown years,
the per-process copy and its invalidation, who may change it (pages and API, each role), and bad input."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from django.db import transaction
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgov.areas.models import Role
from gridgov.core import calendar
from gridgov.core.errors import ApplicationError, PermissionDenied
from gridgov.core.models import AuditEvent, CalendarDay, CalendarRevision, CalendarYear
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def _english(client, settings):
    """The assertions read the English messages; pages and API are Chinese by default."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


SH = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
API = "/api/v1"
D = dt.date

# Who may change the calendar, written apart from the code: superusers and area administrators whose post
# covers the whole tree (the county). Everyone logged in may read it.
ROLES = ["superuser", "county_admin", "county_operator", "leader", "town_admin_a", "town_admin_b",
         "town_operator_a", "village_staff_a", "grid_worker_a", "grid_police_a", "dept_handler", "nobody"]
MAY_CHANGE = {"superuser", "county_admin"}


def end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59, 999999), tzinfo=SH)


def at(y, m, d, hh=10, mm=0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture(autouse=True)
def _fresh_calendar():
    calendar.clear_cache()
    yield
    calendar.clear_cache()


@pytest.fixture
def people(users, tree):
    users.county_admin = make_user("county_admin", area=tree.county, role=Role.AREA_ADMIN)
    return users


@pytest.fixture
def as_role(client, people):
    def login(role: str):
        client.force_login(getattr(people, role))
        return client

    return login


def state() -> tuple:
    """Everything a refused change must leave as it was."""
    return (
        sorted(CalendarDay.objects.values_list("date", "kind", "name")),
        sorted(CalendarYear.objects.values_list("year", "source")),
        CalendarRevision.objects.get(pk=1).token,
        AuditEvent.objects.count(),
    )


def call(client, method: str, path: str, data=None):
    kwargs = {} if data is None else {"data": data if isinstance(data, str) else json.dumps(data),
                                      "content_type": "application/json"}
    return getattr(client, method)(API + path, **kwargs)


# --- the seeded calendar ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_national_day_2025_as_seeded():
    for day in range(1, 9):
        info = calendar.day_info(D(2025, 10, day))
        assert not info.workday and info.kind == "holiday", day
    assert calendar.day_info(D(2025, 10, 1)).name == "国庆节"
    assert calendar.day_info(D(2025, 10, 6)).name == "中秋节"  # the Mid-autumn Festival falls inside the week
    for day in (D(2025, 9, 28), D(2025, 10, 11)):  # a Sunday and a Saturday worked
        info = calendar.day_info(day)
        assert info.workday and info.kind == "workday" and info.weekend and info.name == "国庆节"
    assert calendar.is_workday(D(2025, 10, 9)) and calendar.is_workday(D(2025, 9, 30))
    assert not calendar.is_workday(D(2025, 10, 12))  # an ordinary Sunday
    assert calendar.known_year(2025)


@pytest.mark.django_db
def test_spring_festival_2026_as_the_package_has_it():
    holidays = sorted(d for d, name in chinese_calendar.holidays.items()
                      if d.year == 2026 and str(getattr(name, "value", name)) == "Spring Festival")
    makeups = sorted(d for d, name in chinese_calendar.workdays.items()
                     if d.year == 2026 and str(getattr(name, "value", name)) == "Spring Festival")
    assert holidays[0] == D(2026, 2, 15) and holidays[-1] == D(2026, 2, 23) and len(holidays) == 9
    assert makeups == [D(2026, 2, 14), D(2026, 2, 28)]
    for day in holidays:
        assert calendar.day_info(day) == calendar.DayInfo(day, False, "holiday", "春节")
    for day in makeups:
        assert calendar.day_info(day) == calendar.DayInfo(day, True, "workday", "春节")
    assert calendar.is_workday(D(2026, 2, 24))


@pytest.mark.django_db
def test_every_year_the_package_knows_is_seeded_and_known():
    years = calendar.library_years()
    assert years.start == 2004 and years.stop - 1 >= 2026
    assert sorted(CalendarYear.objects.values_list("year", flat=True)) == list(years)
    assert set(CalendarYear.objects.values_list("source", flat=True)) == {"chinese_calendar"}
    assert CalendarDay.objects.count() == len(chinese_calendar.holidays) + len(chinese_calendar.workdays)
    snapshot = calendar.current()
    for day in list(chinese_calendar.holidays) + list(chinese_calendar.workdays):
        assert snapshot.is_workday(day) == chinese_calendar.is_workday(day), day
    assert not calendar.known_year(years.stop)


# --- deadlines ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (at(2025, 9, 30, 15), 0, D(2025, 9, 30)),  # same day
        (at(2025, 9, 30, 15), 1, D(2025, 10, 9)),  # across the National Day holiday
        (at(2025, 9, 30, 15), 3, D(2025, 10, 11)),  # ... and onto the Saturday worked
        (at(2025, 10, 3, 9), 0, D(2025, 10, 3)),  # received on a holiday: still the same day
        (at(2025, 10, 3, 9), 1, D(2025, 10, 9)),
        (at(2025, 9, 26, 18), 1, D(2025, 9, 28)),  # Friday, then the Sunday worked
        (at(2025, 9, 26, 18), 3, D(2025, 9, 30)),
        (at(2025, 9, 26, 18), 13, D(2025, 10, 21)),  # a complaint's 13 working days
        (at(2026, 2, 13, 8), 1, D(2026, 2, 14)),  # Friday before the Spring Festival: the Saturday is worked
        (at(2026, 2, 13, 8), 2, D(2026, 2, 24)),
    ],
)
def test_deadline_in_working_days(start, days, due):
    result = calendar.deadline(start, days=days)
    assert result == end(due)
    assert result.utcoffset() == dt.timedelta(hours=8)
    assert calendar.add_working_days(start, days) == due
    assert calendar.workdays_between(start, due) == days


@pytest.mark.django_db
def test_deadline_uses_the_beijing_day_of_the_moment():
    # 2025-09-30 20:00 UTC is already 2025-10-01 04:00 in Beijing, a holiday.
    assert calendar.deadline(dt.datetime(2025, 9, 30, 20, 0, tzinfo=UTC), days=0) == end(D(2025, 10, 1))
    assert calendar.deadline(dt.datetime(2025, 9, 30, 15, 0, tzinfo=UTC), days=0) == end(D(2025, 9, 30))
    # A naive moment is Beijing time; a date is its day.
    assert calendar.deadline(dt.datetime(2025, 9, 30, 23, 30), days=1) == end(D(2025, 10, 9))
    assert calendar.deadline(D(2025, 9, 30), days=1) == end(D(2025, 10, 9))


@pytest.mark.django_db
def test_deadline_in_hours_counts_the_clock():
    assert calendar.deadline(at(2025, 10, 1, 10), hours=4) == at(2025, 10, 1, 14)
    assert calendar.deadline(at(2025, 10, 1, 10), hours=24) == at(2025, 10, 2, 10)  # holidays included
    assert calendar.deadline(at(2025, 10, 1, 22, 30), hours=2.5) == at(2025, 10, 2, 1, 0)
    due = calendar.deadline(dt.datetime(2025, 10, 1, 2, 0, tzinfo=UTC), hours=1)
    assert due == at(2025, 10, 1, 11) and due.utcoffset() == dt.timedelta(hours=8)
    assert calendar.deadline(dt.datetime(2025, 10, 1, 10, 0), hours=1) == at(2025, 10, 1, 11)


@pytest.mark.django_db
def test_unknown_year_counts_weekends_only():
    assert not calendar.known_year(2027)
    assert calendar.is_workday(D(2027, 1, 1))  # a Friday; New Year's Day is not entered yet
    assert not calendar.is_workday(D(2027, 1, 2))
    assert calendar.deadline(at(2027, 1, 1), days=1) == end(D(2027, 1, 4))
    assert calendar.deadline(at(2027, 1, 1), days=5) == end(D(2027, 1, 8))
    assert calendar.workdays_between(D(2027, 1, 1), D(2027, 1, 31)) == 20


@pytest.mark.django_db
def test_workdays_between():
    assert calendar.workdays_between(D(2025, 9, 26), D(2025, 10, 9)) == 4  # 9-28, 9-29, 9-30, 10-9
    assert calendar.workdays_between(D(2025, 10, 9), D(2025, 9, 26)) == -4
    assert calendar.workdays_between(D(2025, 10, 1), D(2025, 10, 8)) == 0
    assert calendar.workdays_between(D(2025, 10, 1), D(2025, 10, 1)) == 0
    # A whole year: 2025 had 248 working days.
    assert calendar.workdays_between(D(2024, 12, 31), D(2025, 12, 31)) == 248
    assert calendar.workdays_between(D(2024, 12, 31), D(2025, 12, 31)) == sum(
        chinese_calendar.is_workday(D(2025, 1, 1) + dt.timedelta(days=i)) for i in range(365))


starts = st.datetimes(min_value=dt.datetime(2004, 1, 1), max_value=dt.datetime(2028, 12, 31),
                      timezones=st.sampled_from([SH, UTC]))


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=starts, days=st.integers(min_value=0, max_value=80))
def test_deadline_properties(start, days):
    due = calendar.deadline(start, days=days)
    later = calendar.deadline(start, days=days + 1)
    received = start.astimezone(SH).date()
    # Always the very end of a Beijing day, and of a working day unless it is the same day.
    assert due.astimezone(SH).time() == dt.time(23, 59, 59, 999999)
    assert days == 0 and due.date() == received or calendar.is_workday(due.date())
    # One more working day is strictly later, on the next working day, with none in between.
    assert later > due
    assert calendar.workdays_between(due, later) == 1
    assert calendar.workdays_between(received, due) == days
    # Where the package knows the years, it agrees (find_workday(n, d) starts from the first workday >= d).
    if days and due.year <= calendar.library_years()[-1]:
        assert due.date() == chinese_calendar.find_workday(days - 1, received + dt.timedelta(days=1))


# --- the per-process copy ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_warm_reads_cost_one_small_query(django_assert_num_queries):
    calendar.current()
    with django_assert_num_queries(1):
        calendar.deadline(at(2025, 9, 26), days=13)
    snapshot = calendar.current()
    with django_assert_num_queries(0):
        for days in range(30):
            snapshot.deadline(at(2025, 9, 26), days=days)


@pytest.mark.django_db
def test_a_change_is_seen_at_once(people):
    assert calendar.is_workday(D(2027, 1, 1))
    calendar.calendar_days_set(actor=people.superuser, first=D(2027, 1, 1), kind="holiday", name="元旦")
    assert not calendar.is_workday(D(2027, 1, 1))
    assert calendar.deadline(at(2026, 12, 31), days=1) == end(D(2027, 1, 4))
    calendar.calendar_days_set(actor=people.superuser, first=D(2027, 1, 1), kind="ordinary")
    assert calendar.is_workday(D(2027, 1, 1))


@pytest.mark.django_db
def test_a_change_by_another_process_is_seen():
    assert calendar.is_workday(D(2027, 1, 4))
    # What another worker's service does: change a row and the revision token, in its own transaction.
    CalendarDay.objects.create(date=D(2027, 1, 4), kind="holiday", name="测试")
    CalendarRevision.objects.filter(pk=1).update(token=uuid.uuid4().hex)
    assert not calendar.is_workday(D(2027, 1, 4))


@pytest.mark.django_db
def test_a_rolled_back_change_is_not_seen(people):
    with pytest.raises(RuntimeError), transaction.atomic():
        calendar.calendar_days_set(actor=people.superuser, first=D(2027, 1, 4), kind="holiday", name="测试")
        assert not calendar.is_workday(D(2027, 1, 4))  # inside: seen
        raise RuntimeError
    assert calendar.is_workday(D(2027, 1, 4))
    assert not CalendarDay.objects.filter(date=D(2027, 1, 4)).exists()


# --- services -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_set_a_range_publish_and_audit(people):
    admin = people.county_admin
    changed = calendar.calendar_days_set(actor=admin, first=D(2027, 2, 6), last=D(2027, 2, 12), kind="holiday",
                                         name=" 春节 ")
    assert changed == [D(2027, 2, 6) + dt.timedelta(days=i) for i in range(7)]
    assert calendar.day_info(D(2027, 2, 8)) == calendar.DayInfo(D(2027, 2, 8), False, "holiday", "春节")
    # Setting the same again changes nothing and records nothing.
    before = state()
    assert calendar.calendar_days_set(actor=admin, first=D(2027, 2, 8), kind="holiday", name="春节") == []
    assert calendar.calendar_year_publish(actor=admin, year=2026).year == 2026  # published already
    assert state() == before
    calendar.calendar_days_set(actor=admin, first=D(2027, 2, 20), kind="workday", name="春节")
    assert calendar.is_workday(D(2027, 2, 20))
    assert not calendar.known_year(2027)
    row = calendar.calendar_year_publish(actor=admin, year=2027)
    assert row.year == 2027 and row.source == "" and calendar.known_year(2027)
    event = AuditEvent.objects.filter(action="calendar.days_set").order_by("id").first()
    assert event.actor == admin and event.data["kind"] == "holiday" and len(event.data["changed"]) == 7
    assert event.data["changed"][0] == {"date": "2027-02-06", "before": "ordinary", "before_name": ""}
    assert AuditEvent.objects.filter(action="calendar.year_publish", actor=admin).count() == 1
    assert calendar.calendar_year_publish(actor=admin, year=2027, published=False) is None
    assert not calendar.known_year(2027)
    assert AuditEvent.objects.filter(action="calendar.year_unpublish").count() == 1


@pytest.mark.django_db
def test_import_a_year_replaces_it(people):
    admin = people.superuser
    count = calendar.calendar_year_import(actor=admin, year=2025, days=[
        (D(2025, 10, 1), "holiday", "国庆节"), (D(2025, 10, 11), "workday", "国庆节")])
    assert count == 2
    assert [d.date for d in calendar.current().year_days(2025)] == [D(2025, 10, 1), D(2025, 10, 11)]
    assert calendar.is_workday(D(2025, 10, 2)) and calendar.is_workday(D(2025, 9, 29))
    assert CalendarYear.objects.get(year=2025).source == ""
    # Back from the bundled package.
    assert calendar.calendar_year_import_library(actor=admin, year=2025) == len(calendar.library_days(2025))
    assert not calendar.is_workday(D(2025, 10, 2))
    assert CalendarYear.objects.get(year=2025).source == "chinese_calendar"
    with pytest.raises(ApplicationError) as exc:
        calendar.calendar_year_import_library(actor=admin, year=2099)
    assert exc.value.code == "calendar_invalid_year"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"first": D(2025, 10, 13), "kind": "workday"}, "first"),  # a Monday cannot be a make-up workday
        ({"first": D(2027, 1, 1), "kind": "holiday", "name": ""}, "name"),
        ({"first": D(2027, 1, 1), "kind": "holiday", "name": "x" * 51}, "name"),
        ({"first": D(2027, 1, 1), "kind": "holiday", "name": "a\x00b"}, "name"),
        ({"first": D(2027, 1, 1), "kind": "weekend"}, "kind"),
        ({"first": D(2027, 1, 10), "last": D(2027, 1, 9), "kind": "ordinary"}, "last"),
        ({"first": D(2027, 1, 1), "last": D(2027, 2, 1), "kind": "ordinary"}, "last"),  # 32 days
        ({"first": D(1999, 12, 31), "kind": "ordinary"}, "first"),
        ({"first": D(2200, 1, 1), "kind": "ordinary"}, "first"),
        ({"first": "2027-01-01", "kind": "ordinary"}, "first"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(people, kwargs, field):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        calendar.calendar_days_set(actor=people.superuser, **kwargs)
    assert exc.value.status == 400
    assert exc.value.code in ("calendar_invalid_day", "calendar_invalid_year")
    assert field in exc.value.fields
    assert state() == before


@pytest.mark.django_db
def test_bad_import_saves_nothing(people):
    before = state()
    with pytest.raises(ApplicationError) as exc:
        calendar.calendar_year_import(actor=people.superuser, year=2027, days=[
            (D(2027, 1, 1), "holiday", "元旦"), (D(2027, 1, 1), "holiday", "元旦"), (D(2026, 5, 1), "holiday", "x"),
            (D(2027, 1, 4), "workday", ""), (D(2027, 1, 5), "ordinary", ""), ("2027-01-06", "holiday", "x"), (1,)])
    assert sorted(exc.value.fields) == ["days.1", "days.2", "days.3", "days.4", "days.5", "days.6"]
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [{"days": -1}, {"days": calendar.MAX_DAYS + 1}, {"days": 10**12}, {"days": True}, {"days": 1.5}, {},
     {"days": 1, "hours": 1}, {"hours": 0}, {"hours": -2}, {"hours": float("nan")}, {"hours": float("inf")},
     {"hours": calendar.MAX_HOURS + 1}],
)
def test_bad_deadline_arguments(kwargs):
    with pytest.raises(ApplicationError) as exc:
        calendar.deadline(at(2025, 9, 26), **kwargs)
    assert exc.value.code == "calendar_invalid_deadline" and exc.value.status == 400


@pytest.mark.django_db
def test_deadline_outside_the_covered_years_is_refused():
    for start in (dt.datetime(9999, 12, 31, tzinfo=UTC), dt.datetime(1990, 1, 1, tzinfo=UTC)):
        with pytest.raises(ApplicationError):
            calendar.deadline(start, days=1)
    assert calendar.deadline(dt.datetime(2199, 12, 31, 12, tzinfo=SH), days=calendar.MAX_DAYS).year == 2201


# --- who may change it ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_services_by_role(people, role):
    user = getattr(people, role)
    assert calendar.can_change(user) == (role in MAY_CHANGE)
    if role in MAY_CHANGE:
        calendar.calendar_days_set(actor=user, first=D(2027, 1, 1), kind="holiday", name="元旦")
        calendar.calendar_year_publish(actor=user, year=2027)
        assert not calendar.is_workday(D(2027, 1, 1)) and calendar.known_year(2027)
        return
    before = state()
    for action in (
        lambda: calendar.calendar_days_set(actor=user, first=D(2027, 1, 1), kind="holiday", name="元旦"),
        lambda: calendar.calendar_year_publish(actor=user, year=2027),
        lambda: calendar.calendar_year_import(actor=user, year=2027, days=[]),
        lambda: calendar.calendar_year_import_library(actor=user, year=2026),
    ):
        with pytest.raises(PermissionDenied):
            action()
    assert state() == before


@pytest.mark.django_db
def test_anonymous_and_inactive_may_not_change(people):
    from django.contrib.auth.models import AnonymousUser

    assert not calendar.can_change(AnonymousUser())
    assert not calendar.can_change(None)
    people.county_admin.is_active = False
    assert not calendar.can_change(people.county_admin)


@pytest.mark.django_db
def test_a_second_county_takes_the_right_from_a_single_county_admin(people, tree):
    from gridgov.areas import services as area_services

    assert calendar.can_change(people.county_admin)
    area_services.area_create(actor=None, code="611024000000", name="山阳县", level=tree.levels["县"], parent=None)
    admin = make_user("county_admin_again", area=tree.county, role=Role.AREA_ADMIN)
    assert not calendar.can_change(admin)
    assert calendar.can_change(people.superuser)


# --- pages ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_page_by_role(as_role, role):
    client = as_role(role)
    html = client.get("/calendar/2025/").content.decode()
    assert "国庆节" in html and 'class="day makeup"' in html
    assert ('action="/calendar/days/"' in html) == (role in MAY_CHANGE)
    assert ('action="/calendar/2025/publish/"' in html) == (role in MAY_CHANGE)
    assert 'class="cal-warning"' not in html
    assert 'href="/calendar/"' in html  # the navigation link

    before = state()
    response = client.post("/calendar/days/", {"first": "2027-01-01", "kind": "holiday", "name": "元旦"})
    if role in MAY_CHANGE:
        assert response.status_code == 302 and response["Location"] == "/calendar/2027/"
        assert not calendar.is_workday(D(2027, 1, 1))
        assert client.post("/calendar/2027/publish/", {"published": "1"}).status_code == 302
        assert calendar.known_year(2027)
    else:
        assert response.status_code == 403
        assert client.post("/calendar/2027/publish/", {"published": "1"}).status_code == 403
        assert client.post("/calendar/2026/library/").status_code == 403
        assert state() == before


@pytest.mark.django_db
def test_page_needs_login(client):
    response = client.get("/calendar/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    before = state()
    assert client.post("/calendar/days/", {"first": "2027-01-01", "kind": "holiday", "name": "x"}).status_code == 302
    assert state() == before


@pytest.mark.django_db
def test_page_warns_about_an_unknown_year(as_role):
    client = as_role("leader")
    html = client.get("/calendar/2027/").content.decode()
    assert 'class="cal-warning"' in html
    assert "official holidays have not been entered; deadlines count weekends only." in html
    assert "cal-warning" not in client.get("/calendar/2026/").content.decode()
    assert client.get("/calendar/?year=2027").content.decode().count('class="cal-warning"') == 1
    assert client.get("/calendar/?year=abc").status_code == 200
    assert client.get("/calendar/1999/").status_code == 404
    assert client.get("/calendar/2200/").status_code == 404


@pytest.mark.django_db
def test_page_deadline_calculator(as_role):
    client = as_role("grid_worker_a")
    html = client.get("/calendar/2025/", {"start": "2025-09-30", "days": "1"}).content.decode()
    assert "2025-10-09 23:59" in html and "have not been entered: only its weekends" not in html
    html = client.get("/calendar/2025/", {"start": "2026-12-31", "days": "3"}).content.decode()
    assert "2027-01-05 23:59" in html and "have not been entered: only its weekends" in html
    response = client.get("/calendar/2025/", {"start": "2025-13-40", "days": "-3"})
    assert response.status_code == 200 and "2025-10-09 23:59" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {"first": "2025-13-01", "kind": "holiday", "name": "x"},
        {"first": "2027-01-01", "kind": "nonsense", "name": "x"},
        {"first": "2025-10-13", "kind": "workday"},
        {"first": "2027-01-01", "kind": "holiday"},
        {"first": "2027-01-01", "last": "2027-03-01", "kind": "ordinary"},
        {"first": "1900-01-01", "kind": "ordinary"},
        {},
    ],
)
def test_page_bad_input_shows_the_form_again(as_role, data):
    client = as_role("county_admin")
    before = state()
    response = client.post("/calendar/days/", data)
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode() or 'class="errors"' in response.content.decode()
    assert state() == before


@pytest.mark.django_db
def test_page_take_back_and_load_from_the_package(as_role):
    client = as_role("superuser")
    assert client.post("/calendar/2026/publish/", {"published": "0"}).status_code == 302
    assert not calendar.known_year(2026)
    assert 'class="cal-warning"' in client.get("/calendar/2026/").content.decode()
    CalendarDay.objects.filter(date__year=2026).delete()
    assert client.post("/calendar/2026/library/").status_code == 302
    assert calendar.known_year(2026) and not calendar.is_workday(D(2026, 2, 16))
    response = client.post("/calendar/2099/library/", follow=True)
    assert response.status_code == 200 and "does not know 2099" in response.content.decode()


# --- API ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_year(as_role):
    client = as_role("grid_worker_a")
    body = call(client, "get", "/calendar/2025").json()
    assert body["year"] == 2025 and body["known"] and body["source"] == "chinese_calendar"
    days = {d["date"]: d for d in body["days"]}
    assert days["2025-10-01"] == {"date": "2025-10-01", "kind": "holiday", "name": "国庆节", "workday": False}
    assert days["2025-09-28"] == {"date": "2025-09-28", "kind": "workday", "name": "国庆节", "workday": True}
    assert len(body["days"]) == len(calendar.library_days(2025))
    unknown = call(client, "get", "/calendar/2027").json()
    assert unknown == {"year": 2027, "known": False, "source": None, "published_at": None, "days": []}


@pytest.mark.django_db
def test_api_deadline(as_role):
    client = as_role("nobody")
    body = call(client, "get", "/calendar/deadline?start=2025-09-30T15:00:00%2B08:00&days=1").json()
    # JSON carries milliseconds: the end of the day is 23:59:59.999.
    assert body["deadline"] == "2025-10-09T23:59:59.999+08:00" and body["known"] is True
    body = call(client, "get", "/calendar/deadline?start=2025-09-30T15:00:00&days=0").json()
    assert body["deadline"] == "2025-09-30T23:59:59.999+08:00"
    assert body["start"] == "2025-09-30T15:00:00+08:00"
    body = call(client, "get", "/calendar/deadline?start=2025-10-01T07:00:00Z&hours=2").json()
    assert body["deadline"] == "2025-10-01T17:00:00+08:00" and body["start"] == "2025-10-01T15:00:00+08:00"
    body = call(client, "get", "/calendar/deadline?start=2026-12-31T09:00:00%2B08:00&days=3").json()
    assert body["deadline"] == "2027-01-05T23:59:59.999+08:00" and body["known"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("start=2025-09-30T15:00:00&days=-1", 400),
        ("start=2025-09-30T15:00:00&days=100000", 400),
        ("start=2025-09-30T15:00:00&days=99999999999999999999999999", 400),
        ("start=2025-09-30T15:00:00&days=abc", 422),
        ("start=2025-09-30T15:00:00&hours=nan", 400),
        ("start=2025-09-30T15:00:00&hours=-1", 400),
        ("start=2025-09-30T15:00:00&days=1&hours=1", 400),
        ("start=2025-09-30T15:00:00", 400),
        ("start=not-a-date&days=1", 422),
        ("start=9999-12-31T23:00:00&days=5", 400),
        ("days=1", 422),
    ],
)
def test_api_deadline_bad_input(as_role, query, status):
    response = call(as_role("leader"), "get", f"/calendar/deadline?{query}")
    assert response.status_code == status, response.content
    assert set(response.json()) == {"code", "message", "fields"}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_api_writes_by_role(as_role, role):
    client = as_role(role)
    assert call(client, "get", "/calendar/2025").status_code == 200
    before = state()
    responses = [
        call(client, "put", "/calendar/days/2027-01-01", {"kind": "holiday", "name": "元旦"}),
        call(client, "post", "/calendar/days", {"first": "2027-02-06", "last": "2027-02-08", "kind": "holiday",
                                                "name": "春节"}),
        call(client, "put", "/calendar/2027/published", {"published": True}),
    ]
    if role in MAY_CHANGE:
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert responses[0].json() == {"date": "2027-01-01", "kind": "holiday", "name": "元旦", "workday": False}
        assert [d["date"] for d in responses[1].json()] == ["2027-02-06", "2027-02-07", "2027-02-08"]
        assert responses[2].json()["known"] is True
    else:
        for response in responses:
            assert response.status_code == 403
            assert response.json() == {"code": "permission_denied",
                                       "message": "Only a county administrator may change the calendar.",
                                       "fields": {}}
        assert call(client, "put", "/calendar/2027", {"days": []}).status_code == 403
        assert call(client, "post", "/calendar/2026/library").status_code == 403
        assert state() == before


@pytest.mark.django_db
def test_api_needs_login(client):
    before = state()
    assert call(client, "get", "/calendar/2025").status_code == 401
    assert call(client, "put", "/calendar/days/2027-01-01", {"kind": "holiday", "name": "x"}).status_code == 401
    assert state() == before


@pytest.mark.django_db
def test_api_import_year(as_role):
    client = as_role("county_admin")
    response = call(client, "put", "/calendar/2027", {"days": [
        {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
        {"date": "2027-02-20", "kind": "workday", "name": "春节"},
    ]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["known"] and body["source"] == "" and [d["date"] for d in body["days"]] == ["2027-01-01",
                                                                                          "2027-02-20"]
    assert not calendar.is_workday(D(2027, 1, 1)) and calendar.is_workday(D(2027, 2, 20))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "data", "status", "code"),
    [
        ("put", "/calendar/days/2025-13-01", {"kind": "holiday", "name": "x"}, 422, "invalid_input"),
        ("put", "/calendar/days/yesterday", {"kind": "holiday", "name": "x"}, 422, "invalid_input"),
        ("put", "/calendar/days/2027-01-01", {"kind": "weekend"}, 422, "invalid_input"),
        ("put", "/calendar/days/2027-01-01", "{not json", 400, "invalid_input"),
        ("put", "/calendar/days/2025-10-13", {"kind": "workday"}, 400, "calendar_invalid_day"),
        ("put", "/calendar/days/2027-01-01", {"kind": "holiday"}, 400, "calendar_invalid_day"),
        ("put", "/calendar/days/2027-01-01", {"kind": "holiday", "name": "x" * 51}, 400, "calendar_invalid_day"),
        ("put", "/calendar/days/1800-01-01", {"kind": "ordinary"}, 400, "calendar_invalid_year"),
        ("post", "/calendar/days", {"first": "2027-01-01", "last": "2027-12-31", "kind": "ordinary"}, 400,
         "calendar_invalid_day"),
        ("put", "/calendar/1999/published", {"published": True}, 400, "calendar_invalid_year"),
        ("put", "/calendar/2027", {"days": [{"date": "2028-01-01", "kind": "holiday", "name": "x"}]}, 400,
         "calendar_invalid_day"),
        ("put", "/calendar/2027", {"days": [{"date": "2027-01-01", "kind": "ordinary"}]}, 422, "invalid_input"),
        ("get", "/calendar/99999", None, 400, "calendar_invalid_year"),
        ("get", "/calendar/1999", None, 400, "calendar_invalid_year"),
    ],
)
def test_api_bad_input(as_role, method, path, data, status, code):
    client = as_role("superuser")
    before = state()
    response = call(client, method, path, data)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert state() == before
