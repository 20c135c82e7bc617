"""Every log line about a request carries its request_id as `correlation_id`, through the intake,
vendor and status functions; lines about many requests at once list them in `request_ids`."""

import json

from tests.helpers import VENDORS, json_lines


def log_lines(text: str) -> list[dict]:
    """The Logger's lines (the capture also holds metrics and Powertools' plain debug lines)."""
    return [line for line in json_lines(text) if "message" in line]


def test_a_requests_log_lines_carry_its_request_id_in_every_function(relay, everything_logged):
    for n in (1, 2):
        identity = {"external_id": f"person-{n}", "email": f"person-{n}@example.com"}
        assert relay.post({"request_id": f"corr-{n}", "identity": identity})[0] == 202
    for vendor in VENDORS:
        relay.deliver(vendor)  # both requests in one batch
    assert relay.get("corr-1")[0] == 200
    relay.post({"request_id": "corr-3", "identity": {"email": "not an email"}})

    lines = log_lines(everything_logged())
    for request_id, other in (("corr-1", "corr-2"), ("corr-2", "corr-1")):
        own = [line for line in lines if line.get("correlation_id") == request_id]
        assert {line["message"] for line in own} >= {"request accepted", "identifier outcome"}
        outcomes = [line for line in own if line["message"] == "identifier outcome"]
        assert {line["vendor"] for line in outcomes} == set(VENDORS)
        assert not [line for line in own if other in json.dumps(line)]
    calls = [line for line in lines if line["message"] == "vendor call"]
    assert all(set(line["request_ids"]) <= {"corr-1", "corr-2"} for line in calls)
    assert ["corr-1", "corr-2"] in [line["request_ids"] for line in calls]  # a call for both
    # A line about one request names it; no line names a request it is not about.
    for line in lines:
        named = {rid for rid in ("corr-1", "corr-2") if rid in json.dumps(line)}
        if line.get("correlation_id"):
            assert named <= {line["correlation_id"]}
        elif named:
            assert "request_ids" in line, line["message"]
