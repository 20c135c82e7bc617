"""What the relay does the same for every vendor: transport failures, dedupe, deadlines, pacing."""

import socket
from dataclasses import replace

import pytest

from erasure.pacing import RateGate
from tests.helpers import outcomes, request
from tests.recording_server import RecordingServer

OK = {"status": True, "code": "20000", "message": "OK", "data": True}


def pointed_at(relay, url):
    relay.settings = replace(relay.settings, base_url=url)
    return relay


def test_a_read_timeout_is_transient(make_relay):
    with RecordingServer(body=OK, delay=0.6) as server:
        relay = pointed_at(make_relay("dfinery", read_timeout=0.2), server.url)
        (results,) = relay.run([request({"external_id": "u"})])
    assert (results[0].verdict.outcome, results[0].verdict.reason) == (
        "transient",
        "no answer: ReadTimeoutError",
    )


def test_a_refused_connection_is_transient(make_relay):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = pointed_at(make_relay("dfinery"), f"http://127.0.0.1:{port}")
    (results,) = relay.run([request({"external_id": "u"})])
    assert results[0].verdict.outcome == "transient"
    assert results[0].verdict.reason.startswith("no answer:")
    assert results[0].verdict.http_status is None


def test_a_reset_connection_is_transient(make_relay):
    with RecordingServer(reset=True) as server:
        (results,) = pointed_at(make_relay("dfinery"), server.url).run([request({"external_id": "u"})])
    assert results[0].verdict.outcome == "transient"
    assert len(server.requests) == 1


def test_the_same_identifier_in_two_records_is_sent_once(httpserver, make_relay):
    httpserver.expect_request("/api/v1/identities/delete").respond_with_json(OK)
    results = make_relay("dfinery").run([request({"external_id": "same"}), request({"external_id": "same"})])
    assert len(httpserver.log) == 1
    assert [outcomes(r) for r in results] == [[("external_id", "deleted")]] * 2
    assert results[0][0].request_id != results[1][0].request_id


def test_nothing_is_sent_when_the_invocation_is_out_of_time(httpserver, make_relay):
    (results,) = make_relay("dfinery").run([request({"external_id": "u"})], remaining_ms=lambda: 500)
    assert results[0].verdict.outcome == "transient"
    assert "out of time" in results[0].verdict.reason
    assert results[0].attempted_at is None
    assert httpserver.log == []


def test_unauthorized_stops_the_rest_of_the_batch(httpserver, make_relay):
    httpserver.expect_request("/api/v1/identities/delete").respond_with_json(
        {"status": False, "code": "40201", "message": "INVALID_TOKEN", "data": None}
    )
    results = make_relay("dfinery", concurrency=1).run([request({"external_id": f"u{n}"}) for n in range(5)])
    assert {r[0].verdict.outcome for r in results} == {"unauthorized"}
    assert len(httpserver.log) == 1


def test_rate_gate_spaces_calls_evenly():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    gate = RateGate(per_minute=120, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        gate.wait()
    assert slept == [0.5, 0.5, 0.5]


def test_the_gate_paces_real_calls(httpserver, make_relay):
    httpserver.expect_request("/api/v1/identities/delete").respond_with_json(OK)
    relay = make_relay("dfinery", concurrency=4, per_minute=600)
    slept = []
    relay.gates = {"delete": RateGate(600, sleep=slept.append)}
    relay.run([request({"external_id": f"u{n}"}) for n in range(5)])
    assert len(httpserver.log) == 5
    assert len(slept) == 4 and all(0 < s <= 0.4 for s in slept)


@pytest.mark.parametrize(
    "quoted",
    [
        "cannot delete {'identity': ['crm-42\\\\\"x']}",  # a Python repr of the body
        'cannot delete \\"crm-42\\\\\\"x\\"',  # JSON escaped twice
        "cannot delete c r m 4 2 x",  # re-spaced
    ],
)
def test_a_reason_quoting_an_identifier_in_any_form_keeps_no_trace_of_it(httpserver, make_relay, quoted):
    httpserver.expect_oneshot_request("/1/delete/profiles.json").respond_with_json(
        {"status": "fail", "error": quoted, "code": 500}, 500
    )
    (results,) = make_relay("clevertap").run([request({"external_id": 'crm-42\\"x'})])
    reason = results[0].verdict.reason
    assert "crm" not in reason and "42" not in reason
    assert reason.startswith("cannot delete") or reason == "the vendor's text quoted an identifier; withheld"
