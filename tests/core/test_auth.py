"""Authentication and the security baseline: API tokens, lockout, password policy and expiry, sessions,
CSP, login audit rows, and the append-only audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from gridgov.core.models import ApiToken, AuditEvent, PasswordHistory
from gridgov.core.passwords import character_classes, password_changed_at, password_expired
from tests.areas.factories import counts, make_user
from tests.conftest import PASSWORD

TOKEN_URL = "/api/v1/auth/token"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def user(db):
    return make_user("wangwu", password=PASSWORD)


def get_token(client, username="wangwu", password=PASSWORD, **extra):
    return client.post(TOKEN_URL, {"username": username, "password": password}, content_type="application/json",
                       **extra)


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def error_codes(exc: ValidationError) -> list[str]:
    return [e.code for e in exc.error_list]




# --- tokens --------------------------------------------------------------------------------------


def test_token_ok(client, user, settings):
    with time_machine.travel(NOW, tick=False):
        response = get_token(client)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    assert dt.datetime.fromisoformat(body["expires_at"]) == NOW + dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    assert len(body["token"]) >= 40
    stored = ApiToken.objects.get(user=user)
    assert stored.created_ip == "127.0.0.1"
    assert [e.action for e in AuditEvent.objects.filter(actor=user).order_by("id")] == ["login.ok", "token.create"]


def test_only_the_sha256_of_the_token_is_stored(client, user):
    token = get_token(client).json()["token"]
    stored = ApiToken.objects.get(user=user)
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.prefix == token[:8]
    row = ApiToken.objects.filter(pk=stored.pk).values().get()
    assert all(token not in str(value) for value in row.values())


def test_token_works_as_bearer(client, user):
    token = get_token(client).json()["token"]
    response = Client().get("/api/v1/me", **bearer(token))
    assert response.status_code == 200
    assert response.json()["username"] == "wangwu"
    stored = ApiToken.objects.get(user=user)
    assert stored.last_used_at is not None
    listed = Client().get("/api/v1/auth/tokens", **bearer(token)).json()
    assert [t["prefix"] for t in listed] == [token[:8]]


def test_revoked_token_is_refused(client, user):
    token = get_token(client).json()["token"]
    response = Client().delete(TOKEN_URL, **bearer(token))
    assert response.status_code == 204
    assert ApiToken.objects.get(user=user).revoked_at is not None
    assert AuditEvent.objects.latest("id").action == "token.revoke"
    response = Client().get("/api/v1/me", **bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_revoking_someone_elses_token_is_not_found(client, user):
    other = make_user("zhaoliu", password=PASSWORD)
    get_token(client, "zhaoliu")
    mine = get_token(client).json()["token"]
    theirs = ApiToken.objects.get(user=other)
    response = Client().delete(f"/api/v1/auth/tokens/{theirs.pk}", **bearer(mine))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_expired_token_is_refused(client, user, settings):
    with time_machine.travel(NOW, tick=False):
        token = get_token(client).json()["token"]
    ttl = dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    with time_machine.travel(NOW + ttl - dt.timedelta(seconds=1), tick=False):
        assert Client().get("/api/v1/me", **bearer(token)).status_code == 200
    with time_machine.travel(NOW + ttl, tick=False):
        response = Client().get("/api/v1/me", **bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_token_of_an_inactive_user_is_refused(client, user):
    token = get_token(client).json()["token"]
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert Client().get("/api/v1/me", **bearer(token)).status_code == 401
    response = get_token(client)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_wrong_password_is_invalid_credentials_and_audited(client, user):
    response = get_token(client, password="Wrong-pass-1", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 401
    assert response.json() == {"code": "invalid_credentials", "message": "Wrong user name or password.",
                               "fields": {}}
    event = AuditEvent.objects.latest("id")
    assert event.action == "login.failed"
    assert event.actor is None
    assert event.actor_name == "wangwu"
    assert event.ip == "192.0.2.7"
    assert event.object_repr == "wangwu"
    assert event.data == {"via": "api"}
    assert not ApiToken.objects.exists()


def test_unknown_user_is_invalid_credentials(client, db):
    response = get_token(client, "ghost")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert AuditEvent.objects.latest("id").action == "login.failed"


@pytest.mark.parametrize("payload", ['{"username": "x"}', "[]", "{bad", '{"username": 1, "password": null}'])
def test_malformed_token_request(client, db, payload):
    response = client.post(TOKEN_URL, payload, content_type="application/json")
    assert response.status_code in (400, 422)
    assert response.json()["code"] == "invalid_input"


def test_lockout_after_five_failures(client, user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert get_token(client, password="Wrong-pass-1").status_code == 401
    fifth = get_token(client, password="Wrong-pass-1")
    assert (fifth.status_code, fifth.json()["code"]) == (429, "locked_out")
    response = get_token(client)  # the right password
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.latest("id").action == "login.locked"
    # The lockout is per user name (and address): another user still logs in.
    make_user("zhaoliu", password=PASSWORD)
    assert get_token(client, "zhaoliu").status_code == 200


def test_lockout_ends_after_the_cool_off(client, user, settings):
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            get_token(client, password="Wrong-pass-1")
        assert get_token(client).status_code == 429
    with time_machine.travel(NOW + settings.AXES_COOLOFF_TIME + dt.timedelta(minutes=1), tick=False):
        assert get_token(client).status_code == 200


def test_four_failures_then_success_resets(client, user):
    for _ in range(4):
        get_token(client, password="Wrong-pass-1")
    assert get_token(client).status_code == 200
    for _ in range(4):
        get_token(client, password="Wrong-pass-1")
    assert get_token(client).status_code == 200


def test_lockout_on_the_login_page(client, user):
    for _ in range(5):
        response = client.post("/login/", {"username": "wangwu", "password": "Wrong-pass-1"})
    response = client.post("/login/", {"username": "wangwu", "password": PASSWORD})
    assert response.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    assert "_auth_user_id" not in client.session


# --- password policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "classes"),
    [("abcdefgh", 1), ("abcd1234", 2), ("Abcd1234", 3), ("Abcd-1234", 4), ("网格员密码", 0), ("", 0), ("A1!", 3)],
)
def test_character_classes(password, classes):
    assert character_classes(password) == classes


@pytest.mark.parametrize(
    ("password", "codes"),
    [
        ("Ab1-", ["password_too_short"]),
        ("abcdefghij", ["password_too_simple"]),
        ("abcdefgh12", ["password_too_simple"]),
        ("ABCDEFGH--", ["password_too_simple"]),
        ("Abc1", ["password_too_short"]),
    ],
)
def test_password_policy_refuses(user, password, codes):
    with pytest.raises(ValidationError) as exc:
        validate_password(password, user)
    assert set(codes) <= set(error_codes(exc.value))


@pytest.mark.parametrize("password", ["Shangnan-2026", "grid-WORK-yes", "GRID2026work", "网格Aa1x!zzz"])
def test_password_policy_accepts(user, password):
    assert validate_password(password, user) is None


def set_password(user, password):
    user.set_password(password)
    user.save()


def test_password_history_refuses_the_last_five(user):
    passwords = [f"Zhou-{i}-Secret" for i in range(6)]
    for password in passwords:
        set_password(user, password)
    assert PasswordHistory.objects.filter(user=user).count() == 5
    for recent in passwords[1:]:
        with pytest.raises(ValidationError) as exc:
            validate_password(recent, user)
        assert error_codes(exc.value) == ["password_reused"]
    # The sixth-newest has dropped out of the history and may be used again.
    assert validate_password(passwords[0], user) is None


def test_password_history_keeps_hashes_only(user):
    set_password(user, "Zhou-1-Secret")
    entry = PasswordHistory.objects.get(user=user)
    assert "Zhou-1-Secret" not in entry.password
    assert entry.password == get_user_model().objects.get(pk=user.pk).password


def test_password_change_page_enforces_history(client, user):
    set_password(user, "Zhou-1-Secret")
    client.force_login(user)
    response = client.post("/account/password/", {"old_password": "Zhou-1-Secret",
                                                  "new_password1": "Zhou-1-Secret", "new_password2": "Zhou-1-Secret"})
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    response = client.post("/account/password/", {"old_password": "Zhou-1-Secret",
                                                  "new_password1": "Zhou-2-Secret", "new_password2": "Zhou-2-Secret"})
    assert response.status_code == 302
    assert get_user_model().objects.get(pk=user.pk).check_password("Zhou-2-Secret")


def test_a_never_changed_password_expires_too(db, settings):
    with time_machine.travel(NOW, tick=False):
        fresh = make_user("newcomer", password=PASSWORD)
    later = NOW + dt.timedelta(days=settings.PASSWORD_MAX_AGE_DAYS + 1)
    assert password_expired(fresh, now=later)


# --- password expiry -----------------------------------------------------------------------------


def age_password(user, days: int) -> None:
    PasswordHistory.objects.filter(user=user).update(changed_at=timezone.now() - dt.timedelta(days=days))


@pytest.fixture
def changed_user(user):
    set_password(user, "Zhou-1-Secret")
    return user


def test_expired_password_redirects_pages_to_the_change_page(client, changed_user, settings):
    client.force_login(changed_user)
    assert client.get("/").status_code == 200
    age_password(changed_user, settings.PASSWORD_MAX_AGE_DAYS + 1)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/account/password/"
    assert client.get("/areas/").status_code == 302
    assert client.get("/account/password/").status_code == 200
    # The API answers for itself (JSON), it is not redirected.
    assert client.get("/api/v1/me").status_code == 200


def test_password_not_yet_expired(client, changed_user, settings):
    client.force_login(changed_user)
    age_password(changed_user, settings.PASSWORD_MAX_AGE_DAYS - 1)
    assert client.get("/").status_code == 200
    assert not password_expired(changed_user, now=timezone.now())


def test_changing_an_expired_password_lets_the_user_in(client, changed_user, settings):
    client.force_login(changed_user)
    age_password(changed_user, settings.PASSWORD_MAX_AGE_DAYS + 1)
    response = client.post("/account/password/", {"old_password": "Zhou-1-Secret", "new_password1": "Zhou-9-Secret",
                                                  "new_password2": "Zhou-9-Secret"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert password_changed_at(changed_user) > timezone.now() - dt.timedelta(minutes=1)


def test_expired_password_refuses_token_creation(client, changed_user, settings):
    age_password(changed_user, settings.PASSWORD_MAX_AGE_DAYS + 1)
    response = get_token(client, password="Zhou-1-Secret")
    assert response.status_code == 403
    assert response.json()["code"] == "password_expired"
    assert not ApiToken.objects.exists()


def test_expiry_can_be_disabled(client, changed_user, settings):
    settings.PASSWORD_MAX_AGE_DAYS = 0
    age_password(changed_user, 10_000)
    client.force_login(changed_user)
    assert client.get("/").status_code == 200
    assert get_token(client, password="Zhou-1-Secret").status_code == 200


# --- sessions and settings -----------------------------------------------------------------------


def test_idle_timeout_settings(settings):
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_COOKIE_HTTPONLY is True


def test_idle_session_expires(client, user):
    with time_machine.travel(NOW, tick=False):
        client.force_login(user)
        assert client.get("/").status_code == 200
    # Active every 20 minutes: still logged in after 40.
    with time_machine.travel(NOW + dt.timedelta(minutes=20), tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(NOW + dt.timedelta(minutes=40), tick=False):
        assert client.get("/").status_code == 200
    # Idle for 31 minutes: logged out.
    with time_machine.travel(NOW + dt.timedelta(minutes=71), tick=False):
        response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_argon2_is_the_first_hasher_in_the_real_settings():
    real = importlib.import_module("gridgov.settings")
    assert real.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_argon2_hashes(settings):
    real = importlib.import_module("gridgov.settings")
    settings.PASSWORD_HASHERS = real.PASSWORD_HASHERS
    assert make_password("Zhou-1-Secret").startswith("argon2$argon2id$")


def test_real_settings_security_baseline():
    real = importlib.import_module("gridgov.settings")
    assert real.AXES_FAILURE_LIMIT == 5
    assert real.PASSWORD_MAX_AGE_DAYS == 90
    assert real.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert real.X_FRAME_OPTIONS == "DENY"
    validators = [v["NAME"].rsplit(".", 1)[1] for v in real.AUTH_PASSWORD_VALIDATORS]
    assert validators == ["MinimumLengthValidator", "CharacterClassValidator", "PasswordHistoryValidator",
                          "CommonPasswordValidator"]


def test_csp_header_on_a_page(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_csp_headers_kept_per_handler_are_django_csps(rf, settings):
    from csp.exceptions import CSPNonceError
    from csp.middleware import CSPMiddleware as PerResponse
    from django.http import HttpResponse

    from gridgov.core.middleware import CSPMiddleware

    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"report-uri": "/csp-report/"}}
    ours, theirs = CSPMiddleware(lambda r: HttpResponse("x")), PerResponse(lambda r: HttpResponse("x"))
    for _twice in range(2):
        mine, reference = ours(rf.get("/")), theirs(rf.get("/"))
        for header in ("Content-Security-Policy", "Content-Security-Policy-Report-Only"):
            assert mine[header] == reference[header]
    request = rf.get("/")
    ours(request)
    with pytest.raises(CSPNonceError):  # a nonce asked for after the header was written
        str(request.csp_nonce)

    def own_policy(request):
        response = HttpResponse("x")
        response._csp_update = {"img-src": ["https://tiles.example.cn"]}
        return response

    mine = CSPMiddleware(own_policy)(rf.get("/"))
    assert "img-src 'self' data: https://tiles.example.cn" in mine["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {**settings.CONTENT_SECURITY_POLICY, "EXCLUDE_URL_PREFIXES": ["/api/"]}
    assert "Content-Security-Policy" not in ours(rf.get("/api/v1/x"))


# --- login page audit ----------------------------------------------------------------------------


def test_login_page_ok_is_audited_with_the_address(client, user):
    response = client.post("/login/", {"username": "wangwu", "password": PASSWORD}, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="login.ok").get()
    assert (event.actor, event.ip, event.data) == (user, "192.0.2.10", {"via": "page"})


def test_login_page_failure_is_audited_with_the_address(client, user):
    response = client.post("/login/", {"username": "wangwu", "password": "nope"}, REMOTE_ADDR="198.51.100.3")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(action="login.failed").get()
    assert (event.actor, event.actor_name, event.ip, event.data) == (None, "wangwu", "198.51.100.3", {"via": "page"})


def test_logout_is_audited(client, user):
    client.force_login(user)
    client.post("/logout/")
    assert AuditEvent.objects.latest("id").action == "logout"


def test_login_page_is_chinese_whatever_the_browser_says(client, db):
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="zh-hans">' in response.content.decode()


# --- audit rows are append-only ------------------------------------------------------------------


@pytest.fixture
def event(db):
    from gridgov.core import audit

    return audit.record(actor="test", action="demo.thing", data={"k": 1})


def test_audit_event_cannot_be_updated(event):
    event.action = "changed"
    with pytest.raises(ValueError, match="immutable"):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "demo.thing"


def test_audit_event_cannot_be_deleted(event):
    with pytest.raises(ValueError, match="never deleted"):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize("operation", ["update", "delete"])
def test_audit_events_cannot_be_changed_in_bulk(event, operation):
    rows = AuditEvent.objects.filter(pk=event.pk)
    with pytest.raises(Exception):  # noqa: B017  (any refusal will do)
        if operation == "update":
            rows.update(action="forged")
        else:
            rows.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "demo.thing"


def test_audit_admin_is_read_only(client, db):
    root = make_user("root", password=PASSWORD, superuser=True)
    client.force_login(root)
    from gridgov.core import audit

    event = audit.record(actor="test", action="demo.thing")
    before = counts()
    assert client.get(f"/admin/core/auditevent/{event.pk}/delete/").status_code == 403
    response = client.post(f"/admin/core/auditevent/{event.pk}/change/", {"action": "forged"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "demo.thing"
    assert counts()["audit"] == before["audit"]
