"""The operator CLI against the local stack: the vendor sandbox, moto, the template's functions and
its signed API (tools.sam_local), started once for the module as the demo starts them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from erasure.request import parse
from erasure.vendors import CONNECTORS
from tools.demo import ROOT, local_env_vars
from tools.erasure_cli.cli import main
from tools.local_secrets import sandbox_secrets
from tools.sam_local import LocalRuntime
from tools.vendor_sandbox import DEFAULT_PEOPLE, VendorSandbox, seed_of

# Jane, as every vendor holds her (tools.vendor_sandbox.seed_of maps her to each vendor's records).
JANE = {
    "external_id": "jane-2024",
    "guid": "ct-guid-jane",
    "email": "jane@example.com",
    "phone_number": "+6591234567",
    "uuid": "jane-uuid-1",
}


@pytest.fixture(scope="module")
def api_url(tmp_path_factory):
    logs = tmp_path_factory.mktemp("erasure_cli") / "functions.log"
    with open(logs, "w") as log_file, VendorSandbox() as sandbox:
        sandbox.seed(seed_of([*DEFAULT_PEOPLE, JANE]))
        env_vars = local_env_vars(sandbox.url)
        template = ROOT / "template.yaml"
        with LocalRuntime(template, env_vars=env_vars, secrets=sandbox_secrets, logs=log_file) as runtime:
            url = runtime.serve_api()
            runtime.start_event_sources()
            yield url


@pytest.fixture(autouse=True)
def no_aws_configuration(monkeypatch, tmp_path):
    """Nothing of this machine's AWS set-up reaches the CLI; the tables are wide enough to read."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ERASURE_API_URL", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def cli(capsys):
    """Runs the CLI in this process: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


# Jane as the operator names her with flags: her external_id and email, for delete_profile.
JANE_FLAGS = {"external_id": JANE["external_id"], "email": JANE["email"]}


def vendors_serving(identity: dict[str, str]) -> list[str]:
    """The vendors the API sends a delete_profile of `identity` to, in its order: those whose
    connector serves at least one of its identifiers (erasure.intake.Routing.plan)."""
    request = parse({"identity": identity, "action": "delete_profile"})
    return [
        vendor
        for vendor, connector in CONNECTORS.items()
        if any(connector.skip_reason(request.action, i) is None for i in request.identifiers)
    ]


# ----------------------------------------------------------------------------- the operator's path


def test_one_person_from_flags_is_submitted_watched_until_final_and_receipted(api_url, cli):
    local = ("--local", "--api-url", api_url)
    jane = ("--external-id", JANE["external_id"], "--email", JANE["email"], "--request-id", "cli-jane")

    submitted = cli("submit", *local, *jane)
    watched = cli("watch", "cli-jane", *local, "--interval", "0.5", "--timeout", "90")
    table = cli("status", "cli-jane", *local)
    as_json = cli("status", "cli-jane", *local, "--json")

    assert submitted[0] == 0, submitted
    assert f"1 sent to {api_url}: 1 accepted" in submitted[1]
    # Sent to every vendor that declares it serves one of Jane's identifiers (today: all four).
    assert ["-", "cli-jane", "accepted", "to", *", ".join(vendors_serving(JANE_FLAGS)).split()] in rows(
        submitted[1]
    )
    assert watched[0] == 0, watched
    assert table[0] == 0
    receipt = json.loads(as_json[1])
    assert receipt["request_id"] == "cli-jane" and receipt["status"] == "completed"
    for output in (watched[1], table[1]):  # the watch ends on the receipt that status prints
        assert rows(output)[0][:2] == ["cli-jane", "completed"]
        outcomes = {(r[0], r[1]): r[3] for r in rows(output) if r and r[0] in receipt["vendors"]}
        assert outcomes[("dfinery", "external_id")] == "deleted"
        assert outcomes[("braze", "email")] == "resolved"  # her profiles found by it, erased by braze_id
    for output in (*submitted, *watched, *table, as_json[2]):
        assert JANE["email"] not in str(output) and JANE["external_id"] not in str(output)


def test_a_jsonl_file_is_sent_in_bulks_with_a_summary_naming_each_refusal(api_url, cli, tmp_path):
    people = tmp_path / "people.jsonl"
    people.write_text(
        '{"request_id": "cli-jsonl-1", "identity": {"external_id": "cust-1001"}}\n'
        '{"request_id": "cli-jsonl-2", "identity": {"email": "not-an-address"}}\n'
        "\n"
        '{"action": "remove_identifier", "identity": {"external_id": "legacy-1001"}}\n'
    )

    status, out, err = cli(
        "submit", "--local", "--api-url", api_url, "--file", str(people), "--bulk-size", "2"
    )

    assert status == 1, err  # not every row was accepted
    assert f"3 sent to {api_url}: 2 accepted, 1 refused" in out
    lines = {row[0]: row for row in rows(out) if row and row[0].isdigit()}
    assert lines["1"][1:3] == ["cli-jsonl-1", "accepted"]
    assert " ".join(lines["2"][1:]) == "cli-jsonl-2 refused identity.email: is not an email address"
    assert lines["4"][2] == "accepted" and len(lines["4"][1]) == 36  # given a UUID by the CLI
    assert "not-an-address" not in out + err


def test_a_csv_file_with_every_kind_of_column_and_its_json_answers(api_url, cli, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text(
        "request_id,external_id,email,user_alias.alias_name,user_alias.alias_label,custom.loyalty_id,vendors\n"
        "cli-csv-1,cust-1002,,,,,braze;dfinery\n"
        "cli-csv-2,,ana@example.com,,,L-77,\n"
        "cli-csv-3,,,ana-alias,crm,,braze\n"
    )

    status, out, err = cli("submit", "--local", "--api-url", api_url, "--file", str(people), "--json")

    assert status == 0, err
    answers = json.loads(out)
    assert [(a["line"], a["request_id"], a["status"]) for a in answers] == [
        (2, "cli-csv-1", 202),
        (3, "cli-csv-2", 202),
        (4, "cli-csv-3", 202),
    ]
    assert answers[0]["vendors"] == ["braze", "dfinery"]
    assert answers[2]["vendors"] == ["braze"]


def test_a_busy_bulk_is_sent_again_as_it_was_and_a_stop_keeps_what_was_answered(cli, httpserver, tmp_path):
    people = tmp_path / "people.jsonl"
    people.write_text('{"identity": {"uuid": "u-1"}}\n{"identity": {"uuid": "u-2"}}\n')
    busy = {"message": "recorded but not yet sent to every vendor", "request_ids": []}
    accepted = {"results": [{"status": 202, "request_id": "r", "vendors": ["insider"], "skipped": {}}]}
    for status, answer, headers in [
        (503, busy, {"Retry-After": "0"}),  # the first bulk, twice
        (202, accepted, {}),
        (502, {"message": "Internal server error"}, {}),  # the second: the run stops
    ]:
        httpserver.expect_ordered_request("/v1/deletions", method="POST").respond_with_json(
            answer, status=status, headers=headers
        )

    status, out, err = cli(
        "submit", "--local", "--api-url", httpserver.url_for(""), "--file", str(people), "--bulk-size", "1"
    )

    sent = [json.loads(request.data)["requests"] for request, _ in httpserver.log]
    assert sent[0] == sent[1] and len(sent) == 3  # the same request_id, sent again
    assert status == 2
    assert err == "erasure_cli: the API answered 502: Internal server error (stopped after 1 of 2)\n"
    assert ["1", sent[0][0]["request_id"], "accepted", "to", "insider"] in rows(out)


# ----------------------------------------------------------------------------- errors: one line, exit 2


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("arguments", "environment", "expected"),
    [
        (["--local", "--api-url", "{closed}"], {}, "cannot reach the API at {closed}: Connection refused"),
        ([], {}, "no AWS credentials: set AWS_PROFILE"),
        (
            [],
            {"AWS_ACCESS_KEY_ID": "AKIASTRANGER00000000", "AWS_SECRET_ACCESS_KEY": "s"},
            "(403 AccessDeniedException): The security token included in the request is invalid.",
        ),
        (
            [],
            {"AWS_ACCESS_KEY_ID": "AKIALOCALDEMO0000000", "AWS_SECRET_ACCESS_KEY": "wrong"},
            "(403 InvalidSignatureException): The request signature we calculated does not match",
        ),
        (
            ["--local", "--api-url", "{api}/api"],
            {},
            "(403 MissingAuthenticationTokenException): Missing Authentication Token — no such route",
        ),
        (["--local"], {}, "the API answered 404: no deletion request with this request_id"),
    ],
    ids=["unreachable", "no credentials", "unknown key", "wrong secret", "no such route", "unknown request"],
)
def test_an_api_error_is_one_line_on_stderr(api_url, cli, monkeypatch, arguments, environment, expected):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    urls = {"closed": f"http://127.0.0.1:{closed_port()}", "api": api_url}
    arguments = [a.format(**urls) for a in arguments]
    if "--api-url" not in arguments:
        arguments += ["--api-url", api_url]

    status, out, err = cli("status", "no-such-request", *arguments)

    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("erasure_cli: ") and expected.format(**urls) in err, err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("people.jsonl", '{"identity": {"uuid": "u-1"}}\n{"identity": \n', "{path} line 2: not JSON ("),
        ("people.jsonl", '["u-1"]\n', "{path} line 1: must be a JSON object"),
        ("people.csv", "email,e-mail\n", "{path} line 1: column 2 is not a known field (known: request_id,"),
        ("people.csv", "uuid\nu-1\nu-2,extra\n", "{path} line 3: 2 cells for 1 columns"),
        (
            "people.csv",
            "uuid,user_alias.alias_name,user_alias.alias_label\nu-1,,\nu-2,ana-alias,\n",
            "{path} line 3: user_alias.alias_label is empty, and the alias needs both fields",
        ),
        ("people.txt", "u-1\n", "{path}: --file takes a .jsonl or a .csv file"),
    ],
)
def test_a_bad_file_row_is_named_by_line_and_field_and_nothing_is_sent(
    cli, tmp_path, name, content, expected
):
    people = tmp_path / name
    people.write_text(content)
    closed = f"http://127.0.0.1:{closed_port()}"  # no API there: the file is refused before any call

    status, out, err = cli("submit", "--local", "--api-url", closed, "--file", str(people))

    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("erasure_cli: " + expected.format(path=people)), err


def test_the_module_runs_as_documented_and_fails_without_a_traceback():
    closed = f"http://127.0.0.1:{closed_port()}"
    command = [sys.executable, "-m", "tools.erasure_cli", "watch", "some-id", "--local", "--api-url", closed]

    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == f"erasure_cli: cannot reach the API at {closed}: Connection refused\n"


def test_a_dry_run_from_the_flags_says_what_each_vendor_would_erase_and_deletes_nothing(api_url, cli):
    local = ("--local", "--api-url", api_url)
    ana = ("--email", "ana@example.com", "--request-id", "cli-dry-ana", "--dry-run", "--enrich")

    submitted = cli("submit", *local, *ana)
    watched = cli("watch", "cli-dry-ana", *local, "--interval", "0.5", "--timeout", "60")
    receipt = json.loads(cli("status", "cli-dry-ana", *local, "--json")[1])

    assert submitted[0] == 0 and watched[0] == 0, (submitted, watched)
    assert (receipt["dry_run"], receipt["enrich"], receipt["final"]) == (True, True, True)
    assert "DRY RUN: nothing deleted" in watched[1]
    found = {(r[0], r[1]): r[3] for r in rows(watched[1]) if r and r[0] in receipt["vendors"]}
    assert found[("braze", "email")] == "would_delete"
    # Dfinery cannot look anyone up: it says what it would do with the external id others learned.
    assert found[("dfinery", "external_id")] == "no_lookup"
    assert any(line.startswith("learned: external_id") for line in watched[1].splitlines())
    assert "ana@example.com" not in watched[1] + json.dumps(receipt)


def test_cancel_says_when_a_request_is_final_already_and_when_there_is_none(api_url, cli):
    local = ("--local", "--api-url", api_url)
    cli("submit", *local, "--external-id", "cust-1002", "--request-id", "cli-cancel-late")
    assert cli("watch", "cli-cancel-late", *local, "--interval", "0.5", "--timeout", "60")[0] == 0

    late = cli("cancel", "cli-cancel-late", *local)
    unknown = cli("cancel", "cli-never-submitted", *local)

    assert late[0] == 1 and "is final: nothing left to cancel" in late[2]
    assert unknown[0] == 2 and "404" in unknown[2]


def test_list_and_a_report_of_the_days_requests_without_identifiers(api_url, cli, tmp_path):
    import csv
    from datetime import UTC, datetime

    local = ("--local", "--api-url", api_url)
    cli("submit", *local, "--external-id", "cust-1002", "--request-id", "cli-report")
    cli("watch", "cli-report", *local, "--interval", "0.5", "--timeout", "60")
    today = datetime.now(UTC).strftime("%Y-%m-%d")

    listed = cli("list", *local, "--from", today, "--json")
    # (The local stack runs no DynamoDB stream, so no state is published: filter on an outcome.)
    finals = cli("list", *local, "--vendor", "dfinery", "--outcome", "deleted")
    reported = cli("report", *local, "--from", today, "--to", today, "--out", str(tmp_path))

    summaries = json.loads(listed[1])
    assert listed[0] == 0 and "cli-report" in [s["request_id"] for s in summaries]
    assert [s["created_at"] for s in summaries] == sorted((s["created_at"] for s in summaries), reverse=True)
    assert finals[0] == 0 and "cli-report" in finals[1] and "request(s)" in finals[1]
    assert reported[0] in (0, 1) and "within their deadline" in reported[1]
    rows = list(csv.DictReader((tmp_path / f"erasure-report-{today}-to-{today}.csv").open()))
    row = next(r for r in rows if r["request_id"] == "cli-report")
    assert (row["final"], row["within_deadline"]) == ("True", "True") and float(row["days_to_final"]) < 1
    page = (tmp_path / f"erasure-report-{today}-to-{today}.html").read_text()
    assert page.count("<svg") == 2 and "dfinery" in page and "30 days" in page
    for text in (page, *(json.dumps(r) for r in rows)):
        assert "cust-1002" not in text and JANE["email"] not in text
