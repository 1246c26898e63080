"""Load a function's handler exactly as Lambda would (its CodeUri + the shared layer on sys.path),
and invoke it as its own Lambda execution environment would run it (``invoke``)."""

from __future__ import annotations

import contextvars
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

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


# --- one invocation's log keys ------------------------------------------------------------------
#
# In Lambda every function has its own process, so the keys a handler appends to the package's one
# Powertools logger (function_name, function_request_id, correlation_id, contact_id, ...) are its
# own. Locally the webhook and the processor share a process and that logger, and Powertools keeps
# appended keys in one dict on its formatter (``log_format``): one handler's keys would leak into
# the other's lines. ``invoke`` gives each invocation its own copy of that dict, in a context of its
# own; outside invocations the formatter behaves exactly as Powertools' own.

_INVOCATION_KEYS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("local_invocation_log_keys", default=None)


def invoke[R](handler: Callable[[dict[str, Any], Any], R], event: dict[str, Any], context: Any) -> R:
    """Call ``handler`` as one Lambda invocation: the log keys it appends are seen by its lines only."""
    formatter = _per_invocation_formatter()

    def run() -> R:
        # Start from the process's keys (service, and whatever was appended outside invocations),
        # as a fresh execution environment starts from the module-level logger.
        _INVOCATION_KEYS.set(dict(formatter.__dict__["log_format"]))
        try:
            return handler(event, context)
        finally:
            if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
                # Disabled, Powertools never flushes its buffer, and at 100 values it prints the
                # whole EMF blob anyway: the quiet local console would fill with metrics.
                from atende.observability import metrics

                metrics.clear_metrics()

    return contextvars.copy_context().run(run)


class PerInvocationKeys(LambdaPowertoolsFormatter):
    """Powertools' formatter whose appended keys live in the current invocation's context."""

    @property
    def log_format(self) -> dict[str, Any]:
        keys = _INVOCATION_KEYS.get()
        return self.__dict__["log_format"] if keys is None else keys

    @log_format.setter
    def log_format(self, value: dict[str, Any]) -> None:  # clear_state (structure_logs) assigns a new dict
        if _INVOCATION_KEYS.get() is None:
            self.__dict__["log_format"] = value
        else:
            _INVOCATION_KEYS.set(value)


def _per_invocation_formatter() -> PerInvocationKeys:
    ensure_layer_on_path()
    from atende.observability import logger

    formatter = logger.registered_formatter
    if type(formatter) is LambdaPowertoolsFormatter:
        formatter.__class__ = PerInvocationKeys  # same object and state: handlers and tests keep their references
    elif not isinstance(formatter, PerInvocationKeys):
        raise TypeError(f"the package logger's formatter is {type(formatter).__name__}; invoke expects Powertools' own")
    return formatter
