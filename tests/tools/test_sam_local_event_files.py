"""events/: one Lambda event a function and trigger (`sam local invoke <Function> -e events/...`),
kept in step with template.yaml: every event source of every function has its file, every file
names a function and a trigger that exist, each is what `make events` (`python -m tools.sam_local
generate-event --all -b events/requests/jane.json`) makes now, and each is taken by its function.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, SAMPLE_BODY, TEMPLATE, FakeContext
from tools.local_secrets import sandbox_secrets
from tools.sam_local import LocalRuntime
from tools.sam_local.cli import event_file_text
from tools.sam_local.events import EVENT_FILE, EVENT_TRIGGERS, event_file_names, function_folder
from tools.vendor_sandbox import VendorSandbox

EVENTS = ROOT / "events"
BODY = EVENTS / "requests" / "jane.json"
ENV_VARS = EVENTS / "env.local.json"
NOT_EVENTS = {"env.local.json"}  # the local stack's settings, beside the events
REGENERATE = "run `make events` (python -m tools.sam_local generate-event --all -b events/requests/jane.json)"

RUNTIME = LocalRuntime(TEMPLATE)  # the template read as the local stack reads it; nothing started
FOLDERS = {function_folder(RUNTIME.stack, logical_id): logical_id for logical_id in RUNTIME.functions}
SOURCES = {(f.logical_id, f.event): f.name for f in event_file_names(RUNTIME.stack, RUNTIME.functions)}
EXPECTED = RUNTIME.event_files(json.loads(BODY.read_text()))
FILES = sorted(path.name for path in EVENTS.glob("*.json") if path.name not in NOT_EVENTS)


def test_the_request_bodies_are_apart_from_the_events():
    assert BODY.is_file() and (EVENTS / "requests" / "deletion.json").is_file()
    assert json.loads(BODY.read_text()) == SAMPLE_BODY


@pytest.mark.parametrize("logical_id", sorted(RUNTIME.functions))
def test_every_event_source_of_every_function_has_its_file(logical_id):
    for event, source in RUNTIME.functions[logical_id].events.items():
        kind = source.get("Type")
        assert kind in EVENT_TRIGGERS, f"{logical_id}.{event}: no event file is made for {kind} events"
        name = SOURCES[logical_id, event]
        assert name in FILES, f"{logical_id}.{event} ({kind}) has no events/{name}: {REGENERATE}"


@pytest.mark.parametrize("name", FILES)
def test_every_event_file_names_a_function_and_an_event_source_it_has(name):
    named = EVENT_FILE.fullmatch(name)
    assert named, f"events/{name} is not <function folder>-<trigger>[-<event>].json"
    logical_id = FOLDERS.get(named["folder"])
    assert logical_id, f"events/{name}: no function of the template has its code in {named['folder']}/"
    events = RUNTIME.functions[logical_id].events
    triggers = {EVENT_TRIGGERS.get(e.get("Type")) for e in events.values()}
    assert named["trigger"] in triggers, f"events/{name}: {logical_id} has no {named['trigger']} event"
    if named["event"]:
        assert named["event"] in {e.lower() for e in events}, f"events/{name}: {logical_id} has no such event"
    assert name in EXPECTED, f"events/{name} is no event source's file any more: {REGENERATE}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_event_file_is_what_the_generator_makes_now(name):
    path = EVENTS / name
    assert path.is_file(), f"events/{name} is missing: {REGENERATE}"
    assert path.read_text() == event_file_text(EXPECTED[name]), f"events/{name} is stale: {REGENERATE}"


def run_sam_local(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m tools.sam_local ...` on the relay's template, from the repository root, with
    its own moto server."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "tools.sam_local", *args, "--template", str(TEMPLATE)],
        cwd=ROOT,
        env=environment,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def test_generate_all_writes_exactly_these_files_and_removes_stale_ones(tmp_path):
    (tmp_path / "gone-sqs.json").write_text("{}")  # a function no longer in the template
    (tmp_path / "env.local.json").write_text("{}")  # not an event file: left alone
    completed = run_sam_local("generate-event", "--all", "-b", str(BODY), "-o", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    written = sorted(path.name for path in tmp_path.glob("*.json"))
    assert written == sorted([*EXPECTED, "env.local.json"])
    assert sorted(completed.stdout.split()) == sorted(str(tmp_path / name) for name in EXPECTED)
    for name in EXPECTED:
        assert (tmp_path / name).read_text() == (EVENTS / name).read_text(), f"events/{name}: {REGENERATE}"


def test_every_function_takes_its_event_files(relay):
    """Each file given to its function in-process (moto, healthy vendors), as the deployed relay
    would be invoked: the intake's first, so that the request the others name exists, then a
    DELETE (the cancel, which a final request refuses), then the others."""
    handlers = {
        **{queue: getattr(relay, queue) for queue in ("intake", "status", "receipts")},
        **relay.vendors,
    }
    events = {name: json.loads((EVENTS / name).read_text()) for name in FILES}
    order = sorted(FILES, key=lambda n: (n != "intake-api.json", events[n].get("httpMethod") != "DELETE", n))
    for name in order:
        named = EVENT_FILE.fullmatch(name)
        answer = handlers[named["folder"]](events[name], FakeContext(name))
        trigger = named["trigger"]
        if trigger in ("sqs", "stream"):
            assert answer == {"batchItemFailures": []}, name
        elif trigger == "api":
            assert 200 <= answer["statusCode"] < 300, (name, answer)
            if events[name]["pathParameters"] or events[name]["body"]:  # it names the request
                assert json.loads(answer["body"])["request_id"] == SAMPLE_BODY["request_id"], name
        else:
            assert answer is None, name  # the deadline watch answers nothing
    assert relay.get(SAMPLE_BODY["request_id"])[0] == 200


@pytest.mark.parametrize(
    ("function", "name", "answer"),
    [
        # No request sample-jane-profile in a fresh local stack: the receipt's 404.
        ("StatusFunction", "status-api.json", lambda result: result["statusCode"] == 404),
        ("ReceiptsFunction", "receipts-stream.json", lambda result: result == {"batchItemFailures": []}),
        ("ReceiptsFunction", "receipts-schedule.json", lambda result: result is None),
    ],
)
def test_the_local_runner_invokes_a_function_with_its_file(function, name, answer):
    """As events/README.md says: `invoke <Function> -e events/<file> --env-vars events/env.local.json`."""
    completed = run_sam_local("invoke", function, "-e", f"events/{name}", "--env-vars", str(ENV_VARS))
    assert completed.returncode == 0, completed.stderr
    assert answer(json.loads(completed.stdout)), completed.stdout


def test_the_local_runner_invokes_a_vendor_function_with_its_file_against_the_sandbox(tmp_path):
    """BrazeFunction with events/braze-sqs.json and env.local.json's settings, its sandbox URL
    moved to a sandbox on a free port: the sandbox is called, the record does not fail."""
    settings = json.loads(ENV_VARS.read_text())
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(sandbox_secrets(RUNTIME.stack)))
    with VendorSandbox(port=0) as sandbox:
        settings["Parameters"]["VENDOR_SANDBOX_URL"] = sandbox.url
        env_vars = tmp_path / "env.json"
        env_vars.write_text(json.dumps(settings))
        completed = run_sam_local(
            "invoke",
            "BrazeFunction",
            "-e",
            "events/braze-sqs.json",
            "--env-vars",
            str(env_vars),
            "--secrets",
            str(secrets),
        )
        calls = sandbox.calls("braze")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"batchItemFailures": []}
    assert calls, "the vendor sandbox was called"
