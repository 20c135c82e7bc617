"""The README's main command, `make demo`, as CI runs it: a bulk of two requests reaches all four
vendors and is verified; a vendor that keeps a person ends still_present with the alarm's metric."""

import subprocess
import sys

from tests.helpers import ROOT, VENDORS


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
    # Jane's profile is erased at all four vendors, skipped by none; Ana's old ids are removed.
    assert {key[1:]: outcome for key, outcome in jane.items() if outcome != "skipped"} == {
        ("braze", "email"): "accepted",
        ("braze", "external_id"): "accepted",
        ("clevertap", "external_id"): "accepted",
        ("clevertap", "guid"): "accepted",
        ("dfinery", "external_id"): "deleted",
        ("insider", "email"): "accepted",
    }, table
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
    assert {k[1:]: v for k, v in verification.items() if k[0] == "demo-jane-profile"} == {
        ("braze", "email"): "verified_absent",
        ("braze", "external_id"): "verified_absent",
        ("clevertap", "external_id"): "verified_absent",
        ("clevertap", "guid"): "verified_absent",
        ("dfinery", "external_id"): "unverifiable",  # no lookup by identifier: said, never assumed
        ("insider", "email"): "verified_absent",
    }
    kim = run.stdout.split("keeps the person")[1]
    assert "insider    email        accepted        still_present" in kim
    assert "braze      email        accepted        verified_absent" in kim
    assert "(verification_still_present) logged: 1" in kim
    # Jane is gone everywhere; Ana keeps her profiles but not her old identifiers.
    assert "jane" not in after
    assert "legacy-1001" not in after and "cust-1001" in after and "cust-1002" in after
    # The functions' own logs went to the log file, with hashes and no identifiers.
    logs = (tmp_path / "functions.log").read_text()
    assert '"message":"vendor call"' in logs
    assert "jane@example.com" not in logs and "+6591234567" not in logs
