"""How Evolution and Whaticket deliveries prove themselves (Meta's signature is in ``meta``).

Neither provider signs its webhooks natively (providers.md §2.1, §3.1), so each channel stores,
in its webhook-auth secret, which proofs it requires. Every configured proof must pass — adding
a scheme can only make a channel stricter — and a channel with none configured accepts nothing.

A missing proof is 401 (``SignatureMissing``), a wrong one 403 (``SignatureInvalid`` and
subclasses). All comparisons are constant-time; stdlib only, except PyJWT, imported on first use
by the channels that opted in to Evolution's ``jwt_key`` mode.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from atende.errors import ConfigError, SignatureInvalid, SignatureMissing, TimestampOutOfWindow

EVOLUTION_SIGNATURE_HEADER = "x-webhook-signature"
WHATICKET_TIMESTAMP_HEADER = "x-timestamp"
WHATICKET_SIGNATURE_HEADER = "x-signature"
WHATICKET_TOKEN_HEADER = "x-webhook-token"
_SHA256_PREFIX = "sha256="
JWT_LEEWAY_SECONDS = 30  # clock skew between Evolution's host and AWS
JWT_MAX_LIFETIME_SECONDS = 900  # Evolution issues exp = iat + 600; a longer-lived token is not its
MIN_URL_TOKEN_LENGTH = 32


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _same(offered: str, expected: str) -> bool:
    # compare_digest refuses non-ASCII str; no genuine credential here contains any.
    return offered.isascii() and hmac.compare_digest(offered, expected)


def _hmac_hex(secret: str, data: bytes) -> str:
    return hmac.digest(secret.encode(), data, "sha256").hex()


def _hex_signature(header: str) -> str:
    value = header.strip()
    if value[: len(_SHA256_PREFIX)].lower() == _SHA256_PREFIX:
        value = value[len(_SHA256_PREFIX) :]
    return value.lower()


# --- Evolution API ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvolutionAuth:
    """One Evolution instance's proofs; read from ``{prefix}evolution-{instance}``.

    (a) ``hmac_secret``: hex HMAC-SHA256 of the raw body in ``X-Webhook-Signature`` (relays);
    (b) ``header_name`` + ``header_value``: a custom static header set with ``/webhook/set``;
    (c) ``jwt_key``: Evolution ≥ 2.3 ``Authorization: Bearer <HS256 JWT>``, ``exp`` enforced;
    (d) ``apikey_sha256``: SHA-256 of the instance token, matched against the body's ``apikey``
        (a digest, so the webhook cannot send messages with what it stores).
    """

    hmac_secret: str | None = None
    header_name: str | None = None
    header_value: str | None = None
    jwt_key: str | None = None
    apikey_sha256: str | None = None

    def __post_init__(self) -> None:
        # A header name without its value would accept any value: refuse the configuration.
        if bool(self.header_name) != bool(self.header_value):
            raise ConfigError("evolution webhook auth: header_name and header_value go together")

    @classmethod
    def from_secret(cls, value: Mapping[str, str]) -> EvolutionAuth:
        return cls(
            hmac_secret=value.get("hmac_secret") or None,
            header_name=(value.get("header_name") or "").strip().lower() or None,
            header_value=value.get("header_value") or None,
            jwt_key=value.get("jwt_key") or None,
            apikey_sha256=(value.get("apikey_sha256") or "").lower() or None,
        )

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(
            name
            for name, on in (
                ("hmac", self.hmac_secret),
                ("header", self.header_name),
                ("jwt", self.jwt_key),
                ("apikey", self.apikey_sha256),
            )
            if on
        )

    def to_secret(self) -> dict[str, str]:
        return {k: v for k, v in ((f, getattr(self, f)) for f in self.__slots__) if v}


def verify_evolution(auth: EvolutionAuth, raw_body: bytes, headers: Mapping[str, str], body_apikey: str | None, *, now: int) -> None:
    """Raise unless every proof the channel configured is present and valid.

    ``headers`` must have lower-case names (HTTP API payload v2 delivers them so).
    """
    if not auth.schemes:
        raise SignatureInvalid("channel has no webhook authentication configured")
    # Presence first (401), so a caller missing a header learns that rather than a 403 from
    # an earlier scheme.
    signature = headers.get(EVOLUTION_SIGNATURE_HEADER) if auth.hmac_secret else None
    secret_header = headers.get(auth.header_name) if auth.header_name else None
    bearer = _bearer(headers.get("authorization")) if auth.jwt_key else None
    if auth.hmac_secret and not signature:
        raise SignatureMissing("X-Webhook-Signature header is missing")
    if auth.header_name and not secret_header:
        raise SignatureMissing("the channel's secret header is missing")
    if auth.jwt_key and not bearer:
        raise SignatureMissing("Authorization: Bearer token is missing")
    if auth.apikey_sha256 and not body_apikey:
        raise SignatureMissing("body apikey is missing")

    if auth.hmac_secret and signature and not _same(_hex_signature(signature), _hmac_hex(auth.hmac_secret, raw_body)):
        raise SignatureInvalid("X-Webhook-Signature does not match the body")
    if auth.header_value and secret_header and not _same(secret_header, auth.header_value):
        raise SignatureInvalid("the channel's secret header does not match")
    if auth.jwt_key and bearer:
        verify_evolution_jwt(bearer, auth.jwt_key, now=now)
    if auth.apikey_sha256 and body_apikey and not _same(sha256_hex(body_apikey), auth.apikey_sha256):
        raise SignatureInvalid("body apikey does not match the instance token")


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def verify_evolution_jwt(token: str, key: str, *, now: int) -> dict[str, Any]:
    """Evolution's ``jwt_key`` token: HS256 only, ``exp`` required and enforced.

    Evolution signs ``{iat, exp: iat + 600, app: "evolution", action: "webhook"}``; the token is
    not bound to the body (providers.md §2.1), which is why a channel can pair it with (a)/(b).
    """
    import jwt  # PyJWT: only channels in jwt mode pay for the import

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["HS256"],  # never "none", never the algorithm the token names
            # Time claims are checked below against ``now`` (the caller's clock), not PyJWT's.
            options={"require": ["exp"], "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise SignatureInvalid(f"webhook JWT is invalid ({type(exc).__name__})") from exc
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _finite(exp):  # PyJWT's JSON accepts NaN and Infinity
        raise SignatureInvalid("webhook JWT exp is not a finite number")
    if exp + JWT_LEEWAY_SECONDS < now:
        raise TimestampOutOfWindow("webhook JWT has expired")
    if iat is not None:
        if not _finite(iat):
            raise SignatureInvalid("webhook JWT iat is not a finite number")
        if iat > now + JWT_LEEWAY_SECONDS:
            raise SignatureInvalid("webhook JWT was issued in the future")
        if exp - iat > JWT_MAX_LIFETIME_SECONDS:
            raise SignatureInvalid("webhook JWT lives longer than Evolution's tokens do")
    elif exp > now + JWT_MAX_LIFETIME_SECONDS + JWT_LEEWAY_SECONDS:
        raise SignatureInvalid("webhook JWT expires too far in the future")
    if claims.get("action", "webhook") != "webhook":
        raise SignatureInvalid("webhook JWT was issued for another purpose")
    return claims


# --- Whaticket ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WhaticketAuth:
    """One Whaticket connection's proofs; read from ``{prefix}whaticket-{connection}``.

    ``signing_secret``: the relay contract — ``X-Timestamp`` (epoch seconds) and ``X-Signature``
    = hex(HMAC-SHA256(secret, f"{timestamp}.{raw_body}")), within the replay window, each
    signature accepted once; ``webhook_token`` adds an ``X-Webhook-Token`` check.
    ``url_token_sha256``: the weaker opt-in for forks that cannot sign — a long random token in
    the URL path. It proves knowledge of the URL only: anyone who sees the URL (proxy logs, the
    fork's admin screen) can post, and there is no replay protection.
    """

    signing_secret: str | None = None
    webhook_token: str | None = None
    url_token_sha256: str | None = None

    @classmethod
    def from_secret(cls, value: Mapping[str, str]) -> WhaticketAuth:
        return cls(
            signing_secret=value.get("signing_secret") or None,
            webhook_token=value.get("webhook_token") or None,
            url_token_sha256=(value.get("url_token_sha256") or "").lower() or None,
        )

    @property
    def signed(self) -> bool:
        return self.signing_secret is not None

    def to_secret(self) -> dict[str, str]:
        return {k: v for k, v in ((f, getattr(self, f)) for f in self.__slots__) if v}


def sign_whaticket_body(raw_body: bytes, timestamp: int, secret: str) -> str:
    """The ``X-Signature`` a relay sends (used by the local sandbox, events and tests)."""
    return _hmac_hex(secret, b"%d." % timestamp + raw_body)


def sign_evolution_body(raw_body: bytes, secret: str) -> str:
    """The ``X-Webhook-Signature`` a relay in front of Evolution sends."""
    return _SHA256_PREFIX + _hmac_hex(secret, raw_body)


def verify_whaticket(
    auth: WhaticketAuth, raw_body: bytes, headers: Mapping[str, str], url_token: str | None, *, now: int, window_seconds: int
) -> str | None:
    """Raise unless the delivery proves itself the way its channel requires.

    Returns the signature to remember for replay detection (None in URL-token mode, which has
    nothing that changes between deliveries). A channel that signs does not also accept a URL
    token: the weaker option is opt-in per channel, never a fallback.
    """
    if auth.signed:
        signature = _verify_signed(auth, raw_body, headers, now=now, window_seconds=window_seconds)
        if auth.webhook_token:
            offered = headers.get(WHATICKET_TOKEN_HEADER)
            if not offered:
                raise SignatureMissing("X-Webhook-Token header is missing")
            if not _same(offered, auth.webhook_token):
                raise SignatureInvalid("X-Webhook-Token does not match")
        return signature
    if auth.url_token_sha256:
        if not url_token:
            raise SignatureMissing("this connection expects its token in the URL path")
        if not _same(sha256_hex(url_token), auth.url_token_sha256):
            raise SignatureInvalid("URL token does not match")
        return None
    raise SignatureInvalid("channel has no webhook authentication configured")


def _verify_signed(auth: WhaticketAuth, raw_body: bytes, headers: Mapping[str, str], *, now: int, window_seconds: int) -> str:
    timestamp_header = headers.get(WHATICKET_TIMESTAMP_HEADER)
    signature_header = headers.get(WHATICKET_SIGNATURE_HEADER)
    if not timestamp_header or not signature_header:
        raise SignatureMissing("X-Timestamp and X-Signature headers are required")
    raw_ts = timestamp_header.strip()
    if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= 12):
        raise SignatureInvalid("X-Timestamp is not epoch seconds")
    timestamp = int(raw_ts)
    if abs(now - timestamp) > window_seconds:
        raise TimestampOutOfWindow("X-Timestamp is outside the replay window")
    offered = _hex_signature(signature_header)
    # The timestamp is signed as sent: re-formatting it ("0170…" → "170…") would break relays.
    expected = _hmac_hex(str(auth.signing_secret), raw_ts.encode() + b"." + raw_body)
    if not _same(offered, expected):
        raise SignatureInvalid("X-Signature does not match the timestamp and body")
    return offered
