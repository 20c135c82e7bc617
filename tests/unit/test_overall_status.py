import pytest

from erasure.ledger import overall_status


def items(*pairs):
    return [{"vendor": vendor, "outcome": outcome} for vendor, outcome in pairs]


@pytest.mark.parametrize(
    ("targeted", "outcomes", "status"),
    [
        ([], [], "completed"),  # every vendor skipped: nothing to erase anywhere
        (["braze", "insider"], [], "pending"),
        (["braze", "insider"], items(("braze", "deleted")), "in_progress"),  # insider not reached yet
        (["braze"], items(("braze", "deleted"), ("braze", "skipped")), "completed"),
        (["braze", "insider"], items(("braze", "deleted"), ("insider", "already_absent")), "completed"),
        (["braze", "insider"], items(("braze", "deleted"), ("insider", "transient")), "partially_completed"),
        (["braze", "insider"], items(("braze", "deleted"), ("insider", "refused")), "partially_completed"),
        (["braze", "insider"], items(("braze", "refused"), ("insider", "refused")), "failed"),
        (["braze", "insider"], items(("braze", "refused"), ("insider", "throttled")), "in_progress"),
        (["braze"], items(("braze", "unauthorized")), "in_progress"),
    ],
)
def test_overall_status(targeted, outcomes, status):
    assert overall_status(targeted, outcomes) == status
