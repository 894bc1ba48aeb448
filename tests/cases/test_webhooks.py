"""Video-AI alarms through the signed webhook: what files a case, and every way a request is refused."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from gridgov.cases import sources, webhooks
from gridgov.cases.models import Case, Channel, State, WebhookDelivery

pytestmark = pytest.mark.django_db

ALARM = {
    "event_id": "evt-20261122-0001",
    "camera_id": "SN-0815",
    "event_type": "fire",
    "lng": 110.805,
    "lat": 33.505,
    "time": "2026-11-22T08:15:30+08:00",
    "snapshot_url": "https://nvr.example.cn/snap/0815.jpg",
    "description": "山林起火，烟雾较大",
}


@pytest.fixture
def video(users):
    source, secret = sources.source_create(actor=users.superuser, name="雪亮工程视频AI", channel=Channel.VIDEO_AI)
    return source, secret


def url(source_id) -> str:
    return f"/api/v1/webhooks/video-ai/{source_id}"


def deliver(client, source, secret, payload=None, *, body: bytes | None = None, ts=None, signature=None,
            headers=True):
    body = json.dumps(payload if payload is not None else ALARM).encode() if body is None else body
    ts = int(time.time()) if ts is None else ts
    extra = {}
    if headers:
        extra = {"HTTP_X_GRIDGOV_TIMESTAMP": str(ts),
                 "HTTP_X_GRIDGOV_SIGNATURE": signature or webhooks.sign(secret, ts, body)}
    return client.post(url(source.pk if hasattr(source, "pk") else source), body, content_type="application/json",
                       **extra)


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"} and body["code"] == code and body["message"]


def test_a_signed_alarm_files_a_case(client, tree, video):
    source, secret = video
    response = deliver(client, source, secret)
    assert response.status_code == 201
    case = Case.objects.get()
    assert response.json() == {"case_number": case.number, "created": True}
    assert case.channel == Channel.VIDEO_AI and case.source == source and case.state == State.SUBMITTED
    assert case.category.code == "forest_fire" and case.urgency == "critical"
    assert case.area == tree.grid_a and case.placed and case.desk_area == tree.county
    assert case.title == "视频告警：火情（摄像头 SN-0815）" or case.title == "Video alarm: 火情 (camera SN-0815)"
    assert case.description.startswith("山林起火，烟雾较大\n\n")
    for line in ("camera_id: SN-0815", "event_type: fire", "event_id: evt-20261122-0001",
                 "time: 2026-11-22T08:15:30+08:00", "snapshot_url: https://nvr.example.cn/snap/0815.jpg"):
        assert line in case.description
    assert case.reporter_name == "雪亮工程视频AI"
    delivery = WebhookDelivery.objects.get()
    assert delivery.case == case and delivery.source == source and len(delivery.signature) == 64


@pytest.mark.parametrize(("event_type", "code"), [
    ("fire", "forest_fire"), ("SMOKE", "forest_fire"), ("crowd", "security_case"), ("fight", "security_case"),
    ("flood", "flood_hazard"), ("littering", "risk_safety"), ("", "risk_safety"),
])
def test_event_types_map_to_categories(client, tree, video, event_type, code):
    source, secret = video
    assert deliver(client, source, secret, {**ALARM, "event_type": event_type}).status_code == 201
    assert Case.objects.get().category.code == code


def test_the_mapping_is_configurable(client, tree, video, settings):
    settings.VIDEO_AI_EVENT_CATEGORIES = {"littering": "risk_environment", "*": "risk_emergency"}
    source, secret = video
    deliver(client, source, secret, {**ALARM, "event_id": "1", "event_type": "littering"})
    deliver(client, source, secret, {**ALARM, "event_id": "2", "event_type": "landslide"})
    deliver(client, source, secret, {**ALARM, "event_id": "3", "event_type": "fire"})
    assert [c.category.code for c in Case.objects.order_by("pk")] == ["risk_environment", "risk_emergency",
                                                                      "forest_fire"]


def test_the_mapping_is_read_from_the_environment(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from gridgov.settings import env_map

    monkeypatch.setenv("GRIDGOV_VIDEO_AI_EVENT_CATEGORIES", " Littering=risk_environment, *=risk_emergency ,")
    assert env_map("VIDEO_AI_EVENT_CATEGORIES") == {"littering": "risk_environment", "*": "risk_emergency"}
    monkeypatch.delenv("GRIDGOV_VIDEO_AI_EVENT_CATEGORIES")
    assert env_map("VIDEO_AI_EVENT_CATEGORIES") == {}
    for bad in ("littering", "littering=", "=risk_environment", "a=b=c"):
        monkeypatch.setenv("GRIDGOV_VIDEO_AI_EVENT_CATEGORIES", bad)
        with pytest.raises(ImproperlyConfigured, match="key=value"):
            env_map("VIDEO_AI_EVENT_CATEGORIES")


def test_a_retry_signed_anew_never_files_twice(client, tree, video):
    source, secret = video
    first = deliver(client, source, secret, ts=int(time.time()) - 5)
    again = deliver(client, source, secret)
    assert again.status_code == 200 and again.json() == {"case_number": first.json()["case_number"], "created": False}
    assert Case.objects.count() == 1 and WebhookDelivery.objects.count() == 2
    no_id = {k: v for k, v in ALARM.items() if k != "event_id"}
    deliver(client, source, secret, no_id, ts=int(time.time()) - 3)
    deliver(client, source, secret, no_id)  # camera, type and time identify the event
    assert Case.objects.count() == 2
    bare = {"event_type": "crowd", "camera_id": "X"}
    deliver(client, source, secret, bare, ts=int(time.time()) - 2)
    deliver(client, source, secret, bare)  # nothing identifies it: each delivery files
    assert Case.objects.count() == 4


def test_a_replay_is_refused(client, tree, video):
    source, secret = video
    ts = int(time.time())
    assert deliver(client, source, secret, ts=ts).status_code == 201
    assert_error(deliver(client, source, secret, ts=ts), 409, "case_conflict")
    assert Case.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_unsigned_bad_and_stale_requests_are_refused(client, tree, video, users, settings):
    settings.WEBHOOK_MAX_SKEW_SECONDS = 60
    source, secret = video
    body = json.dumps(ALARM).encode()
    now = int(time.time())
    refused = [
        deliver(client, source, secret, headers=False),
        client.post(url(source.pk), body, content_type="application/json", HTTP_X_GRIDGOV_TIMESTAMP=str(now)),
        client.post(url(source.pk), body, content_type="application/json",
                    HTTP_X_GRIDGOV_SIGNATURE=webhooks.sign(secret, now, body)),
        deliver(client, source, secret, signature=webhooks.sign("not-the-secret", now, body), ts=now),
        deliver(client, source, secret, body=body.replace(b"fire", b"fore"),
                signature=webhooks.sign(secret, now, body), ts=now),  # a tampered body
        deliver(client, source, secret, ts=now, signature=webhooks.sign(secret, now + 1, body)),
        deliver(client, source, secret, ts=now - 61),  # stale (later is staler still)
        deliver(client, source, secret, ts=now + 600),  # from the future, by more than the test can take
        deliver(client, source, secret, ts="abc"),
        deliver(client, source, secret, ts=now, signature="zz"),
        deliver(client, source, secret, ts=now, signature="é" * 64),
        deliver(client, source, secret, ts=-5),
        deliver(client, 999999, secret),
        deliver(client, 10**20, secret),
    ]
    for response in refused:
        assert_error(response, 401, "webhook_signature_invalid")
    _open311, key = sources.source_create(actor=users.superuser, name="311", channel=Channel.OPEN311)
    assert_error(deliver(client, _open311, key), 401, "webhook_signature_invalid")
    sources.source_revoke(actor=users.superuser, source=source)
    assert_error(deliver(client, source, secret), 401, "webhook_signature_invalid")
    assert Case.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_within_the_skew_and_upper_case_hex_are_accepted(client, tree, video, settings):
    settings.WEBHOOK_MAX_SKEW_SECONDS = 60
    source, secret = video
    body = json.dumps(ALARM).encode()
    ts = int(time.time()) - 30
    assert deliver(client, source, secret, body=body, ts=ts,
                   signature=webhooks.sign(secret, ts, body).upper()).status_code == 201


def test_the_signature_is_compared_in_constant_time(client, tree, video, monkeypatch):
    calls = []
    original = webhooks.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    source, secret = video
    deliver(client, source, secret)
    assert len(calls) == 1


@pytest.mark.parametrize("body", [
    b"not json", b"[1, 2]", b"\xff\xfe", json.dumps({**ALARM, "lat": 91}).encode(),
    json.dumps({**ALARM, "lat": None}).encode(), json.dumps({**ALARM, "lng": "110.8"}).encode(),
    json.dumps({**ALARM, "lng": True}).encode(), json.dumps({**ALARM, "snapshot_url": "file:///etc/passwd"}).encode(),
    json.dumps({**ALARM, "time": "yesterday"}).encode(), json.dumps({**ALARM, "time": 1e30}).encode(),
    json.dumps({**ALARM, "event_type": {"x": 1}}).encode(), json.dumps({**ALARM, "description": "x" * 3001}).encode(),
    json.dumps({**ALARM, "description": "nul\u0000"}).encode(), json.dumps({**ALARM, "pad": "x" * 70000}).encode(),
])
def test_signed_bad_bodies_are_refused(client, tree, video, body):
    source, secret = video
    response = deliver(client, source, secret, body=body)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"code", "message", "fields"}
    assert Case.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_other_methods_and_paths(client, tree, video):
    source, _secret = video
    assert client.get(url(source.pk)).status_code == 405
    assert client.post("/api/v1/webhooks/video-ai/abc", b"{}", content_type="application/json").status_code in (
        404, 422)
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/webhooks/video-ai/{source_id}"]["post"]
    assert {p["name"] for p in operation["parameters"]} >= {"X-Gridgov-Timestamp", "X-Gridgov-Signature"}


def test_old_deliveries_are_pruned(client, tree, video, settings):
    source, secret = video
    deliver(client, source, secret)
    WebhookDelivery.objects.update(received_at=timezone.now() - dt.timedelta(hours=1))
    deliver(client, source, secret, {**ALARM, "event_id": "new"})
    assert webhooks.webhook_deliveries_prune() == 1
    assert WebhookDelivery.objects.count() == 1


def test_a_secret_sealed_under_a_lost_key_is_refused_not_a_crash(client, tree, video):
    source, secret = video
    type(source).objects.filter(pk=source.pk).update(secret_sealed="v1:aes-256-gcm:deadbeef:AAAA")
    assert_error(deliver(client, source, secret), 401, "webhook_signature_invalid")
