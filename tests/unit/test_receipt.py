"""The receipt's rules, on ledger items as the table holds them, without AWS: what is awaited,
what intake recorded as skipped, when a request is final, and that expired items are no receipt."""

from decimal import Decimal

from erasure.receipt import RequestStatus, RequestVerification, build_receipt

NOW = 1_800_000_000
LATER = NOW + 86_400


def request_item(**extra):
    return {
        "request_id": "r-1",
        "item": "REQUEST",
        "action": "delete_profile",
        "created_at": "2027-01-15T08:00:00.000Z",
        "identifiers": [
            {"identifier": "external_id", "id_hash": "h-ext"},
            {"identifier": "email", "id_hash": "h-em"},
        ],
        "vendors_targeted": ["braze", "dfinery"],
        "vendors_skipped": {"insider": "serves none of these identifiers"},
        "identifiers_skipped": {
            "dfinery": [{"identifier": "email", "id_hash": "h-em", "reason": "external ids only"}]
        },
        "due_by": "2027-02-15T08:00:00.000Z",
        "expires_at": Decimal(LATER),
        **extra,
    }


def outcome(vendor, label, id_hash, result="deleted", **extra):
    return {
        "request_id": "r-1",
        "item": f"OUTCOME#{vendor}#{id_hash}",
        "vendor": vendor,
        "identifier": label,
        "id_hash": id_hash,
        "outcome": result,
        "last_http_status": Decimal(201),
        "attempts": Decimal(1),
        "expires_at": Decimal(LATER),
        **extra,
    }


def test_a_pair_without_an_outcome_is_awaited_and_the_request_not_final():
    receipt = build_receipt("r-1", [request_item(), outcome("braze", "external_id", "h-ext")], now=NOW)
    assert receipt.status is RequestStatus.IN_PROGRESS and not receipt.final
    assert receipt.awaiting == [
        {"vendor": "braze", "identifier": "email", "id_hash": "h-em"},
        {"vendor": "dfinery", "identifier": "external_id", "id_hash": "h-ext"},
    ]
    assert receipt.verification is RequestVerification.PENDING


def test_what_intake_recorded_as_skipped_is_shown_and_counted_answered():
    items = [
        request_item(),
        outcome("braze", "external_id", "h-ext", verification="verified_absent"),
        outcome("braze", "email", "h-em", verification="verified_absent"),
        outcome("dfinery", "external_id", "h-ext", verification="unverifiable"),
    ]
    receipt = build_receipt("r-1", items, now=NOW)
    assert receipt.final and receipt.status is RequestStatus.COMPLETED
    (skipped,) = [o for o in receipt.vendors["dfinery"] if o.identifier == "email"]
    assert (skipped.outcome, skipped.reason) == ("skipped", "external ids only")
    assert receipt.verification is RequestVerification.PARTIALLY_VERIFIED  # Dfinery cannot tell


def test_one_name_per_fact_in_the_receipt_json():
    document = build_receipt(
        "r-1", [request_item(), outcome("braze", "external_id", "h-ext")], now=NOW
    ).as_json()
    (braze,) = [o for o in document["vendors"]["braze"]]
    assert braze["http_status"] == 201 and "last_http_status" not in braze
    assert {"first_attempt_at", "last_attempt_at", "attempts"} <= set(braze)
    assert "errors" not in document  # only a rejected request has errors


def test_expired_items_or_outcomes_without_their_request_are_no_receipt():
    assert (
        build_receipt("r-1", [request_item(), outcome("braze", "external_id", "h-ext")], now=LATER + 1)
        is None
    )
    assert build_receipt("r-1", [outcome("braze", "external_id", "h-ext")], now=NOW) is None
    claimed = {"request_id": "r-1", "item": "CLAIM", "content": "c", "expires_at": Decimal(LATER)}
    route_only = build_receipt("r-1", [claimed, outcome("braze", "external_id", "h-ext")], now=NOW)
    assert route_only is not None and list(route_only.vendors) == ["braze"]


def test_a_rejected_request_keeps_its_status_and_errors():
    rejected = {
        "request_id": "r-1",
        "item": "REQUEST",
        "status": "rejected",
        "created_at": "2027-01-15T08:00:00.000Z",
        "errors": [{"field": "identity", "reason": "required"}],
        "expires_at": Decimal(LATER),
    }
    receipt = build_receipt("r-1", [rejected], now=NOW)
    assert receipt.status is RequestStatus.REJECTED and receipt.as_json()["errors"]
