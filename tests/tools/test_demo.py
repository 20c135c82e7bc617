"""The README's main command, `make demo`, as CI runs it: a bulk of two requests reaches every
vendor that serves its identifiers and is verified; a vendor that keeps a person ends
still_present with the alarm's metric.

Which vendor acts on which identifier, and which can verify it, comes from the connectors'
declarations (erasure.vendors.CONNECTORS), so a new vendor is expected in the demo without an edit
here; today's vendors' documented answers are also pinned by name below.
"""

import json
import subprocess
import sys

from erasure.request import parse
from erasure.vendors import CONNECTORS
from tests.helpers import ROOT, VENDORS
from tools.demo import DELETION

# The requests of events/deletion.json, by request_id: Jane's profile, Ana's old identifiers.
REQUESTS = {body["request_id"]: parse(body) for body in json.loads(DELETION.read_text())["requests"]}
JANE_REQUEST = REQUESTS["demo-jane-profile"]
ANA_REQUEST = REQUESTS["demo-ana-old-identifiers"]
# Today's vendors' documented answers to Jane's erasure (Braze queues it, CleverTap batches it,
# Insider's {} says no more: accepted; Dfinery's envelope says done: deleted) and what their read
# APIs show after it (Dfinery has no lookup by identifier).
JANE_OUTCOMES = {
    ("braze", "email"): "accepted",
    ("braze", "external_id"): "accepted",
    ("clevertap", "external_id"): "accepted",
    ("clevertap", "guid"): "accepted",
    ("dfinery", "external_id"): "deleted",
    ("insider", "email"): "accepted",
}
JANE_VERIFICATIONS = {
    ("braze", "email"): "verified_absent",
    ("braze", "external_id"): "verified_absent",
    ("clevertap", "external_id"): "verified_absent",
    ("clevertap", "guid"): "verified_absent",
    ("dfinery", "external_id"): "unverifiable",  # no lookup by identifier: said, never assumed
    ("insider", "email"): "verified_absent",
}
DOCUMENTED_VENDORS = {vendor for vendor, _ in JANE_OUTCOMES}


def acted_on(request) -> dict[tuple[str, str], object]:
    """(vendor, identifier label) -> identifier, for every vendor that declares it serves that
    identifier for the request's action (the others skip it)."""
    return {
        (vendor, identifier.label): identifier
        for vendor, connector in CONNECTORS.items()
        for identifier in request.identifiers
        if connector.skip_reason(request.action, identifier) is None
    }


def expected_verification(vendor: str, identifier) -> str:
    """What the demo's verification shows, by the connector's declared lookup."""
    reason = CONNECTORS[vendor].unverifiable_reason(JANE_REQUEST.action, identifier)
    return "verified_absent" if reason is None else "unverifiable"


def people_by_vendor(section: str) -> dict[str, str]:
    """The sandbox's people as the demo prints them, one line each ("  <vendor> <kind> <json>")."""
    held = {vendor: "" for vendor in VENDORS}
    for line in section.splitlines():
        cells = line.split(maxsplit=1)
        if cells and cells[0] in held:
            held[cells[0]] += line + "\n"
    return held


def test_the_demo_erases_jane_at_every_vendor(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--timeout", "90", "--logs", str(tmp_path / "functions.log")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    table, after = run.stdout.split("and after:")
    after = after.split("keeps the person")[0]
    # One table a request: its title line "<request_id>  <status>  ...", then a row per vendor and
    # identifier: vendor, identifier, id hash, outcome, reason, HTTP, tries, completed.
    outcome_of, rows = {}, {}
    request_id = None
    for line in table.split("receipts (GET")[1].split("verification: what each")[0].splitlines():
        cells = line.split()
        if line and not line.startswith(" "):
            request_id = cells[0]
        elif len(cells) >= 4 and cells[0] in VENDORS:  # not a wrapped cell's next line
            outcome_of[(request_id, cells[0], cells[1])] = cells[3]
            rows[(request_id, cells[0], cells[1])] = line
    jane = {key: outcome for key, outcome in outcome_of.items() if key[0] == "demo-jane-profile"}
    # Jane's profile is erased at every vendor for each identifier it declares it serves, and
    # skipped for the rest; today's vendors answer as documented. Ana's old ids are removed.
    jane_acted = {key[1:]: outcome for key, outcome in jane.items() if outcome != "skipped"}
    assert set(jane_acted) == set(acted_on(JANE_REQUEST)), table
    assert {key: o for key, o in jane_acted.items() if key[0] in DOCUMENTED_VENDORS} == JANE_OUTCOMES, table
    assert all(outcome in ("accepted", "deleted") for outcome in jane_acted.values()), table
    # Each skipped identifier shows why, in its own column.
    assert "braze does not serve guid for" in rows[("demo-jane-profile", "braze", "guid")]
    assert outcome_of[("demo-ana-old-identifiers", "braze", "external_id")] == "deleted"
    assert outcome_of[("demo-ana-old-identifiers", "insider", "email")] == "deleted"
    assert "every deletion final, and verified where a vendor can tell" in run.stdout
    # Each vendor's read API, after its deletion: one line per vendor and identifier acted on.
    verification = {}
    for line in (
        run.stdout.split("verification: what each")[1].split("the vendors' people before")[0].splitlines()[1:]
    ):
        cells = line.split()
        if len(cells) >= 5:
            verification[tuple(cells[:3])] = cells[4]
    jane_verified = {k[1:]: v for k, v in verification.items() if k[0] == "demo-jane-profile"}
    # Verified where the connector declares a lookup that can tell, unverifiable (said, never
    # assumed) where it has none; today's vendors as pinned above.
    assert jane_verified == {
        key: expected_verification(key[0], identifier) for key, identifier in acted_on(JANE_REQUEST).items()
    }
    assert {k: v for k, v in jane_verified.items() if k[0] in DOCUMENTED_VENDORS} == JANE_VERIFICATIONS
    kim = run.stdout.split("keeps the person")[1]
    assert "insider    email        accepted        still_present" in kim
    assert "braze      email        accepted        verified_absent" in kim
    assert "(verification_still_present) logged: 1" in kim
    # Jane is gone from every vendor her erasure reached (today: all of them, as the table shows);
    # Ana keeps her profiles but not her old identifiers: gone from every vendor that removed them,
    # and held by no vendor that did not hold them before.
    before = people_by_vendor(table.split("the vendors' people before:")[1])
    held_after = people_by_vendor(after)
    reached = {vendor for vendor, _ in acted_on(JANE_REQUEST)}
    assert "jane" not in "".join(held_after[vendor] for vendor in reached), after
    removed_legacy = {vendor for vendor, label in acted_on(ANA_REQUEST) if label == "external_id"}
    for vendor in VENDORS:
        assert "legacy-1001" not in held_after[vendor] or (
            vendor not in removed_legacy and "legacy-1001" in before[vendor]
        ), after
    assert "cust-1001" in after and "cust-1002" in after
    # The functions' own logs went to the log file, with hashes and no identifiers.
    logs = (tmp_path / "functions.log").read_text()
    assert '"message":"vendor call"' in logs
    assert "jane@example.com" not in logs and "+6591234567" not in logs
