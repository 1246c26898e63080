"""Operator CLI: register a tenant and connect a WhatsApp number through Meta, Evolution or Whaticket;
change a tenant's settings; set a conversation's state; list a contact's sessions.

    python -m admin register-meta --stage dev --tenant padaria-pao-quente --name "Padaria Pão Quente" \\
        --phone-number-id 123456789012345 --access-token "$TOKEN" --app-secret "$APP_SECRET"
    python -m admin register-evolution --stack atende-dev --tenant padaria-pao-quente --name "Padaria Pão Quente" \\
        --instance padaria --base-url https://evo.example.com --api-key "$INSTANCE_TOKEN" --schemes header,apikey
    python -m admin register-whaticket --stack atende-dev --tenant padaria-pao-quente --name "Padaria Pão Quente" \\
        --connection loja-centro --base-url https://api.whaticket.example.com --api-token "$TOKEN"

    python -m admin show-tenant --stack atende-dev --tenant padaria-pao-quente
    python -m admin update-tenant --stack atende-dev --tenant padaria-pao-quente \\
        --set burst_pause_seconds=5 --set 'hours={"weekly":{"mon":["08:00-18:00"]}}' [--dry-run]
    python -m admin update-tenant --stack atende-dev --tenant padaria-pao-quente --file settings.json
    python -m admin set-conversation --stack atende-dev --tenant padaria-pao-quente --contact CONTACT_ID \\
        --state assigned --assignee "Ana" [--priority 2] [--snooze-minutes 60]
    python -m admin sessions --stack atende-dev --tenant padaria-pao-quente --contact CONTACT_ID
    python -m admin import-catalogue --stack atende-dev --tenant pet-shop-amigo-fiel catalogo.csv [--dry-run] [--deactivate-missing]
    python -m admin list-orders --stack atende-dev --tenant pet-shop-amigo-fiel --contact CONTACT_ID

Secrets the provider side must be configured with are generated and printed once. ``show-tenant``
prints the settings as JSON (a tenant item holds no secrets, only channels name them); edit that
output and pass it to ``update-tenant --file``: its ``version`` makes the update fail if someone
changed the tenant in between. ``--set`` values are JSON (``null`` resets a setting to its
default), or plain text when they are not JSON. Invalid settings or an unknown tenant or contact
exit with 2, a concurrent change with 1.

``import-catalogue`` checks every row of the file first and writes nothing if one is wrong (each
bad row is printed with its row number and the reason, exit 2); otherwise it creates or updates
the products by id (see ``atende.service.catalogue``). ``--dry-run`` prints what it would do.
A sample file: docs/samples/catalogo-pet-shop.csv.

Uses the standard AWS credential chain (profile, SSO, env). Resource names come from the
deployed stack's outputs (``--stack``) or explicit flags.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from atende.domain.catalogue import Order, Ticket, format_brl
from atende.domain.conversation import Conversation, ConversationState, Session
from atende.domain.tenants import MediaSettings, Tenant
from atende.observability import logger
from atende.service.catalogue import ImportRejected, import_catalogue
from atende.service.registration import (
    DEFAULT_EVOLUTION_SCHEMES,
    EVOLUTION_SCHEMES,
    RelayRegistration,
    register_evolution_channel,
    register_meta_channel,
    register_whaticket_channel,
)
from atende.service.settings import SettingsInvalid, TenantNotFound, settings_item, update_tenant_settings
from atende.store.business import BusinessStore
from atende.store.conversations import ConversationStore
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantChanged, TenantDirectory

INVALID = 2  # invalid settings or arguments, unknown tenant or contact (argparse's own code)
CONFLICT = 1  # the tenant changed meanwhile: run the command again


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

    show = sub.add_parser("show-tenant", help="print a tenant's settings as JSON")
    _resources(show, tenant=True)

    upd = sub.add_parser("update-tenant", help="change a tenant's settings (every setting show-tenant prints)")
    _resources(upd, tenant=True)
    given = upd.add_mutually_exclusive_group(required=True)
    given.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting; VALUE is JSON (or plain text); repeatable")
    given.add_argument("--file", help="a JSON map of settings, e.g. show-tenant's edited output ('-' = stdin)")
    upd.add_argument("--dry-run", action="store_true", help="validate and print the changes without writing them")
    upd.add_argument("--actor", help="who is changing it, for the audit log (default: cli:<OS user>)")

    conv = sub.add_parser("set-conversation", help="set a contact's conversation state (bot, queued, assigned, resolved)")
    _resources(conv, tenant=True, conversations=True)
    conv.add_argument("--contact", required=True, help="the pseudonymous contact id (logs, exports)")
    conv.add_argument("--state", required=True, choices=[state.value for state in ConversationState])
    conv.add_argument("--priority", type=_non_negative, default=0, help="queued conversations: higher first")
    conv.add_argument("--assignee", help="the human in charge")
    conv.add_argument("--snooze-minutes", type=_positive, help="silence the assistant this long (a customer message wakes it)")

    ses = sub.add_parser("sessions", help="list a contact's sessions: times, messages, tokens, cost in BRL, outcome")
    _resources(ses, tenant=True, conversations=True)
    ses.add_argument("--contact", required=True, help="the pseudonymous contact id (logs, exports)")

    imp = sub.add_parser("import-catalogue", help="import a tenant's catalogue from CSV or JSON (every row checked first; upsert by id)")
    _resources(imp, tenant=True)
    imp.add_argument("file", help="CSV (';' or ',' separated, UTF-8 or Windows-1252) or JSON ('-' = stdin)")
    imp.add_argument("--format", choices=["csv", "json"], help="default: told by the file's content")
    imp.add_argument("--dry-run", action="store_true", help="check the file and print what would change, writing nothing")
    imp.add_argument("--deactivate-missing", action="store_true", help="take the products that are not in the file off sale")

    orders = sub.add_parser("list-orders", help="list a contact's orders and support tickets")
    _resources(orders, tenant=True)
    orders.add_argument("--contact", required=True, help="the pseudonymous contact id (logs, exports)")
    args = parser.parse_args(argv)

    outputs = _stack_outputs(args.stack) if args.stack else {}
    if args.command in _MANAGE:
        with _logs_to_stderr():
            return _MANAGE[args.command](parser, args, outputs)
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


# --- managing tenants and conversations --------------------------------------------------------


def _resources(cmd: argparse.ArgumentParser, *, tenant: bool, conversations: bool = False) -> None:
    cmd.add_argument("--stack", help="CloudFormation stack name to read resource names from")
    cmd.add_argument("--table-name")
    if conversations:
        cmd.add_argument("--idempotency-table-name")
    if tenant:
        cmd.add_argument("--tenant", required=True, help="tenant id")


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


@contextlib.contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """The audit log line goes to stderr: stdout carries the command's JSON."""
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        yield
        return
    previous = handler.setStream(sys.stderr)
    try:
        yield
    finally:
        if previous is not None:
            handler.setStream(previous)


def _directory(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> TenantDirectory:
    table = args.table_name or outputs.get("TableName")
    if not table:
        parser.error("pass --stack or --table-name")
    return TenantDirectory(table, cache_seconds=0)


def _conversations(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> ConversationStore:
    table = args.table_name or outputs.get("TableName")
    claims = args.idempotency_table_name or outputs.get("IdempotencyTableName")
    if not table or not claims:
        parser.error("pass --stack, or both --table-name and --idempotency-table-name")
    return ConversationStore(table, claims)


def _print(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    print()


def _fail(message: str, code: int = INVALID) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _show_tenant(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    record = _directory(parser, args, outputs).tenant_record(args.tenant)
    if record is None:
        return _fail(f"no tenant {args.tenant!r}")
    settings = settings_item(record.tenant)
    _print({"tenant_id": settings.pop("tenant_id"), "version": record.version, **settings})
    return 0


def _update_tenant(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    directory = _directory(parser, args, outputs)
    changes = _changes_from_file(parser, args.file) if args.file else _changes_from_flags(parser, args.set)
    version = changes.pop("version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        return _fail(f"version must be the whole number show-tenant printed, got {version!r}")
    try:
        change = update_tenant_settings(
            directory, args.tenant, changes, actor=args.actor or _os_actor(), expected_version=version, dry_run=args.dry_run
        )
    except TenantNotFound:
        return _fail(f"no tenant {args.tenant!r}")
    except SettingsInvalid as exc:
        return _fail("invalid settings, nothing was changed:\n" + "\n".join(f"  - {problem}" for problem in exc.problems))
    except TenantChanged:
        return _fail(
            f"tenant {args.tenant!r} was changed by someone else meanwhile; nothing was written: run show-tenant and retry", CONFLICT
        )
    _print(
        {
            "tenant_id": change.tenant_id,
            "dry_run": args.dry_run,
            "written": change.written,
            "version": change.version,
            "changes": {key: {"old": old, "new": new} for key, (old, new) in change.changes.items()},
        }
    )
    return 0


def _changes_from_flags(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            parser.error(f"--set {pair!r}: use KEY=VALUE, e.g. --set burst_pause_seconds=5")
        if key in changes:
            parser.error(f"--set {key} is given twice")
        try:
            changes[key] = json.loads(text)
        except json.JSONDecodeError:
            changes[key] = text  # plain text: --set name=Padaria Pão Quente
    return changes


def _changes_from_file(parser: argparse.ArgumentParser, path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        changes = json.loads(text)
    except OSError as exc:
        parser.error(f"--file {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        parser.error(f"--file {path}: not JSON ({exc.msg} at line {exc.lineno})")
    if not isinstance(changes, dict):
        parser.error(f"--file {path}: must hold a JSON object of settings")
    return changes


def _now() -> int:
    return int(time.time())


def _os_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:  # no login name in some containers
        return "cli:unknown"


def _set_conversation(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    store = _conversations(parser, args, outputs)
    if _directory(parser, args, outputs).tenant(args.tenant) is None:
        return _fail(f"no tenant {args.tenant!r}")
    profile = store.load_profile(args.tenant, args.contact)
    if not profile.version and profile.last_inbound_at is None:
        # Refused rather than created: a mistyped id would make a contact nobody ever wrote from.
        return _fail(f"no contact {args.contact!r} for tenant {args.tenant!r}")
    now = _now()
    conversation = Conversation(
        state=ConversationState(args.state),
        priority=args.priority,
        assignee=args.assignee or None,
        snoozed_until=now + args.snooze_minutes * 60 if args.snooze_minutes else None,
        changed_at=now,
    )
    store.set_conversation(args.tenant, args.contact, conversation)
    logger.info("conversation state set", extra={"tenant_id": args.tenant, "contact_id": args.contact, "state": args.state})
    _print({"tenant_id": args.tenant, "contact_id": args.contact, "conversation": conversation.to_item()})
    return 0


def _sessions(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    store = _conversations(parser, args, outputs)
    tenant = _directory(parser, args, outputs).tenant(args.tenant)
    if tenant is None:
        return _fail(f"no tenant {args.tenant!r}")
    zone = tenant.hours.zone
    sessions = [_session_row(session, zone) for session in store.sessions(args.tenant, args.contact)]
    _print({"tenant_id": args.tenant, "contact_id": args.contact, "sessions": sessions})
    return 0


def _session_row(session: Session, zone: ZoneInfo) -> dict[str, Any]:
    """Times in the tenant's zone, cost as an exact decimal string."""

    def local(seconds: int | None) -> str | None:
        return None if seconds is None else datetime.fromtimestamp(seconds, zone).isoformat(timespec="seconds")

    return {
        "session_id": session.session_id,
        "start": local(session.started_at),
        "end": local(session.ended_at),
        "last_message": local(session.last_at),
        "messages_in": session.messages_in,
        "messages_out": session.messages_out,
        "tokens_in": sum(u.input_tokens for u in session.usage.values()),
        "tokens_out": sum(u.output_tokens for u in session.usage.values()),
        "cost_brl": str(session.cost_brl),
        "human": session.human,
        "outcome": session.outcome.value,
    }


# --- business data: the catalogue, a contact's orders ---------------------------------------------


def _business(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> BusinessStore:
    table = args.table_name or outputs.get("TableName")
    if not table:
        parser.error("pass --stack or --table-name")
    return BusinessStore(table, cache_seconds=0)


def _read_file(parser: argparse.ArgumentParser, path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        parser.error(f"{path}: {exc.strerror}")


def _import_catalogue(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    store = _business(parser, args, outputs)
    if _directory(parser, args, outputs).tenant(args.tenant) is None:
        return _fail(f"no tenant {args.tenant!r}")
    data = _read_file(parser, args.file)
    try:
        report = import_catalogue(
            store, args.tenant, data, now=_now(), kind=args.format, dry_run=args.dry_run, deactivate_missing=args.deactivate_missing
        )
    except ImportRejected as exc:
        return _fail(f"{args.file}: {exc}; nothing was written")
    _print(report.to_dict())
    if not report.ok:
        print(f"error: {len(report.errors)} row(s) with problems, nothing was written:", file=sys.stderr)
        for problem in report.errors:
            print(f"  - {problem.text()}", file=sys.stderr)
        return INVALID
    if report.written:
        logger.info(
            "catalogue imported",
            extra={
                "tenant_id": args.tenant,
                "products_created": len(report.created),  # "created" is a LogRecord attribute
                "products_updated": len(report.updated),
                "products_deactivated": len(report.deactivated),
                "catalogue_version": report.version,
            },
        )
    return 0


def _list_orders(parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str]) -> int:
    store = _business(parser, args, outputs)
    tenant = _directory(parser, args, outputs).tenant(args.tenant)
    if tenant is None:
        return _fail(f"no tenant {args.tenant!r}")
    zone = tenant.hours.zone
    _print(
        {
            "tenant_id": args.tenant,
            "contact_id": args.contact,
            "orders": [_order_row(order, zone) for order in store.orders(args.tenant, args.contact)],
            "tickets": [_ticket_row(ticket, zone) for ticket in store.tickets(args.tenant, args.contact)],
        }
    )
    return 0


def _local(seconds: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(seconds, zone).isoformat(timespec="seconds")


def _order_row(order: Order, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status.value,
        "created_at": _local(order.created_at, zone),
        "total": format_brl(order.total),
        "total_brl": str(order.total),
        "items": [
            {"product_id": i.product_id, "name": i.name, "quantity": i.quantity, "unit_price_brl": str(i.unit_price)} for i in order.items
        ],
        "history": [{"status": change.status.value, "at": _local(change.at, zone)} for change in order.history],
    }


def _ticket_row(ticket: Ticket, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "created_at": _local(ticket.created_at, zone),
        "subject": ticket.subject,
        "description": ticket.description,
    }


_MANAGE: dict[str, Callable[[argparse.ArgumentParser, argparse.Namespace, dict[str, str]], int]] = {
    "show-tenant": _show_tenant,
    "update-tenant": _update_tenant,
    "set-conversation": _set_conversation,
    "sessions": _sessions,
    "import-catalogue": _import_catalogue,
    "list-orders": _list_orders,
}


if __name__ == "__main__":
    raise SystemExit(main())
