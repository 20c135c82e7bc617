import pytest

from erasure.receipt import overall_status, overall_verification


def items(*outcomes):
    return [{"outcome": outcome} for outcome in outcomes]


@pytest.mark.parametrize(
    ("outcomes", "awaiting", "status"),
    [
        ([], 0, "completed"),  # every vendor skipped: nothing to erase anywhere
        ([], 3, "pending"),
        (items("deleted"), 1, "in_progress"),  # another vendor or identifier not reached yet
        (items("deleted", "skipped"), 0, "completed"),
        (items("deleted", "already_absent"), 0, "completed"),
        (items("deleted", "transient"), 0, "partially_completed"),
        (items("deleted", "refused"), 0, "partially_completed"),
        (items("refused", "refused"), 0, "failed"),
        (items("refused"), 1, "in_progress"),
        (items("refused", "throttled"), 0, "in_progress"),
        (items("unauthorized"), 0, "in_progress"),
    ],
)
def test_overall_status(outcomes, awaiting, status):
    assert overall_status([o["outcome"] for o in outcomes], awaiting) == status


def checked(*verifications):
    return [{"outcome": "accepted", "verification": v} for v in verifications]


@pytest.mark.parametrize(
    ("outcomes", "final", "verification"),
    [
        (checked("verified_absent", "verified_absent"), True, "verified"),
        (checked("verified_absent", "unverifiable"), True, "partially_verified"),
        (checked("unverifiable"), True, "unverifiable"),
        (checked("verified_absent", "still_present"), True, "still_present"),  # never success
        (items("refused", "skipped"), True, "not_applicable"),
        (checked("verified_absent"), False, "pending"),  # another outcome or check to come
        # A vendor that refused may still hold the person: never "verified" (review defect 5).
        (checked("verified_absent") + items("refused"), True, "partially_verified"),
        (checked("verified_absent") + items("skipped"), True, "verified"),  # not served there
    ],
)
def test_overall_verification(outcomes, final, verification):
    assert overall_verification([(o["outcome"], o.get("verification")) for o in outcomes], final) == (
        verification
    )
