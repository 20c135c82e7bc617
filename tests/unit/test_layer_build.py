"""The layer's build ships bytecode Lambda's Python 3.11 uses as it is: every module of erasure/ gets
an unchecked-hash .pyc under the cpython-311 tag, made anew from the sources. Runs the layer
Makefile's own code-and-bytecode step (the dependencies' pip install is left to `sam build`)."""

import importlib.util
import marshal
import py_compile
import shutil
import subprocess
import sys

from tests.helpers import ROOT

LAYER = ROOT / "layers" / "connectors"
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def test_every_module_of_the_layer_gets_unchecked_hash_bytecode(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(LAYER / "erasure", source / "erasure", ignore=shutil.ignore_patterns("__pycache__"))
    # What a local test run leaves in the sources: timestamp-based bytecode, never to be shipped.
    stale = py_compile.compile(
        str(source / "erasure" / "request.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP
    )
    assert stale.endswith("request.cpython-311.pyc")
    shutil.copy(stale, source / "erasure" / "__pycache__" / "gone.cpython-311.pyc")  # a module deleted since
    out = tmp_path / "artifacts"
    variables = [f"ARTIFACTS_DIR={out}", f"SOURCE={source}", f"PYTHON={sys.executable}"]
    make = ["make", "--makefile", str(LAYER / "Makefile"), "code-ConnectorsLayer", *variables]
    subprocess.run(make, check=True, capture_output=True)
    built = out / "python"
    sources = sorted(p.relative_to(LAYER) for p in (LAYER / "erasure").rglob("*.py"))
    assert sorted(p.relative_to(built) for p in (built / "erasure").rglob("*.py")) == sources
    for relative in sources:
        py = built / relative
        pyc = py.parent / "__pycache__" / f"{py.stem}.cpython-311.pyc"
        data = pyc.read_bytes()
        assert data[:4] == importlib.util.MAGIC_NUMBER, pyc
        assert int.from_bytes(data[4:8], "little") == UNCHECKED_HASH, pyc
        assert data[8:16] == importlib.util.source_hash(py.read_bytes()), pyc
        assert marshal.loads(data[16:]).co_filename == f"/opt/python/{relative.as_posix()}"
    assert len(list(built.rglob("*.pyc"))) == len(sources)  # nothing else, no stale or orphan .pyc

    # Python takes them as they are, never reading the source: a source changed after the build
    # (or one whose zip mtime moved) is not seen.
    (built / "erasure" / "request.py").write_text("raise ImportError('the source was compiled again')\n")
    code = "import sys; sys.path.insert(0, sys.argv[1]); import erasure.outcomes"
    subprocess.run([sys.executable, "-I", "-B", "-c", code, str(built)], check=True, cwd=tmp_path)
