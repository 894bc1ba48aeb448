"""``gridgov rotate-field-key`` also re-seals the sealed columns of cases: reporters' phones and webhook secrets."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import translation

from gridgov.cases import services, sources
from gridgov.cases.models import Case, CaseSource, Channel
from gridgov.core import crypto
from gridgov.core.models import AuditEvent
from tests.registry.test_crypto import KEY_A, KEY_B, use

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys(settings):
    use(settings, KEY_A)
    with translation.override("en"):
        yield
    crypto.reset_caches()


def test_rotation_reseals_case_columns(settings, tree):
    case = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="x", reporter_phone="13800001234")
    source, secret = sources.source_create(actor=None, name="视频平台", channel=Channel.VIDEO_AI)
    use(settings, KEY_B, old=KEY_A)
    key_b = crypto.current_key().key_id
    out = io.StringIO()
    call_command("rotate_field_key", stdout=out, stderr=io.StringIO())
    assert "1 values of cases.Case.reporter_phone_sealed to re-seal." in out.getvalue()
    case.refresh_from_db()
    source.refresh_from_db()
    for token in (case.reporter_phone_sealed, source.secret_sealed):
        assert token.startswith(f"v1:aes-256-gcm:{key_b}:")
    use(settings, KEY_B)  # the old key is no longer needed
    assert crypto.decrypt(case.reporter_phone_sealed) == "13800001234"
    assert crypto.decrypt(source.secret_sealed) == secret
    event = AuditEvent.objects.get(action="crypto.rotate")
    assert event.data["columns"] == {"cases.Case.reporter_phone_sealed": 1, "cases.CaseSource.secret_sealed": 1}
    out = io.StringIO()
    call_command("rotate_field_key", stdout=out, stderr=io.StringIO())
    assert "values of" not in out.getvalue()
    assert Case.objects.count() == 1 and CaseSource.objects.count() == 1
