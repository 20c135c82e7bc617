"""Check messages: what a vendor queue carries between a deletion and its verification."""

import json

import pytest

from erasure.config import VerificationSettings
from erasure.request import InvalidRequest
from erasure.verification import Check, next_check, read_check
from tests.helpers import request

SETTINGS = VerificationSettings(queue_url="q", after_s=300, backoff_s=900, max_checks=3)


def test_a_check_round_trips_through_its_message_and_waits_what_sqs_allows():
    check = Check(request({"email": "a@example.com"}), 2, 1_000_000.0)
    assert read_check(json.loads(json.dumps(check.message()))) == check
    assert [check.delay_s(now) for now in (1_000_000.0 - 5, 1_000_000.0 - 3600, 1_000_000.0 + 5)] == [
        5,
        900,
        0,
    ]


@pytest.mark.parametrize(
    ("verify", "field"),
    [
        ({"check": 0, "due_at": 1.0}, "verify.check"),
        ({"check": True, "due_at": 1.0}, "verify.check"),
        ({"check": 1, "due_at": "soon"}, "verify.due_at"),
        ({"check": 1, "due_at": float("inf")}, "verify.due_at"),
        ([], "verify.check"),
    ],
)
def test_a_malformed_check_is_refused_naming_the_field(verify, field):
    body = {**request({"email": "a@example.com"}).to_message(), "verify": verify}
    with pytest.raises(InvalidRequest) as caught:
        read_check(body)
    assert field in {e.field for e in caught.value.errors}


def test_checks_of_a_person_still_found_wait_longer_each_time_up_to_the_last():
    first = Check(request({"email": "a@example.com", "uuid": "u"}), 1, 0.0)
    second = next_check(SETTINGS, first, [first.request.identifiers[0]], now=100.0)
    third = next_check(SETTINGS, second, list(second.request.identifiers), now=200.0)
    assert (second.number, second.due_at, len(second.request.identifiers)) == (2, 1000.0, 1)
    assert (third.number, third.due_at) == (3, 2000.0)
    assert next_check(SETTINGS, third, list(third.request.identifiers), now=300.0) is None
