"""Adding a vendor touches the vendor's own files: no other file names a vendor, except those
this test lists, each with why (docs/adding-a-vendor.md gives the list of files a new vendor
needs).

A vendor is named by its registry name (erasure.vendors.CONNECTORS), in any case and inside
longer words: for a vendor "acme", `acme`, `ACME_SECRET_ID` and `AcmeFunction` all name it.
The files looked at are the repository's (git's: tracked, and new ones not ignored), their
paths and their contents.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess

import pytest

from erasure.vendors import CONNECTORS
from tests.helpers import ROOT

VENDORS = sorted(CONNECTORS)
NAMED = re.compile("|".join(re.escape(vendor) for vendor in VENDORS), re.IGNORECASE)

# A vendor's own files ({v} is its name): the ones a new vendor adds.
OWN_FILES = (
    "layers/connectors/erasure/vendors/{v}.py",  # its connector
    "tools/vendor_sandbox/vendors/{v}.py",  # its sandbox twin
    "functions/{v}/*",  # its function
    "tests/connectors/test_{v}.py",  # its connector's tests against a real local server
    "events/{v}-*.json",  # its function's Lambda events (generated from the template)
)

# Where every vendor is named by design, so a new vendor is added there too.
DESCRIBED = {
    "template.yaml": "each vendor's parameters, secret, queues, function, alarm and outputs",
    "docs/*.md": "the vendors described: their tables of calls, limits, hosts and settings",
    "README.md": "what the relay is for (the vendors it serves) and its architecture picture",
    "samconfig.toml": "an example of the deploy's parameter overrides",
    "pyproject.toml": "the package's one-line description, as the README's first line",
    "docs/openapi.json": "each vendor's route, generated from the template (python -m tools.openapi)",
    "events/README.md": "each function's event files, the vendors' among them",
}

# Other files that name a vendor, each with why. A file leaves the list once it names none (the
# last test says so); a file added to it needs its reason.
ALLOWED = {
    # -- tests whose subject is one vendor's documented contract, or vendors side by side ------
    "tests/connectors/test_echoed_identifiers.py": "each vendor's documented echo of an identifier",
    "tests/connectors/test_relay.py": "the relay driven through one real connector's calls",
    "tests/functions/test_faults.py": "faults each vendor's contract allows (a 200 that fails, read limits)",
    "tests/functions/test_intake_flow.py": "which vendor serves which identifier, by contract",
    "tests/functions/test_identity_resolution.py": "people held the way each vendor holds them, by contract",
    "tests/functions/test_hostile_input.py": "a vendor route's documented refusals of hostile bodies",
    "tests/functions/test_hostile_resolution_fields.py": "a vendor route refusing fields meant for its queue",
    "tests/unit/test_resolution.py": "each vendor's documented lookup answers, resolved",
    "tests/functions/test_reliability.py": "each vendor's documented throttling and retry answers",
    "tests/functions/test_review_defects.py": "defects found at one vendor's documented answers",
    "tests/functions/test_scale.py": "a bulk through the vendor that serves only external ids",
    "tests/functions/test_vendor_functions.py": "a vendor function's documented batches and answers",
    "tests/functions/test_verification.py": "each vendor's documented lookup (and one without)",
    "tests/tools/test_vendor_sandbox.py": "the sandbox's vendors against their documented contracts",
    "tests/tools/test_demo.py": "the demo's printed outcome per vendor",
    "tests/tools/test_bench_resolution.py": "the bench's count of each vendor's calls per person",
    "tests/tools/test_sam_local_event_files.py": "one vendor function run by the runner with its file",
    "tests/tools/test_erasure_cli_install.py": "a CSV row's vendors column, as Excel writes it",
    "tests/functions/test_cancel.py": "a vendor that took the erasure before the cancel",
    "tests/functions/test_final_requests.py": "one vendor that answered, one whose message never came back",
    "tests/functions/test_forgetting.py": "one vendor answered, one waits, one sent to straight",
    "tests/unit/test_sealing.py": "a vendor name as a value of `vendors` (any would do)",
    "tests/functions/test_list.py": "requests sent to one vendor each, filtered by that vendor's outcome",
    "tests/functions/test_openapi_answers.py": "each vendor route's documented answers, held to the document",
    "tests/tools/test_erasure_cli.py": "the command line's outcome rows per vendor",
    "tests/tools/test_redrive_errors.py": "a redrive by one vendor's queue name",
    "tests/unit/test_config.py": "one vendor's URL and verification settings, read as documented",
    "tests/unit/test_receipt.py": "vendor names as values in ledger items (any names would do)",
    "tests/unit/test_request.py": "identifier types that one vendor has, named after it",
    "tests/unit/test_retry_policy.py": "a vendor name as a value in a result (any would do)",
    "tests/unit/test_template.py": "a docstring's example of the template's naming",
    # -- files the layer's, the tools' or the tests' owners may rid of the names ---------------
    "layers/connectors/erasure/identifiers.py": "identifier types that one vendor has, named after it",
    "tools/bench/ceilings.py": "the bench measures the vendor with the lowest documented limit",
    "tools/bench/cpu.py": "a vendor name as a value in a result (any would do)",
    "tools/bench/resolution.py": "people seeded the way each vendor holds them, counted per vendor",
    "tools/bench/resolution_bulk.py": "the vendor with the scarcest lookup limit, measured; one with none",
    "tools/demo.py": "the demo's story: one vendor keeps a person after its 'success'",
}


def _own(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern.format(v=v)) for v in VENDORS for pattern in OWN_FILES)


def _listed(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in (*DESCRIBED, *ALLOWED))


@pytest.fixture(scope="module")
def naming() -> dict[str, list[str]]:
    """{file: the vendor names it holds} of every file of the repository (git's) naming one."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git work tree: the repository's files are not known")
    found = {}
    for path in filter(None, listed.split("\0")):
        file = ROOT / path
        if not file.is_file():
            continue  # deleted, not yet staged
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not text
        names = sorted({match.lower() for match in NAMED.findall(f"{path}\n{text}")})
        if names:
            found[path] = names
    return found


def test_a_vendor_is_named_only_in_its_own_files_and_those_listed_here(naming):
    strays = {path: names for path, names in naming.items() if not _own(path) and not _listed(path)}
    assert strays == {}, (
        "a vendor's name outside its own files: make the file find the vendors in the registry "
        "(erasure.vendors.CONNECTORS, the sandbox's VENDOR_CLASSES, the template), or list it "
        "in ALLOWED with why"
    )


def test_every_vendor_has_its_own_files():
    for vendor in VENDORS:
        for pattern in OWN_FILES:
            assert list(ROOT.glob(pattern.format(v=vendor))), pattern.format(v=vendor)


def test_every_file_allowed_still_names_a_vendor(naming):
    assert [path for path in ALLOWED if path not in naming] == []
    assert all(reason.strip() for reason in (*ALLOWED.values(), *DESCRIBED.values()))
