"""Create the template's stateful resources (DynamoDB, SQS, S3, Secrets Manager) with boto3.

Used by the local stack (against moto server on 127.0.0.1) and by the integration tests
(under ``moto.mock_aws``), so neither can drift from template.yaml.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.template import Resolver, Unresolved, load_template

ACCOUNT_ID = "123456789012"  # moto's default account
EMULATED = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::SecretsManager::Secret")


@dataclass
class Created:
    type: str
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    template: dict[str, Any]
    stage: str
    region: str
    resources: dict[str, Created]
    parameters: dict[str, str]

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment a function gets in AWS: Globals + its own variables, resolved."""
        resolver = self._resolver()
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        own = self.template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        env = resolver.resolve({**globals_env, **own})
        return {k: str(v) for k, v in env.items()}

    def function(self, logical_id: str) -> dict[str, Any]:
        return self.template["Resources"][logical_id]["Properties"]

    def _resolver(self) -> Resolver:
        def ref(name: str) -> str:
            if name not in self.resources:
                raise Unresolved(name)
            return self.resources[name].ref

        def get_att(name: str, attr: str) -> str:
            if name not in self.resources or attr not in self.resources[name].attrs:
                raise Unresolved(f"{name}.{attr}")
            return self.resources[name].attrs[attr]

        return Resolver(self.template, {"Stage": self.stage, **self.parameters}, _pseudo(self.region), ref, get_att)


def _pseudo(region: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "atende-local",
    }


def provision(*, stage: str = "dev", region: str = "us-east-1", parameters: dict[str, str] | None = None, session: Any = None) -> Stack:
    """Create every emulated resource of template.yaml; returns their physical ids."""
    template = load_template()
    session = session or boto3.session.Session(region_name=region)
    stack = Stack(template, stage, region, {}, dict(parameters or {}))
    pending = {k: v for k, v in template["Resources"].items() if v["Type"] in EMULATED}
    while pending:
        progressed = False
        for logical_id, spec in list(pending.items()):
            try:
                props = stack._resolver().resolve(spec.get("Properties", {}))
            except Unresolved:
                continue  # depends on a resource created later in this loop
            name = f"atende-{stage}-{logical_id.lower()}"
            stack.resources[logical_id] = _CREATORS[spec["Type"]](session, name, props, region)
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise RuntimeError(f"unresolvable dependencies among {sorted(pending)}")
    return stack


def _table(session: Any, name: str, props: dict[str, Any], region: str) -> Created:
    ddb = session.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("SSESpecification"):
        kwargs["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
    if "DeletionProtectionEnabled" in props:
        kwargs["DeletionProtectionEnabled"] = bool(props["DeletionProtectionEnabled"])
    description = ddb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
    pitr = props.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return Created("AWS::DynamoDB::Table", name, {"Arn": description["TableArn"]})


_QUEUE_ATTRIBUTES = (
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "SqsManagedSseEnabled",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
)


def _queue(session: Any, name: str, props: dict[str, Any], region: str) -> Created:
    sqs = session.client("sqs")
    if props.get("FifoQueue"):
        name += ".fifo"
    attributes = {k: _attr(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Created("AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _attr(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _bucket(session: Any, name: str, props: dict[str, Any], region: str) -> Created:
    s3 = session.client("s3")
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if "BucketEncryption" in props:
        rules = [
            {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"], "BucketKeyEnabled": bool(r.get("BucketKeyEnabled"))}
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    if rules:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in rules]})
    return Created("AWS::S3::Bucket", name, {"Arn": f"arn:aws:s3:::{name}"})


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
    if tags and "Prefix" in rule:
        out["Filter"] = {"And": {"Prefix": rule["Prefix"], "Tags": tags}}
    elif len(tags) == 1:
        out["Filter"] = {"Tag": tags[0]}
    elif tags:
        out["Filter"] = {"And": {"Tags": tags}}
    else:
        out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return out


def _secret(session: Any, name: str, props: dict[str, Any], region: str) -> Created:
    sm = session.client("secretsmanager")
    secret_name = props.get("Name", name)
    if "SecretString" in props:
        value = props["SecretString"]
    else:
        generate = props.get("GenerateSecretString", {})
        alphabet = string.ascii_letters + string.digits
        generated = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
        doc = json.loads(generate.get("SecretStringTemplate", "{}"))
        doc[generate.get("GenerateStringKey", "password")] = generated
        value = json.dumps(doc)
    arn = sm.create_secret(Name=secret_name, SecretString=value)["ARN"]
    return Created("AWS::SecretsManager::Secret", arn, {"Id": arn, "Name": secret_name})


_CREATORS = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::S3::Bucket": _bucket,
    "AWS::SecretsManager::Secret": _secret,
}
