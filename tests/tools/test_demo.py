"""The README's main command, `make demo`, as CI runs it: Jane asks by her email alone; a dry run
first deletes nothing, then she is erased at all four vendors, each holding her in its own way
(Dfinery through the external id Braze and CleverTap know: enrichment); Ana's old identifiers
go; an address two people share erases no one; a vendor that keeps a person ends still_present
with the alarm's metric.

Which vendor acts on which identifier, which can look it up and which can verify it, comes from
the connectors' declarations (erasure.vendors.CONNECTORS), so a new vendor is expected in the demo
without an edit here; today's vendors' documented answers are also pinned by name below.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from erasure.outcomes import Outcome
from erasure.request import Action, Identifier, IdentifierType, parse
from erasure.vendors import CONNECTORS
from tests.helpers import ROOT, VENDORS
from tools.demo import DELETION, JANE_DRY_RUN, JANE_SEED, JANE_VALUES, PARKS_REQUEST, values_in

# The requests of events/requests/deletion.json, by request_id: Jane by her email, Ana's old identifiers.
REQUESTS = {body["request_id"]: parse(body) for body in json.loads(DELETION.read_text())["requests"]}
JANE_REQUEST = REQUESTS["demo-jane-profile"]
ANA_REQUEST = REQUESTS["demo-ana-old-identifiers"]
DRY_RUN_ID = JANE_DRY_RUN["request_id"]
# Today's vendors' documented answers to Jane's erasure by email: Braze exports both her profiles
# (identified, and the anonymous lead) and deletes them by braze_id, which it queues; CleverTap
# finds her profile and deletes it by guid in a batch; Insider's {} says no more; Dfinery, which
# has no lookup and no delete by email, deletes her by the external id the others learned.
JANE_OUTCOMES = {
    ("braze", "email"): ["resolved"],
    ("braze", "braze_id"): ["accepted", "accepted"],
    ("clevertap", "email"): ["resolved"],
    ("clevertap", "guid"): ["accepted"],
    ("insider", "email"): ["accepted"],
    ("dfinery", "external_id"): ["deleted"],
}
JANE_VERIFICATIONS = {
    ("braze", "email"): "verified_absent",
    ("clevertap", "email"): "verified_absent",
    ("insider", "email"): "verified_absent",
    ("dfinery", "external_id"): "unverifiable",  # no lookup by identifier: said, never assumed
}
# The dry run: what each lookup found, and what Dfinery (no lookup) would be sent.
DRY_RUN_OUTCOMES = {
    ("braze", "email"): ["would_delete"],
    ("clevertap", "email"): ["would_delete"],
    ("insider", "email"): ["would_delete"],
    ("dfinery", "external_id"): ["no_lookup"],
}
LEARNED = re.compile(r"learned: (\S+) (\S+) from (\S+) \(via (\S+) (\S+)\), sent to (.*)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Any]:
    logs = tmp_path_factory.mktemp("demo") / "functions.log"
    run = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--timeout", "90", "--logs", str(logs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return printed(run.stdout, logs.read_text())


def printed(out: str, logs: str) -> dict[str, Any]:
    """The demo's output, by part."""
    dry, rest = out.split("then the erasure itself")
    erasure, after = rest.split("and after:")
    after, parks = after.split("an address two people share")
    parks, kim = parks.split("keeps the person")
    return {
        "stdout": out,
        "dry_run": dry,
        "dry_run_receipts": section(dry, "receipts (GET", "the sandbox's calls"),
        "receipts": section(erasure, "receipts (GET", "verification: what each"),
        "verification": section(erasure, "verification: what each", "the vendors' people before"),
        "before": erasure.split("the vendors' people before:")[1],
        "after": after,
        "parks": parks,
        "parks_receipts": section(parks, "receipts (GET", "the Parks still held"),
        "kim": kim,
        "logs": logs,
    }


def section(text: str, start: str, end: str) -> str:
    return text.split(start)[1].split(end)[0]


def receipts(text: str) -> dict[str, dict[str, Any]]:
    """The receipts as the demo prints them (the operator CLI's view), by request_id: its title
    line, its table's rows (one dict a row, by column heading; a wrapped cell joined) and its
    `learned:` lines."""
    found: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    columns: list[tuple[str, int, int]] = []
    for line in text.splitlines():
        if line.startswith("learned: "):
            current["learned"].append(learned_entry(line))
        elif line.startswith(" vendor "):
            starts = [0]
            for name in HEADINGS:
                starts.append(line.index(name, starts[-1]))
            starts = starts[1:]
            columns = list(zip(HEADINGS, starts, [*starts[1:], None], strict=True))
        elif line and not line.startswith(" "):
            current = found.setdefault(line.split()[0], {"title": line, "rows": [], "learned": []})
        elif line.strip() and columns:
            cells = {name: line[a:b].strip() for name, a, b in columns}
            if cells["vendor"]:
                current["rows"].append(cells)
            else:  # a wrapped cell's next line
                row = current["rows"][-1]
                row.update({k: f"{row[k]} {v}" for k, v in cells.items() if v})
    return found


HEADINGS = (
    "vendor",
    "identifier",
    "id hash",
    "outcome",
    "reason",
    "HTTP",
    "tries",
    "completed",
    "verification",
    "checked",
)


def learned_entry(line: str) -> dict[str, Any]:
    match = LEARNED.fullmatch(line.strip())
    assert match, line
    identifier, id_hash, learned_from, via, via_hash, sent = match.groups()
    sent_to = [] if sent.startswith("no other vendor") else sent.split(", ")
    return {
        "identifier": identifier,
        "id_hash": id_hash,
        "learned_from": learned_from,
        "via": via,
        "via_hash": via_hash,
        "sent_to": sent_to,
    }


def outcomes(receipt: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(vendor, identifier type) -> its outcomes (a type found twice at a vendor: one each)."""
    found: dict[tuple[str, str], list[str]] = {}
    for row in receipt["rows"]:
        found.setdefault((row["vendor"], row["identifier"].split()[0]), []).append(row["outcome"])
    return found


def people_by_vendor(section: str) -> dict[str, str]:
    """The sandbox's people as the demo prints them, one line each ("  <vendor> <kind> <json>")."""
    held = {vendor: "" for vendor in VENDORS}
    for line in section.splitlines():
        cells = line.split(maxsplit=1)
        if cells and cells[0] in held:
            held[cells[0]] += line + "\n"
    return held


def email_serving(action: Action) -> set[str]:
    """The vendors that act on Jane's email for this action: directly, or by resolving it."""
    email = JANE_REQUEST.identifiers[0]
    return {vendor for vendor, c in CONNECTORS.items() if c.skip_reason(action, email) is None}


def test_the_dry_run_finds_her_everywhere_and_deletes_nothing(demo):
    (receipt,) = receipts(demo["dry_run_receipts"]).values()
    assert receipt["title"].startswith(f"{DRY_RUN_ID}  completed") and "DRY RUN" in receipt["title"]
    found = outcomes(receipt)
    # Every vendor with a lookup by email says what it would erase; the others, what they would
    # be sent (the external id learned), each as its connector declares.
    email = JANE_REQUEST.identifiers[0]
    lookups = {v for v, c in CONNECTORS.items() if c.can_look_up(Action.DELETE_PROFILE, email)}
    assert {v for (v, kind), o in found.items() if kind == "email" and o == ["would_delete"]} == lookups
    assert {key: found.get(key) for key in DRY_RUN_OUTCOMES} == DRY_RUN_OUTCOMES, receipt
    braze = next(r for r in receipt["rows"] if (r["vendor"], r["identifier"]) == ("braze", "email"))
    assert "2 profile(s) (1 identified, 1 anonymous)" in braze["reason"]
    dfinery = next(r for r in receipt["rows"] if r["vendor"] == "dfinery")
    assert "a deletion would be sent by external_id" in dfinery["reason"]
    assert dfinery["id hash"] in {e["id_hash"] for e in receipt["learned"] if "dfinery" in e["sent_to"]}
    # No deletion call reached the sandbox, and every vendor still holds her.
    assert re.search(r"the sandbox's calls in the dry run: [1-9]\d* lookups, 0 deletions", demo["dry_run"])
    held = demo["dry_run"].split("Jane held after the dry run by: ")[1].splitlines()[0]
    assert set(held.split(", ")) == set(JANE_SEED)


def test_jane_by_email_alone_is_erased_at_every_vendor(demo):
    jane = receipts(demo["receipts"])["demo-jane-profile"]
    assert jane["title"].startswith("demo-jane-profile  completed") and "enriched" in jane["title"]
    found = outcomes(jane)
    assert {key: found.get(key) for key in JANE_OUTCOMES} == JANE_OUTCOMES, jane
    assert all(Outcome(o).is_success for kinds in found.values() for o in kinds), jane
    # Each vendor serving her email (directly or by resolving it) acted on it.
    assert {v for v, kind in found if kind == "email"} == email_serving(JANE_REQUEST.action)
    # Braze erased both her profiles by braze_id, each found by her email.
    email_hash = next(
        r["id hash"] for r in jane["rows"] if (r["vendor"], r["identifier"]) == ("braze", "email")
    )
    profiles = [r for r in jane["rows"] if r["vendor"] == "braze" and r["identifier"].startswith("braze_id")]
    assert [r["identifier"] for r in profiles] == [f"braze_id via {email_hash}"] * 2
    assert len({r["id hash"] for r in profiles}) == 2
    # What a lookup learned went to every vendor it names, each of which answered for it: Dfinery
    # deleted her by the external id Braze and CleverTap learned from her email.
    answered = {(r["vendor"], r["identifier"].split()[0], r["id hash"]) for r in jane["rows"]}
    for entry in jane["learned"]:
        assert all((v, entry["identifier"], entry["id_hash"]) in answered for v in entry["sent_to"]), entry
    dfinery = next(r for r in jane["rows"] if (r["vendor"], r["identifier"]) == ("dfinery", "external_id"))
    carried = [e for e in jane["learned"] if e["id_hash"] == dfinery["id hash"] and "dfinery" in e["sent_to"]]
    assert carried and {e["learned_from"] for e in carried} <= {"braze", "clevertap"}
    assert all(e["identifier"] == "external_id" and e["via"] == "email" for e in carried)


def test_each_vendor_verifies_what_it_can(demo):
    verification = {}
    for line in demo["verification"].splitlines()[1:]:
        cells = line.split()
        if len(cells) >= 5:
            verification[tuple(cells[:3])] = cells[4]
    jane = {k[1:]: v for k, v in verification.items() if k[0] == "demo-jane-profile"}
    # Verified where the connector declares a lookup that can tell, unverifiable (said, never
    # assumed) where it has none; the profile ids a lookup found are verified through it.
    rows = receipts(demo["receipts"])["demo-jane-profile"]["rows"]
    checked = {
        (r["vendor"], r["identifier"])
        for r in rows
        if " via " not in r["identifier"] and r["outcome"] != "skipped"
    }
    expected = {}
    for vendor, kind in checked:
        identifier = Identifier(IdentifierType(kind), "x")
        reason = CONNECTORS[vendor].unverifiable_reason(JANE_REQUEST.action, identifier)
        expected[(vendor, kind)] = "verified_absent" if reason is None else "unverifiable"
    assert jane == expected
    assert {key: jane.get(key) for key in JANE_VERIFICATIONS} == JANE_VERIFICATIONS
    assert "every deletion final, and verified where a vendor can tell" in demo["stdout"]


def test_jane_is_held_by_no_vendor_after_and_ana_keeps_her_profiles(demo):
    before, after = people_by_vendor(demo["before"]), people_by_vendor(demo["after"])
    # Every vendor held her (the dry run left her), none holds any of her values now, her lead too.
    for vendor in JANE_SEED:
        assert any(value in before[vendor] for value in values_in(JANE_SEED[vendor])), vendor
    assert "bz-jane-lead" in before["braze"]
    assert not [value for value in JANE_VALUES if value in demo["after"]], demo["after"]
    assert f"Jane (any of her {len(JANE_VALUES)} values) held after by: no vendor" in demo["stdout"]
    # Ana's old identifiers are removed where a vendor serves them; her profiles stay.
    ana = outcomes(receipts(demo["receipts"])["demo-ana-old-identifiers"])
    assert ana[("braze", "external_id")] == ["deleted"] and ana[("insider", "email")] == ["deleted"]
    removed_legacy = {
        vendor
        for vendor, connector in CONNECTORS.items()
        for identifier in ANA_REQUEST.identifiers
        if identifier.type is IdentifierType.EXTERNAL_ID
        and connector.skip_reason(ANA_REQUEST.action, identifier) is None
    }
    for vendor in VENDORS:
        assert "legacy-1001" not in after[vendor] or (
            vendor not in removed_legacy and "legacy-1001" in before[vendor]
        ), demo["after"]
    assert "legacy-1001" in before["braze"]
    assert "cust-1001" in demo["after"] and "cust-1002" in demo["after"]


def test_an_address_two_people_share_erases_no_one(demo):
    (receipt,) = receipts(demo["parks_receipts"]).values()
    assert receipt["title"].startswith(f"{PARKS_REQUEST['request_id']}  failed")
    (row,) = receipt["rows"]
    assert (row["vendor"], row["identifier"], row["outcome"]) == ("braze", "email", "ambiguous")
    assert "2 different people" in row["reason"] and "give the external_id" in row["reason"]
    assert "the Parks still held at Braze: both" in demo["parks"]


def test_a_vendor_that_keeps_the_person_ends_still_present_with_the_metric(demo):
    kim = {
        tuple(line.split()[1:3]): line.split()[3:5] for line in demo["kim"].splitlines() if "demo-kim" in line
    }
    assert kim[("insider", "email")] == ["accepted", "still_present"]
    assert kim[("braze", "email")] == ["resolved", "verified_absent"]
    assert "(verification_still_present) logged: 1" in demo["kim"]


def test_the_functions_log_hashes_and_no_identifier(demo):
    assert '"message":"vendor call"' in demo["logs"]
    assert not [value for value in JANE_VALUES if value in demo["logs"]]
