"""Outside systems and their keys: the services, the commands and the page, which only superusers use."""

from __future__ import annotations

import hashlib
import io
import sys

import pytest
from django.core.management import CommandError, call_command

from gridgov.cases import sources
from gridgov.cases.models import Case, CaseSource, Channel
from gridgov.core import crypto
from gridgov.core.errors import ApplicationError, PermissionDenied
from gridgov.core.models import AuditEvent

pytestmark = pytest.mark.django_db

ROLES = ["county_operator", "leader", "town_admin_a", "town_admin_b", "town_operator_a", "village_staff_a",
         "grid_worker_a", "grid_police_a", "dept_handler", "nobody"]


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


# --- services ------------------------------------------------------------------------------------------


def test_create_open311_source_keeps_only_the_hash(users):
    source, key = sources.source_create(actor=users.superuser, name=" 12345 平台 ", channel=Channel.OPEN311)
    source.refresh_from_db()
    assert source.name == "12345 平台" and source.channel == Channel.OPEN311 and source.active
    assert len(key) == 40 and source.key_prefix == key[:8]
    assert source.key_hash == hashlib.sha256(key.encode()).hexdigest() and source.secret_sealed == ""
    assert sources.source_by_api_key(key) == source
    event = AuditEvent.objects.get(action="case_source.create")
    assert event.actor == users.superuser and event.object_id == str(source.pk)
    assert key not in str(event.data) and key not in event.object_repr


def test_create_video_source_seals_the_secret(users):
    source, secret = sources.source_create(actor=users.superuser, name="cams", channel=Channel.VIDEO_AI)
    source.refresh_from_db()
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert source.key_hash == "" and secret not in source.secret_sealed
    assert crypto.decrypt(source.secret_sealed) == secret == sources.source_webhook_secret(source)
    with pytest.raises(PermissionDenied):
        sources.source_by_api_key(secret)


@pytest.mark.parametrize(("name", "channel"), [
    ("", Channel.OPEN311), ("   ", Channel.OPEN311), ("x" * 101, Channel.OPEN311), ("two\nlines", Channel.OPEN311),
    ("nul\x00", Channel.OPEN311), ("hotline", Channel.HOTLINE), ("bogus", "bogus"),
])
def test_create_refuses_bad_input(users, name, channel):
    with pytest.raises(ApplicationError):
        sources.source_create(actor=users.superuser, name=name, channel=channel)
    assert CaseSource.objects.count() == 0


def test_names_are_unique_regardless_of_case(users):
    sources.source_create(actor=users.superuser, name="Camera Net", channel=Channel.VIDEO_AI)
    with pytest.raises(ApplicationError) as err:
        sources.source_create(actor=users.superuser, name="camera net", channel=Channel.OPEN311)
    assert err.value.fields == {"name": [err.value.message]}
    assert CaseSource.objects.count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_only_superusers_manage_sources(users, role):
    user = getattr(users, role)
    with pytest.raises(PermissionDenied):
        sources.source_create(actor=user, name="x", channel=Channel.OPEN311)
    source, key = sources.source_create(actor=users.superuser, name="y", channel=Channel.OPEN311)
    with pytest.raises(PermissionDenied):
        sources.source_revoke(actor=user, source=source)
    with pytest.raises(PermissionDenied):
        sources.source_list(actor=user)
    source.refresh_from_db()
    assert source.active and source.revoked_at is None and CaseSource.objects.count() == 1
    assert sources.source_by_api_key(key) == source


def test_revoke(users):
    source, key = sources.source_create(actor=users.superuser, name="y", channel=Channel.OPEN311)
    sources.source_revoke(actor=users.superuser, source=source)
    assert not source.active and source.revoked_at is not None
    with pytest.raises(PermissionDenied) as err:
        sources.source_by_api_key(key)
    assert err.value.status == 403
    sources.source_revoke(actor=users.superuser, source=source)  # again: nothing more happens
    assert AuditEvent.objects.filter(action="case_source.revoke").count() == 1


@pytest.mark.parametrize("key", [None, "", "  ", "nope", "x" * 500])
def test_unknown_keys(db, key):
    with pytest.raises(PermissionDenied):
        sources.source_by_api_key(key)


# --- commands --------------------------------------------------------------------------------------------


def test_open311_key_command(users):
    lines = run("open311_key", "create", "12345 平台")
    key = lines[-1]
    assert len(lines) >= 2 and key.strip() == key and " " not in key
    source = sources.source_by_api_key(key)
    assert source.name == "12345 平台" and source.channel == Channel.OPEN311
    assert AuditEvent.objects.get(action="case_source.create").actor_name == "gridgov open311-key"

    listing = run("open311_key", "list")
    assert len(listing) == 1 and "12345 平台" in listing[0] and source.key_prefix in listing[0]
    assert key not in "\n".join(listing)

    run("open311_key", "revoke", "12345 平台")
    source.refresh_from_db()
    assert source.revoked_at is not None
    with pytest.raises(PermissionDenied):
        sources.source_by_api_key(key)
    assert len(run("open311_key", "revoke", "12345 平台")) == 1  # already revoked: says so
    with pytest.raises(CommandError):
        run("open311_key", "revoke", "no such system")
    with pytest.raises(CommandError):
        run("open311_key", "create", "12345 平台")  # the name is taken


def test_webhook_source_command(users):
    lines = run("webhook_source", "create", "雪亮工程")
    source = CaseSource.objects.get()
    assert source.channel == Channel.VIDEO_AI
    assert lines[-1] == sources.source_webhook_secret(source)
    assert f"/api/v1/webhooks/video-ai/{source.pk}" in lines[-2]
    assert run("open311_key", "list") == [run("open311_key", "list")[0]]  # not an Open311 client
    assert "雪亮工程" in run("webhook_source", "list")[0]
    with pytest.raises(CommandError):
        run("open311_key", "revoke", "雪亮工程")  # the Open311 command revokes only Open311 clients
    run("webhook_source", "revoke", "雪亮工程")
    source.refresh_from_db()
    assert not source.active


def test_the_console_script_maps_hyphens(users, monkeypatch):
    import django.core.management

    from gridgov.__main__ import main

    seen = []
    monkeypatch.setattr(django.core.management, "execute_from_command_line", seen.append)
    monkeypatch.setattr(sys, "argv", ["gridgov", "open311-key", "create", "cli system"])
    main()
    assert seen == [["gridgov", "open311_key", "create", "cli system"]]
    key = run(*seen[0][1:])[-1]  # (run in-process: the real one would close the test database)
    assert sources.source_by_api_key(key).name == "cli system"


# --- the page ----------------------------------------------------------------------------------------------


def login(client, user):
    client.force_login(user)


def test_page_lists_creates_and_shows_the_key_once(client, users):
    login(client, users.superuser)
    response = client.get("/cases/sources/")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    response = client.post("/cases/sources/", {"name": "12345 平台", "channel": "open311"})
    assert response.status_code == 200
    source = CaseSource.objects.get()
    key = response.context["created"]["plain"]
    assert key.encode() in response.content and sources.source_by_api_key(key) == source
    assert response["Cache-Control"] == "no-store"
    again = client.get("/cases/sources/")
    assert key.encode() not in again.content and source.key_prefix.encode() in again.content
    assert "12345 平台" in again.content.decode()

    response = client.post("/cases/sources/", {"name": "cams", "channel": "video_ai"})
    video = CaseSource.objects.get(name="cams")
    assert response.context["created"]["plain"] == sources.source_webhook_secret(video)
    assert f"http://testserver/api/v1/webhooks/video-ai/{video.pk}".encode() in response.content


def test_page_form_errors(client, users):
    login(client, users.superuser)
    sources.source_create(actor=users.superuser, name="taken", channel=Channel.OPEN311)
    for data in ({"name": "", "channel": "open311"}, {"name": "x", "channel": "hotline"},
                 {"name": "TAKEN", "channel": "video_ai"}, {"name": "nul\x00", "channel": "open311"}):
        response = client.post("/cases/sources/", data)
        assert response.status_code == 200 and response.context["form"].errors
        assert response.context["created"] is None
    assert CaseSource.objects.count() == 1


def test_page_revoke(client, users):
    source, key = sources.source_create(actor=users.superuser, name="y", channel=Channel.OPEN311)
    login(client, users.superuser)
    response = client.post(f"/cases/sources/{source.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/cases/sources/"
    source.refresh_from_db()
    assert source.revoked_at is not None
    assert client.get(f"/cases/sources/{source.pk}/revoke/").status_code == 405
    assert client.post("/cases/sources/99999/revoke/").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_page_is_for_superusers_only(client, users, role):
    source, key = sources.source_create(actor=users.superuser, name="y", channel=Channel.OPEN311)
    login(client, getattr(users, role))
    assert client.get("/cases/sources/").status_code == 403
    assert client.post("/cases/sources/", {"name": "x", "channel": "open311"}).status_code == 403
    assert client.post(f"/cases/sources/{source.pk}/revoke/").status_code == 403
    source.refresh_from_db()
    assert source.active and CaseSource.objects.count() == 1


def test_page_needs_a_login(client, users):
    source, _key = sources.source_create(actor=users.superuser, name="y", channel=Channel.OPEN311)
    response = client.get("/cases/sources/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post(f"/cases/sources/{source.pk}/revoke/").status_code == 302
    source.refresh_from_db()
    assert source.active


def test_cases_keep_their_source_after_revoking(client, tree, users):
    source, key = sources.source_create(actor=users.superuser, name="y", channel=Channel.OPEN311)
    client.post("/open311/v2/requests.json", {"api_key": key, "service_code": "risk_water", "lat": "33.505",
                                              "long": "110.805", "description": "积水"})
    sources.source_revoke(actor=users.superuser, source=source)
    case = Case.objects.get()
    assert case.source == source and case.channel == Channel.OPEN311
