"""One cold start in a fresh interpreter: what a new Lambda container does before its first answer.

Started by bench.coldstart as ``python -I -S -B coldstart_child.py MODE LAYOUT SCENARIO HANDLER``
(no site-packages, no PYTHON* variables, no bytecode writes), so only the deployment layout is
importable. SCENARIO is a JSON file: the event plus the canned AWS answers (bench.aws_stub).
Prints one line, MARKER + JSON, after whatever the handler itself logs to stdout.

MODE ``floor``: import boto3 and create one SQS client (the least any AWS webhook does).
MODE ``handler``: import the function's module and serve one signed Meta event.
"""

import time

STARTED = time.perf_counter()  # before anything else this script imports

import importlib  # noqa: E402 - after the clock on purpose
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from types import ModuleType  # noqa: E402

MARKER = "BENCH-RESULT "


class LambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    aws_request_id = "00000000-0000-4000-8000-00000000c01d"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _since_start_ms() -> float:
    return (time.perf_counter() - STARTED) * 1000


def floor() -> dict[str, object]:
    import boto3

    boto3.session.Session(region_name=os.environ["AWS_REGION"]).client("sqs")
    return {"elapsed_ms": _since_start_ms()}


def handler(layout: str, scenario_path: str, handler_name: str) -> dict[str, object]:
    module_name, _, function_name = handler_name.rpartition(".")
    module = importlib.import_module(module_name)  # what Lambda's bootstrap does with Handler
    imported_ms = _since_start_ms()

    with open(scenario_path, "rb") as file:
        scenario = json.load(file)
    canned = _load_stub(layout).CannedAws.from_scenario(scenario)
    from atende.store import aws

    canned.install(aws.session().events)  # the handler's own session; its clients do not exist yet
    response = getattr(module, function_name)(scenario["event"], LambdaContext())
    elapsed_ms = _since_start_ms()
    if response.get("statusCode") != 200:
        raise SystemExit(f"handler answered {response.get('statusCode')}: {response.get('body')}")
    return {"elapsed_ms": elapsed_ms, "import_ms": imported_ms, "first_event_ms": elapsed_ms - imported_ms, "aws_calls": dict(canned.calls)}


def _load_stub(layout: str) -> ModuleType:
    # By path, from the layout's root (precompiled there, but outside sys.path like bench/ itself).
    spec = importlib.util.spec_from_file_location("bench_aws_stub", os.path.join(layout, "aws_stub.py"))
    if spec is None or spec.loader is None:
        raise SystemExit("cannot load aws_stub.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    mode, layout, scenario, handler_name = sys.argv[1:5]
    # Lambda's order: the function's code, then the layer, then the runtime's own packages.
    sys.path[:0] = [os.path.join(layout, "function"), os.path.join(layout, "layer", "python"), os.path.join(layout, "runtime")]
    result = floor() if mode == "floor" else handler(layout, scenario, handler_name)
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    # A Lambda container lives on after its first answer: interpreter finalisation (tearing down
    # every imported module) is no part of a cold start, and it grows with what was imported.
    os._exit(0)


if __name__ == "__main__":
    main()
