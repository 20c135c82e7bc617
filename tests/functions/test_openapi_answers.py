"""The handlers' real answers conform to docs/openapi.json: the deployed relay (tests/helpers.py)
driven in-process for each documented status reachable cheaply, each answer's status documented
for its route and its body (and Retry-After, where required) valid against the route's schema;
then request bodies generated from the document's own request schemas, each answer held to it."""

from __future__ import annotations

import json
import os
from datetime import UTC, date

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug import Response

from tests.helpers import ROOT, VENDORS, FakeContext, answer_success, event, load_function

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
INSIDER = "/api/user/v1/identity"  # Insider's identifier removal (tests/functions/test_vendor_functions.py)
MISSING_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/not-created-yet"
# Deterministic (the same examples every run), and bounded: a few seconds a route.
FUZZ = settings(
    max_examples=int(os.environ.get("OPENAPI_EXAMPLES", "25")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def call(relay, function: str, method: str, path: str, body=None, headers=None) -> dict:
    """The Lambda proxy answer of one API call to one of the relay's functions."""
    api = event(function, "api")
    api.update(
        httpMethod=method,
        path=path,
        body=None if body is None else (body if isinstance(body, str) else json.dumps(body)),
    )
    api["requestContext"] = {**api["requestContext"], "httpMethod": method}
    if "{request_id}" in api.get("resource", ""):
        api["pathParameters"] = {"request_id": path.rsplit("/", 1)[1]}
    api["headers"] = {**(api.get("headers") or {}), **(headers or {})}
    handler = relay.vendors[function] if function in relay.vendors else getattr(relay, function)
    return handler(api, FakeContext())


def header(answer: dict, name: str) -> str | None:
    for key, value in (answer.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    for key, values in (answer.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def conforms(answer: dict, method: str, path: str) -> dict:
    """Assert the answer is documented for the route (status, body, required headers); its body."""
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    status = str(answer["statusCode"])
    assert status in responses, f"{method} {path} answered an undocumented {status}: {answer.get('body')}"
    response = responses[status]
    body = json.loads(answer["body"])
    schema = response["content"]["application/json"]["schema"]
    jsonschema.validate(
        body, {**schema, "components": DOCUMENT["components"]}, jsonschema.Draft202012Validator
    )
    for name, spec in (response.get("headers") or {}).items():
        spec = DOCUMENT["components"]["headers"]["RetryAfter"] if "$ref" in spec else spec
        value = header(answer, name)
        if spec["required"]:
            assert value is not None, f"{status} without {name}"
        if value is not None:
            jsonschema.validate(int(value), spec["schema"])
    return body


def intake(relay, body, headers=None) -> tuple[int, dict]:
    answer = call(relay, "intake", "POST", "/v1/deletions", body, headers)
    return answer["statusCode"], conforms(answer, "POST", "/v1/deletions")


def receipt(relay, request_id: str, method: str = "GET") -> tuple[int, dict]:
    path = f"/v1/deletions/{request_id}"
    answer = call(relay, "status", method, path)
    return answer["statusCode"], conforms(answer, method, "/v1/deletions/{request_id}")


def at_vendor(relay, vendor: str, body, headers=None) -> tuple[int, dict, dict]:
    path = f"/v1/vendors/{vendor}/deletions"
    answer = call(relay, vendor, "POST", path, body, headers)
    return answer["statusCode"], conforms(answer, "POST", path), answer


PERSON = {"external_id": "oa-1", "email": "oa1@example.com", "phone_number": "+6598765432"}


def test_intake_answers_conform(relay):
    assert intake(relay, {"request_id": "oa-one", "identity": PERSON, "regulation": "ccpa"})[0] == 202
    assert (
        intake(
            relay,
            {"identity": {"guid": "g-1"}, "dry_run": True, "enrich": True},
            {"Idempotency-Key": "oa-key"},
        )[0]
        == 202
    )
    bulk = {
        "requests": [
            {"request_id": "oa-b1", "identity": {"email": "b1@example.com"}},
            {"request_id": "oa-b2", "identity": {"external_id": "b2"}, "vendors": ["dfinery"]},
        ]
    }
    status, body = intake(relay, bulk)
    assert status == 202 and [r["index"] for r in body["results"]] == [0, 1]
    mixed = {
        "requests": [
            {"request_id": "oa-b3", "identity": {"external_id": "b3"}},
            {"request_id": "oa-b4", "identity": {"phone": "x"}},
            {"identity": {"email": "nope"}},
            {"request_id": "oa-one", "identity": {"external_id": "someone-else"}},
        ]
    }
    status, body = intake(relay, mixed)
    assert (status, [r["status"] for r in body["results"]]) == (207, [202, 400, 400, 409])
    assert intake(relay, {"identity": {"email": "nope"}, "colour": "red"})[0] == 400
    assert intake(relay, "{not json")[0] == 400
    assert intake(relay, {"requests": []})[0] == 400
    assert intake(relay, {"request_id": "a", "identity": PERSON}, {"Idempotency-Key": "b"})[0] == 400
    assert intake(relay, {"request_id": "oa-one", "identity": {"external_id": "someone-else"}})[0] == 409


def test_intake_503_and_a_bulk_with_requests_to_resubmit_conform(relay, monkeypatch):
    monkeypatch.setenv("DFINERY_QUEUE_URL", MISSING_QUEUE)
    relay.intake = load_function("intake").lambda_handler
    assert intake(relay, {"request_id": "oa-503", "identity": {"external_id": "u503"}})[0] == 503
    bulk = {"requests": [{"request_id": "oa-b503", "identity": {"external_id": "b503"}}, {"identity": {}}]}
    status, body = intake(relay, bulk)
    assert (status, [r["status"] for r in body["results"]]) == (207, [503, 400])
    answer = call(relay, "intake", "POST", "/v1/deletions", bulk)
    assert header(answer, "Retry-After") is not None


def test_receipts_and_cancels_conform(relay):
    intake(relay, {"request_id": "oa-r", "identity": PERSON, "regulation": "gdpr"})
    assert receipt(relay, "oa-r")[0] == 200  # pending: nothing answered yet
    for vendor in VENDORS:
        relay.deliver(vendor)
    status, body = receipt(relay, "oa-r")
    assert status == 200 and body["awaiting"] == [] and body["vendors"]
    assert receipt(relay, "oa-missing")[0] == 404
    assert receipt(relay, "no such id!")[0] == 404

    relay.sqs.send_message(
        QueueUrl=relay.queue_urls["intake"], MessageBody=json.dumps({"request_id": "oa-bad", "identity": {}})
    )
    relay.deliver("intake")
    status, body = receipt(relay, "oa-bad")
    assert (status, body["status"]) == (200, "rejected") and body["errors"]

    listed = call(relay, "status", "GET", "/v1/deletions")
    assert conforms(listed, "GET", "/v1/deletions")["requests"]
    if "delete" not in DOCUMENT["paths"]["/v1/deletions/{request_id}"]:
        return
    intake(relay, {"request_id": "oa-cancel", "identity": {"external_id": "c1"}})
    status, body = receipt(relay, "oa-cancel", "DELETE")
    assert status == 200 and body["cancelled_at"]
    assert receipt(relay, "oa-missing", "DELETE")[0] == 404
    if receipt(relay, "oa-r")[1]["final"]:
        assert receipt(relay, "oa-r", "DELETE")[0] == 409


def test_vendor_route_answers_conform(relay):
    status, body, _ = at_vendor(relay, "braze", {"request_id": "oa-v1", "identity": PERSON})
    assert status == 200 and body["outcomes"]
    assert (
        at_vendor(relay, "braze", {"identity": {"external_id": "oa-dry"}, "dry_run": True, "enrich": True})[0]
        == 200
    )
    assert (
        at_vendor(relay, "dfinery", {"identity": {"external_id": "u"}}, {"Idempotency-Key": "oa-v2"})[0]
        == 200
    )
    assert at_vendor(relay, "insider", {"identity": {"email": "nope"}})[0] == 400
    assert at_vendor(relay, "insider", "{oops")[0] == 400
    intake(relay, {"request_id": "oa-taken", "identity": {"external_id": "x"}})
    assert at_vendor(relay, "dfinery", {"request_id": "oa-taken", "identity": {"external_id": "y"}})[0] == 409


@pytest.mark.parametrize(
    ("vendor_answer", "status"),
    [
        (
            (400, {"error": "you cannot delete the sole identifier specified for a user: bad request"}, {}),
            422,
        ),
        ((429, {"error": "rejected: too many requests"}, {"Retry-After": "9"}), 429),
        ((503, {"error": "unavailable"}, {}), 503),
        ((401, {"success": False, "message": "Partner token authentication failed."}, {}), 502),
    ],
)
def test_vendor_route_faults_conform(relay, httpserver, vendor_answer, status):
    code, body, headers = vendor_answer
    httpserver.clear_all_handlers()
    httpserver.expect_request(INSIDER).respond_with_response(
        Response(json.dumps(body), code, headers=headers, content_type="application/json")
    )
    httpserver.expect_request("").respond_with_handler(answer_success)
    request = {"action": "remove_identifier", "identity": {"email": "fault@example.com"}}
    got, _, answer = at_vendor(relay, "insider", request)
    assert got == status
    if status != 422:
        assert header(answer, "Retry-After") is not None


# -- generated from the document's request schemas ------------------------------------------------


def inlined(schema, components=DOCUMENT["components"]["schemas"]):
    """The schema with every #/components/schemas reference replaced by its target."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return inlined(components[schema["$ref"].rsplit("/", 1)[1]])
        return {k: inlined(v) for k, v in schema.items() if k != "discriminator"}
    if isinstance(schema, list):
        return [inlined(v) for v in schema]
    return schema


def strategy(schema: dict) -> st.SearchStrategy:
    """Values valid against a (reference-free) schema, for the keywords the request schemas use;
    now and then a value of the wrong form (a pattern or format not kept), which must be a 400."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([strategy(s) for s in schema.get("anyOf", schema.get("oneOf"))])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([strategy({**schema, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        items = strategy(schema["items"])
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object":
        return _objects(schema)
    raise AssertionError(f"no strategy for {schema}")


def _strings(schema: dict) -> st.SearchStrategy:
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    if schema.get("format") == "date-time":
        return st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z"))
    if schema.get("format") == "date":
        return st.dates().map(date.isoformat)
    if "pattern" in schema:
        formed = st.from_regex(schema["pattern"], fullmatch=True).filter(lambda t: low <= len(t) <= high)
        return formed | st.text(min_size=low, max_size=high)
    return st.text(min_size=low, max_size=high)


@st.composite
def _objects(draw, schema: dict) -> dict:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    optional = [name for name in properties if name not in required]
    chosen = required + draw(st.lists(st.sampled_from(optional), unique=True)) if optional else list(required)
    found = {name: draw(strategy(properties[name])) for name in chosen}
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        names = strategy(schema.get("propertyNames", {"type": "string", "minLength": 1}))
        found |= draw(st.dictionaries(names, strategy(extra), max_size=3))
    low = schema.get("minProperties", 0)
    if len(found) < low and properties:
        name = draw(st.sampled_from(sorted(properties)))
        found[name] = draw(strategy(properties[name]))
    return found


def generated(path: str) -> st.SearchStrategy:
    """Request bodies from the route's documented request schema (a bulk of at most 3)."""
    return strategy(
        inlined(DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"])
    )


@FUZZ
@given(body=generated("/v1/deletions"), key=st.none() | st.sampled_from(["oa-fuzz-key", "bad key"]))
def test_generated_intake_requests_are_answered_as_documented(relay, body, key):
    answer = call(relay, "intake", "POST", "/v1/deletions", body, {"Idempotency-Key": key} if key else None)
    conforms(answer, "POST", "/v1/deletions")


@FUZZ
@given(vendor=st.sampled_from(VENDORS), body=generated("/v1/vendors/braze/deletions"))
def test_generated_vendor_requests_are_answered_as_documented(relay, vendor, body):
    path = f"/v1/vendors/{vendor}/deletions"
    conforms(call(relay, vendor, "POST", path, body), "POST", path)


@FUZZ
@given(request_id=st.text(min_size=1, max_size=20) | st.sampled_from(["oa-known"]))
def test_any_receipt_id_is_answered_as_documented(relay, request_id):
    if request_id == "oa-known":
        intake(relay, {"request_id": "oa-known", "identity": {"external_id": "k"}})
    answer = call(relay, "status", "GET", f"/v1/deletions/{request_id}")
    conforms(answer, "GET", "/v1/deletions/{request_id}")
