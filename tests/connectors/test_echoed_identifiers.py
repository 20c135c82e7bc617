"""Vendors (or the gateways before them) that echo the request back, against a real local server:
what the relay keeps of their answer (the verdict's reason, the evidence's vendor request id)
holds no form of the identifier, however the echo encodes it.

CleverTap's lookup carries the identifier in its query string, percent-encoded: an error that
quotes the URL as received quotes it that way. Dfinery's deletion carries it in a JSON body."""

from __future__ import annotations

import html
import json
import re
import unicodedata
from urllib.parse import quote, unquote

import pytest
from werkzeug import Response

from tests.helpers import request
from tests.unit.test_redaction import recognisable

# CleverTap identities are often email addresses; ours is an external_id there.
IDENTIFIERS = ["jane+vip@example.com", "zoë@example.com", "acct/EU/ref-9081"]


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


# How a vendor or gateway may echo the query string it received (percent-encoded, as sent).
QUERY_ECHOES = {
    "as received": lambda q: q,
    "hex in lower case": _lower_hex,
    "quoted again by a gateway": lambda q: quote(q, safe="=&"),
    "decoded": unquote,
    "decoded, in NFD": lambda q: unicodedata.normalize("NFD", unquote(q)),
    "decoded, as html entities": lambda q: "".join(
        c if c.isalnum() or c == "=" else f"&#{ord(c)};" for c in unquote(q)
    ),
}


def _header(text: str) -> str:
    """A header value as a server writes it in UTF-8 (werkzeug sends a str as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def _assert_nothing_kept(results, value):
    (result,) = results
    verdict = result.verdict
    kept = [verdict.reason, verdict.evidence.vendor_request_id or ""]
    assert verdict.evidence.vendor_request_id, "the echoing header was read"
    for text in kept:
        assert recognisable(text, value) == [], text


@pytest.mark.parametrize("value", IDENTIFIERS)
@pytest.mark.parametrize("echo", list(QUERY_ECHOES), ids=list(QUERY_ECHOES))
@pytest.mark.parametrize("status", [400, 200], ids=["http-400", "fail-in-a-200"])
def test_clevertap_lookup_echoing_its_url(httpserver, make_relay, value, echo, status):
    def answer(req):
        query = QUERY_ECHOES[echo](req.query_string.decode("ascii"))
        body = {"status": "fail", "error": f"Invalid request GET {req.path}?{query}", "code": 400}
        return Response(json.dumps(body), status, headers={"X-Request-Id": _header(f"ct-{query}-7")})

    httpserver.expect_request("/1/profile.json").respond_with_handler(answer)
    results = make_relay("clevertap").look_up([request({"external_id": value})])
    (sent, _), *_ = httpserver.log
    assert value not in sent.query_string.decode()  # it travels percent-encoded
    assert results[0][0].verdict.outcome == "unverifiable"
    _assert_nothing_kept(results[0], value)


def test_clevertap_lookup_echo_keeps_the_rest_of_the_reason(httpserver, make_relay):
    """Where the echo can be placed, only it is cut out: the auditor keeps the vendor's words."""

    def answer(req):
        query = req.query_string.decode("ascii")
        body = {"status": "fail", "error": f"Invalid request GET {req.path}?{query}", "code": 400}
        return Response(json.dumps(body), 400, headers={"X-Request-Id": f"ct-{query}-7"})

    httpserver.expect_request("/1/profile.json").respond_with_handler(answer)
    ((result,),) = make_relay("clevertap").look_up([request({"external_id": "jane+vip@example.com"})])
    assert result.verdict.reason == (
        "the lookup was refused (400): Invalid request GET /1/profile.json?identity=<identifier>"
    )
    assert result.verdict.evidence.vendor_request_id == "ct-identity=<identifier>-7"


# How Dfinery (or a gateway) may echo the external_id it got in the JSON body.
BODY_ECHOES = {
    "percent-encoded": lambda v: quote(v, safe=""),
    "percent-encoded, lower-case hex": lambda v: _lower_hex(quote(v, safe="")),
    "form-encoded": lambda v: quote(v, safe="").replace("%20", "+"),
    "in NFD": lambda v: unicodedata.normalize("NFD", v),
    "in NFD, json escaped": lambda v: json.dumps(unicodedata.normalize("NFD", v))[1:-1],
    "html-escaped": lambda v: html.escape(v).replace("@", "&commat;").replace("/", "&sol;"),
}


@pytest.mark.parametrize("value", IDENTIFIERS)
@pytest.mark.parametrize("echo", list(BODY_ECHOES), ids=list(BODY_ECHOES))
def test_dfinery_deletion_echoing_its_body(httpserver, make_relay, value, echo):
    def answer(req):
        external_id = BODY_ECHOES[echo](req.get_json()["identity"]["external_id"])
        body = {
            "status": False,
            "code": "40001",
            "message": f"invalid external_id {external_id}",
            "data": None,
        }
        return Response(json.dumps(body), 200, headers={"X-Request-Id": _header(f"dfn/{external_id}")})

    httpserver.expect_request("/api/v1/identities/delete", method="POST").respond_with_handler(answer)
    results = make_relay("dfinery").run([request({"external_id": value})])
    assert results[0][0].verdict.outcome == "refused"
    _assert_nothing_kept(results[0], value)


def test_a_header_in_utf8_read_as_latin1_is_caught(httpserver, make_relay):
    """http.client reads header values as latin-1: a vendor's UTF-8 echo arrives as mojibake."""
    value = "zoë@example.com"
    httpserver.expect_request("/api/v1/identities/delete").respond_with_response(
        Response(
            json.dumps({"status": False, "code": "50000", "message": "internal error", "data": None}),
            500,
            headers={"X-Request-Id": _header(f"dfn-{value}")},
        )
    )
    ((result,),) = make_relay("dfinery").run([request({"external_id": value})])
    assert result.verdict.reason == "50000 internal error"
    assert "Ã«" not in result.verdict.evidence.vendor_request_id
    assert recognisable(result.verdict.evidence.vendor_request_id, value) == []


def test_a_request_id_header_is_cut_to_length_only_after_redaction(httpserver, make_relay):
    value = "jane+vip@example.com"  # straddling the 128th character: a cut first would keep "jane+vip@"
    header = "r" * 118 + " " + value

    def answer(req):
        body = {"status": True, "code": "20000", "message": "OK", "data": True}
        return Response(json.dumps(body), 200, headers={"X-Request-Id": header})

    httpserver.expect_request("").respond_with_handler(answer)
    ((result,),) = make_relay("dfinery").run([request({"external_id": value})])
    kept = result.verdict.evidence.vendor_request_id
    assert len(kept) <= 128 and "jane" not in kept and "vip" not in kept
