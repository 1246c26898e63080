"""Load a function's handler exactly as Lambda would: its CodeUri + the shared layer on sys.path."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ROOT, load_template

LAYER_PATH = ROOT / "layers" / "shared"


def ensure_layer_on_path() -> None:
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))


def load_function_module(logical_id: str, template: dict[str, Any] | None = None) -> ModuleType:
    """Import the module behind ``Handler`` under a unique name (every function's module is app.py)."""
    ensure_layer_on_path()
    props = (template or load_template())["Resources"][logical_id]["Properties"]
    module_name, _, _ = props["Handler"].rpartition(".")
    path = ROOT / props["CodeUri"] / f"{module_name.replace('.', '/')}.py"
    unique = f"atende_fn_{logical_id}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module


def load_handler(logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
    props = load_template()["Resources"][logical_id]["Properties"]
    module = load_function_module(logical_id)
    return getattr(module, props["Handler"].rpartition(".")[2])


def function_dir(logical_id: str) -> Path:
    return ROOT / load_template()["Resources"][logical_id]["Properties"]["CodeUri"]
