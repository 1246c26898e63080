"""template.yaml: cfn-lint clean, and the properties the design depends on are really there."""

from __future__ import annotations

import pytest

from local.functions import load_function_module
from local.template import TEMPLATE_PATH, load_template


@pytest.fixture(scope="module")
def template():
    return load_template()


def resources(template, kind):
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_reports_no_error_or_warning():
    from cfnlint.api import lint_all

    matches = lint_all(TEMPLATE_PATH.read_text())
    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []  # I-rules are informational


def test_functions_are_python313_on_arm64_with_the_shared_layer(template):
    fn_globals = template["Globals"]["Function"]
    assert (fn_globals["Runtime"], fn_globals["Architectures"]) == ("python3.13", ["arm64"])
    layer = template["Resources"]["SharedLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert fn_globals["Environment"]["Variables"]["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def test_webhook_routes_are_get_and_post_on_the_http_api(template):
    events = template["Resources"]["WebhookFunction"]["Properties"]["Events"]
    assert sorted((e["Type"], e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()) == [
        ("HttpApi", "GET", "/webhooks/meta"),
        ("HttpApi", "POST", "/webhooks/evolution"),
        ("HttpApi", "POST", "/webhooks/evolution/{event}"),
        ("HttpApi", "POST", "/webhooks/meta"),
        ("HttpApi", "POST", "/webhooks/whaticket"),
        ("HttpApi", "POST", "/webhooks/whaticket/{connection}"),
        ("HttpApi", "POST", "/webhooks/whaticket/{connection}/{token}"),
    ]


def test_every_template_route_reaches_the_handler_and_no_other_path_does(template, monkeypatch):
    """The handler's own router and the API's routes agree (a route it cannot serve would 404)."""
    from local.functions import load_function_module

    app = load_function_module("WebhookFunction")
    app._ingresses.cache_clear()
    monkeypatch.delenv("INBOUND_QUEUE_URL", raising=False)  # building an ingress fails: proof the router got there
    routed = []
    for e in template["Resources"]["WebhookFunction"]["Properties"]["Events"].values():
        path = e["Properties"]["Path"].replace("{event}", "messages-upsert").replace("{connection}", "loja").replace("{token}", "t" * 32)
        try:
            app._route({"requestContext": {"http": {"method": e["Properties"]["Method"]}}, "rawPath": path, "headers": {}, "body": ""})
        except Exception as exc:  # no AWS here: reaching an ingress means the path was routed
            routed.append(type(exc).__name__)
        else:
            routed.append("answered")
    assert "answered" not in routed  # every template path went past the router into an ingress
    assert app._route({"requestContext": {"http": {"method": "POST"}}, "rawPath": "/webhooks/telegram"}).status == 404
    app._ingresses.cache_clear()


def test_inbound_queue_is_high_throughput_fifo_with_a_fifo_dlq(template):
    queue = template["Resources"]["InboundQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert (queue["DeduplicationScope"], queue["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}
    assert template["Resources"]["InboundDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    processor = template["Resources"]["ProcessorFunction"]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * processor["Timeout"]
    assert processor["Environment"]["Variables"]["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}


def test_processor_reports_batch_item_failures(template):
    [event] = template["Resources"]["ProcessorFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The processor knows a full batch when it sees one: its last record may cut a burst short
    variables = template["Resources"]["ProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert int(variables["BATCH_SIZE"]) == event["Properties"]["BatchSize"]


def test_tables_are_on_demand_with_ttl_pitr_and_encryption(template):
    tables = resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"AtendeTable", "IdempotencyTable"}
    for props in tables.values():
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["TimeToLiveSpecification"]["Enabled"] is True
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}


def test_media_bucket_is_private_encrypted_and_expires_objects(template):
    bucket = template["Resources"]["MediaBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all("ExpirationInDays" in r or "AbortIncompleteMultipartUpload" in r for r in bucket["LifecycleConfiguration"]["Rules"])


def test_no_secret_value_is_in_plain_environment_variables(template):
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for fn in ("WebhookFunction", "ProcessorFunction"):
        env.update(template["Resources"][fn]["Properties"]["Environment"]["Variables"])
    secret_like = {k for k in env if any(w in k for w in ("TOKEN", "SECRET", "KEY", "PASSWORD"))}
    assert secret_like == {  # ids and name prefixes, not values
        "META_SECRET_ID",
        "META_TOKEN_SECRET_ID",
        "PSEUDONYM_SECRET_ID",
        "LLM_SECRET_ID",
        "CHANNEL_AUTH_SECRET_PREFIX",
    }
    assert all(isinstance(env[k], dict) and ("Ref" in env[k] or "Fn::Sub" in env[k]) for k in secret_like)


def test_webhook_policy_is_least_privilege(template):
    [policy] = template["Resources"]["WebhookFunction"]["Properties"]["Policies"]
    actions = sorted(a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == [
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "secretsmanager:BatchGetSecretValue",
        "secretsmanager:GetSecretValue",
        "sqs:SendMessage",
    ]
    [table_access] = [s for s in policy["Statement"] if "dynamodb:PutItem" in s["Action"]]
    # Only the replay memory of signed relays: no tenant data, no claims.
    assert table_access["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    assert table_access["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["replay#*"]}}
    [secrets] = [s for s in policy["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"]
    channel_grants = [r for r in secrets["Resource"] if isinstance(r, dict) and "Fn::Sub" in r]
    assert [g["Fn::Sub"].rsplit(":", 1)[1] for g in channel_grants] == ["atende/${Stage}/webhook-auth/*"]


def test_only_the_processor_can_read_the_graph_access_token(template):
    def readable(fn):
        [policy] = template["Resources"][fn]["Properties"]["Policies"]
        return [r for st in policy["Statement"] if st["Action"] == "secretsmanager:GetSecretValue" for r in st["Resource"]]

    assert {"Ref": "MetaTokenSecret"} not in readable("WebhookFunction")
    assert {"Ref": "MetaTokenSecret"} in readable("ProcessorFunction")
    assert {"Ref": "MetaSecret"} not in readable("ProcessorFunction")


def test_the_processor_reads_tool_secrets_and_queries_only_the_main_table(template):
    [policy] = template["Resources"]["ProcessorFunction"]["Properties"]["Policies"]
    [secrets] = [s for s in policy["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"]
    grants = [r["Fn::Sub"].rsplit(":", 1)[1] for r in secrets["Resource"] if isinstance(r, dict) and "Fn::Sub" in r]
    assert grants == ["atende/${Stage}/channels/*", "atende/${Stage}/tools/*"]
    [query] = [s for s in policy["Statement"] if s["Action"] == "dynamodb:Query"]
    assert query["Resource"] == {"Fn::GetAtt": ["AtendeTable", "Arn"]}
    assert not any("Scan" in str(s["Action"]) for s in policy["Statement"])


def test_outputs_include_the_webhook_url(template):
    assert template["Outputs"]["WebhookUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/webhooks/meta"
    }


def test_processor_writes_media_only_under_the_media_prefix(template):
    [policy] = template["Resources"]["ProcessorFunction"]["Properties"]["Policies"]
    s3 = [s for s in policy["Statement"] if any(str(a).startswith("s3:") for a in s["Action"])]
    assert s3 == [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": {"Fn::Sub": "${MediaBucket.Arn}/media/*"}}
    ]


def test_processor_timeout_fits_a_media_record_and_the_claim_lease_matches_it(template):
    processor = template["Resources"]["ProcessorFunction"]["Properties"]
    app = load_function_module("ProcessorFunction")
    # A record is started only with its worst case left (a media message's, or a text answered with
    # tools: the agent loop's time budget plus one final step), and the lease outlives the invocation.
    from atende.service.agent import AGENT_BUDGET_SECONDS, STEP_WORST_SECONDS

    assert processor["Timeout"] * 1000 > app._MEDIA_SAFETY_MARGIN_MS >= app._SAFETY_MARGIN_MS
    assert app._SAFETY_MARGIN_MS > (AGENT_BUDGET_SECONDS + STEP_WORST_SECONDS) * 1000
    assert int(processor["Environment"]["Variables"]["CLAIM_LEASE_SECONDS"]) == processor["Timeout"]
