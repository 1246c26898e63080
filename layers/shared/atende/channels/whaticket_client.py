"""Whaticket — outbound side (``POST /api/messages/send``). Processor only: imports httpx and PyJWT.

One injected ``httpx.Client``; one ``_post`` that turns every failure into a typed error of
``atende.errors`` chosen by HTTP status (Whaticket's ``{"error": "…"}`` is free text and is never
read). Reference: providers.md §3.1.

Two ways to authenticate, per connection:

* a static API token (community edition: the ``userApiToken`` setting; SaaS forks: the
  connection's token, which also selects the connection);
* a login (``POST /auth/login`` → ``{"token": "<JWT>", …}``) for forks that accept user JWTs on
  the send route. The JWT is cached in a ``WhaticketTokenCache`` shared by the container until
  shortly before its ``exp``; a rejected cached token triggers one fresh login and one retry.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx
import jwt

from atende.channels.outbound import OutboundInvalid, SentMessage, retry_after_seconds, valid_unicode
from atende.channels.payload import number, text
from atende.errors import ConfigError, ProviderAuthError, ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable

if TYPE_CHECKING:
    from atende.domain.messages import InboundMessage

# Log in again this long before the JWT's exp: the send must not race the expiry.
_EXPIRY_MARGIN_S = 60.0
# A login token without a readable exp is kept this long (Whaticket's default expiresIn is 15 min).
_DEFAULT_TOKEN_TTL_S = 600.0
# JID servers whose user part is the phone number Whaticket's `number` wants.
_PHONE_JID_SERVERS = frozenset({"s.whatsapp.net", "c.us"})


@dataclass(frozen=True, slots=True)
class WhaticketCredentials:
    """Either ``token`` (static API token) or ``email`` + ``password`` (login), never both."""

    token: str | None = field(default=None, repr=False)
    email: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        login = bool(self.email) or bool(self.password)
        if bool(self.token) == login or (login and not (self.email and self.password)):
            raise ConfigError("Whaticket credentials need either a token or an email and a password")


@dataclass(frozen=True, slots=True)
class _CachedToken:
    token: str = field(repr=False)
    expires_at: float


class WhaticketTokenCache:
    """Login JWTs by (base URL, email): one per Lambda container, shared by every client it builds."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], now: float) -> str | None:
        with self._lock:
            cached = self._tokens.get(key)
        return cached.token if cached is not None and now < cached.expires_at else None

    def put(self, key: tuple[str, str], token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[key] = _CachedToken(token, expires_at)

    def discard(self, key: tuple[str, str], token: str) -> None:
        """Forget ``token`` unless another client already replaced it with a newer one."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.token == token:
                del self._tokens[key]


class WhaticketClient:
    """One Whaticket connection. ``whatsapp_id`` selects the connection on the community edition."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        credentials: WhaticketCredentials,
        token_cache: WhaticketTokenCache,
        whatsapp_id: int | str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        base = base_url.rstrip("/")
        self._send_url = f"{base}/api/messages/send"
        self._login_url = f"{base}/auth/login"
        self._credentials = credentials
        self._cache = token_cache
        self._cache_key = (base, credentials.email or "")
        self._whatsapp_id = whatsapp_id
        self._clock = clock

    def acknowledge(self, message: InboundMessage) -> None:
        """No-op: Whaticket exposes no read-receipt or typing endpoint to integrators."""

    def send_text(self, to: str, body: str, *, reply_to: str | None = None, callback_data: str | None = None) -> SentMessage:
        # ``callback_data`` is Meta's: this provider echoes nothing of ours in its status events.
        """Send ``body`` to the phone number ``to`` (digits, or a phone JID whose user part is used).

        ``reply_to`` is ignored: the send route's ``quotedMsg`` wants Whaticket's own stored
        message, and one it cannot find fails the whole send. Whaticket answers without a message
        id (community: empty 200; SaaS: ``{"mensagem": "Mensagem enviada"}``), so the returned id is
        minted here: ``"wt-out-" + uuid4().hex``. No delivery status will ever refer to it.
        """
        payload: dict[str, Any] = {"number": _whaticket_number(to), "body": valid_unicode(body)}
        if self._whatsapp_id is not None:
            payload["whatsappId"] = self._whatsapp_id
        if self._credentials.token:
            self._checked(self._post("send", payload, token=self._credentials.token), "send")
        else:
            self._send_with_login(payload)
        return SentMessage(message_id=f"wt-out-{uuid.uuid4().hex}")

    # --- login tokens ----------------------------------------------------------------------

    def _send_with_login(self, payload: dict[str, Any]) -> None:
        cached = self._cache.get(self._cache_key, self._clock())
        token = cached or self._login()
        response = self._post("send", payload, token=token)
        # Whaticket answers an expired or revoked JWT with 403 ("Invalid token. We'll try to assign
        # a new one on next request"; its own front end refreshes on 403) and a missing one with
        # 401. A token we just obtained is not stale: its rejection is final.
        if cached is not None and response.status_code in (401, 403):
            self._cache.discard(self._cache_key, cached)
            response = self._post("send", payload, token=self._login())
        self._checked(response, "send")

    def _login(self) -> str:
        credentials = {"email": self._credentials.email, "password": self._credentials.password}
        doc = self._checked(self._post("login", credentials), "login")
        token = text(doc.get("token")) if isinstance(doc, dict) else None
        if token is None:
            raise ProviderUnavailable("Whaticket login answered 2xx without a token")
        self._cache.put(self._cache_key, token, self._expires_at(token))
        return token

    def _expires_at(self, token: str) -> float:
        try:
            # Only our own cache lifetime is read from it; the server verifies the token.
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            claims = {}
        exp = number(claims.get("exp"))
        return exp - _EXPIRY_MARGIN_S if exp is not None else self._clock() + _DEFAULT_TOKEN_TTL_S

    # --- transport -------------------------------------------------------------------------

    def _post(self, action: Literal["send", "login"], payload: dict[str, Any], *, token: str | None = None) -> httpx.Response:
        url = self._login_url if action == "login" else self._send_url
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            return self._http.post(url, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"Whaticket {action} timed out") from exc
        except httpx.RequestError as exc:  # transport failures and undecodable responses alike
            raise ProviderUnavailable(f"Whaticket {action} unreachable: {type(exc).__name__}") from exc

    def _checked(self, response: httpx.Response, action: Literal["send", "login"]) -> Any:
        """The decoded body of a 2xx (None when empty or not JSON), or the typed error."""
        if 200 <= response.status_code < 300:
            try:
                return response.json()
            except ValueError:  # the community edition answers an empty 200
                return None
        try:
            doc = response.json()
        except ValueError:
            doc = None
        code = doc.get("error") if isinstance(doc, dict) and isinstance(doc.get("error"), str) else None
        raise whaticket_error(response.status_code, response.headers.get("retry-after"), action=action, error=code)


# 400s that will never succeed for this request; Whaticket's AppError defaults to 400 for
# everything else too, including a WhatsApp session that is down (ERR_WAPP_NOT_INITIALIZED,
# ERR_SENDING_WAPP_MSG), which passes — so an unknown 400 is retried, not dropped.
_PERMANENT_400 = ("ERR_WAPP_CHECK_CONTACT", "ERR_WAPP_INVALID_CONTACT", "ERR_INVALID_NUMBER", "Invalid number format")


def whaticket_error(http_status: int, retry_after: str | None = None, *, action: str = "send", error: str | None = None) -> ProviderError:
    """Map a Whaticket error status to the error tree (its ``{"error": "…"}`` text is never read).

    A 404 means a wrong base URL or ``whatsappId`` and a failed login means wrong credentials or
    URL: the operator must fix the channel, so neither is dropped as "rejected".
    """
    label = f"Whaticket {action} failed (HTTP {http_status})"
    if http_status == 429:
        return ProviderRateLimited(label, retry_after=retry_after_seconds(retry_after), code=http_status, http_status=http_status)
    if http_status >= 500 or http_status < 400:
        return ProviderUnavailable(label, code=http_status, http_status=http_status)
    if http_status in (401, 403, 404) or action == "login":
        return ProviderAuthError(label, code=http_status, http_status=http_status)
    if http_status == 400 and not (error and error.startswith(_PERMANENT_400)):
        # Retry, then dead-letter for a redrive, rather than drop a reply for good.
        return ProviderUnavailable(f"{label}: WhatsApp session down or request refused", code=http_status, http_status=http_status)
    return ProviderRejected(label, code=http_status, http_status=http_status)


def _whaticket_number(to: str) -> str:
    # Whaticket's send route accepts only ^\d+$ and looks the number up on WhatsApp itself.
    digits, at, server = to.partition("@")
    if (at and server not in _PHONE_JID_SERVERS) or not (digits.isascii() and digits.isdigit()):
        raise OutboundInvalid("Whaticket can only send to a phone number (digits)")
    return digits
