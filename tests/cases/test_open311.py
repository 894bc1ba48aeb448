"""Open311 GeoReport v2 under /open311/v2/: the spec's wire formats in JSON and XML, its errors, what is exposed,
and an existing Python client (georeport) against the live server."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from gridgov.cases import services, sources
from gridgov.cases.models import Case, Category, Channel, Outcome, State
from gridgov.core.models import AuditEvent

pytestmark = pytest.mark.django_db

BASE = "/open311/v2"
IN_GRID_A = {"lat": "33.505", "long": "110.805"}  # inside 牛家庄片's square


@pytest.fixture
def key(users):
    _source, plain = sources.source_create(actor=users.superuser, name="12345 平台", channel=Channel.OPEN311)
    return plain


@pytest.fixture
def source(key):
    return sources.source_by_api_key(key)


def post(client, fmt: str = "json", **data):
    return client.post(f"{BASE}/requests.{fmt}", urlencode(data), content_type="application/x-www-form-urlencoded")


def xml_of(response) -> ET.Element:
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)  # noqa: S314 (our own server's answer)


def assert_error(response, status: int, fmt: str = "json") -> str:
    assert response.status_code == status
    if fmt == "xml":
        root = xml_of(response)
        assert root.tag == "errors" and [e.tag for e in root] == ["error"]
        assert [c.tag for c in root[0]] == ["code", "description"]
        assert root.findtext("error/code") == str(status)
        description = root.findtext("error/description")
    else:
        assert response["Content-Type"] == "application/json; charset=utf-8"
        body = response.json()
        assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
        assert body[0]["code"] == status
        description = body[0]["description"]
    assert description
    return description


def file_case(client, key, **extra) -> dict:
    data = {"api_key": key, "service_code": "risk_water", "description": "自来水管破裂，路面积水", **IN_GRID_A,
            **extra}
    response = post(client, **data)
    assert response.status_code == 200, response.content
    return response.json()[0]


# --- discovery, services, definitions ----------------------------------------------------------------


def test_discovery_json_and_xml(client, tree):
    body = client.get(f"{BASE}/discovery.json").json()
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["type"] in ("production", "test")

    root = xml_of(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [c.tag for c in root] == ["changeset", "contact", "key_service", "endpoints"]
    assert [e.tag for e in root.find("endpoints")] == ["endpoint"]
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]
    assert root.findtext("endpoints/endpoint/url") == "http://testserver/open311/v2"
    assert client.get(f"{BASE}/").status_code == 302


def test_services_list_active_categories(client, tree):
    Category.objects.filter(code="policy_enquiry").update(active=False)
    body = client.get(f"{BASE}/services.json").json()
    codes = [s["service_code"] for s in body]
    assert "risk_water" in codes and "policy_enquiry" not in codes
    assert len(codes) == Category.objects.filter(active=True).count()
    water = next(s for s in body if s["service_code"] == "risk_water")
    assert water == {
        "service_code": "risk_water", "service_name": "供水问题", "description": "风险防控 · 供水问题",
        "metadata": False, "type": "realtime", "keywords": "供水问题, 风险防控, risk", "group": "风险防控",
    }

    root = xml_of(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and {c.tag for c in root} == {"service"}
    service = next(s for s in root if s.findtext("service_code") == "risk_water")
    assert [c.tag for c in service] == ["service_code", "service_name", "description", "metadata", "type",
                                        "keywords", "group"]
    assert service.findtext("metadata") == "false" and service.findtext("type") == "realtime"


def test_service_definition(client, tree):
    assert client.get(f"{BASE}/services/risk_water.json").json() == {"service_code": "risk_water", "attributes": []}
    root = xml_of(client.get(f"{BASE}/services/risk_water.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "risk_water"
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0
    assert_error(client.get(f"{BASE}/services/nope.json"), 404)
    assert_error(client.get(f"{BASE}/services/nope.xml"), 404, "xml")


# --- POST service requests ---------------------------------------------------------------------------


def test_post_files_a_case_from_the_spec_example_form(client, tree, key, source):
    # The spec's example request, with this platform's service code and a point in a grid.
    response = post(client, api_key=key, jurisdiction_id="city.gov", service_code="risk_water", **IN_GRID_A,
                    address_string="富水镇梁家湾村一组", email="smit333@sfgov.edu", device_id="tt222111",
                    account_id="123456", first_name="john", last_name="smith", phone="13800001234",
                    description="A large sinkhole is destroying the street",
                    media_url="http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
                    **{"attribute[WHISPAWN]": "123456", "attribute[WHISDORN]": "COISL001"})
    assert response.status_code == 200
    (answer,) = response.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] == "123456"
    case = Case.objects.get()
    assert answer["service_request_id"] == case.number
    assert case.tracking_code in answer["service_notice"]
    assert case.channel == Channel.OPEN311 and case.source == source
    assert case.category.code == "risk_water" and case.area == tree.grid_a and case.placed
    assert case.desk_area == tree.county and case.state == State.SUBMITTED
    assert case.address == "富水镇梁家湾村一组" and case.reporter_name == "john smith"
    assert case.reporter_phone_masked == "138****1234" and "13800001234" not in case.reporter_phone_sealed
    assert case.description == ("A large sinkhole is destroying the street\n\n"
                                "media_url: http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg")
    assert case.actions.get().verb == "create"
    event = AuditEvent.objects.get(action="case.open311_create")
    assert event.data == {"source": "12345 平台", "account_id": "123456", "device_id": "tt222111"}


def test_post_xml_answer(client, tree, key):
    response = post(client, "xml", api_key=key, service_code="flood_hazard", address_string="湘河镇洞场村河堤",
                    first_name="明", last_name="王")
    root = xml_of(response)
    assert root.tag == "service_requests"
    (request,) = root
    assert request.tag == "request"
    assert [c.tag for c in request] == ["service_request_id", "service_notice", "account_id"]
    case = Case.objects.get()
    assert request.findtext("service_request_id") == case.number
    assert request.find("account_id") is not None and request.findtext("account_id") == ""  # empty element
    assert not case.placed and case.area == tree.county  # an address alone cannot be placed: triage
    assert case.reporter_name == "王明" and case.description == "汛情险情报告"  # no description: the service


def test_post_by_address_id(client, tree, key):
    file_case(client, key, lat="", long="", address_id=tree.grid_b.code)
    assert Case.objects.get().area == tree.grid_b


def test_client_key_makes_retries_idempotent(client, tree, key, users):
    first = file_case(client, key, **{"attribute[client_key]": "app-42"})
    again = file_case(client, key, **{"attribute[client_key]": "app-42"})
    assert again["service_request_id"] == first["service_request_id"]
    assert Case.objects.count() == 1
    assert AuditEvent.objects.filter(action="case.open311_create").count() == 1
    _other, other_key = sources.source_create(actor=users.superuser, name="other", channel=Channel.OPEN311)
    assert file_case(client, other_key, **{"attribute[client_key]": "app-42"})["service_request_id"] != \
        first["service_request_id"]
    file_case(client, key)
    file_case(client, key)  # no client key: GeoReport has none, so a retry files again
    assert Case.objects.count() == 4


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_api_key_refused_with_403(client, tree, key, users, fmt):
    good = {"service_code": "risk_water", "description": "x", **IN_GRID_A}
    assert "api_key" in assert_error(post(client, fmt, **good), 403, fmt)
    assert_error(post(client, fmt, api_key="", **good), 403, fmt)
    assert_error(post(client, fmt, api_key="wrong-key", **good), 403, fmt)
    assert_error(post(client, fmt, api_key="x" * 300, **good), 403, fmt)
    source = sources.source_by_api_key(key)
    sources.source_revoke(actor=users.superuser, source=source)
    assert_error(post(client, fmt, api_key=key, **good), 403, fmt)
    _video, secret = sources.source_create(actor=users.superuser, name="cams", channel=Channel.VIDEO_AI)
    assert_error(post(client, fmt, api_key=secret, **good), 403, fmt)  # a webhook secret is no API key
    assert Case.objects.count() == 0


@pytest.mark.parametrize(("status", "changes"), [
    (400, {"service_code": ""}),
    (404, {"service_code": "no_such_service"}),
    (400, {"lat": "abc"}),
    (400, {"lat": "91"}),
    (400, {"long": "-180.5"}),
    (400, {"lat": "nan"}),
    (400, {"long": "inf"}),
    (400, {"long": ""}),  # lat without long
    (400, {"lat": "", "long": ""}),  # no location at all
    (400, {"address_id": "999999999999"}),
    (400, {"address_string": "路" * 201}),
    (400, {"description": "长" * 4001}),
    (400, {"media_url": "javascript:alert(1)"}),
    (400, {"media_url": "http://" + "a" * 900 + ".cn/x.jpg"}),
    (400, {"phone": "call me"}),
    (400, {"first_name": "n" * 30, "last_name": "m" * 30}),
    (400, {"description": "nul\x00byte"}),
    (400, {"attribute[client_key]": "k" * 201}),
])
def test_post_bad_input_refused(client, tree, key, status, changes):
    data = {"api_key": key, "service_code": "risk_water", "description": "路面积水", **IN_GRID_A, **changes}
    for fmt in ("json", "xml"):
        assert_error(post(client, fmt, **data), status, fmt)
    assert Case.objects.count() == 0


def test_post_with_an_inactive_category_is_404(client, tree, key):
    Category.objects.filter(code="risk_water").update(active=False)
    assert_error(post(client, api_key=key, service_code="risk_water", **IN_GRID_A), 404)


# --- GET service requests ----------------------------------------------------------------------------


def test_get_requests_exposes_only_public_fields_of_open311_cases(client, tree, key, users):
    filed = file_case(client, key, phone="13800001234", first_name="秘密", last_name="张",
                      email="zhang@example.cn", media_url="https://img.example.cn/1.jpg")
    services.case_create(actor=None, channel=Channel.SELF_REPORT, description="随手拍：不公开", lng=110.805,
                         lat=33.505)
    services.case_create(actor=users.county_operator, channel=Channel.HOTLINE, description="热线：不公开")
    response = client.get(f"{BASE}/requests.json")
    body = response.json()
    assert [r["service_request_id"] for r in body] == [filed["service_request_id"]]
    (request,) = body
    case = Case.objects.get(channel=Channel.OPEN311)
    assert list(request) == [
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
        "address", "address_id", "lat", "long", "media_url",
    ]
    assert request["status"] == "open"
    assert request["service_code"] == "risk_water" and request["service_name"] == "供水问题"
    assert request["description"] == "自来水管破裂，路面积水"
    assert request["media_url"] == "https://img.example.cn/1.jpg"
    assert request["agency_responsible"] == "商南县"
    assert request["lat"] == 33.505 and request["long"] == 110.805
    assert request["address"] == "牛家庄片" and request["address_id"] == tree.grid_a.code
    assert request["requested_datetime"] == timezone.localtime(case.created_at).isoformat(timespec="seconds")
    assert request["requested_datetime"].endswith("+08:00")
    assert request["expected_datetime"] is None
    text = response.content.decode()
    for secret in ("秘密", "13800001234", "138****1234", "zhang@example.cn", case.tracking_code, "随手拍", "热线"):
        assert secret not in text


def test_status_notes_and_closed_cases_name_no_staff(client, tree, key, users):
    number = file_case(client, key)["service_request_id"]
    case = Case.objects.get()
    op = users.county_operator
    services.case_act(actor=op, case=case, verb="accept")
    services.case_act(actor=op, case=case, verb="register")
    services.case_act(actor=op, case=case, verb="dispatch", target_area=tree.village_a1)
    (request,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert request["status"] == "open" and request["agency_responsible"] == "梁家湾村"
    assert request["expected_datetime"] is not None and request["service_notice"]
    services.case_act(actor=op, case=case, verb="suspend", note="内部说明：等待汛期结束，由王科长处理",
                      review_on=dt.date(2099, 1, 1))
    services.case_act(actor=op, case=case, verb="close", outcome=Outcome.NOT_RESPONSIBLE, note="不属于本平台职责")
    response = client.get(f"{BASE}/requests/{number}.json")
    (request,) = response.json()
    case.refresh_from_db()
    assert request["status"] == "closed"
    assert request["status_notes"] == case.get_outcome_display()
    assert request["updated_datetime"] == timezone.localtime(case.closed_at).isoformat(timespec="seconds")
    text = response.content.decode()
    for private in ("王科长", "内部说明", "不属于本平台职责", "county_operator"):
        assert private not in text
    assert [r["service_request_id"] for r in client.get(f"{BASE}/requests.json?status=closed").json()] == [number]
    assert client.get(f"{BASE}/requests.json?status=open").json() == []


def test_get_requests_xml(client, tree, key):
    number = file_case(client, key, description="水管\x01破裂 <b>&</b>")["service_request_id"]
    root = xml_of(client.get(f"{BASE}/requests.xml"))
    assert root.tag == "service_requests" and [r.tag for r in root] == ["request"]
    request = root[0]
    assert request.findtext("service_request_id") == number
    assert request.findtext("status") == "open"
    assert request.findtext("description") == "水管破裂 <b>&</b>"
    assert request.find("expected_datetime") is not None and request.findtext("expected_datetime") == ""
    assert float(request.findtext("lat")) == 33.505 and float(request.findtext("long")) == 110.805
    single = xml_of(client.get(f"{BASE}/requests/{number}.xml"))
    assert single.tag == "service_requests" and single.findtext("request/service_request_id") == number


def test_get_requests_filters(client, tree, key):
    water = file_case(client, key)["service_request_id"]
    flood = file_case(client, key, service_code="flood_hazard")["service_request_id"]
    old = file_case(client, key, service_code="flood_hazard")["service_request_id"]
    Case.objects.filter(pk=int(old[8:])).update(created_at=timezone.now() - dt.timedelta(days=120))
    old = Case.objects.get(pk=int(old[8:])).number  # the number carries the filing day

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}/requests.json?" + query.replace("+", "%2B"))
        assert response.status_code == 200, response.content
        return [r["service_request_id"] for r in response.json()]

    assert ids("") == [flood, water]  # the last 90 days, newest first
    assert ids("service_code=flood_hazard") == [flood]
    assert ids("service_code=flood_hazard,risk_water&status=open,closed") == [flood, water]
    assert ids(f"service_request_id={old},{water}") == [old, water]  # overrides the date range
    assert ids(f"service_request_id={old[:8]}999999") == []
    start = (timezone.now() - dt.timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (timezone.now() - dt.timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    assert ids(f"start_date={start}&end_date={end}") == [old]
    assert ids(f"start_date={start}") == [old]
    assert ids(f"end_date={timezone.localdate():%Y-%m-%d}") == [flood, water]
    assert ids("jurisdiction_id=city.gov") == [flood, water]


@pytest.mark.parametrize("query", [
    "service_code=nope", "status=pending", "start_date=yesterday", "end_date=2026-13-01T00:00:00Z",
    "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "start_date=2026-03-01&end_date=2026-02-01",
    "service_request_id=abc", "start_date=0001-01-01T00:00:00Z", "end_date=9999-12-31",
])
def test_get_requests_bad_filters(client, tree, query):
    for fmt in ("json", "xml"):
        assert_error(client.get(f"{BASE}/requests.{fmt}?{query}"), 400, fmt)


def test_get_one_request_and_tokens(client, tree, key, users):
    number = file_case(client, key)["service_request_id"]
    case = Case.objects.get()
    other = services.case_create(actor=None, channel=Channel.SELF_REPORT, description="随手拍")
    assert client.get(f"{BASE}/requests/{number}.json").json()[0]["service_request_id"] == number
    assert_error(client.get(f"{BASE}/requests/{other.number}.json"), 404)  # not filed through Open311
    assert_error(client.get(f"{BASE}/requests/{number[:8]}999999.xml"), 404, "xml")
    assert_error(client.get(f"{BASE}/requests/19990101{case.pk:06d}.json"), 404)  # right id, wrong day
    assert_error(client.get(f"{BASE}/requests/abc.json"), 400)
    assert_error(client.get(f"{BASE}/requests/20261122999999999999.json"), 404)  # beyond any id column
    assert client.get(f"{BASE}/requests.json?service_request_id=20261122999999999999").json() == []

    assert client.get(f"{BASE}/tokens/{case.tracking_code.lower()}.json").json() == [
        {"service_request_id": number, "token": case.tracking_code}]
    root = xml_of(client.get(f"{BASE}/tokens/{case.tracking_code}.xml"))
    assert [c.tag for c in root.find("request")] == ["service_request_id", "token"]
    assert_error(client.get(f"{BASE}/tokens/{other.tracking_code}.json"), 404)
    assert_error(client.get(f"{BASE}/tokens/NOPE.xml"), 404, "xml")


def test_methods_and_unknown_paths(client, tree):
    assert_error(client.delete(f"{BASE}/requests.json"), 405)
    assert_error(client.post(f"{BASE}/services.xml"), 405, "xml")
    assert_error(client.get(f"{BASE}/services.csv"), 404)
    assert_error(client.get(f"{BASE}/nothing/here.xml"), 404, "xml")


# --- an existing client, over the wire -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_georeport_client_against_the_live_server(live_server, tree, users):
    georeport = pytest.importorskip("georeport", reason="the georeport client is a test dependency")
    requests = pytest.importorskip("requests")
    _source, key = sources.source_create(actor=users.superuser, name="12345", channel=Channel.OPEN311)
    root = f"{live_server.url}/open311/v2/"
    response = requests.post(f"{root}requests.xml", data={
        "api_key": key, "service_code": "risk_road", "lat": "33.505", "long": "110.805",
        "description": "路灯不亮\n已持续三天", "media_url": "https://img.example.cn/lamp.jpg",
    }, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/xml; charset=utf-8"
    number = ET.fromstring(response.content).findtext("request/service_request_id")  # noqa: S314
    refused = requests.post(f"{root}requests.json", data={"service_code": "risk_road"}, timeout=10)
    assert refused.status_code == 403 and refused.json()[0]["code"] == 403

    for fmt in ("json", "xml"):
        client = georeport.GeoReport(root, jurisdiction="gridgov", output_format=fmt)
        services_ = client.get_service_list()
        assert "risk_road" in [s["service_code"] for s in services_]
        definition = client.get_service_definition("risk_road")
        assert definition["service_code"] == "risk_road"
        listed = client.get_service_requests(service_code="risk_road", status="open")
        listed = [listed] if isinstance(listed, dict) else listed  # xmltodict: one element is not a list
        assert [r["service_request_id"] for r in listed] == [number]
        one = client.get_service_request(number)
        assert one["service_request_id"] == number and one["status"] == "open"
        assert one["description"] == "路灯不亮\n已持续三天"
        assert one["media_url"] == "https://img.example.cn/lamp.jpg"
        assert one["service_name"] == "道路与公共设施损坏"


def test_the_list_takes_the_same_queries_for_more_requests(client, tree, key, django_assert_num_queries):
    for _i in range(2):
        file_case(client, key)
    with django_assert_num_queries(2):  # the cases with their relations, and their public photos
        assert len(client.get(f"{BASE}/requests.json").json()) == 2
    for _i in range(5):
        file_case(client, key, service_code="flood_hazard")
    with django_assert_num_queries(2):
        assert len(xml_of(client.get(f"{BASE}/requests.xml"))) == 7
