"""tools.redrive's operator mistakes: one line saying what to do, no traceback."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tools.sam_local.local_aws import start_moto_server

NO_AWS_CONFIG = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
KEYS = {"AWS_ACCESS_KEY_ID": "AKIALOCALTESTING0000", "AWS_SECRET_ACCESS_KEY": "local"}


@pytest.fixture(scope="module")
def local_aws():
    process, url = start_moto_server()
    yield url
    process.terminate()
    process.wait()


def redrive(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "tools.redrive", "--stack", "erasure-relay", "--queue", "Braze", *args],
        cwd=ROOT,
        env={**kept, **NO_AWS_CONFIG, "AWS_EC2_METADATA_DISABLED": "true", **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_region_no_credentials_and_no_stack_are_each_one_line(local_aws):
    runs = {
        "no AWS region: give --region": redrive(**KEYS),
        "no AWS credentials: set AWS_PROFILE": redrive("--region", "us-east-1"),
        "cannot reach http://127.0.0.1:9/": redrive(
            "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9", **KEYS
        ),
        "the local stack has no CloudFormation: give --from and --to": redrive(
            "--region", "us-east-1", "--endpoint-url", local_aws, **KEYS
        ),
    }
    for expected, run in runs.items():
        assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
        assert expected in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
