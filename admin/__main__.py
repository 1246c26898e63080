"""Operator CLI: register a tenant and connect a WhatsApp number through Meta, Evolution or Whaticket.

    python -m admin register-meta --stage dev --tenant padaria-pao-quente --name "Padaria Pão Quente" \\
        --phone-number-id 123456789012345 --access-token "$TOKEN" --app-secret "$APP_SECRET"
    python -m admin register-evolution --stack atende-dev --tenant padaria-pao-quente --name "Padaria Pão Quente" \\
        --instance padaria --base-url https://evo.example.com --api-key "$INSTANCE_TOKEN" --schemes header,apikey
    python -m admin register-whaticket --stack atende-dev --tenant padaria-pao-quente --name "Padaria Pão Quente" \\
        --connection loja-centro --base-url https://api.whaticket.example.com --api-token "$TOKEN"

Secrets the provider side must be configured with are generated and printed once.

Uses the standard AWS credential chain (profile, SSO, env). Resource names come from the
deployed stack's outputs (``--stack``) or explicit flags.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

import boto3

from atende.domain.tenants import MediaSettings, Tenant
from atende.service.registration import (
    DEFAULT_EVOLUTION_SCHEMES,
    EVOLUTION_SCHEMES,
    RelayRegistration,
    register_evolution_channel,
    register_meta_channel,
    register_whaticket_channel,
)
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory


def _stack_outputs(stack_name: str) -> dict[str, str]:
    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _common(reg: argparse.ArgumentParser) -> None:
    reg.add_argument("--stage", default="dev", choices=["dev", "prod"])
    reg.add_argument("--stack", help="CloudFormation stack name to read resource names and URLs from")
    reg.add_argument("--table-name")
    reg.add_argument("--tenant", required=True, help="tenant id: a-z, 0-9, '-'")
    reg.add_argument("--name", required=True, help="business name shown to customers")
    reg.add_argument("--system-prompt")
    reg.add_argument("--language", default="pt-BR")
    reg.add_argument("--llm-provider", default="auto", choices=["auto", "openai", "gemini", "local"])
    reg.add_argument("--llm-model")
    reg.add_argument("--transcript-echo", action="store_true", help='echo "🔊 Entendi: …" before answering a voice note')
    reg.add_argument("--bill-extraction", default="auto", choices=["off", "auto", "always"], help="read electricity bills in images")


def _tenant(args: argparse.Namespace) -> Tenant:
    return Tenant(
        tenant_id=args.tenant,
        name=args.name,
        language=args.language,
        llm_provider=args.llm_provider,
        llm_model=args.llm_model,
        media=MediaSettings(transcript_echo=args.transcript_echo, bill_extraction=args.bill_extraction),
        **({"system_prompt": args.system_prompt} if args.system_prompt else {}),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admin")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register-meta", help="create/update a tenant and connect a Meta phone number")
    _common(reg)
    reg.add_argument("--meta-secret-id")
    reg.add_argument("--phone-number-id", required=True, help="Meta phone_number_id (WhatsApp Manager > API setup)")
    reg.add_argument("--display-phone-number")
    reg.add_argument("--access-token", help="this number's access token (omit to be prompted; '-' = use the deployment token)")
    reg.add_argument("--app-secret", help="the Meta app secret (deployment-wide)")
    reg.add_argument("--verify-token", help="override the generated webhook verify token")

    evo = sub.add_parser("register-evolution", help="create/update a tenant and connect an Evolution API instance")
    _common(evo)
    evo.add_argument("--instance", required=True, help="Evolution instance name (the webhook body's 'instance')")
    evo.add_argument("--base-url", required=True, help="Evolution server URL, e.g. https://evo.example.com")
    evo.add_argument("--api-key", help="instance token (omit to be prompted)")
    evo.add_argument(
        "--schemes",
        default=",".join(DEFAULT_EVOLUTION_SCHEMES),
        help=f"proofs every delivery must carry, comma-separated subset of {','.join(EVOLUTION_SCHEMES)}",
    )
    evo.add_argument("--presence-ms", type=int, default=0, help="typing indicator before replies (0-3000; blocks the send)")
    evo.add_argument("--rotate", action="store_true", help="issue new webhook secrets (reconfigure the instance right after)")

    wt = sub.add_parser("register-whaticket", help="create/update a tenant and connect a Whaticket connection")
    _common(wt)
    wt.add_argument("--connection", required=True, help="a name for this connection, used in the webhook URL")
    wt.add_argument("--base-url", required=True, help="Whaticket backend URL, e.g. https://api.whaticket.example.com")
    wt.add_argument("--api-token", help="the connection's API token (Bearer) for /api/messages/send")
    wt.add_argument("--login-email", help="instead of --api-token: log in as this user (password prompted)")
    wt.add_argument("--auth", default="signed", choices=["signed", "url_token"], help="url_token is the weaker option")
    wt.add_argument("--require-webhook-token", action="store_true", help="also require X-Webhook-Token on deliveries")
    wt.add_argument("--whatsapp-id", help="community edition: the whatsappId that selects the connection")
    wt.add_argument("--rotate", action="store_true", help="issue a new signing secret / URL token (reconfigure the relay right after)")
    args = parser.parse_args(argv)

    outputs = _stack_outputs(args.stack) if args.stack else {}
    if args.command == "register-evolution":
        return _register_evolution(parser, args, outputs)
    if args.command == "register-whaticket":
        return _register_whaticket(parser, args, outputs)
    table = args.table_name or outputs.get("TableName")
    meta_secret = args.meta_secret_id or outputs.get("MetaSecretArn")
    if not table or not meta_secret:
        parser.error("pass --stack, or both --table-name and --meta-secret-id")
    access_token = args.access_token
    if access_token is None:
        access_token = getpass.getpass("Access token for this number (empty = deployment token): ")
    tenant = _tenant(args)
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


def _register_evolution(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    table = args.table_name or outputs.get("TableName")
    if not table:
        parser.error("pass --stack or --table-name")
    api_key = args.api_key or getpass.getpass("Evolution instance token: ")
    webhook_url = outputs.get("EvolutionWebhookUrl", "<EvolutionWebhookUrl output of your stack>")
    result = register_evolution_channel(
        TenantDirectory(table, cache_seconds=0),
        SecretStore(max_age=0),
        stage=args.stage,
        tenant=_tenant(args),
        instance=args.instance,
        base_url=args.base_url,
        api_key=api_key,
        schemes=tuple(s.strip() for s in args.schemes.split(",") if s.strip()),
        webhook_url=webhook_url,
        presence_ms=args.presence_ms,
        rotate=args.rotate,
    )
    return _print_relay(result, webhook_url)


def _register_whaticket(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    table = args.table_name or outputs.get("TableName")
    if not table:
        parser.error("pass --stack or --table-name")
    if bool(args.api_token) == bool(args.login_email):
        parser.error("pass exactly one of --api-token and --login-email")
    password = getpass.getpass(f"Whaticket password for {args.login_email}: ") if args.login_email else None
    result = register_whaticket_channel(
        TenantDirectory(table, cache_seconds=0),
        SecretStore(max_age=0),
        stage=args.stage,
        tenant=_tenant(args),
        connection=args.connection,
        base_url=args.base_url,
        api_token=args.api_token,
        login_email=args.login_email,
        login_password=password,
        auth_mode=args.auth,
        require_webhook_token=args.require_webhook_token,
        whatsapp_id=args.whatsapp_id,
        rotate=args.rotate,
    )
    base = outputs.get("WhaticketWebhookUrlBase", "<WhaticketWebhookUrlBase output of your stack>").removesuffix("/webhooks/whaticket")
    return _print_relay(result, base + result.webhook_path)


def _print_relay(result: RelayRegistration, webhook_url: str) -> int:
    json.dump(
        {
            "tenant_id": result.tenant_id,
            "tenant": "created" if result.tenant_created else "existed (settings unchanged)",
            "channel_id": result.channel_id,
            "webhook_url": webhook_url,
            "generated_secrets": result.generated,
            "provider_setup": result.provider_setup,
            "note": "keep these secret; re-registering keeps them, --rotate issues new ones",
        },
        sys.stdout,
        indent=2,
        ensure_ascii=False,
    )
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
