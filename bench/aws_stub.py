"""Canned AWS answers for the webhook, served at botocore's ``before-send`` hook.

Everything on the client side still runs (parameter validation, serialisation, endpoint
resolution, SigV4 signing, response parsing); only the HTTP exchange is replaced, so the
benchmarks cost what the real code costs minus the network, and open no connection.

Stdlib + botocore only: the cold-start child loads this file by path into an interpreter whose
sys.path holds nothing but the deployment layout.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.awsrequest import AWSResponse

# Secrets Manager, DynamoDB and SQS all speak the AWS JSON protocol in this botocore.
_HEADERS = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "00000000-0000-4000-8000-000000000000"}


class _Body:
    """The one method AWSResponse reads a non-streaming body through."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(request: Any, doc: Mapping[str, Any], status: int = 200) -> AWSResponse:
    return AWSResponse(request.url, status, _HEADERS, _Body(json.dumps(doc).encode()))


class CannedAws:
    """GetSecretValue, BatchGetSecretValue and SendMessageBatch answered from memory; every call counted.

    ``secrets`` maps SecretId to SecretString; unknown secrets get the answer AWS would give.
    Any other call is not stubbed and fails (no network), so a new AWS call on the webhook's
    path shows up as a broken benchmark rather than as a silently cheaper one.
    """

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self.secrets = dict(secrets)
        self.calls: Counter[str] = Counter()
        self._sequence = itertools.count(1)

    @classmethod
    def from_scenario(cls, scenario: Mapping[str, Any]) -> CannedAws:
        return cls(scenario["secrets"])

    def install(self, events: Any) -> None:
        """Register on a boto3/botocore session's events, before its clients are created.

        Clients copy the session's handlers when they are created, so a hook added later would
        not reach an existing client.
        """
        events.register("before-send.secrets-manager.GetSecretValue", self._get_secret_value)
        events.register("before-send.secrets-manager.BatchGetSecretValue", self._batch_get_secret_value)
        events.register("before-send.sqs.SendMessageBatch", self._send_message_batch)

    def _get_secret_value(self, request: Any, **_: Any) -> AWSResponse:
        self.calls["secretsmanager.GetSecretValue"] += 1
        secret_id = json.loads(request.body)["SecretId"]
        if secret_id not in self.secrets:
            error = {"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."}
            return _response(request, error, 400)
        doc = {
            "ARN": secret_id,
            "Name": secret_id,
            "SecretString": self.secrets[secret_id],
            "VersionId": "bench",
            "VersionStages": ["AWSCURRENT"],
        }
        return _response(request, doc)

    def _batch_get_secret_value(self, request: Any, **_: Any) -> AWSResponse:
        self.calls["secretsmanager.BatchGetSecretValue"] += 1
        values, errors = [], []
        for secret_id in json.loads(request.body)["SecretIdList"]:
            if secret_id in self.secrets:
                values.append({"ARN": secret_id, "Name": secret_id, "SecretString": self.secrets[secret_id], "VersionId": "bench"})
            else:
                errors.append({"SecretId": secret_id, "ErrorCode": "ResourceNotFoundException", "Message": "not found"})
        return _response(request, {"SecretValues": values, "Errors": errors})

    def _send_message_batch(self, request: Any, **_: Any) -> AWSResponse:
        self.calls["sqs.SendMessageBatch"] += 1
        entries = json.loads(request.body)["Entries"]
        return _response(request, {"Successful": [self._accepted(entry) for entry in entries], "Failed": []})

    def _accepted(self, entry: Mapping[str, Any]) -> dict[str, str]:
        number = next(self._sequence)
        return {
            "Id": entry["Id"],
            "MessageId": f"00000000-0000-4000-8000-{number:012d}",
            "MD5OfMessageBody": hashlib.md5(entry["MessageBody"].encode()).hexdigest(),  # SQS's own checksum, not security
            "SequenceNumber": str(number),
        }
