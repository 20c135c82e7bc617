"""docs/openapi.json is a valid OpenAPI 3.1 document, is what tools/openapi.py generates now (from
template.yaml and the typed model), and documents exactly the template's routes."""

import copy
import dataclasses
import json

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from erasure.handlers import http_answers
from erasure.outcomes import Evidence, Outcome, Verification
from erasure.receipt import IdentifierOutcome, Receipt, RequestStatus, RequestVerification
from erasure.request import MAX_BULK_REQUESTS
from erasure.vendors import CONNECTORS
from tests.helpers import ROOT
from tools import openapi
from tools.sam_local import load_template

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
SCHEMAS = DOCUMENT["components"]["schemas"]


def template_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every Api event of every function in template.yaml."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "Api"
    }


def test_the_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1.")
    errors = [str(e) for e in OpenAPIV31SpecValidator(DOCUMENT).iter_errors()]
    assert errors == []


def test_the_committed_document_is_what_the_generator_writes_now():
    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi.render(openapi.document()), "run: python -m tools.openapi"


def test_every_route_of_the_template_is_documented_and_nothing_else():
    documented = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert documented == template_routes()


def test_a_route_the_generator_cannot_document_stops_it():
    template = load_template(ROOT / "template.yaml")
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function")
    function["Properties"].setdefault("Events", {})["Extra"] = {
        "Type": "Api",
        "Properties": {"RestApiId": {"Ref": "RelayApi"}, "Path": "/v1/other", "Method": "put"},
    }
    with pytest.raises(SystemExit, match="PUT /v1/other"):
        openapi.document(template)


def test_every_call_is_signed_with_sigv4_as_api_gateway_documents():
    assert DOCUMENT["security"] == [{"sigv4": []}]
    assert DOCUMENT["components"]["securitySchemes"]["sigv4"] == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "AWS Signature Version 4 (API Gateway AWS_IAM authorization).",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
    operations = [op for item in DOCUMENT["paths"].values() for op in item.values()]
    assert all("security" not in op for op in operations)  # the template's DefaultAuthorizer: AWS_IAM


def test_an_unsigned_route_says_so():
    template = load_template(ROOT / "template.yaml")
    template["Resources"]["RelayApi"]["Properties"]["Auth"]["DefaultAuthorizer"] = "NONE"
    paths = openapi.document(template)["paths"]
    assert all(
        op["security"] == [] and "403" not in op["responses"] for i in paths.values() for op in i.values()
    )


@pytest.mark.parametrize("cls", [Receipt, IdentifierOutcome, Evidence])
def test_the_receipt_schemas_are_the_dataclasses_fields(cls):
    schema = SCHEMAS[cls.__name__]
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(schema["properties"]) == names
    assert schema["additionalProperties"] is False
    # Receipt.as_json leaves out `errors` when there are none; every other field is always there.
    assert schema["required"] == [n for n in names if (cls, n) != (Receipt, "errors")]


@pytest.mark.parametrize("enum", [Outcome, Verification, RequestStatus, RequestVerification])
def test_the_enums_are_the_codes(enum):
    assert SCHEMAS[enum.__name__]["enum"] == [m.value for m in enum]


def test_the_refinements_name_real_fields():
    classes = {cls.__name__: cls for cls in openapi.MODEL_CLASSES}
    for cls, name in openapi.REFINED:
        assert name in {f.name for f in dataclasses.fields(classes[cls])}


def test_a_field_of_an_unknown_type_stops_the_generator():
    @dataclasses.dataclass
    class Odd:
        when: complex

    with pytest.raises(TypeError, match="no JSON schema"):
        openapi.dataclass_schema(Odd)


def test_the_request_limits_are_the_codes():
    assert SCHEMAS["BulkRequest"]["properties"]["requests"]["maxItems"] == MAX_BULK_REQUESTS
    assert SCHEMAS["Vendor"]["enum"] == list(CONNECTORS)
    assert "vendors" in SCHEMAS["IntakeRequest"]["properties"]
    assert "vendors" not in SCHEMAS["DeletionRequest"]["properties"]  # intake only
    for name in ("IntakeRequest", "DeletionRequest"):
        assert {"enrich", "dry_run", "regulation", "due_by"} <= set(SCHEMAS[name]["properties"])


def test_every_status_a_vendor_route_can_answer_is_documented_with_retry_after_where_given():
    retry = {429, 502, 503}  # http_answers.outcomes_response gives Retry-After on these
    codes = {code for _, code in http_answers._STATUS_BY_OUTCOME} | {200, 400, 409}
    for vendor in CONNECTORS:
        responses = DOCUMENT["paths"][f"/v1/vendors/{vendor}/deletions"]["post"]["responses"]
        assert codes <= {int(c) for c in responses}
        for code in retry:
            assert responses[str(code)]["headers"]["Retry-After"] == {
                "$ref": "#/components/headers/RetryAfter"
            }
    assert DOCUMENT["components"]["headers"]["RetryAfter"]["required"] is True


def test_the_document_has_no_dangling_reference():
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for reference in refs(copy.deepcopy(DOCUMENT)):
        target = DOCUMENT
        for part in reference.removeprefix("#/").split("/"):
            target = target[part]
