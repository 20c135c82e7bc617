import pytest

from erasure.outcomes import Outcome, retry_after_seconds, verdict_for_status

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "17"}, 17.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}, 20.0),
        ({"X-RateLimit-Reset": str(int(NOW) + 42)}, 42.0),
        ({"x-ratelimit-reset": str(int(NOW) + 42)}, 42.0),
        ({"X-Rate-Limit-Reset": str(int(NOW * 1000) + 5000)}, 5.0),  # epoch milliseconds
        ({"X-Rate-Limit-Reset": "30"}, 30.0),  # a duration, not a time
        ({"X-RateLimit-Reset": str(int(NOW) - 10)}, 0.0),  # already past
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, 43200.0),  # capped at SQS's longest visibility timeout
        ({"Retry-After": "nan"}, None),
        ({}, None),
    ],
)
def test_reads_the_wait_a_vendor_asked_for(headers, wait):
    assert retry_after_seconds(headers, now=NOW) == wait


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        # A 2xx alone proves nothing: only a connector reading the documented body says deleted.
        (200, "transient"),
        (201, "transient"),
        (204, "transient"),
        (400, "refused"),
        (401, "unauthorized"),
        (403, "unauthorized"),
        (404, "unauthorized"),
        (409, "transient"),
        (413, "refused"),
        (422, "refused"),
        (429, "throttled"),
        (500, "transient"),
        (502, "transient"),
        (520, "transient"),
    ],
)
def test_status_classes(status, outcome):
    assert verdict_for_status(status, "").outcome == outcome


def test_only_throttled_transient_and_unauthorized_are_retried():
    assert {o for o in Outcome if not o.is_final} == {
        Outcome.THROTTLED,
        Outcome.TRANSIENT,
        Outcome.UNAUTHORIZED,
    }
    assert {o for o in Outcome if o.is_success} == {
        Outcome.DELETED,
        Outcome.ACCEPTED,
        Outcome.ALREADY_ABSENT,
        Outcome.SKIPPED,
        Outcome.RESOLVED,
        # A dry run's findings: the dry run did what it was asked.
        Outcome.WOULD_DELETE,
        Outcome.NOT_FOUND,
        Outcome.NO_LOOKUP,
    }
    # Final, and not a success: several people hold the identifier, so none was erased.
    assert Outcome.AMBIGUOUS.is_final and not Outcome.AMBIGUOUS.is_success
