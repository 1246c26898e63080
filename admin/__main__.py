"""Operator CLI: register a tenant and connect its Meta WhatsApp number.

    python -m admin register-meta --stage dev --tenant padaria-pao-quente --name "Padaria Pão Quente" \\
        --phone-number-id 123456789012345 --access-token "$TOKEN" --app-secret "$APP_SECRET"

Uses the standard AWS credential chain (profile, SSO, env). Resource names come from the
deployed stack's outputs (``--stack``) or explicit flags.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

import boto3

from atende.domain.tenants import Tenant
from atende.service.registration import register_meta_channel
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory


def _stack_outputs(stack_name: str) -> dict[str, str]:
    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admin")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register-meta", help="create/update a tenant and connect a Meta phone number")
    reg.add_argument("--stage", default="dev", choices=["dev", "prod"])
    reg.add_argument("--stack", help="CloudFormation stack name to read TableName/MetaSecretArn from")
    reg.add_argument("--table-name")
    reg.add_argument("--meta-secret-id")
    reg.add_argument("--tenant", required=True, help="tenant id: a-z, 0-9, '-'")
    reg.add_argument("--name", required=True, help="business name shown to customers")
    reg.add_argument("--phone-number-id", required=True, help="Meta phone_number_id (WhatsApp Manager > API setup)")
    reg.add_argument("--display-phone-number")
    reg.add_argument("--system-prompt")
    reg.add_argument("--language", default="pt-BR")
    reg.add_argument("--llm-provider", default="auto", choices=["auto", "openai", "gemini", "local"])
    reg.add_argument("--llm-model")
    reg.add_argument("--access-token", help="this number's access token (omit to be prompted; '-' = use the deployment token)")
    reg.add_argument("--app-secret", help="the Meta app secret (deployment-wide)")
    reg.add_argument("--verify-token", help="override the generated webhook verify token")
    args = parser.parse_args(argv)

    outputs = _stack_outputs(args.stack) if args.stack else {}
    table = args.table_name or outputs.get("TableName")
    meta_secret = args.meta_secret_id or outputs.get("MetaSecretArn")
    if not table or not meta_secret:
        parser.error("pass --stack, or both --table-name and --meta-secret-id")
    access_token = args.access_token
    if access_token is None:
        access_token = getpass.getpass("Access token for this number (empty = deployment token): ")
    tenant = Tenant(
        tenant_id=args.tenant,
        name=args.name,
        language=args.language,
        llm_provider=args.llm_provider,
        llm_model=args.llm_model,
        **({"system_prompt": args.system_prompt} if args.system_prompt else {}),
    )
    result = register_meta_channel(
        TenantDirectory(table, cache_seconds=0),
        SecretStore(max_age=0),
        stage=args.stage,
        tenant=tenant,
        phone_number_id=args.phone_number_id,
        meta_secret_id=meta_secret,
        display_phone_number=args.display_phone_number,
        access_token=None if access_token in ("", "-") else access_token,
        app_secret=args.app_secret,
        verify_token=args.verify_token,
    )
    webhook_url = outputs.get("WebhookUrl", "<WebhookUrl output of your stack>")
    json.dump(
        {
            "tenant_id": result.tenant_id,
            "tenant": "created" if result.tenant_created else "existed (settings unchanged)",
            "channel_id": result.channel_id,
            "callback_url": webhook_url,
            "verify_token": result.verify_token,
            "next": "Meta App Dashboard > WhatsApp > Configuration: set Callback URL and Verify token, subscribe to 'messages'.",
        },
        sys.stdout,
        indent=2,
        ensure_ascii=False,
    )
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
