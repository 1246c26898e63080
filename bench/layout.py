"""A deployment-like copy of the webhook under build/bench/, for cold starts.

Mirrors what a Lambda container has on sys.path, in Lambda's order:

- ``function/``      the CodeUri (/var/task),
- ``layer/python/``  the shared layer: its requirements plus the atende package (/opt/python),
- ``runtime/``       boto3 as the python3.13 runtime provides it (/var/runtime),

plus ``aws_stub.py`` at the root, off sys.path, which the cold-start child loads by path.
Whatever the layer ships shadows the runtime's copy (boto3/botocore today), as it does in Lambda.

Dependencies are installed for THIS machine (Lambda runs arm64; import cost is what we are
after, not the wheels), from uv's cache only unless downloads are allowed. Everything is
precompiled: Lambda's code directories are read-only, so .pyc files must ship with the code,
and ``unchecked-hash`` is what a build would produce (nothing to stat or hash at import).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from local.template import ROOT

BUILD_DIR = ROOT / "build" / "bench"
LAYER_SOURCE = ROOT / "layers" / "shared"
REQUIREMENTS = LAYER_SOURCE / "requirements.txt"
# The boto3 the python3.13 Lambda runtime ships: what the function sees when the layer has none.
RUNTIME_BOTO3 = "boto3==1.44.5"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


class LayoutError(RuntimeError):
    pass


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def function(self) -> Path:
        return self.root / "function"

    @property
    def layer(self) -> Path:
        return self.root / "layer" / "python"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    @property
    def aws_stub(self) -> Path:
        return self.root / "aws_stub.py"


def build_layout(function_source: Path, *, allow_download: bool = False) -> Layout:
    """Install dependencies when their inputs changed; always refresh our own code."""
    layout = Layout(BUILD_DIR)
    stamp = layout.root / "dependencies.stamp"
    wanted = _dependencies_fingerprint()
    if not stamp.exists() or stamp.read_text() != wanted:
        _install_dependencies(layout, allow_download=allow_download)
        stamp.write_text(wanted)
    _copy_code(layout, function_source)
    return layout


def _dependencies_fingerprint() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(f"{RUNTIME_BOTO3}|{sys.version}|{platform.machine()}".encode())
    return digest.hexdigest()


def _install_dependencies(layout: Layout, *, allow_download: bool) -> None:
    for directory in (layout.layer, layout.runtime):
        shutil.rmtree(directory, ignore_errors=True)
    _uv_install(layout.layer, ["-r", str(REQUIREMENTS)], allow_download=allow_download)
    _uv_install(layout.runtime, [RUNTIME_BOTO3], allow_download=allow_download)
    _compile(layout.layer, layout.runtime)


def _uv_install(target: Path, requirements: list[str], *, allow_download: bool) -> None:
    command = [_uv(), "pip", "install", "--quiet", "--target", str(target), "--python", sys.executable, *requirements]
    if not allow_download:
        command.insert(3, "--offline")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        hint = "" if allow_download else " (offline: uv's cache lacks a wheel; rerun with --allow-download)"
        raise LayoutError(f"uv pip install into {target} failed{hint}:\n{result.stderr[-2000:]}")


def _uv() -> str:
    beside_python = Path(sys.executable).parent / "uv"
    found = str(beside_python) if beside_python.exists() else shutil.which("uv")
    if not found:
        raise LayoutError("uv not found next to the interpreter nor on PATH")
    return found


def _copy_code(layout: Layout, function_source: Path) -> None:
    shutil.rmtree(layout.function, ignore_errors=True)
    shutil.copytree(function_source, layout.function, ignore=_IGNORE)
    package = layout.layer / "atende"
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(LAYER_SOURCE / "atende", package, ignore=_IGNORE)
    # The child loads the stub by path from here: precompiled like the rest, off sys.path.
    shutil.copyfile(Path(__file__).with_name("aws_stub.py"), layout.aws_stub)
    _compile(layout.function, package, layout.aws_stub)


def _compile(*directories: Path) -> None:
    # The same interpreter that will import them: .pyc files are tagged per Python version.
    command = [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", *map(str, directories)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayoutError(f"compileall failed:\n{(result.stdout + result.stderr)[-2000:]}")
