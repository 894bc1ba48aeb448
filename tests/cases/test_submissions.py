"""Cases accepted with ``Prefer: respond-async`` and filed in the background: every role on both sides, the same
outcome as a synchronous request (the case, or the same error), retries, the status endpoint's owner, the phone
at rest, and the minute task that files what a lost task left queued."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from gridgov.cases import intake
from gridgov.cases.models import Case, CaseSubmission, Notification, SubmissionStatus
from gridgov.core import crypto
from tests.cases.spec import REPORT, ROLES, SIDES, VIEW, file_case, holds, holds_anywhere, snapshot
from tests.cases.test_api import assert_error, call

pytestmark = pytest.mark.django_db
ASYNC = {"HTTP_PREFER": "respond-async"}


def hotline_call(area_code: str, key: str, **more) -> dict:
    return {"channel": "hotline", "description": "自来水停水三天", "area": area_code, "category": "risk_water",
            "reporter_phone": "13900001111", "client_key": key, **more}


def accept(client, payload: dict, capture):
    """POST asynchronously; the filing task runs at the commit, as huey runs it (immediately in tests)."""
    with capture(execute=True):
        return call(client, "post", "/cases", payload, **ASYNC)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("role", ROLES)
def test_accepted_then_filed_like_a_synchronous_request(tree, users, as_role, django_capture_on_commit_callbacks,
                                                        role, side):
    client = as_role(role)
    grid = getattr(tree, f"grid_{side}")
    before = snapshot()
    response = accept(client, hotline_call(grid.code, f"call-{role}-{side}"), django_capture_on_commit_callbacks)
    if not holds_anywhere(role, REPORT):
        assert_error(response, 403, "permission_denied")
        assert snapshot() == before and not CaseSubmission.objects.exists()
        return
    assert response.status_code == 202, response.content
    assert response["Preference-Applied"] == "respond-async"
    body = response.json()
    submission = CaseSubmission.objects.get()
    assert response["Location"] == f"/api/v1/cases/submissions/{submission.pk}"
    assert (body["id"], body["status"], body["tracking_code"], body["case_id"]) == (
        submission.pk, "queued", submission.tracking_code, None)
    status = client.get(response["Location"])
    assert status.status_code == 200
    found = status.json()
    if not holds(tree, role, VIEW, f"grid_{side}"):
        # What the synchronous request answers: 404 on the area; no case.
        assert (found["status"], found["case_id"]) == ("refused", None)
        assert found["error"] == {"status": 404, "code": "not_found", "message": "No such area.",
                                  "fields": {"area": ["No such area."]}}
        assert snapshot()[:3] == before[:3]
        return
    case = Case.objects.get(pk=found["case_id"])
    assert found["status"] == "filed" and found["error"] is None and found["case_number"] == case.number
    assert (case.tracking_code, case.created_at, case.channel, case.area, case.reporter) == (
        submission.tracking_code, submission.received_at, "hotline", grid, getattr(users, role))
    assert case.reporter_phone_masked == "139****1111" and crypto.decrypt(case.reporter_phone_sealed) == "13900001111"
    assert [a.verb for a in case.actions.all()] == ["create"]
    assert case.actions.get().at == submission.received_at


def test_the_phone_is_sealed_while_queued_and_gone_once_filed(tree, users, as_role):
    client = as_role("county_operator")
    response = call(client, "post", "/cases", hotline_call(tree.grid_a.code, "k1"), **ASYNC)  # no commit: queued
    assert response.status_code == 202
    submission = CaseSubmission.objects.get()
    assert "reporter_phone" not in submission.data and "13900001111" not in str(submission.data)
    assert crypto.decrypt(submission.reporter_phone_sealed) == "13900001111"
    intake.submission_file()
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.FILED and submission.reporter_phone_sealed == ""
    assert submission.case.reporter_phone_masked == "139****1111"


def test_a_retry_answers_with_the_same_submission_and_files_one_case(tree, users, as_role,
                                                                      django_capture_on_commit_callbacks):
    client = as_role("county_operator")
    payload = hotline_call(tree.grid_a.code, "call-0001")
    first = accept(client, payload, django_capture_on_commit_callbacks)
    again = accept(client, {**payload, "description": "重发"}, django_capture_on_commit_callbacks)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and CaseSubmission.objects.count() == 1
    assert Case.objects.filter(client_key="call-0001").count() == 1
    # The same key sent synchronously finds the case the submission filed.
    sync = call(client, "post", "/cases", payload)
    assert sync.status_code == 200 and sync.json()["id"] == CaseSubmission.objects.get().case_id


def test_a_key_another_reporter_used_is_refused_as_a_conflict(tree, users, as_role,
                                                               django_capture_on_commit_callbacks):
    payload = hotline_call(tree.grid_a.code, "shared-key")
    assert call(as_role("county_operator"), "post", "/cases", payload).status_code == 201
    response = accept(as_role("town_operator_a"), payload, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    submission = CaseSubmission.objects.get()
    assert submission.status == SubmissionStatus.REFUSED and submission.case is None
    assert (submission.error["status"], submission.error["code"], list(submission.error["fields"])) == (
        409, "case_conflict", ["client_key"])
    assert Case.objects.count() == 1


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"category": "no_such_category"}, 422, "category"),
    ({"area": "999999999999"}, 404, "area"),
    ({"reporter_phone": "call me"}, 400, "reporter_phone"),
    ({"household_id": 987654}, 404, "household_id"),
    ({"lng": 110.8, "lat": None}, 400, "lat"),
])
def test_what_only_filing_can_check_is_refused_with_the_synchronous_answer(
        tree, users, as_role, django_capture_on_commit_callbacks, payload, status, field):
    client = as_role("county_operator")
    body = {"channel": "hotline", "description": "x", **payload}
    sync = assert_error(call(client, "post", "/cases", body), status)
    response = accept(client, body, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    found = client.get(response["Location"]).json()
    assert found["status"] == "refused" and found["case_id"] is None
    assert found["error"] == {"status": status, **sync} and field in found["error"]["fields"]
    assert not Case.objects.exists()


def test_the_form_is_checked_before_accepting(tree, users, as_role):
    client = as_role("county_operator")
    before = snapshot()
    for payload, field in [({"channel": "self_report", "description": "x"}, "channel"),
                           ({"channel": "hotline", "description": ""}, "description"),
                           ({"channel": "hotline", "description": "x", "client_key": ""}, "client_key")]:
        body = assert_error(call(client, "post", "/cases", payload, **ASYNC), 422)
        assert field in body["fields"]
    assert snapshot() == before and not CaseSubmission.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_a_submission_is_seen_by_its_sender_alone(tree, users, as_role, client, role):
    mine = CaseSubmission.objects.create(actor=getattr(users, role), tracking_code="MINE000001",
                                         data={"channel": "hotline", "description": "x"})
    theirs = CaseSubmission.objects.create(actor=users.county_operator if role != "county_operator" else users.leader,
                                           tracking_code="THEIRS0001", data={"channel": "hotline", "description": "y"})
    as_role(role)
    assert call(client, "get", f"/cases/submissions/{mine.pk}").json()["tracking_code"] == "MINE000001"
    assert_error(call(client, "get", f"/cases/submissions/{theirs.pk}"), 404, "not_found")
    assert_error(call(client, "get", "/cases/submissions/99999999"), 404, "not_found")
    client.logout()
    assert call(client, "get", f"/cases/submissions/{mine.pk}").status_code == 401


def test_a_refused_submission_notifies_its_sender(tree, users, as_role, django_capture_on_commit_callbacks):
    client = as_role("county_operator")
    response = accept(client, {"channel": "hotline", "description": "x", "household_id": 987654, "client_key": "r1"},
                      django_capture_on_commit_callbacks)
    assert client.get(response["Location"]).json()["status"] == "refused"
    notice = Notification.objects.get()
    assert (notice.user, notice.case, notice.read_at) == (users.county_operator, None, None)
    assert "No such household." in notice.message or "该户不存在。" in notice.message, notice.message
    listed = call(client, "get", "/notifications").json()["items"]
    assert [(n["id"], n["case_id"], n["case_number"], n["case_title"]) for n in listed] == [
        (notice.pk, None, None, None)]
    page = client.get("/cases/")
    assert page.status_code == 200
    assert 'href="/cases/submissions/?status=refused"' in page.content.decode()
    # One filed as asked brings no such notice (the desk hears of the new case as always).
    accept(client, hotline_call(tree.grid_a.code, "ok1"), django_capture_on_commit_callbacks)
    assert Notification.objects.filter(case__isnull=True).count() == 1


def submissions_of_everyone(tree, users) -> dict:
    """For each role: one submission filed (with its case), one refused, one queued; by client key."""
    case = file_case(tree, users, "a")
    made = {}
    for i, role in enumerate(ROLES):
        actor = getattr(users, role)
        made[role] = [
            CaseSubmission.objects.create(actor=actor, tracking_code=f"F{i:09d}", client_key=f"{role}-filed",
                                          status="filed", case=case, filed_at=timezone.now(),
                                          data={"channel": "hotline", "description": f"{role} 路灯不亮"}),
            CaseSubmission.objects.create(actor=actor, tracking_code=f"R{i:09d}", client_key=f"{role}-refused",
                                          status="refused", filed_at=timezone.now(),
                                          data={"channel": "grid_worker", "description": f"{role} 井盖缺失"},
                                          error={"status": 404, "code": "not_found", "message": "No such area.",
                                                 "fields": {"area": ["No such area."]}}),
            CaseSubmission.objects.create(actor=actor, tracking_code=f"Q{i:09d}", client_key=f"{role}-queued",
                                          data={"channel": "hotline", "description": f"{role} 占道经营"}),
        ]
    return made


@pytest.mark.parametrize("role", ROLES)
def test_each_user_lists_their_own_submissions_alone(tree, users, as_role, client, role):
    made = submissions_of_everyone(tree, users)
    mine = [s.client_key for s in reversed(made[role])]  # newest first
    as_role(role)
    listed = call(client, "get", "/cases/submissions").json()
    assert [s["client_key"] for s in listed["items"]] == mine and listed["count"] == 3
    refused = call(client, "get", "/cases/submissions?status=refused").json()["items"]
    assert [(s["client_key"], s["error"]["code"]) for s in refused] == [(f"{role}-refused", "not_found")]
    assert_error(call(client, "get", "/cases/submissions?status=lost"), 422, "invalid_input")
    html = client.get("/cases/submissions/").content.decode()
    for other, rows in made.items():
        for submission in rows:
            assert (submission.client_key in html) == (other == role), (other, submission.client_key)
    assert "没有该区域。" in html  # the API's English message, translated on the page
    html = client.get("/cases/submissions/?status=queued").content.decode()
    assert f"{role}-queued" in html and f"{role}-filed" not in html
    assert client.get("/cases/submissions/?status=lost").status_code == 200  # an unknown status: all of them
    client.logout()
    assert call(client, "get", "/cases/submissions").status_code == 401
    page = client.get("/cases/submissions/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")


def test_the_minute_task_files_what_was_left_queued(tree, users, as_role):
    client = as_role("county_operator")
    for i in range(3):  # accepted, but their task never ran (no commit here; a stopped consumer in production)
        assert call(client, "post", "/cases", hotline_call(tree.grid_a.code, f"left-{i}"), **ASYNC).status_code == 202
    CaseSubmission.objects.filter(client_key="left-2").update(received_at=timezone.now())
    CaseSubmission.objects.exclude(client_key="left-2").update(received_at=timezone.now() - dt.timedelta(minutes=5))
    from gridgov.cases.tasks import file_left_submissions

    assert file_left_submissions.call_local() == 2
    assert sorted(CaseSubmission.objects.values_list("client_key", "status")) == [
        ("left-0", "filed"), ("left-1", "filed"), ("left-2", "queued")]
    assert intake.submission_file(received_before=timezone.now() - dt.timedelta(minutes=1)) is None  # none left
    assert Case.objects.count() == 2
    from gridgov.cases.tasks import file_queued_submissions

    assert file_queued_submissions.call_local() == 1 and file_queued_submissions.call_local() == 0
    assert set(CaseSubmission.objects.values_list("status", flat=True)) == {"filed"} and Case.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_worker_files_while_the_reporters_row_is_locked(tree, users):
    """Two workers file two submissions of one reporter at once: the first must not lock the reporter's row for
    the second to skip (PostgreSQL; SQLite has no row locks)."""
    import threading

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    actor = users.county_operator
    CaseSubmission.objects.create(actor=actor, tracking_code="LOCKED0001", data=hotline_call(
        tree.grid_a.code, "locked-1"))
    holding, release = threading.Event(), threading.Event()

    def hold():  # as an update of the user (its last login, another worker's lock) holds it
        try:
            with transaction.atomic():
                get_user_model().objects.select_for_update(no_key=True).get(pk=actor.pk)
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(30)
        filed = intake.submission_file()
    finally:
        release.set()
        thread.join(30)
    assert filed is not None and filed.status == SubmissionStatus.FILED and filed.case is not None


def test_the_nightly_prune_forgets_old_submissions_and_webhook_signatures(tree, users):
    from gridgov.cases.models import CaseSource, WebhookDelivery
    from gridgov.cases.tasks import prune_intake_rows

    now = timezone.now()
    old, recent = now - dt.timedelta(days=31), now - dt.timedelta(days=29)
    for code, status, filed_at in [("OLDFILED01", "filed", old), ("OLDREFUSE1", "refused", old),
                                   ("NEWFILED01", "filed", recent), ("QUEUED0001", "queued", None)]:
        CaseSubmission.objects.create(actor=users.county_operator, tracking_code=code, data={}, status=status,
                                      filed_at=filed_at, received_at=old)
    source = CaseSource.objects.create(name="视频 AI", channel="video_ai")
    WebhookDelivery.objects.create(source=source, signature="a" * 64, received_at=now - dt.timedelta(hours=1))
    WebhookDelivery.objects.create(source=source, signature="b" * 64, received_at=now)
    assert prune_intake_rows.call_local() == {"webhook_deliveries": 1, "submissions": 2}
    assert sorted(CaseSubmission.objects.values_list("tracking_code", flat=True)) == ["NEWFILED01", "QUEUED0001"]
    assert list(WebhookDelivery.objects.values_list("signature", flat=True)) == ["b" * 64]


def test_a_stream_of_submissions_wakes_the_consumer_a_few_times_a_second(monkeypatch):
    """With a consumer (huey not immediate), each process queues a filing task at once, then at most one more for
    the end of its interval; once the interval is over, a new submission queues one at once again."""
    from gridgov.cases.tasks import file_queued_submissions

    now, queued = [1000.0], []
    monkeypatch.setattr(intake.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(intake, "_woken", {"next": 0.0, "trailing": 0.0})
    monkeypatch.setattr(file_queued_submissions.huey, "immediate", False)
    monkeypatch.setattr(type(file_queued_submissions), "__call__", lambda self: queued.append("now"))
    monkeypatch.setattr(file_queued_submissions, "schedule", lambda delay: queued.append(round(delay, 3)))
    for step in (0, 0.05, 0.1, 0.2):  # four submissions within one interval
        now[0] = 1000.0 + step
        intake.wake()
    assert queued == ["now", round(intake.WAKE_EVERY - 0.05, 3)]
    now[0] = 1000.0 + intake.WAKE_EVERY + 0.01
    intake.wake()
    assert queued[-1] == "now" and len(queued) == 3


def test_in_a_burst_the_worker_rests_between_filings(tree, users, as_role, monkeypatch):
    """While submissions keep coming the consumer rests ``rest`` times as long as each filing took; once the last
    one came more than a second ago it files without resting."""
    client = as_role("county_operator")
    for i in range(3):
        assert call(client, "post", "/cases", hotline_call(tree.grid_a.code, f"burst-{i}"), **ASYNC).status_code == 202
    rests = []
    monkeypatch.setattr(intake.time, "sleep", rests.append)
    assert intake.submissions_file_queued(rest=3.0) == 3
    assert len(rests) == 2 and all(r > 0 for r in rests)  # after the first two; nothing left after the third
    assert call(client, "post", "/cases", hotline_call(tree.grid_a.code, "later"), **ASYNC).status_code == 202
    CaseSubmission.objects.filter(status="queued").update(received_at=timezone.now() - dt.timedelta(seconds=5))
    assert call(client, "post", "/cases", hotline_call(tree.grid_a.code, "later-2"), **ASYNC).status_code == 202
    CaseSubmission.objects.filter(status="queued").update(received_at=timezone.now() - dt.timedelta(seconds=5))
    rests.clear()
    assert intake.submissions_file_queued(rest=3.0) == 2 and rests == []
