"""The deployment the webhook benchmarks pretend to run in: environment, secrets, events.

Built from the real sources wherever possible (template.yaml for the environment, the Meta
fixture for payloads) so the benchmark follows the code when they change instead of drifting
from it. The webhook reads no DynamoDB, so there is no table item to fake: a GetItem would
reach no stub and fail the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atende.channels.meta import sign_meta_body
from local.events import http_api_event
from local.provision import ACCOUNT_ID, Created, Stack
from local.seed import DEMO
from local.template import ROOT, load_template

REGION = "us-east-1"
STAGE = "dev"
QUEUE_NAME = f"atende-{STAGE}-inboundqueue.fifo"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{QUEUE_NAME}"
META_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:atende/{STAGE}/meta-AbCdEf"
PSEUDONYM_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:atende/{STAGE}/pseudonym-AbCdEf"
PSEUDONYM_KEY = "bench-pseudonym-key-not-a-secret-0123456789abcdef0123456789abcdef"
FIXTURE = ROOT / "tests" / "fixtures" / "meta" / "text.json"

# What the Lambda runtime adds to a function's own variables, minus anything real: fake
# credentials, and config-file paths that do not exist (a Lambda container has none).
RUNTIME_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "ASIABENCHFAKEACCESSKEY",
    "AWS_SECRET_ACCESS_KEY": "bench-fake-secret-access-key",
    "AWS_SESSION_TOKEN": "bench-fake-session-token",
    "AWS_CONFIG_FILE": str(ROOT / "build" / "bench" / "no-such-aws-config"),
    "AWS_SHARED_CREDENTIALS_FILE": str(ROOT / "build" / "bench" / "no-such-aws-credentials"),
    "AWS_EC2_METADATA_DISABLED": "true",
}


def webhook_environment() -> dict[str, str]:
    """WebhookFunction's variables exactly as template.yaml resolves them, plus the runtime's."""
    fakes = {
        "InboundQueue": Created(
            "AWS::SQS::Queue", QUEUE_URL, {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{QUEUE_NAME}", "QueueName": QUEUE_NAME}
        ),
        "MetaSecret": Created("AWS::SecretsManager::Secret", META_SECRET_ARN),
        "PseudonymSecret": Created("AWS::SecretsManager::Secret", PSEUDONYM_SECRET_ARN),
        # Only the relay routes use it; named so the environment resolves like in AWS.
        "IdempotencyTable": Created("AWS::DynamoDB::Table", f"atende-{STAGE}-idempotency"),
    }
    stack = Stack(load_template(), STAGE, REGION, fakes, {})
    memory = stack.function("WebhookFunction").get("MemorySize", 128)
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": f"atende-{STAGE}-WebhookFunction", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory)}
    return {**stack.function_environment("WebhookFunction"), **RUNTIME_ENV, **lambda_env}


def apply_environment(env: Mapping[str, str]) -> None:
    """Make this process look like the function's container (no endpoint overrides, no profile)."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE":
            del os.environ[name]
    os.environ.update(env)


def webhook_secrets() -> dict[str, str]:
    meta = {"app_secret": DEMO.app_secret, "verify_token": DEMO.verify_token}
    return {META_SECRET_ARN: json.dumps(meta), PSEUDONYM_SECRET_ARN: json.dumps({"key": PSEUDONYM_KEY})}


def webhook_scenario() -> dict[str, Any]:
    """What CannedAws.from_scenario needs (JSON-safe, so the cold-start child can read it)."""
    return {"secrets": webhook_secrets()}


@dataclass(frozen=True)
class MetaText:
    """Meta's text-message fixture as raw bytes, with its ids swappable.

    Swaps are textual on purpose: Meta signs its own escaped-ASCII serialisation, and
    re-serialising would produce bytes no real delivery has.
    """

    raw: bytes
    message_id: str
    wa_id: str
    user_id: str
    timestamp: str
    body: str

    @classmethod
    def load(cls) -> MetaText:
        raw = FIXTURE.read_bytes().rstrip(b"\n")
        value = json.loads(raw)["entry"][0]["changes"][0]["value"]
        message = value["messages"][0]
        return cls(raw, message["id"], message["from"], value["contacts"][0]["user_id"], message["timestamp"], message["text"]["body"])

    def variant(
        self,
        *,
        message_id: str,
        wa_id: str | None = None,
        user_id: str | None = None,
        timestamp: int | None = None,
        body: str | None = None,
    ) -> bytes:
        swaps = {self.message_id: message_id, self.wa_id: wa_id, self.user_id: user_id, self.timestamp: timestamp, self.body: body}
        raw = self.raw
        for old, new in swaps.items():
            if new is not None:
                quoted = _quoted(old)
                if quoted not in raw:
                    raise ValueError(f"the fixture has no JSON string {old!r} to swap")
                raw = raw.replace(quoted, _quoted(str(new)))
        return raw


def _quoted(value: str) -> bytes:
    # Whole JSON string values only, so a number never matches inside a longer id; escaped the
    # way Meta escapes (ASCII, \uXXXX), so the fixture's own text body matches too.
    return json.dumps(value).encode()


def message_id(n: int) -> str:
    return f"wamid.BENCH{n:012d}"


def signed_event(raw: bytes, secret: str = DEMO.app_secret) -> dict[str, Any]:
    """The HTTP API (payload v2) event Lambda receives for one Meta delivery."""
    headers = {"content-type": "application/json", "x-hub-signature-256": sign_meta_body(raw, secret)}
    return http_api_event("POST", "/webhooks/meta", body=raw, headers=headers)
