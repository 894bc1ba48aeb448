"""schemathesis against /api/v1/openapi.json, restricted to the /cases endpoints, as the county operator with a
bearer token: generated requests, valid and invalid, on absent cases and on real ones in several states. The
only check: the server never answers with a 5xx (nor raises).

The requests go through Django's test client, inside the test's transaction, so that the cases prepared for
the run are there; each is the request schemathesis would send (its URL, query and body, serialized by
``requests``), with schemathesis's own authorization and cookies replaced by the token.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.cases.spec import prepare
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

EXAMPLES = 8  # per operation and kind of path; about 30 operations
BASE = "http://testserver"


def load_schema(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(response.json()).include(path_regex=r"^/api/v1/cases(/|$)")


def send(client, case, token: str):
    kwargs = case.as_transport_kwargs(base_url=BASE)
    try:
        prepared = requests.Request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                                    json=kwargs.get("json"), data=kwargs.get("data")).prepare()
    except (ValueError, TypeError, UnicodeError):  # nothing a client could send (a NaN in JSON, …)
        assume(False)
    body = prepared.body or b""
    content_type = prepared.headers.get("Content-Type", "application/octet-stream")
    return client.generic(kwargs["method"], prepared.path_url, data=body, content_type=content_type,
                          HTTP_AUTHORIZATION=f"Bearer {token}")


def test_no_server_errors(tree, users, client):
    from django.test import Client

    token = client.post("/api/v1/auth/token", {"username": "county_operator", "password": PASSWORD},
                        content_type="application/json").json()["token"]
    real = [prepare(tree, users, side, state)[0].pk for side in ("a", "b")
            for state in ("submitted", "registered", "handling", "reported", "closed")]
    api = Client()  # a fresh client: no session, the token only
    operations = [result.ok() for result in load_schema(client).get_all_operations()]
    assert len(operations) >= 25
    failures = []
    for operation in operations:
        strategies = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        if "{case_id}" in operation.path:
            strategies += [operation.as_strategy(mode, path_parameters={"case_id": pk})
                           for pk in real for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]

        @settings(max_examples=EXAMPLES * (2 if "{case_id}" in operation.path else 1), deadline=None,
                  database=None, suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(strategies))
        def no_5xx(case):
            response = send(api, case, token)
            assert response.status_code < 500, (case.as_curl_command(), response.content[:300])

        try:
            no_5xx()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc!r}"[:2000])
    assert not failures, "\n\n".join(failures)
