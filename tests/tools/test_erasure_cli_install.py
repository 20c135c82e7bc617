"""The operator's command line as a package: `pip install .` gives the command `erasure`, with
--version and shell completion; and the files Excel writes are read as people."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tools import erasure_cli
from tools.erasure_cli.people import read_people


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the package `pip install`ed in it, dependencies and all
    (from the index, as an operator gets them): its bin directory."""
    # Built from a copy of what the package holds, so that the build leaves nothing in the checkout.
    source = tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)
    for package in ("tools/erasure_cli", "layers/connectors/erasure"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "tools" / "__init__.py", source / "tools")
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(source)], check=True, capture_output=True)
    return venv / "bin"


def erasure(installed: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(installed / "erasure"), *args], capture_output=True, text=True, env=env, cwd=installed
    )


def test_the_installed_command_says_its_version(installed):
    answer = erasure(installed, "--version")
    assert (answer.returncode, answer.stdout.strip()) == (0, f"erasure {erasure_cli.__version__}")


def test_the_installed_command_prints_its_shell_completion(installed):
    answer = erasure(installed, "--print-completion", "bash")
    assert answer.returncode == 0
    assert "submit" in answer.stdout and "--dry-run" in answer.stdout and "_shtab_erasure" in answer.stdout


def test_the_installed_command_documents_its_exit_codes_and_refuses_no_command(installed):
    help_text = erasure(installed, "--help")
    assert help_text.returncode == 0 and "Exit status: 0 done; 1 done" in help_text.stdout
    assert erasure(installed, "status").returncode == 2  # argparse: a request_id is required


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom.csv", "\ufeffrequest_id,email\r\nr-1,ana@example.com\r\n"),  # Excel's "CSV UTF-8"
        ("semicolons.csv", "\ufeffrequest_id;email;vendors\r\nr-1;ana@example.com;braze\r\n"),  # ";" locales
        ("tabs.csv", "request_id\temail\nr-1\tana@example.com\n"),
    ],
)
def test_a_csv_as_excel_writes_it_is_read(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    (person,) = read_people(path)
    assert person.request["request_id"] == "r-1"
    assert person.request["identity"] == {"email": "ana@example.com"}
