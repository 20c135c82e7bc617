"""When a failed record comes back, without AWS: RetryScheduler's wait for each kind of failure,
and whether a record is hidden until due or sent anew, against a fake QueueVisibility that records
what it was asked to do (erasure/handlers/sqs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.aws_clients import MAX_HIDE_S
from erasure.handlers.sqs import (
    MAX_BACKOFF_SECONDS,
    MAX_REQUEUES,
    MIN_THROTTLE_WAIT_SECONDS,
    ORIGINAL_MESSAGE_ID,
    REQUEUE_AFTER_RECEIVES,
    REQUEUES,
    TRANSIENT_BACKOFF_SECONDS,
    RetryScheduler,
)
from erasure.outcomes import IdentifierResult, Outcome, Verdict
from erasure.request import Identifier, IdentifierType

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:erasure-braze"
BODY = '{"request_id": "req-1", "action": "delete_profile", "identity": {"external_id": "u1"}}'


def MESSAGE() -> str:
    return BODY


# -- builders ------------------------------------------------------------------------------------------


def record(receives: int | str | None = 1, message_id: str = "m-1", **attributes: str) -> SQSRecord:
    """A record of Lambda's SQS event (the shape tools/sam_local/sqs.py's sqs_record makes), with
    ApproximateReceiveCount `receives` and string message attributes."""
    system = {"SentTimestamp": "1715580108501", "ApproximateFirstReceiveTimestamp": "1715580108601"}
    if receives is not None:
        system["ApproximateReceiveCount"] = str(receives)
    return SQSRecord(
        {
            "messageId": message_id,
            "receiptHandle": f"handle-of-{message_id}",
            "body": BODY,
            "attributes": system,
            "messageAttributes": {
                name: {
                    "stringValue": value,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": "String",
                }
                for name, value in attributes.items()
            },
            "md5OfBody": "0" * 32,
            "eventSource": "aws:sqs",
            "eventSourceARN": QUEUE_ARN,
            "awsRegion": "us-east-1",
        }
    )


def result(outcome: Outcome, retry_after: float | None = None, value: str = "u1") -> IdentifierResult:
    verdict = Verdict(
        outcome, f"{outcome} for a test", 429 if outcome is Outcome.THROTTLED else 503, retry_after
    )
    return IdentifierResult("req-1", "braze", Identifier(IdentifierType.EXTERNAL_ID, value), verdict, None)


def throttled(wait: float | None = None) -> IdentifierResult:
    return result(Outcome.THROTTLED, wait)


def transient() -> IdentifierResult:
    return result(Outcome.TRANSIENT)


def unauthorized() -> IdentifierResult:
    return result(Outcome.UNAUTHORIZED)


class FakeVisibility:
    """A QueueVisibility that records each delay and resend; either may be made to fail."""

    def __init__(self, resend_fails: bool = False, delay_fails: bool = False):
        self.delays: list[tuple[str, str, int]] = []
        self.resends: list[tuple[str, str, dict[str, str], int]] = []
        self.resend_fails = resend_fails
        self.delay_fails = delay_fails

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        self.delays.append((queue_arn, receipt_handle, seconds))
        if self.delay_fails:
            raise ConnectionError("ChangeMessageVisibility failed")

    def resend(self, queue_arn: str, body: str, attributes: dict[str, str], delay: int) -> None:
        self.resends.append((queue_arn, body, attributes, delay))
        if self.resend_fails:
            raise ConnectionError("SendMessage failed")


# -- wait_seconds --------------------------------------------------------------------------------------


@pytest.mark.parametrize("receives", [1, 5, REQUEUE_AFTER_RECEIVES, 20])
@pytest.mark.parametrize(
    "retry",
    [
        [unauthorized()],
        [unauthorized(), throttled(60)],  # bad credentials win over any wait
        [transient(), unauthorized()],
    ],
)
def test_unauthorized_leaves_the_queues_own_timeout(retry, receives):
    assert RetryScheduler.wait_seconds(retry, receives) is None


@pytest.mark.parametrize(
    ("waits", "seconds"),
    [
        ([17.0], 17),
        ([17.2], 18),  # rounded up: never back before the vendor's window opens
        ([0.0], MIN_THROTTLE_WAIT_SECONDS),  # a reset just past still gets a few seconds
        ([0.4], MIN_THROTTLE_WAIT_SECONDS),
        ([MIN_THROTTLE_WAIT_SECONDS - 0.5], MIN_THROTTLE_WAIT_SECONDS),
        ([MIN_THROTTLE_WAIT_SECONDS + 0.5], MIN_THROTTLE_WAIT_SECONDS + 1),
        ([10.0, 60.0, 30.0], 60),  # the longest wait asked for
        ([MAX_HIDE_S - 0.5], MAX_HIDE_S),
        ([MAX_HIDE_S + 1.0], MAX_HIDE_S),  # SQS refuses a longer visibility timeout
        ([12 * 3600.0], MAX_HIDE_S),
    ],
)
def test_a_throttle_wait_is_honoured_at_least_the_minimum_at_most_max_hide(waits, seconds):
    retry = [throttled(w) for w in waits]
    for receives in (1, 7, 19):  # the receive count plays no part in a vendor's wait
        wait = RetryScheduler.wait_seconds(retry, receives)
        assert wait == seconds
        assert isinstance(wait, int)  # ChangeMessageVisibility takes whole seconds


def test_a_wait_beside_failures_without_one_is_still_honoured():
    retry = [transient(), throttled(None), throttled(90.0), transient()]
    assert RetryScheduler.wait_seconds(retry, 1) == 90
    assert RetryScheduler.wait_seconds(retry, 12) == 90


@pytest.mark.parametrize(
    ("receives", "seconds"),
    [
        (1, 30),
        (2, 60),
        (3, 120),
        (4, 240),
        (5, 480),
        (6, MAX_BACKOFF_SECONDS),  # 960 capped at 15 minutes
        (10, MAX_BACKOFF_SECONDS),
        (20, MAX_BACKOFF_SECONDS),
        (10_000, MAX_BACKOFF_SECONDS),  # a huge count costs no huge power of two
    ],
)
@pytest.mark.parametrize(
    "retry",
    [[transient()], [throttled(None)], [transient(), throttled(None)]],
    ids=["transient", "throttled-without-a-wait", "both"],
)
def test_without_a_wait_the_backoff_doubles_per_receive_up_to_15_minutes(retry, receives, seconds):
    wait = RetryScheduler.wait_seconds(retry, receives)
    assert wait == seconds
    assert isinstance(wait, int)


def test_the_queues_let_a_throttled_record_be_sent_anew_and_an_outage_last_hours_before_the_dlq():
    max_receives = {int(n) for n in re.findall(r"maxReceiveCount:\s*(\d+)", TEMPLATE.read_text())}
    assert max_receives, "no redrive policy found in template.yaml"
    for most in max_receives:
        # Sent anew before the dead-letter queue takes it.
        assert most > REQUEUE_AFTER_RECEIVES
        # Hidden between receives while a vendor is down: about 3.5 hours (template.yaml).
        outage = sum(RetryScheduler.wait_seconds([transient()], n) for n in range(1, most))
        assert 3 * 3600 <= outage <= 4.5 * 3600


# -- retry and postpone: hidden or sent anew ---------------------------------------------------------


@pytest.mark.parametrize("receives", [1, REQUEUE_AFTER_RECEIVES - 1])
def test_a_throttled_record_received_few_times_is_hidden_for_the_wait(receives):
    queue = FakeVisibility()
    sent_anew = RetryScheduler(queue).retry(record(receives), [throttled(45.0)], MESSAGE)
    assert sent_anew is False  # reported failed: SQS redelivers it when the wait is over
    assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", 45)]
    assert queue.resends == []


@pytest.mark.parametrize("receives", [REQUEUE_AFTER_RECEIVES, REQUEUE_AFTER_RECEIVES + 1, 19])
def test_a_throttled_record_received_often_is_sent_anew_with_its_first_id(receives):
    queue = FakeVisibility()
    sent_anew = RetryScheduler(queue).retry(record(receives), [throttled(45.0), throttled(30.0)], MESSAGE)
    assert sent_anew is True  # acknowledged: the new message carries it on
    assert queue.resends == [(QUEUE_ARN, BODY, {ORIGINAL_MESSAGE_ID: "m-1", REQUEUES: "1"}, 45)]
    assert queue.delays == []


def test_a_message_sent_anew_again_keeps_the_first_id_and_counts_one_more():
    queue = FakeVisibility()
    again = record(REQUEUE_AFTER_RECEIVES, "m-7", **{ORIGINAL_MESSAGE_ID: "m-1", REQUEUES: "4"})
    assert RetryScheduler(queue).retry(again, [throttled(20.0)], MESSAGE) is True
    ((_, _, attributes, _),) = queue.resends
    assert attributes == {ORIGINAL_MESSAGE_ID: "m-1", REQUEUES: "5"}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("id with spaces", "m-7"),  # not a valid request_id: could never stand in for one
        ("", "m-7"),
        ("x" * 129, "m-7"),
        ("redriven:m-1", "redriven:m-1"),
    ],
)
def test_only_a_valid_first_id_is_carried_over(given, kept):
    queue = FakeVisibility()
    again = record(REQUEUE_AFTER_RECEIVES, "m-7", **{ORIGINAL_MESSAGE_ID: given})
    RetryScheduler(queue).retry(again, [throttled(20.0)], MESSAGE)
    assert queue.resends[0][2][ORIGINAL_MESSAGE_ID] == kept


@pytest.mark.parametrize(("requeues", "next_count"), [("not a number", "1"), ("-3", "1"), ("0", "1")])
def test_an_unreadable_requeue_count_starts_again(requeues, next_count):
    queue = FakeVisibility()
    RetryScheduler(queue).retry(
        record(REQUEUE_AFTER_RECEIVES, **{REQUEUES: requeues}), [throttled(9.0)], MESSAGE
    )
    assert queue.resends[0][2][REQUEUES] == next_count


def test_the_last_requeue_is_allowed_and_after_it_the_record_is_hidden_to_reach_the_dlq():
    queue = FakeVisibility()
    scheduler = RetryScheduler(queue)
    last = record(REQUEUE_AFTER_RECEIVES, **{REQUEUES: str(MAX_REQUEUES - 1)})
    assert scheduler.retry(last, [throttled(60.0)], MESSAGE) is True
    assert queue.resends[-1][2][REQUEUES] == str(MAX_REQUEUES)
    spent = record(REQUEUE_AFTER_RECEIVES, **{REQUEUES: str(MAX_REQUEUES)})
    assert scheduler.retry(spent, [throttled(60.0)], MESSAGE) is False
    assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", 60)]
    assert len(queue.resends) == 1


@pytest.mark.parametrize("receives", [1, REQUEUE_AFTER_RECEIVES, 19])
@pytest.mark.parametrize(
    "retry",
    [[transient()], [throttled(120.0), transient()], [transient(), throttled(None)]],
    ids=["transient", "beside-a-throttle-with-a-wait", "beside-a-throttle-without"],
)
def test_a_transient_failure_is_never_sent_anew_so_an_outage_reaches_the_dlq(retry, receives):
    """Only a record whose every failure is a throttle travels on: a transient one keeps its
    receive count, and so reaches the dead-letter queue after maxReceiveCount."""
    queue = FakeVisibility()
    expected = RetryScheduler.wait_seconds(retry, receives)
    assert RetryScheduler(queue).retry(record(receives), retry, MESSAGE) is False
    assert queue.resends == []
    assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", expected)]


@pytest.mark.parametrize("receives", [1, REQUEUE_AFTER_RECEIVES])
def test_a_throttle_without_a_wait_backs_off_and_may_be_sent_anew(receives):
    queue = FakeVisibility()
    sent_anew = RetryScheduler(queue).retry(record(receives), [throttled(None)], MESSAGE)
    backoff = RetryScheduler.wait_seconds([throttled(None)], receives)
    if receives >= REQUEUE_AFTER_RECEIVES:
        assert sent_anew is True
        assert queue.resends[0][3] == backoff
    else:
        assert sent_anew is False
        assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", backoff)]


@pytest.mark.parametrize("receives", [1, REQUEUE_AFTER_RECEIVES])
def test_unauthorized_is_neither_hidden_nor_sent_anew(receives):
    queue = FakeVisibility()
    assert RetryScheduler(queue).retry(record(receives), [unauthorized(), throttled(5.0)], MESSAGE) is False
    assert (queue.delays, queue.resends) == ([], [])


def test_a_failed_resend_falls_back_to_hiding_the_record():
    queue = FakeVisibility(resend_fails=True)
    sent_anew = RetryScheduler(queue).retry(record(REQUEUE_AFTER_RECEIVES), [throttled(75.0)], MESSAGE)
    assert sent_anew is False  # not acknowledged: nothing is lost, the record still counts
    assert len(queue.resends) == 1
    assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", 75)]


def test_a_failed_hide_leaves_the_record_failed_for_the_queues_own_timeout():
    queue = FakeVisibility(resend_fails=True, delay_fails=True)
    assert RetryScheduler(queue).retry(record(REQUEUE_AFTER_RECEIVES), [throttled(75.0)], MESSAGE) is False
    assert RetryScheduler(FakeVisibility(delay_fails=True)).retry(record(1), [transient()], MESSAGE) is False


@pytest.mark.parametrize("receives", [None, "0", "-2", "abc", "1"])
def test_a_missing_or_unreadable_receive_count_counts_as_the_first(receives):
    queue = FakeVisibility()
    RetryScheduler(queue).retry(record(receives), [transient()], MESSAGE)
    assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", TRANSIENT_BACKOFF_SECONDS)]


# -- postpone: a wait of the record's own (a verification check not yet due) ---------------------------


@pytest.mark.parametrize("receives", [1, REQUEUE_AFTER_RECEIVES, 50])
def test_postpone_without_a_message_only_hides(receives):
    queue = FakeVisibility()
    assert RetryScheduler(queue).postpone(record(receives), 600, None) is False
    assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", 600)]
    assert queue.resends == []


@pytest.mark.parametrize(
    ("receives", "requeues", "sent_anew"),
    [
        (REQUEUE_AFTER_RECEIVES - 1, None, False),
        (REQUEUE_AFTER_RECEIVES, None, True),
        (REQUEUE_AFTER_RECEIVES, str(MAX_REQUEUES - 1), True),
        (REQUEUE_AFTER_RECEIVES, str(MAX_REQUEUES), False),
        (REQUEUE_AFTER_RECEIVES, str(MAX_REQUEUES + 5), False),
    ],
)
def test_postpone_with_a_message_sends_anew_only_after_enough_receives_and_requeues_left(
    receives, requeues, sent_anew
):
    queue = FakeVisibility()
    given = record(receives, **({REQUEUES: requeues} if requeues else {}))
    assert RetryScheduler(queue).postpone(given, 3600, MESSAGE) is sent_anew
    if sent_anew:
        assert queue.resends == [
            (QUEUE_ARN, BODY, {ORIGINAL_MESSAGE_ID: "m-1", REQUEUES: str(int(requeues or 0) + 1)}, 3600)
        ]
        assert queue.delays == []
    else:
        assert queue.resends == []
        assert queue.delays == [(QUEUE_ARN, "handle-of-m-1", 3600)]


def test_a_record_never_sent_for_lack_of_time_comes_back_soon_and_travels_on_like_a_throttle():
    # A batch larger than the invocation's time for lookups: what was not sent has not failed,
    # so it neither backs off nor counts its receives towards the dead-letter queue.
    from erasure.relay import OUT_OF_TIME

    unsent = IdentifierResult("req-1", "braze", Identifier(IdentifierType.EMAIL, "a@b.co"), OUT_OF_TIME, None)
    queue = FakeVisibility()
    assert RetryScheduler.wait_seconds([unsent], 9) == MIN_THROTTLE_WAIT_SECONDS
    assert RetryScheduler(queue).retry(record(REQUEUE_AFTER_RECEIVES), [unsent], MESSAGE) is True
    assert queue.resends == [
        (QUEUE_ARN, BODY, {ORIGINAL_MESSAGE_ID: "m-1", REQUEUES: "1"}, MIN_THROTTLE_WAIT_SECONDS)
    ]
