"""docs/openapi.json, generated: the relay's API as an OpenAPI 3.1 document.

`python -m tools.openapi` rewrites it (`--check` only says whether it is up to date). What the
document holds comes from the code, so that it cannot drift from it unseen:

- the routes from template.yaml (every Api event of every function, with its authorizer); a
  route this module cannot document stops the generator, naming it;
- the receipt (Receipt, IdentifierOutcome, Evidence) from dataclasses.fields() and their type
  hints, the enums' values from the enums, the request's limits and patterns from the modules
  that check them;
- what the handlers answer (erasure/handlers/http_answers.py) is written out here, and the tests
  (tests/unit/test_openapi.py, tests/functions/test_openapi_answers.py) hold the handlers' real
  answers to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from erasure import identifiers, request
from erasure.handlers.http_answers import DEFAULT_RETRY_AFTER_SECONDS
from erasure.outcomes import Evidence, Outcome, Verification
from erasure.receipt import IdentifierOutcome, Receipt, RequestStatus, RequestVerification
from erasure.vendors import CONNECTORS
from tools.sam_local import load_template

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
TEMPLATE = ROOT / "template.yaml"
SIGV4 = "sigv4"
VENDOR_ROUTE = re.compile(r"^/v1/vendors/(?P<vendor>[a-z][a-z0-9_]*)/deletions$")

# The typed model: each dataclass a schema of its fields, each enum a schema of its values.
MODEL_CLASSES: tuple[type, ...] = (Receipt, IdentifierOutcome, Evidence)
ENUMS: tuple[type[Enum], ...] = (
    Outcome,
    Verification,
    RequestStatus,
    RequestVerification,
    request.Action,
    request.Regulation,
    identifiers.IdentifierType,
)
# Fields the answer leaves out when empty (Receipt.as_json): not required.
OMITTED_WHEN_EMPTY = {("Receipt", "errors")}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema.get("type"), str) and "$ref" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def closed(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An object of exactly these properties (all required unless `required` says otherwise)."""
    return {
        "type": "object",
        **extra,
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


STRING = {"type": "string"}
IDENTIFIER_REF = closed(
    {"identifier": {**STRING, "description": "its type (label), never its value"}, "id_hash": STRING}
)
# Fields whose type hint is looser than what they hold (a dict of Any, a list of dicts): what
# they hold. Each must name a field of its class (the generator and a test check).
REFINED: dict[tuple[str, str], dict[str, Any]] = {
    ("IdentifierOutcome", "evidence"): nullable(ref("Evidence")),
    ("IdentifierOutcome", "verification_evidence"): nullable(ref("Evidence")),
    ("IdentifierOutcome", "resolved_to"): nullable({"type": "array", "items": IDENTIFIER_REF}),
    ("Receipt", "identifiers"): {"type": "array", "items": IDENTIFIER_REF},
    ("Receipt", "awaiting"): {
        "type": "array",
        "items": closed({"vendor": STRING, "identifier": STRING, "id_hash": STRING}),
    },
    ("Receipt", "skipped"): {
        "type": "object",
        "description": "vendor: why it was not sent the request",
        "additionalProperties": STRING,
    },
    ("Receipt", "errors"): {"type": "array", "items": ref("FieldError")},
    ("Receipt", "learned"): {
        "type": "array",
        "items": closed(
            {
                "identifier": STRING,
                "id_hash": STRING,
                "learned_from": STRING,
                "via": nullable(STRING),
                "via_hash": nullable(STRING),
                "sent_to": {"type": "array", "items": STRING},
                "withheld": nullable(STRING),
                "learned_at": nullable(STRING),
            }
        ),
    },
}


def schema_of_hint(hint: Any) -> dict[str, Any]:
    """The JSON schema of a type hint of the model; TypeError for one it does not know."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        (rest,) = [a for a in args if a is not type(None)]
        return nullable(schema_of_hint(rest))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return ref(hint.__name__)
    if dataclasses.is_dataclass(hint):
        return ref(hint.__name__)
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    if origin is list:
        return {"type": "array", "items": schema_of_hint(args[0])}
    if origin is dict and args[0] is str:
        return {"type": "object", "additionalProperties": schema_of_hint(args[1])}
    if hint is Any:
        return {}
    raise TypeError(f"no JSON schema for {hint!r}: add it to tools/openapi.py")


def _doc(cls: type) -> dict[str, str]:
    text = cls.__dict__.get("__doc__") or ""
    if not text or text.startswith(f"{cls.__name__}("):  # the dataclass's generated one
        return {}
    return {"description": " ".join(text.split())}


def dataclass_schema(cls: type) -> dict[str, Any]:
    """A closed object of the dataclass's fields, in order, with the types of its hints."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = {f for c, f in REFINED if c == cls.__name__} - set(names)
    if unknown:
        raise TypeError(f"REFINED names no field of {cls.__name__}: {sorted(unknown)}")
    properties = {name: REFINED.get((cls.__name__, name)) or schema_of_hint(hints[name]) for name in names}
    required = [n for n in names if (cls.__name__, n) not in OMITTED_WHEN_EMPTY]
    return closed(properties, required, **_doc(cls))


def enum_schema(cls: type[Enum]) -> dict[str, Any]:
    return {"type": "string", **_doc(cls), "enum": [member.value for member in cls]}


# -- the request ----------------------------------------------------------------------------------


def identity_schema() -> dict[str, Any]:
    kinds = identifiers.IdentifierType
    value = {"type": "string", "minLength": 1, "maxLength": identifiers.MAX_IDENTIFIER_LENGTH}
    name = {"type": "string", "maxLength": identifiers.MAX_CUSTOM_NAME_LENGTH}
    name["pattern"] = identifiers._CUSTOM_NAME.pattern
    formats = {
        kinds.EMAIL: {"pattern": identifiers._EMAIL.pattern},
        kinds.PHONE_NUMBER: {
            "pattern": identifiers._E164.pattern,
            "description": "E.164: +, country code, number",
        },
    }
    properties: dict[str, Any] = {}
    for kind in kinds:
        if kind is kinds.CUSTOM:
            properties[kind.value] = {
                "type": "object",
                "description": "your own identifiers, name: value (a vendor's custom identifiers)",
                "minProperties": 1,
                "maxProperties": identifiers.MAX_CUSTOM_IDENTIFIERS,
                "propertyNames": name,
                "additionalProperties": value,
            }
        elif kind is kinds.USER_ALIAS:
            properties[kind.value] = closed(
                {"alias_name": value, "alias_label": name}, description="a user alias (its name and label)"
            )
        else:
            properties[kind.value] = {**value, **formats.get(kind, {})}
    return {
        "type": "object",
        "description": "The person's identifiers: at least one. Values are never echoed in answers.",
        "minProperties": 1,
        "properties": properties,
        "additionalProperties": False,
    }


REQUEST_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": request.MAX_REQUEST_ID_LENGTH,
    "pattern": request._REQUEST_ID.pattern,
}


def request_properties() -> dict[str, Any]:
    return {
        "request_id": {
            **REQUEST_ID,
            "description": "Names the request: the same id answers the first answer again. "
            "Default: the Idempotency-Key header, else a new UUID.",
        },
        "action": {**ref("Action"), "default": request.Action.DELETE_PROFILE.value},
        "identity": ref("Identity"),
        "requested_at": {
            "type": "string",
            "format": "date-time",
            "description": f"ISO-8601 with a time zone, from {request.EARLIEST_TIME.year} on, not more "
            "than a year ahead. Default: when the relay received it.",
        },
        "regulation": nullable(
            {
                **ref("Regulation"),
                "description": "Sets the deadline when due_by is not given (GDPR's month by default).",
            }
        ),
        "due_by": {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
                {"type": "null"},
            ],
            "description": "The statutory deadline: a date (due by its end, UTC) or a time with a time "
            f"zone, not before requested_at, at most {request.MAX_DUE_YEARS} years after it.",
        },
        "enrich": {
            "type": "boolean",
            "description": "Carry what one vendor's lookup ties to the person to every vendor. "
            "Default: the deployment's EnrichByDefault.",
        },
        "dry_run": {
            "type": "boolean",
            "default": False,
            "description": "Resolution only: nothing is deleted (a different request from a real one).",
        },
    }


def vendor_request_schema() -> dict[str, Any]:
    return closed(request_properties(), ["identity"], description="One deletion request.")


def intake_request_schema() -> dict[str, Any]:
    properties = request_properties()
    properties["vendors"] = {
        "type": "array",
        "minItems": 1,
        "items": ref("Vendor"),
        "description": "The vendors to send it to. Default: every vendor configured.",
    }
    return closed(properties, ["identity"], description="One deletion request, as intake takes it.")


def bulk_request_schema() -> dict[str, Any]:
    return closed(
        {
            "requests": {
                "type": "array",
                "minItems": 1,
                "maxItems": request.MAX_BULK_REQUESTS,
                "items": ref("IntakeRequest"),
            }
        },
        description="A bulk: each request answered on its own, by its index.",
    )


# -- the answers ----------------------------------------------------------------------------------


def answer_schemas() -> dict[str, Any]:
    accepted = {
        "request_id": STRING,
        "vendors": {"type": "array", "items": ref("Vendor"), "description": "the vendors sent it"},
        "skipped": {
            "type": "object",
            "description": "vendor: why it was not sent",
            "propertyNames": ref("Vendor"),
            "additionalProperties": STRING,
        },
    }

    def item(status: int, properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
        head = {"index": {"type": "integer", "minimum": 0}, "status": {"const": status}}
        fields = {**head, **properties}
        return closed(fields, [*head, *(properties if required is None else required)])

    return {
        "FieldError": closed({"field": STRING, "reason": STRING}, description="A bad field and why."),
        "InvalidRequest": closed(
            {
                "message": {"const": "invalid request"},
                "errors": {"type": "array", "items": ref("FieldError")},
            },
            description="Every bad field named (the first 20; a last error on `body` counts the rest).",
        ),
        "NoSuchRequest": closed({"message": STRING, "field": {"const": "request_id"}}),
        "Conflict": closed({"request_id": STRING, "message": STRING}),
        "NotYetSent": closed(
            {"message": STRING, "request_ids": {"type": "array", "items": STRING}},
            description="Recorded, but not taken by every vendor queue: submit the same requests "
            "again under these request_ids, and only what is missing is sent.",
        ),
        "Accepted": closed(
            accepted, description="The request's first answer (the same on every resubmission)."
        ),
        "BulkAccepted": closed({"results": {"type": "array", "items": ref("BulkItemAccepted")}}),
        "BulkResults": closed({"results": {"type": "array", "items": ref("BulkItem")}}),
        "BulkItemAccepted": item(202, accepted),
        "BulkItemInvalid": item(
            400,
            {"request_id": STRING, "errors": {"type": "array", "items": ref("FieldError")}},
            ["errors"],
        ),
        "BulkItemConflict": item(409, {"request_id": STRING, "message": STRING}),
        "BulkItemNotSent": item(503, {"request_id": STRING, "message": STRING}),
        "BulkItem": {
            "oneOf": [ref(f"BulkItem{k}") for k in ("Accepted", "Invalid", "Conflict", "NotSent")],
            "discriminator": {"propertyName": "status"},
        },
        "VendorOutcome": closed(
            {
                "vendor": ref("Vendor"),
                "identifier": {**STRING, "description": "its type (label), never its value"},
                "id_hash": STRING,
                "outcome": ref("Outcome"),
                "reason": STRING,
                "http_status": nullable({"type": "integer"}),
                "retry_after": nullable(
                    {"type": "number", "description": "seconds the vendor asked to wait"}
                ),
                "last_attempt_at": nullable(STRING),
                "verification": nullable(ref("Verification")),
            },
            description="One identifier's outcome at the vendor (erasure.outcomes.outcome_view).",
        ),
        "VendorAnswer": closed(
            {
                "request_id": STRING,
                "vendor": ref("Vendor"),
                "outcomes": {"type": "array", "items": ref("VendorOutcome")},
            }
        ),
        "ApiGatewayError": closed(
            {"message": STRING}, [], description="API Gateway's own answer (the function is not called)."
        ),
    }


RETRY_AFTER = {
    "description": "Seconds to wait before asking again "
    f"(the vendor's wait, else {DEFAULT_RETRY_AFTER_SECONDS}).",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}


def answer(description: str, schema: dict[str, Any], retry_after: bool | None = None) -> dict[str, Any]:
    """A response; `retry_after` True: with a Retry-After header, None: without, False: sometimes."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    elif retry_after is False:
        sometimes = "When any request may be resubmitted (a 503 item): seconds to wait first."
        response["headers"] = {"Retry-After": {**RETRY_AFTER, "required": False, "description": sometimes}}
    return response


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The request_id when the body gives none (it must not give another).",
    "schema": REQUEST_ID,
}
REQUEST_ID_PARAMETER = {"name": "request_id", "in": "path", "required": True, "schema": STRING}
DENIED = {
    "403": answer(
        "Not signed, or the caller's IAM policy does not allow it (API Gateway).", ref("ApiGatewayError")
    )
}


def intake_operation() -> dict[str, Any]:
    return {
        "operationId": "submitDeletions",
        "summary": "Submit one deletion request, or a bulk of them",
        "description": "Recorded in the ledger, then sent to every vendor that serves one of its "
        "identifiers (the vendors' own queues). The same request_id returns the first answer.",
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [ref("IntakeRequest"), ref("BulkRequest")]}}
            },
        },
        "responses": {
            "202": answer(
                "Accepted: one request's answer, or a bulk's where every request was accepted.",
                {"oneOf": [ref("Accepted"), ref("BulkAccepted")]},
            ),
            "207": answer(
                "A bulk not all accepted: each request's own status, by index.", ref("BulkResults"), False
            ),
            "400": answer(
                "Not a request (a bulk: not a list of 1 to 1,000): every bad field named.",
                ref("InvalidRequest"),
            ),
            **DENIED,
            "409": answer("The request_id already names a different request.", ref("Conflict")),
            "503": answer(
                "Recorded, but not yet sent to every vendor: resubmit it.", ref("NotYetSent"), True
            ),
        },
    }


def receipt_operation() -> dict[str, Any]:
    return {
        "operationId": "getReceipt",
        "summary": "The receipt of a deletion request",
        "parameters": [REQUEST_ID_PARAMETER],
        "responses": {
            "200": answer("The receipt, from the ledger.", ref("Receipt")),
            **DENIED,
            "404": answer("No request with this request_id (or none could have it).", ref("NoSuchRequest")),
        },
    }


def list_operation() -> dict[str, Any]:
    """GET /v1/deletions (erasure.ledger.listing, erasure.handlers.listing)."""
    summary = closed(
        {
            "request_id": STRING,
            "created_at": nullable(STRING),
            "action": nullable(STRING),
            "due_by": nullable(STRING),
            "status": ref("RequestStatus"),
            "verification": ref("RequestVerification"),
            "final": {"type": "boolean"},
            "vendors": {"type": "array", "items": STRING},
            "dry_run": {"type": "boolean"},
            "cancelled_at": nullable(STRING),
        }
    )
    page = closed({"requests": {"type": "array", "items": summary}, "next_token": nullable(STRING)})
    return {
        "operationId": "listDeletions",
        "summary": "The requests, newest first, a page at a time (no identifier shown)",
        "parameters": _list_parameters(),
        "responses": {
            "200": answer("A page of summaries, and a token for the next (null: no more).", page),
            "400": answer("A bad filter, limit or token: every bad field named.", ref("InvalidRequest")),
            **DENIED,
        },
    }


def _list_parameters() -> list[dict[str, Any]]:
    """The list's query parameters, from the handler's own choices and limits."""
    from erasure.handlers import listing as handler
    from erasure.ledger.listing import DEFAULT_LIMIT, MAX_LIMIT

    described = {
        "status": "the request's status as last published",
        "verification": "the request's verification as last published",
        "outcome": "with vendor: that vendor answered some identifier so",
    }
    parameters = [
        {
            "name": name,
            "in": "query",
            "description": described[name],
            "schema": {"type": "string", "enum": choices},
        }
        for name, choices in handler.CHOICES.items()
    ]
    times = {
        "due_before": "due at or before",
        "created_after": "created from",
        "created_before": "created up to",
    }
    parameters += [
        {"name": name, "in": "query", "description": f"{text} (ISO-8601 date or time)", "schema": STRING}
        for name, text in times.items()
    ]
    parameters += [
        {"name": "final", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
        {"name": "vendor", "in": "query", "description": "a vendor that answered", "schema": STRING},
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        },
        {"name": "next_token", "in": "query", "description": "the previous page's token", "schema": STRING},
    ]
    assert {p["name"] for p in parameters} == handler.KNOWN  # every parameter the handler reads
    return parameters


def cancel_operation() -> dict[str, Any]:
    return {
        "operationId": "cancelDeletion",
        "summary": "Cancel what no vendor has been sent yet",
        "parameters": [REQUEST_ID_PARAMETER],
        "responses": {
            "200": answer("Cancelled: the receipt, with cancelled_at.", ref("Receipt")),
            **DENIED,
            "404": answer("No request with this request_id.", ref("NoSuchRequest")),
            "409": answer("The request is final: nothing to cancel.", ref("Conflict")),
        },
    }


def vendor_operation(vendor: str) -> dict[str, Any]:
    outcomes = ref("VendorAnswer")
    return {
        "operationId": f"deleteAt{vendor.title().replace('_', '')}",
        "summary": f"Run one deletion request at {vendor}, synchronously",
        "description": "Answered with each identifier's outcome. When outcomes differ, the first of "
        "429, 503, 502, 422 present decides the status: anything to retry outranks a refusal.",
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref("DeletionRequest")}},
        },
        "responses": {
            "200": answer("Every outcome a final success.", outcomes),
            "400": answer("Not a request: every bad field named.", ref("InvalidRequest")),
            **DENIED,
            "409": answer("The request_id already names a different request.", ref("Conflict")),
            "422": answer("Refused by the vendor (the reason says why).", outcomes),
            "429": answer("Throttled: retry after the wait.", outcomes, True),
            "502": answer(
                "Our credentials or settings for the vendor are wrong (unauthorized).", outcomes, True
            ),
            "503": answer(
                "Transient at the vendor; or what its lookup learned could not be sent on to the "
                "other vendors (NotYetSent): retry after the wait.",
                {"oneOf": [outcomes, ref("NotYetSent")]},
                True,
            ),
        },
    }


def template_routes(template: dict[str, Any] | None = None) -> list[tuple[str, str, bool]]:
    """(METHOD, path, signed with SigV4) of every Api event of every function of template.yaml."""
    template = load_template(TEMPLATE) if template is None else template
    resources = template["Resources"]
    routes = []
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            properties = event["Properties"]
            api = resources[properties["RestApiId"]["Ref"]]["Properties"]
            default = (api.get("Auth") or {}).get("DefaultAuthorizer", "NONE")
            authorizer = (properties.get("Auth") or {}).get("Authorizer", default)
            routes.append((properties["Method"].upper(), properties["Path"], authorizer == "AWS_IAM"))
    return sorted(routes)


def operation_for(method: str, path: str) -> dict[str, Any]:
    vendor = VENDOR_ROUTE.match(path)
    if (method, path) == ("POST", "/v1/deletions"):
        return intake_operation()
    if (method, path) == ("GET", "/v1/deletions/{request_id}"):
        return receipt_operation()
    if (method, path) == ("GET", "/v1/deletions"):
        return list_operation()
    if (method, path) == ("DELETE", "/v1/deletions/{request_id}"):
        return cancel_operation()
    if method == "POST" and vendor and vendor["vendor"] in CONNECTORS:
        return vendor_operation(vendor["vendor"])
    raise SystemExit(f"template.yaml has {method} {path}, which tools/openapi.py does not document: add it")


def document(template: dict[str, Any] | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, signed in template_routes(template):
        operation = operation_for(method, path)
        if not signed:
            operation["security"] = []
            del operation["responses"]["403"]
        paths.setdefault(path, {})[method.lower()] = operation
    schemas: dict[str, Any] = {
        "IntakeRequest": intake_request_schema(),
        "BulkRequest": bulk_request_schema(),
        "DeletionRequest": vendor_request_schema(),
        "Identity": identity_schema(),
        "Vendor": {"type": "string", "enum": list(CONNECTORS)},
        **answer_schemas(),
        **{cls.__name__: dataclass_schema(cls) for cls in MODEL_CLASSES},
        **{cls.__name__: enum_schema(cls) for cls in ENUMS},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Erasure relay",
            "version": "1",
            "summary": "Personal-data deletions carried to vendors, with a receipt per identifier.",
            "description": "Generated by `python -m tools.openapi` from template.yaml and the relay's "
            "typed model; see docs/api.md. Every call is SigV4-signed (API Gateway AWS_IAM).",
        },
        "servers": [
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/api",
                "description": "Deployed: the stack's ApiUrl output.",
                "variables": {"restApiId": {"default": "restApiId"}, "region": {"default": "eu-west-1"}},
            },
            {
                "url": "http://127.0.0.1:3000/api",
                "description": "make demo-stack (signatures checked alike).",
            },
        ],
        "security": [{SIGV4: []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                SIGV4: {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (API Gateway AWS_IAM authorization).",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
            "headers": {"RetryAfter": RETRY_AFTER},
            "schemas": schemas,
        },
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.openapi", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only say whether docs/openapi.json is up to date"
    )
    args = parser.parse_args(argv)
    text = render(document())
    current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
    if args.check:
        if current != text:
            print(
                f"{DOCUMENT.relative_to(ROOT)} is out of date: run python -m tools.openapi", file=sys.stderr
            )
            return 1
        return 0
    if current != text:
        DOCUMENT.write_text(text, encoding="utf-8")
        print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
