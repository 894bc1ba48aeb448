"""Recording visits: idempotent by the client's ID, corrections and withdrawals, the far-from-house flag with
GCJ-02 input, 五必到 visits in the case's timeline, photos, cases opened from findings, the policy, and input that
is refused without saving anything."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from gridgov.cases.models import CaseAction, State
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.geo import wgs84_to_gcj02
from gridgov.core.models import AuditEvent
from gridgov.visits import selectors, services
from gridgov.visits.models import FindingCase, Visit, VisitPhoto, VisitPolicy
from tests.visits.factories import HOUSE_POINTS, build_visit_world, days_ago, onsite_case, state, visit


@pytest.fixture
def world(tree, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_visit_world(tree)


def png(colour=(200, 30, 30), size=(40, 30), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def error_of(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        call()
    return info.value


# --- idempotency ---------------------------------------------------------------------------------------


def test_the_same_visit_twice_is_one_visit(world, users):
    key = uuid.uuid4()
    moment = days_ago(1)
    first, created = services.visit_create(actor=users.grid_worker_a, uuid=key, household=world.a.household,
                                           visited_at=moment, lng=110.805, lat=33.505, findings=["dispute"],
                                           note="邻里有口角")
    assert created
    audit = AuditEvent.objects.count()
    again, created = services.visit_create(actor=users.grid_worker_a, uuid=str(key), household=world.a.household,
                                           visited_at=moment, lng=110.805, lat=33.505, findings=["dispute"],
                                           note="邻里有口角")
    assert (again.pk, created) == (first.pk, False)
    assert Visit.objects.count() == 1 and AuditEvent.objects.count() == audit


@pytest.mark.parametrize("change", [{"note": "另一次"}, {"findings": []}, {"visited_at": "later"},
                                    {"household": "other"}, {"lng": 110.806}])
def test_the_same_id_with_another_visit_is_refused(world, users, change):
    key = uuid.uuid4()
    moment = days_ago(1)
    fields = {"household": world.a.household, "visited_at": moment, "lng": 110.805, "lat": 33.505,
              "findings": ["dispute"], "note": "邻里有口角"}
    services.visit_create(actor=users.grid_worker_a, uuid=key, **fields)
    before = state()
    fields.update(change)
    if fields["visited_at"] == "later":
        fields["visited_at"] = moment + dt.timedelta(minutes=5)
    if fields["household"] == "other":
        fields["household"] = world.a.household2
    exc = error_of(lambda: services.visit_create(actor=users.grid_worker_a, uuid=key, **fields))
    assert (exc.code, exc.status, exc.fields) == ("visit_uuid_reused", 409,
                                                   {"uuid": ["Already used for a different visit."]})
    assert "already been used for a different visit" in exc.message
    assert state() == before


def test_another_user_cannot_replay_an_id(world, users):
    key = uuid.uuid4()
    services.visit_create(actor=users.grid_worker_a, uuid=key, household=world.a.household)
    exc = error_of(lambda: services.visit_create(actor=users.village_staff_a, uuid=key, household=world.a.household))
    assert exc.code == "visit_uuid_reused"


def test_a_late_upload_counts_for_the_day_it_was_made(world, users):
    visit(world.a.household, actor=users.grid_worker_a, days=40)
    recorded = visit(world.a.household, actor=users.grid_worker_a, days=20)  # uploaded today, made 20 days ago
    assert recorded.received_at - recorded.visited_at > dt.timedelta(days=19)
    due = selectors.household_due(actor=users.grid_worker_a, household=world.a.household)
    (state_, _reason), = due.states
    assert state_.last_visit == timezone.localdate(recorded.visited_at)
    assert state_.days_left == 10


# --- corrections ------------------------------------------------------------------------------------------


def test_a_correction_is_a_new_record_and_the_old_stops_counting(world, users):
    original = visit(world.a.household, actor=users.grid_worker_a, days=3, note="看望")
    correction, created = services.visit_correct(actor=users.grid_worker_a, original=original, uuid=uuid.uuid4(),
                                                 visited_at=days_ago(2), note="看望，补记时间", findings=["housing"])
    original.refresh_from_db()
    assert created and correction.corrects == original and original.superseded_by == correction
    assert (original.note, original.findings, original.counts) == ("看望", [], False)  # kept as it was
    assert correction.household == world.a.household and correction.counts
    assert [v.pk for v in selectors.visit_chain(visit=original)] == [original.pk, correction.pk]
    assert list(Visit.objects.effective()) == [correction]
    assert AuditEvent.objects.latest("id").action == "visit.correct"
    # The old record cannot be corrected again: correct the latest.
    before = state()
    exc = error_of(lambda: services.visit_correct(actor=users.grid_worker_a, original=original, uuid=uuid.uuid4()))
    assert (exc.code, exc.status) == ("visit_already_corrected", 409)
    assert state() == before


def test_a_withdrawal_takes_the_visit_out_of_the_due_dates(world, users):
    visit(world.a.household, actor=users.grid_worker_a, days=40)
    wrong = visit(world.a.household, actor=users.grid_worker_a, days=1)
    assert selectors.household_due(actor=users.grid_worker_a, household=world.a.household).states[0][0].days_left == 29
    exc = error_of(lambda: services.visit_withdraw(actor=users.grid_worker_a, original=wrong, uuid=uuid.uuid4(),
                                                   note=" "))
    assert exc.fields == {"note": ["Say why the visit is withdrawn."]}
    withdrawal, _ = services.visit_withdraw(actor=users.grid_worker_a, original=wrong, uuid=uuid.uuid4(),
                                            note="记错了户")
    assert withdrawal.withdrawn and not withdrawal.counts
    states = selectors.household_due(actor=users.grid_worker_a, household=world.a.household).states
    assert states[0][0].days_left == -10  # the visit 40 days ago is the last that counts
    exc = error_of(lambda: services.visit_correct(actor=users.grid_worker_a, original=withdrawal, uuid=uuid.uuid4()))
    assert exc.code == "visit_invalid"


def test_visits_are_append_only(world, users):
    record = visit(world.a.household, actor=users.grid_worker_a)
    record.note = "改"
    with pytest.raises(ValueError, match="append-only"):
        record.save()
    with pytest.raises(ValueError, match="never deleted"):
        record.delete()
    with pytest.raises(ValueError, match="never deleted"):
        Visit.objects.all().delete()
    with pytest.raises(ValueError, match="append-only"):
        Visit.objects.update(note="改")


def test_a_correction_keeps_the_household(world, users):
    original = visit(world.a.household, actor=users.grid_worker_a)
    exc = error_of(lambda: services.visit_create(actor=users.grid_worker_a, uuid=uuid.uuid4(),
                                                 household=world.a.household2, corrects=original))
    assert exc.fields["household"]


# --- location ----------------------------------------------------------------------------------------


def test_far_from_the_house_is_flagged(world, users):
    lng, lat = HOUSE_POINTS["a"]
    near = visit(world.a.household, actor=users.grid_worker_a, lng=lng + 0.001, lat=lat)  # about 93 m east
    far = visit(world.a.household, actor=users.grid_worker_a, lng=lng + 0.01, lat=lat)  # about 930 m
    none = visit(world.a.household, actor=users.grid_worker_a)
    assert (near.far_from_house, 90 <= near.distance_m <= 95) == (False, True)
    assert (far.far_from_house, 925 <= far.distance_m <= 935) == (True, True)
    assert (none.far_from_house, none.distance_m, none.lng) == (False, None, None)
    # The threshold is the policy's.
    services.visit_policy_set(actor=users.superuser, preset="shangnan", far_metres=50)
    assert visit(world.a.household, actor=users.grid_worker_a, lng=lng + 0.001, lat=lat).far_from_house


def test_gcj02_input_is_stored_as_wgs84(world, users):
    lng, lat = HOUSE_POINTS["a"]
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)  # the same spot as a Chinese phone map gives it
    assert 400 < services.distance_m(lng, lat, g_lng, g_lat) < 800
    as_gcj = visit(world.a.household, actor=users.grid_worker_a, lng=g_lng, lat=g_lat, crs="gcj02", accuracy_m=8.4)
    assert (round(as_gcj.lng, 6), round(as_gcj.lat, 6)) == (lng, lat)
    assert (as_gcj.source_crs, as_gcj.accuracy_m, as_gcj.distance_m, as_gcj.far_from_house) == ("gcj02", 8, 0, False)
    # The same numbers taken for WGS-84 are half a kilometre off: flagged.
    assert visit(world.a.household, actor=users.grid_worker_a, lng=g_lng, lat=g_lat).far_from_house


@pytest.mark.parametrize(("fields", "field"), [
    ({"lng": 110.8}, "lng"), ({"lng": 200, "lat": 33}, "lng"), ({"lng": 110.8, "lat": 33.5, "crs": "bd09"}, "crs"),
    ({"lng": "x", "lat": 33.5}, "lng"), ({"lng": 110.8, "lat": 33.5, "accuracy_m": -1}, "accuracy_m"),
    ({"findings": ["ghosts"]}, "findings"), ({"kind": "party"}, "kind"), ({"kind": "onsite"}, "case"),
    ({"note": "x" * 2001}, "note"), ({"note": "a\x00b"}, "note"), ({"companions": [{"name": ""}]}, "companions"),
    ({"companions": [{"name": "王", "kind": "alien"}]}, "companions"), ({"withdrawn": True}, "withdrawn"),
    ({"visited_at": "future"}, "visited_at"), ({"visited_at": "old"}, "visited_at"), ({"uuid": "nope"}, "uuid"),
])
def test_bad_input_is_refused_and_saves_nothing(world, users, fields, field):
    fields = dict(fields)
    if fields.get("visited_at") == "future":
        fields["visited_at"] = timezone.now() + dt.timedelta(hours=1)
    elif fields.get("visited_at") == "old":
        fields["visited_at"] = days_ago(91)
    fields.setdefault("uuid", uuid.uuid4())
    before = state()
    exc = error_of(lambda: services.visit_create(actor=users.grid_worker_a, household=world.a.household, **fields))
    assert field in exc.fields, exc.fields
    assert state() == before


def test_authorization_in_the_service(world, users):
    before = state()
    with pytest.raises(NotFound):
        services.visit_create(actor=users.grid_worker_a, uuid=uuid.uuid4(), household=world.b.household)
    with pytest.raises(PermissionDenied):
        services.visit_create(actor=users.leader, uuid=uuid.uuid4(), household=world.a.household)
    assert state() == before


# --- 五必到 ------------------------------------------------------------------------------------------------


def test_an_onsite_visit_answers_its_case_and_shows_in_the_timeline(world, users):
    case = world.a.case
    pending = selectors.onsite_pending(actor=users.grid_worker_a, areas=[world.a.grid])
    assert [r.case for r in pending] == [case]
    assert pending[0].due_at == case.created_at + dt.timedelta(hours=24)
    record = visit(world.a.household, actor=users.grid_worker_a, case=case, kind="onsite", findings=["dispute"],
                   note="已到场调解")
    action = CaseAction.objects.filter(case=case).order_by("-pk").first()
    assert action.verb == "visit" and action.data == {"visit_id": record.pk}
    assert "已到场调解" in action.note and record.visitor_name in action.note
    assert selectors.onsite_pending(actor=users.grid_worker_a, areas=[world.a.grid]) == []
    # Withdrawn: the compulsory visit is pending again.
    services.visit_withdraw(actor=users.grid_worker_a, original=record, uuid=uuid.uuid4(), note="未到场")
    assert [r.case for r in selectors.onsite_pending(actor=users.grid_worker_a, areas=[world.a.grid])] == [case]


def test_onsite_rules(world, users):
    case = world.a.case
    exc = error_of(lambda: visit(world.a.household, actor=users.grid_worker_a, case=case))
    assert exc.fields == {"kind": ["A visit for a case is a compulsory on-site visit."]}
    exc = error_of(lambda: visit(world.a.household2, actor=users.grid_worker_a, case=case, kind="onsite"))
    assert "household" in exc.fields
    road = onsite_case(world.a.grid, code="risk_emergency", title="落石")  # no household: the visit is the case's
    record = visit(None, actor=users.grid_worker_a, case=road, kind="onsite")
    assert (record.household, record.area) == (None, world.a.grid)
    type(road).objects.filter(pk=road.pk).update(state=State.CLOSED)
    road.refresh_from_db()
    exc = error_of(lambda: visit(None, actor=users.grid_worker_a, case=road, kind="onsite"))
    assert exc.fields == {"case": ["This case is no longer open."]}


def test_the_onsite_due_hours_are_the_policy(world, users):
    services.visit_policy_set(actor=None, preset="qingyang", onsite_hours=2)
    (row,) = selectors.onsite_pending(actor=users.grid_worker_a, areas=[world.a.grid])
    assert row.due_at == world.a.case.created_at + dt.timedelta(hours=2)


# --- photos --------------------------------------------------------------------------------------------


def test_photos_are_checked_and_kept_once(world, users):
    record, _ = services.visit_create(actor=users.grid_worker_a, uuid=uuid.uuid4(), household=world.a.household,
                                      photos=[SimpleUploadedFile("a.png", png()),
                                              SimpleUploadedFile("b.jpg", png((0, 0, 200), fmt="JPEG"))])
    assert sorted(record.photos.values_list("content_type", flat=True)) == ["image/jpeg", "image/png"]
    photo = record.photos.get(content_type="image/png")
    assert (photo.width, photo.height, photo.file.read()) == (40, 30, png())
    again, created = services.visit_photo_add(actor=users.grid_worker_a, visit=record,
                                              upload=SimpleUploadedFile("a-again.png", png()))
    assert (again.pk, created, record.photos.count()) == (photo.pk, False, 2)
    webp, created = services.visit_photo_add(actor=users.grid_worker_a, visit=record,
                                             upload=SimpleUploadedFile("c.webp", png(fmt="WEBP")))
    assert (webp.content_type, created) == ("image/webp", True)


@pytest.mark.parametrize("content", [b"", b"not an image", b"GIF89a" + b"\x00" * 20, b"%PDF-1.4 fake"])
def test_what_is_not_a_photo_is_refused(world, users, content):
    before = state()
    exc = error_of(lambda: services.visit_create(actor=users.grid_worker_a, uuid=uuid.uuid4(),
                                                 household=world.a.household,
                                                 photos=[SimpleUploadedFile("x.jpg", content)]))
    assert exc.code == "visit_photo_invalid"
    assert state() == before


def test_a_gif_is_refused_and_a_big_file_too(world, users, monkeypatch):
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="GIF")
    exc = error_of(lambda: services.check_photo(SimpleUploadedFile("x.gif", out.getvalue())))
    assert exc.fields == {"photos": ["This file is not a JPEG, PNG or WebP image."]}
    monkeypatch.setattr(services, "PHOTO_MAX_BYTES", 100)
    exc = error_of(lambda: services.check_photo(SimpleUploadedFile("x.png", png(size=(200, 200)))))
    assert exc.code == "visit_photo_invalid"


def test_only_the_visitor_adds_photos(world, users):
    record = visit(world.a.household, actor=users.grid_worker_a)
    with pytest.raises(PermissionDenied):
        services.visit_photo_add(actor=users.village_staff_a, visit=record, upload=SimpleUploadedFile("a.png", png()))
    assert VisitPhoto.objects.count() == 0


# --- a finding opens a case -----------------------------------------------------------------------------


def test_a_finding_opens_a_prefilled_case_once(world, users):
    record = visit(world.a.household, actor=users.grid_worker_a, findings=["drinking_water", "dispute"],
                   note="水管冻裂", lng=110.805, lat=33.505)
    case, created = services.finding_case_open(actor=users.grid_worker_a, visit=record, finding="drinking_water")
    assert created
    assert (case.channel, case.area, case.household, case.lng, case.lat) == (
        "grid_worker", world.a.grid, world.a.household, 110.805, 33.505)
    assert "饮水" in case.title or "drinking water" in case.title
    assert "水管冻裂" in case.description and world.a.household.number in case.description
    again, created = services.finding_case_open(actor=users.grid_worker_a, visit=record, finding="drinking_water")
    assert (again.pk, created) == (case.pk, False)
    assert FindingCase.objects.get(visit=record, finding="drinking_water").case == case
    exc = error_of(lambda: services.finding_case_open(actor=users.grid_worker_a, visit=record, finding="housing"))
    assert exc.fields["finding"]


def test_a_finding_of_a_corrected_visit_opens_no_case(world, users):
    record = visit(world.a.household, actor=users.grid_worker_a, findings=["housing"])
    services.visit_correct(actor=users.grid_worker_a, original=record, uuid=uuid.uuid4(), findings=["housing"])
    record.refresh_from_db()
    exc = error_of(lambda: services.finding_case_open(actor=users.grid_worker_a, visit=record, finding="housing"))
    assert "corrected or withdrawn" in exc.message


# --- the policy ---------------------------------------------------------------------------------------------


def test_the_policy_is_set_by_the_superuser_only(world, users):
    assert selectors.policy_in_force().preset == "shangnan" and selectors.policy_in_force().pk is None
    before = state()
    with pytest.raises(PermissionDenied):
        services.visit_policy_set(actor=users.county_operator, preset="qingyang")
    assert state() == before
    policy = services.visit_policy_set(actor=users.superuser, preset="qingyang")
    assert selectors.policy_in_force() == policy and policy.name == "庆阳市三必访"
    assert AuditEvent.objects.latest("id").action == "visit_policy.set"
    custom = services.visit_policy_set(actor=users.superuser, name="自定义",
                                       rules=[{"duty": "visit", "every_days": 14, "reason": "两周一访", "when": {}}])
    assert (custom.onsite_hours, custom.far_metres, selectors.policy_in_force()) == (24, 300, custom)
    for bad in ({"preset": "mars"}, {"rules": []}, {"preset": "shangnan", "red_contact_days": 0},
                {"preset": "shangnan", "onsite_hours": 0}, {"preset": "qingyang", "far_metres": 1}):
        with pytest.raises(ApplicationError):
            services.visit_policy_set(actor=users.superuser, **bad)
    assert VisitPolicy.objects.count() == 2


def test_the_visit_policy_command(db):
    out = StringIO()
    call_command("visit_policy", "qingyang", stdout=out)
    assert "庆阳市三必访" in out.getvalue() and "every 365 d" in out.getvalue()
    call_command("visit_policy", "shangnan", "--red-contact-days", "3", stdout=out)
    policy = VisitPolicy.objects.first()
    contact = {"duty": "contact", "every_days": 3, "reason": "连心户：保持热线联系，至少每3天一次",
               "when": {"colour": ["red"]}}
    assert policy.preset == "shangnan" and contact in policy.rules
    assert policy.actor_name == "gridgov visit-policy"
    with pytest.raises(CommandError):
        call_command("visit_policy", "shangnan", "--onsite-hours", "0", stdout=out)
