"""``make eval``: run the task set k times against the real OpenAI model and report pass^k.

    PYTHONPATH=layers/shared:. .venv/bin/python -m eval.run [--k 4] [--tasks a,b] [--model gpt-4.1-mini]
        [--user-model gpt-4.1-mini] [--out eval/results/<date>.json]

Needs ``OPENAI_API_KEY`` (the assistant and the simulated customer are both OpenAI models);
without it, one line says so and roughly what a run would cost, and nothing else happens. Writes
the JSON report (every trial's conversation, final state, failures, tokens and cost) and prints a
short table. Exit status: 0 when every trial ran (whatever it scored), 1 when OpenAI refused the
key or a trial could not run, 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atende.llm import ToolCallingModel
    from eval.harness import Customer, Trial
    from eval.tasks import Task

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "eval" / "results"
DEFAULT_MODEL = "gpt-4.1-mini"
# What one trial roughly uses (5 customer messages, ~2 model steps each with the tenant's tools in
# the prompt; the customer re-reads the whole conversation each message): for the no-key estimate.
ESTIMATE_ASSISTANT_TOKENS = (30_000, 1_000)  # (input, output)
ESTIMATE_CUSTOMER_TOKENS = (6_000, 300)


def _say(text: str, *, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


def _importable() -> None:
    """``python -m eval.run`` from the repository root without PYTHONPATH: find the layer."""
    for path in (ROOT / "layers" / "shared", ROOT):
        if str(path) not in sys.path:
            sys.path.append(str(path))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m eval.run",
        description=(
            "Atende's pt-BR customer-service eval: a simulated customer (an LLM) talks to the real reply pipeline "
            "with the real OpenAI assistant; each trial is scored on the final state and on what the assistant said; "
            "pass^k as in τ-bench. Needs OPENAI_API_KEY and costs money (see eval/README.md)."
        ),
    )
    parser.add_argument("--k", type=int, default=4, help="trials per task (pass^1..pass^k are reported); default 4")
    parser.add_argument("--tasks", default=None, help="comma-separated task ids or businesses (pet, optical, solar); default: all")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"the assistant's OpenAI model; default {DEFAULT_MODEL}")
    parser.add_argument("--user-model", default=DEFAULT_MODEL, help=f"the simulated customer's OpenAI model; default {DEFAULT_MODEL}")
    parser.add_argument("--out", default=None, help="where to write the JSON report; default eval/results/<date>.json")
    parser.add_argument("--list", action="store_true", help="list the tasks and exit")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be at least 1")
    return args


def _brl(value: Decimal) -> str:
    return "R$ " + f"{value:,.2f}".translate(str.maketrans(",.", ".,"))


def _cost(model: str, input_tokens: int, cached: int, output_tokens: int) -> Decimal | None:
    from atende.domain.pricing import PriceTable, Usage

    cost = PriceTable.shipped().cost("openai", model, Usage(input_tokens, cached, output_tokens), datetime.now(UTC).date())
    return cost.brl if cost.price is not None and cost.usd_brl is not None else None


def estimate_brl(trials: int, model: str, user_model: str) -> Decimal | None:
    """A rough cost of ``trials`` trials (None when a model has no price in the shipped table)."""
    assistant = _cost(model, ESTIMATE_ASSISTANT_TOKENS[0], 0, ESTIMATE_ASSISTANT_TOKENS[1])
    customer = _cost(user_model, ESTIMATE_CUSTOMER_TOKENS[0], 0, ESTIMATE_CUSTOMER_TOKENS[1])
    if assistant is None or customer is None:
        return None
    return (assistant + customer) * trials


def no_key_line(tasks: int, k: int, model: str, user_model: str) -> str:
    trials = tasks * k
    estimate = estimate_brl(trials, model, user_model)
    cost = f"roughly {_brl(estimate)}" if estimate is not None else "an unknown amount (no price for these models in llm_prices.json)"
    return (
        f"make eval needs OPENAI_API_KEY: {tasks} tasks × k={k} = {trials} trials with {model} "
        f"(customer simulated by {user_model}) would cost {cost}; nothing was run."
    )


# --- running ---------------------------------------------------------------------------------------


def run_eval(
    tasks: Sequence[Task],
    k: int,
    *,
    assistant: Callable[[], ToolCallingModel],
    customer: Callable[[Task, str], Customer],
    progress: Callable[[str], None] = lambda line: None,
    start: float | None = None,
    into: list[Trial] | None = None,
) -> list[Trial]:
    """k trials of each task, one after the other (each in a world of its own), appended to
    ``into`` as they end (so an interrupted run still has the trials that finished)."""
    from eval.harness import run_trial

    trials: list[Trial] = [] if into is None else into
    total = len(tasks) * k
    for task in tasks:
        for n in range(1, k + 1):
            trial = run_trial(task, assistant=assistant(), customer=partial(customer, task), trial=n, start=start)
            trials.append(trial)
            verdict = "ok" if trial.success else "FAIL " + "; ".join(trial.score.failures)
            progress(f"[{len(trials)}/{total}] {task.task_id} #{n}: {verdict}")
    return trials


def build_report(tasks: Sequence[Task], trials: Sequence[Trial], *, k: int, model: str, user_model: str) -> dict[str, Any]:
    from eval.harness import AssistantUsage
    from eval.scoring import pass_hat, pass_hat_k

    per_task: dict[str, tuple[int, int]] = {}
    rows: list[dict[str, Any]] = []
    for task in tasks:
        runs = [t for t in trials if t.task_id == task.task_id]
        if not runs:
            continue
        n, c = len(runs), sum(t.success for t in runs)
        per_task[task.task_id] = (n, c)
        rows.append(
            {
                "task_id": task.task_id,
                "business": task.business.key,
                "summary": task.summary,
                "trials": n,
                "successes": c,
                "pass_hat": {str(j): round(pass_hat_k(n, c, j), 4) for j in range(1, min(k, n) + 1)},
                "runs": [t.to_json() for t in runs],
            }
        )
    assistant = AssistantUsage()
    for trial in trials:
        assistant = assistant.plus(trial.assistant)
    customer_in = sum(t.customer.input_tokens for t in trials)
    customer_cached = sum(t.customer.cached_input_tokens for t in trials)
    customer_out = sum(t.customer.output_tokens for t in trials)
    customer_brl = _cost(user_model, customer_in, customer_cached, customer_out) if trials else Decimal(0)
    complete = all(n >= k for n, _ in per_task.values())
    return {
        "eval": "atende-ptbr-customer-service",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "user_model": user_model,
        "k": k,
        "tasks_run": len(rows),
        "trials": len(trials),
        "successes": sum(t.success for t in trials),
        "errors": sum(1 for t in trials if t.error),
        "pass_hat": {str(j): round(v, 4) for j, v in pass_hat(per_task, k).items()} if complete else {},
        "usage": {
            "assistant": {
                "input_tokens": assistant.input_tokens,
                "cached_input_tokens": assistant.cached_input_tokens,
                "output_tokens": assistant.output_tokens,
                "calls": assistant.calls,
                "cost_brl": str(assistant.cost_brl),
            },
            "customer": {
                "input_tokens": customer_in,
                "cached_input_tokens": customer_cached,
                "output_tokens": customer_out,
                "calls": sum(t.customer.calls for t in trials),
                "cost_brl": str(customer_brl) if customer_brl is not None else None,
            },
            "total_cost_brl": str(assistant.cost_brl + (customer_brl or 0)),
        },
        "tasks": rows,
    }


def table(report: dict[str, Any]) -> str:
    k = int(report["k"])
    width = max([len("task"), *(len(r["task_id"]) for r in report["tasks"])]) + 2
    head = "task".ljust(width) + "ok/n".rjust(6) + "".join(f"pass^{j}".rjust(9) for j in range(1, k + 1))
    lines = [head, "-" * len(head)]
    for row in report["tasks"]:
        cells = "".join(f"{row['pass_hat'].get(str(j), float('nan')):9.2f}" for j in range(1, k + 1))
        lines.append(row["task_id"].ljust(width) + f"{row['successes']}/{row['trials']}".rjust(6) + cells)
    if report["pass_hat"]:
        mean = "".join(f"{report['pass_hat'][str(j)]:9.2f}" for j in range(1, k + 1))
        lines.append(f"mean of {report['tasks_run']} tasks".ljust(width) + "".rjust(6) + mean)
    usage = report["usage"]
    a, c = usage["assistant"], usage["customer"]
    customer_cost = _brl(Decimal(c["cost_brl"])) if c["cost_brl"] is not None else "cost unknown"
    lines.append(
        f"assistant {report['model']}: {a['input_tokens']:,} tokens in ({a['cached_input_tokens']:,} cached), "
        f"{a['output_tokens']:,} out, {a['calls']} calls, {_brl(Decimal(a['cost_brl']))}"
    )
    lines.append(f"customer {report['user_model']}: {c['input_tokens']:,} tokens in, {c['output_tokens']:,} out, {customer_cost}")
    if report["errors"]:
        lines.append(f"{report['errors']} trial(s) ended in an error (counted as failures): see the JSON")
    return "\n".join(lines)


def _write(report: dict[str, Any], out: Path) -> None:
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    _importable()
    from eval.tasks import select

    try:
        tasks = select(args.tasks)
    except ValueError as exc:
        _say(f"eval: {exc}", err=True)
        return 2
    if args.list:
        for task in tasks:
            _say(f"{task.task_id:30} {task.summary}")
        return 0
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        _say(no_key_line(len(tasks), args.k, args.model, args.user_model))
        return 0
    return _run(tasks, args, key)


def _run(tasks: Sequence[Task], args: argparse.Namespace, key: str) -> int:
    import logging

    from atende.errors import LlmAuthError
    from atende.llm import LlmOptions
    from atende.llm.openai import OpenAIChatModel, openai_client
    from atende.observability import logger
    from eval.harness import LlmCustomer

    logger.setLevel(logging.CRITICAL)  # the pipeline's JSON logs are not the report
    options = LlmOptions(timeout_seconds=60.0, max_retries=3)
    assistant = OpenAIChatModel(key, args.model, options)
    client = openai_client(key, options)
    out = Path(args.out) if args.out else RESULTS / f"{date.today().isoformat()}.json"
    started = time.perf_counter()
    trials: list[Trial] = []
    interrupted = False
    try:
        run_eval(
            tasks,
            args.k,
            assistant=lambda: assistant,
            customer=lambda task, text: LlmCustomer(client, args.user_model, task.business.tenant.name, text),
            progress=lambda line: _say(line, err=True),
            into=trials,
        )
    except LlmAuthError as exc:
        _say(f"eval: OpenAI refused the key ({exc}); nothing written.", err=True)
        return 1
    except KeyboardInterrupt:
        interrupted = True  # report the trials that finished (pass^k only where a task has k of them)
    report = build_report(tasks, trials, k=args.k, model=args.model, user_model=args.user_model)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["interrupted"] = interrupted
    _write(report, out)
    _say(table(report))
    _say(f"report: {out}" + (" (interrupted: partial)" if interrupted else ""))
    return 1 if report["errors"] or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
