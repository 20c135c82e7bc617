"""The README's main command, `make demo`, as CI runs it: one deletion reaches all four vendors."""

import os
import subprocess
import sys

from tests.helpers import ROOT


def test_the_demo_erases_jane_at_every_vendor(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--timeout", "90", "--logs", str(tmp_path / "functions.log")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "connectors")},  # as `make demo` runs it
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    table, after = run.stdout.split("and after:")
    deleted = [line.split()[2:4] for line in table.splitlines() if " deleted " in line]
    assert sorted(deleted) == [
        ["braze", "external_id"],
        ["clevertap", "external_id"],
        ["clevertap", "guid"],
        ["dfinery", "external_id"],
        ["insider", "email"],
        ["insider", "phone_number"],
    ], table
    assert "every deletion completed" in run.stdout
    # Jane is gone where she was erased, and everyone else is still there.
    assert "jane-legacy-7" not in after and "ct-guid-jane" not in after and "jane@example.com" not in after
    assert "cust-1001" in after and "cust-1002" in after
    # The functions' own logs went to the log file, with hashes and no identifiers.
    logs = (tmp_path / "functions.log").read_text()
    assert '"message":"vendor call"' in logs
    assert "jane@example.com" not in logs and "+6591234567" not in logs
