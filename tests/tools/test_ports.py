"""A local server's port already taken: one line naming the port and the option, exit 2, no traceback."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["tools.demo", "--sandbox-port"], "--sandbox-port"),
        (["tools.vendor_sandbox", "--port"], "--port"),
        (["tools.sam_local", "start", "--port"], "--port"),
    ],
    ids=["demo", "vendor_sandbox", "sam_local start"],
)
def test_a_taken_port_is_one_line_naming_the_option(taken_port, command, option):
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("AWS_ENDPOINT_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", *command, str(taken_port)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert f"port {taken_port} (" in run.stderr and f"choose another with {option}" in run.stderr
