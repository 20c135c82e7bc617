"""Erase the person, not just the identifier they gave: identity resolution at each vendor,
cross-vendor enrichment and dry runs, end to end (every function under moto, the vendor sandbox
over real sockets), with people held the way the vendors really hold them.

Jane gives her email alone. Braze holds her identified profile and an anonymous lead with the
same address; CleverTap holds her profile by identity with her email; Insider holds her under
email, phone and uuid; Dfinery knows only her external id. The Parks share a family address at
Braze: two identified profiles, two people.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import configure_functions, deploy_relay, load_function, sandbox_credentials
from tools.vendor_sandbox import VendorSandbox

JANE = {"external_id": "jane-2024", "email": "jane@example.com", "phone": "+6591234567"}
SEED = {
    "braze": {
        "users": [
            {"primary": "jane-2024", "braze_id": "bz-jane", "email": JANE["email"], "phone": JANE["phone"]},
            {"braze_id": "bz-jane-lead", "email": JANE["email"]},  # an anonymous lead: hers too
            {"primary": "park-1", "braze_id": "bz-park-1", "email": "parks@example.com"},
            {"primary": "park-2", "braze_id": "bz-park-2", "email": "parks@example.com"},
        ]
    },
    "clevertap": {"profiles": [{"identity": "jane-2024", "guid": "ct-jane", "email": JANE["email"]}]},
    "insider": {"users": [{"email": JANE["email"], "phone_number": JANE["phone"], "uuid": "ins-jane"}]},
    "dfinery": {"profiles": ["jane-2024", "park-1"]},
}
JANE_VALUES = ("jane-2024", "bz-jane", "bz-jane-lead", "ct-jane", "ins-jane", JANE["email"], JANE["phone"])


@pytest.fixture
def sandbox():
    with VendorSandbox() as running:
        running.seed(SEED)
        yield running


@pytest.fixture
def relay(aws, sandbox, monkeypatch):
    monkeypatch.setenv("VERIFY_AFTER_S", "0")
    monkeypatch.setenv("VERIFY_BACKOFF_S", "0")
    configure_functions(monkeypatch, sandbox.url, sandbox_credentials(sandbox))
    return deploy_relay(load_function, monkeypatch, max_receive_count=20, verify=True)


def outcomes(receipt) -> dict[tuple[str, str], str]:
    """(vendor, identifier type) -> outcome; a type found twice at a vendor is listed once per hash."""
    found: dict[tuple[str, str], str] = {}
    for vendor, items in receipt["vendors"].items():
        for o in items:
            key = (vendor, o["identifier"])
            found[key] = o["outcome"] if key not in found else f"{found[key]},{o['outcome']}"
    return found


def held(sandbox, vendor) -> set[str]:
    return set(sandbox.held(vendor))


def deletion_calls(sandbox) -> list[dict]:
    return [c for c in sandbox.calls() if not c["lookup"]]


def test_jane_by_email_alone_is_erased_wherever_a_vendor_can_find_her(relay, sandbox):
    assert relay.post({"request_id": "jane", "identity": {"email": JANE["email"]}})[0] == 202
    relay.drain()
    receipt = relay.get("jane")[1]

    assert outcomes(receipt) == {
        # Both her profiles (identified and the lead), by braze_id: no prioritization rule.
        ("braze", "email"): "resolved",
        ("braze", "braze_id"): "accepted,accepted",
        # No delete by email: her profile found by it, deleted by its guid.
        ("clevertap", "email"): "resolved",
        ("clevertap", "guid"): "accepted",
        # The delete carries every identifier the profile read returned (the unifier among them).
        ("insider", "email"): "accepted",
        ("insider", "phone_number"): "accepted",
        ("insider", "uuid"): "accepted",
    }
    assert receipt["final"] is True and receipt["verification"] == "verified"
    assert receipt["skipped"]["dfinery"].startswith("serves none of these identifiers")
    assert held(sandbox, "braze") == {"park-1", "park-2", "bz-park-1", "bz-park-2", "parks@example.com"}
    assert held(sandbox, "clevertap") == set() and held(sandbox, "insider") == set()
    assert held(sandbox, "dfinery") == {"jane-2024", "park-1"}  # nobody told Dfinery her external id
    braze = {o["identifier"]: o for o in receipt["vendors"]["braze"] if o["identifier"] == "email"}["email"]
    assert braze["verification"] == "verified_absent" and len(braze["resolved_to"]) == 2
    assert "2 profile(s) (1 identified, 1 anonymous)" in braze["reason"]
    routes = [c["route"] for c in sandbox.calls("braze")]
    assert routes[:2] == ["export", "delete"] and routes.count("delete") == 1  # 2 braze_ids, one call
    assert not any(v in json.dumps(receipt) for v in JANE_VALUES)


def test_with_enrichment_dfinery_erases_her_by_the_external_id_the_others_know(relay, sandbox):
    relay.post({"request_id": "jane", "enrich": True, "identity": {"email": JANE["email"]}})
    relay.drain()
    receipt = relay.get("jane")[1]

    assert receipt["enrich"] is True and receipt["final"] is True
    assert outcomes(receipt)[("dfinery", "external_id")] == "deleted"
    assert held(sandbox, "dfinery") == {"park-1"}
    assert "dfinery" in receipt["vendors"] and "dfinery" not in receipt["skipped"]
    learned = {(e["learned_from"], e["identifier"]): e for e in receipt["learned"]}
    external = [e for (source, kind), e in learned.items() if kind == "external_id"]
    assert {e["learned_from"] for e in external} <= {"braze", "clevertap"} and external
    assert all(e["via"] == "email" for e in external)
    # Both know it; the first to learn it carries it, the other says so: one step, one call.
    (carried,) = [e for e in external if e["sent_to"]]
    assert "dfinery" in carried["sent_to"] and carried["learned_from"] not in carried["sent_to"]
    assert all(e["withheld"].startswith("carried already by") for e in external if e is not carried)
    assert len([c for c in sandbox.calls("dfinery") if not c["lookup"]]) == 1
    # Learned identifiers are shown and kept only as keyed hashes.
    assert not any(v in json.dumps(receipt) for v in JANE_VALUES)
    relay.publish()  # published final: what the messages named is forgotten
    assert not any(v in json.dumps(i, default=str) for i in relay.ledger_items() for v in JANE_VALUES)
    for vendor in ("braze", "clevertap", "insider"):
        assert not (held(sandbox, vendor) & set(JANE_VALUES)), vendor


def test_insider_by_phone_finds_the_unifier_and_erases(relay, sandbox):
    relay.post(
        {"request_id": "by-phone", "vendors": ["insider"], "identity": {"phone_number": JANE["phone"]}}
    )
    relay.drain()
    receipt = relay.get("by-phone")[1]

    assert outcomes(receipt) == {
        ("insider", "phone_number"): "accepted",
        ("insider", "email"): "accepted",
        ("insider", "uuid"): "accepted",
    }
    (delete,) = [c for c in sandbox.calls("insider") if c["route"] == "delete"]
    assert set(delete["body"]["identifiers"]) == {"email", "phone_number", "uuid"}
    assert held(sandbox, "insider") == set()


def test_a_shared_address_erases_no_one_and_says_why(relay, sandbox):
    relay.post(
        {
            "request_id": "parks",
            "vendors": ["braze"],
            "enrich": True,
            "identity": {"email": "parks@example.com"},
        }
    )
    relay.drain()
    receipt = relay.get("parks")[1]

    (email,) = receipt["vendors"]["braze"]
    assert email["outcome"] == "ambiguous"
    assert "2 different people" in email["reason"] and "give the external_id" in email["reason"]
    assert {"park-1", "park-2"} <= held(sandbox, "braze")
    assert [c["route"] for c in sandbox.calls("braze")] == ["export"]  # nothing deleted
    assert receipt["learned"] == []  # nothing learned from two people
    assert (receipt["status"], receipt["final"]) == ("failed", True)


def test_a_given_external_id_keeps_another_persons_profile_out(relay, sandbox):
    # The caller says whose erasure it is: a profile under the address that names someone else
    # is not theirs to erase.
    relay.post(
        {
            "request_id": "park-1",
            "vendors": ["braze"],
            "identity": {"external_id": "park-1", "email": "parks@example.com"},
        }
    )
    relay.drain()
    receipt = relay.get("park-1")[1]

    assert outcomes(receipt) == {("braze", "external_id"): "accepted", ("braze", "email"): "ambiguous"}
    assert "park-2" in held(sandbox, "braze") and "park-1" not in held(sandbox, "braze")


def test_a_dry_run_looks_up_and_deletes_nothing(relay, sandbox):
    relay.post({"request_id": "dry", "dry_run": True, "enrich": True, "identity": {"email": JANE["email"]}})
    relay.drain()
    receipt = relay.get("dry")[1]

    assert deletion_calls(sandbox) == []
    assert receipt["dry_run"] is True and receipt["final"] is True
    assert receipt["verification"] == "not_applicable"
    found = outcomes(receipt)
    assert found[("braze", "email")] == "would_delete"
    assert found[("clevertap", "email")] == "would_delete"
    assert found[("insider", "email")] == "would_delete"
    # Dfinery has no lookup: it says what it would do with the external id the others learned.
    assert found[("dfinery", "external_id")] == "no_lookup"
    (dfinery,) = [o for o in receipt["vendors"]["dfinery"] if o["identifier"] == "external_id"]
    assert "a deletion would be sent by external_id" in dfinery["reason"]
    braze = next(o for o in receipt["vendors"]["braze"] if o["identifier"] == "email")
    assert len(braze["resolved_to"]) == 2 and "would be erased by braze_id" in braze["reason"]
    for vendor in ("braze", "clevertap", "insider", "dfinery"):
        assert held(sandbox, vendor) & set(JANE_VALUES), vendor


def test_a_dry_run_reports_refused_credentials_at_once(relay, sandbox):
    sandbox.configure("insider", request_token="rotated")
    relay.post(
        {"request_id": "dry", "dry_run": True, "vendors": ["insider"], "identity": {"email": "x@example.com"}}
    )
    relay.drain()
    receipt = relay.get("dry")[1]

    assert outcomes(receipt) == {("insider", "email"): "unauthorized"}
    assert receipt["final"] is True
    assert len(sandbox.calls("insider")) == 1  # reported, not retried


def test_a_lookup_throttled_garbled_or_lost_is_tried_again_before_anything_is_deleted(relay, sandbox):
    sandbox.inject_fault("braze", "status", status=429, count=1, route="export")
    sandbox.inject_fault("braze", "malformed", count=1, route="export")
    sandbox.inject_fault("braze", "reset", count=1, route="export")  # the answer lost
    relay.post({"request_id": "jane", "vendors": ["braze"], "identity": {"email": JANE["email"]}})
    relay.drain()
    receipt = relay.get("jane")[1]

    routes = [c["route"] for c in sandbox.calls("braze")]
    assert routes[:5] == ["export", "export", "export", "export", "delete"]
    assert outcomes(receipt)[("braze", "email")] == "resolved"
    assert receipt["verification"] == "verified"


def test_a_profile_that_appears_after_resolution_is_caught_and_erased_by_the_re_send(relay, sandbox):
    relay.post({"request_id": "jane", "vendors": ["braze"], "identity": {"email": JANE["email"]}})
    relay.deliver("intake")
    relay.deliver("braze")  # resolved and deleted
    sandbox.seed({"braze": {"users": [{"braze_id": "bz-late", "email": JANE["email"]}]}})
    relay.drain()
    receipt = relay.get("jane")[1]

    email = next(o for o in receipt["vendors"]["braze"] if o["identifier"] == "email")
    assert email["verification"] == "still_present"  # said, with the alarm: it was there
    assert "the deletion was sent again: resolved" in email["verification_reason"]
    assert "bz-late" not in held(sandbox, "braze")  # the re-send resolved it and erased it


def test_learned_identifiers_are_logged_as_hashes_only(relay, sandbox, everything_logged):
    relay.post({"request_id": "jane", "enrich": True, "identity": {"email": JANE["email"]}})
    relay.drain()
    logged = everything_logged()
    assert '"message":"vendor call"' in logged
    assert not any(v in logged for v in JANE_VALUES)


def test_vendors_that_tie_the_address_to_different_external_ids_send_only_the_first(relay, sandbox):
    # CleverTap knows the address under another external id: maybe another person. What the
    # second vendor learned is withheld (and said), never sent to Dfinery.
    sandbox.reset()
    sandbox.seed(
        {**SEED, "clevertap": {"profiles": [{"identity": "park-1", "guid": "ct-p", "email": JANE["email"]}]}}
    )
    relay.post({"request_id": "jane", "enrich": True, "identity": {"email": JANE["email"]}})
    relay.drain()
    receipt = relay.get("jane")[1]

    external = [e for e in receipt["learned"] if e["identifier"] == "external_id"]
    assert len({e["id_hash"] for e in external}) == 2
    sent = [e for e in external if e["sent_to"]]
    (held_back,) = [e for e in external if not e["sent_to"]]
    assert len({e["id_hash"] for e in sent}) == 1 and "different external id" in held_back["withheld"]
    dfinery = [o for o in receipt["vendors"]["dfinery"] if o["identifier"] == "external_id"]
    assert len(dfinery) == 1 and receipt["final"] is True
    assert len(held(sandbox, "dfinery") & {"jane-2024", "park-1"}) == 1  # one erased, never both
