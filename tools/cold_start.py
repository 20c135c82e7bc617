"""Cold starts of the built functions, measured the way Lambda runs an init, against a floor.

    python -m tools.cold_start [--runs 7] [--build | --no-build] [--build-dir DIR]

Each figure is the median of fresh Python processes (a first round warms the disk cache and is not
counted). Like Lambda's init, a process imports a function's handler module as `sam build` left it
in .aws-sam/build/<FunctionId>, with sys.path = [that folder, the built layer's python/ (Lambda's
/opt/python), then this interpreter's boto3 (Lambda's runtime)], the function's environment from
the template, and -B: Lambda cannot write bytecode to /var/task or /opt. A stub Secrets Manager on
127.0.0.1 answers its secrets: an init costs its imports, clients and settings, not a network.

The floor is measured in the same run, the same way, on the same layer: `import json, urllib3,
boto3` and a Powertools Logger(). Everything is measured again on the layer without its
__pycache__ folders, to show what the bytecode the layer ships saves.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from erasure.vendors import CONNECTORS
from tools.sam_local.template import Stack, merge_globals

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
LAYER = Path("ConnectorsLayer", "python")  # in a build folder
REGION = "us-east-1"
TARGET_RATIO = 1.5
FLOOR_CODE = "import json, urllib3, boto3\nfrom aws_lambda_powertools import Logger\nLogger()"
# What each fresh process runs: argv = [code, layer folder, *folders put first on sys.path].
CHILD = """
import sys, time
wall, start = time.time(), time.perf_counter()
code, layer, *paths = sys.argv[1:]
sys.path[:0] = paths
exec(code, {"__name__": "__cold_start__"})
init = time.perf_counter() - start
for name in ("erasure", "aws_lambda_powertools", "urllib3"):
    module = sys.modules.get(name)
    if module is not None and not module.__file__.startswith(layer):
        sys.exit(f"{name} was imported from {module.__file__}, not from the layer {layer}")
print(wall, init)
"""
# Every secret holds every field any function reads from one: the hash key and vendor credentials.
SECRET = {"key": "cold-start-hash-key-" + "0" * 44} | {
    field: "cold-start" for connector in CONNECTORS.values() for field in connector.credential_fields
}
STAND_INS = ("AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::SecretsManager::Secret")
LAMBDA_ENV = {
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",  # what -B does (-I ignores PYTHON* variables)
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_ACCESS_KEY_ID": "cold-start",
    "AWS_SECRET_ACCESS_KEY": "cold-start",
    "AWS_SESSION_TOKEN": "cold-start",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class Row:
    layer: str  # "as built" or "no bytecode" (the built layer without its __pycache__ folders)
    function: str
    init_ms: float
    floor_ms: float  # measured in the same run, on the same layer
    target: float = TARGET_RATIO

    @property
    def ratio(self) -> float:
        return self.init_ms / self.floor_ms

    @property
    def verdict(self) -> str:
        over = self.init_ms - self.target * self.floor_ms
        return "ok" if over <= 0 else f"missed by {over:.0f} ms ({self.ratio - self.target:.2f}x)"


class _SecretsStub(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # GetSecretValue, whichever secret
        name = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)) or "{}").get("SecretId")
        arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{name}"
        body = json.dumps({"ARN": arn, "Name": name, "VersionId": "1", "SecretString": json.dumps(SECRET)})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: object) -> None:
        pass


def build_is_stale() -> bool:
    """No build, or the template or a file of the layer or a function is newer than it."""
    marker = BUILD / "template.yaml"
    if not (BUILD / LAYER).is_dir() or not marker.is_file():
        return True
    sources = [ROOT / "template.yaml", *(ROOT / "layers").rglob("*"), *(ROOT / "functions").rglob("*")]
    built_at = marker.stat().st_mtime
    return any(p.is_file() and "__pycache__" not in p.parts and p.stat().st_mtime > built_at for p in sources)


def sam_build() -> None:
    command = [str(ROOT / ".venv-sam" / "bin" / "sam"), "build", "--region", REGION]
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{done.stderr[-3000:]}")


def environments(secrets_url: str, build_dir: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """Each function's handler module and environment, and the floor's (the template's Globals)."""
    stack = Stack(ROOT / "template.yaml", {}, "cold-start", REGION)
    for logical_id, resource in stack.resources.items():  # stand-ins for the resources' Ref and Arn
        if resource.get("Type") in STAND_INS:
            arn = f"arn:aws:{resource['Type'].split('::')[1].lower()}:{REGION}:123456789012:{logical_id}"
            stack.physical[logical_id] = {"Ref": logical_id, "Arn": arn, "QueueName": logical_id}
    base = {**LAMBDA_ENV, "PATH": os.environ["PATH"], "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_url}

    def variables(properties: dict) -> dict[str, str]:
        values = stack.resolve((properties.get("Environment") or {}).get("Variables") or {})
        return {name: str(value) for name, value in values.items()}

    global_function = stack.globals.get("Function") or {}
    envs = {"floor": ("", {**base, **variables(global_function)})}
    for logical_id, resource in stack.resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = merge_globals(global_function, resource.get("Properties") or {})
            env = {
                **base,
                **variables(properties),
                "AWS_LAMBDA_FUNCTION_NAME": stack.function_name(logical_id),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(stack.resolve(properties.get("MemorySize", 128))),
                "LAMBDA_TASK_ROOT": str(build_dir / logical_id),
            }
            envs[logical_id] = (str(properties["Handler"]).rpartition(".")[0], env)
    return envs


def measure(code: str, layer: Path, paths: list[Path], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(interpreter start, init) of one fresh process, in ms."""
    spawned = time.time()
    command = [sys.executable, "-I", "-B", "-c", CHILD, code, str(layer), *map(str, paths)]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the cold start in {cwd} failed:\n{done.stderr[-3000:]}")
    wall, init = map(float, done.stdout.split()[-2:])
    return (wall - spawned) * 1000, init * 1000


def cold_start_figures(
    runs: int = 7, build: bool | None = None, progress: Callable[[str], None] = print, build_dir: Path = BUILD
) -> tuple[list[Row], dict[str, float]]:
    """A row per layer and function, and the floors and interpreter start (ms) of the same run.
    build: True runs `sam build` first, False never, None when the build is missing or stale
    (another build_dir, an earlier build kept for comparison, is never rebuilt)."""
    if build_dir == BUILD and (build or (build is None and build_is_stale())):
        progress("sam build ...")
        sam_build()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SecretsStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        envs = environments(f"http://127.0.0.1:{server.server_address[1]}", build_dir)
        with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
            bare = Path(tmp, "python")
            shutil.copytree(build_dir / LAYER, bare, ignore=shutil.ignore_patterns("__pycache__"))
            items = []  # (layer name, function or floor, code, sys.path, environment, working folder)
            for name, layer in (("as built", build_dir / LAYER), ("no bytecode", bare)):
                items.append((name, "floor", FLOOR_CODE, [layer], envs["floor"][1], ROOT))
                items += [
                    (name, fn, f"import {module}", [build_dir / fn, layer], env, build_dir / fn)
                    for fn, (module, env) in envs.items()
                    if fn != "floor"
                ]
            samples: dict[tuple[str, str], list[float]] = {(name, fn): [] for name, fn, *_ in items}
            starts = []
            for round_ in range(runs + 1):  # rounds interleave the items: drift hits them all alike
                progress(f"cold start: round {round_}/{runs}{' (warm-up)' if not round_ else ''}")
                for name, fn, code, paths, env, cwd in items:
                    start, init = measure(code, paths[-1], paths, env, cwd)
                    if round_:
                        samples[name, fn].append(init)
                        starts.append(start)
    finally:
        server.shutdown()
    median = {key: statistics.median(values) for key, values in samples.items()}
    rows = [Row(name, fn, ms, median[name, "floor"]) for (name, fn), ms in median.items() if fn != "floor"]
    extra = {"floor": median["as built", "floor"], "floor without bytecode": median["no bytecode", "floor"]}
    pyc = sum(1 for _ in (build_dir / LAYER).rglob("*.pyc"))
    return rows, {**extra, "interpreter start": statistics.median(starts), "pyc files": pyc}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="processes per figure (the median is shown)")
    parser.add_argument(
        "--build",
        action=argparse.BooleanOptionalAction,
        help="run `sam build` first (default: only when it is missing or older than the sources)",
    )
    parser.add_argument("--build-dir", type=Path, default=BUILD, help="measure an earlier build instead")
    args = parser.parse_args(argv)
    rows, extra = cold_start_figures(args.runs, args.build, build_dir=args.build_dir.resolve())
    print(
        f"\ncold start: a handler module's import (Lambda's init), median of {args.runs} fresh processes;"
        "\n  floor: import json, urllib3, boto3 + Powertools Logger(), same run, same layer;"
        f" interpreter start ({extra['interpreter start']:.0f} ms) is in neither"
    )
    inits = {(r.layer, r.function): r.init_ms for r in rows}
    header = f"{'function':<18} {'init ms':>8} {'floor ms':>9} {'ratio':>6} {'target':>7}  verdict"
    titles = {"as built": f"the layer as built ({extra['pyc files']:.0f} .pyc)", "no bytecode": "with none"}
    for layer, title in titles.items():
        print(f"  {title}:\n    {header}")
        for row in (r for r in rows if r.layer == layer):
            gain = inits["no bytecode", row.function] / inits["as built", row.function]
            note = f"  (bytecode: {gain:.2f}x faster)" if layer == "as built" and extra["pyc files"] else ""
            print(
                f"    {row.function:<18} {row.init_ms:>8.0f} {row.floor_ms:>9.0f} {row.ratio:>5.2f}x"
                f" {row.target:>6.1f}x  {row.verdict}{note}"
            )


if __name__ == "__main__":
    main()
