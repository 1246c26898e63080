"""One error tree for the whole package.

Adapters translate library exceptions (httpx, botocore, SDKs) into these at the boundary
(``raise ... from exc``); nothing above an adapter branches on a library exception or on
message text. ``is_transient`` tells the processor whether retrying the record can help.
"""

from __future__ import annotations


class AtendeError(Exception):
    """Base of every error Atende raises on purpose."""

    is_transient: bool = False


class ConfigError(AtendeError):
    """A required setting is missing or invalid (deployment problem, not a data problem)."""


class SecretNotFound(ConfigError):
    """The named secret does not exist (a deployment problem, unless the name came from a request)."""


# --- Inbound webhook rejections: each maps to exactly one HTTP status -------------------


class WebhookRejected(AtendeError):
    status_code: int = 400
    reason: str = "rejected"


class SignatureMissing(WebhookRejected):
    status_code = 401
    reason = "signature_missing"


class SignatureInvalid(WebhookRejected):
    status_code = 403
    reason = "signature_invalid"


class TimestampOutOfWindow(SignatureInvalid):
    """A signed delivery whose timestamp is too far from now: a replay or a badly skewed clock."""

    reason = "timestamp_out_of_window"


class ReplayedDelivery(SignatureInvalid):
    """The same signature was already accepted within the replay window."""

    reason = "replayed"


class UnknownChannel(WebhookRejected):
    """No channel is registered under this instance/connection (or it has no webhook credentials)."""

    status_code = 403
    reason = "unknown_channel"


class MalformedPayload(WebhookRejected):
    status_code = 400
    reason = "malformed_payload"


class SenderUnresolvable(MalformedPayload):
    """Well-formed, but no phone number to answer can be found in it."""

    status_code = 422
    reason = "sender_unresolvable"


class PayloadTooLarge(WebhookRejected):
    status_code = 413
    reason = "payload_too_large"


# --- Outbound provider errors (Meta Graph API today; Evolution/Whaticket later) ---------


class ProviderError(AtendeError):
    """The messaging provider refused or failed a call. ``code`` is the provider's own code."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class ProviderUnavailable(ProviderError):
    """5xx, timeouts, connection errors: retry later."""

    is_transient = True


class SendOutcomeUnknown(ProviderUnavailable):
    """The request reached the provider but its answer was lost (read timeout, dropped connection).

    The provider may have accepted the message: a retry must reconcile (a status webhook that
    names the send) before sending again, never just resend.
    """


class ProviderRateLimited(ProviderError):
    """Throughput or pair rate limit (Meta 4, 80007, 130429, 131056, 131057...): retry later."""

    is_transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: int | None) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """Token invalid/expired or permission missing (Meta 0, 190, 10, 200-299).

    Not transient in itself, but the processor lets the record retry and finally dead-letter:
    once an operator fixes the token the DLQ can be redriven and nothing is lost.
    """


class ProviderRejected(ProviderError):
    """The provider will never accept this exact request (invalid parameter, undeliverable...)."""


class OutsideServiceWindow(ProviderRejected):
    """Meta 131047: more than 24 h since the customer's last message; only templates may be sent."""


class MediaUnavailable(AtendeError):
    """The media cannot be had: expired or unknown id, 404, over the size cap, a type we do not
    accept, a checksum mismatch, or a provider that carries no downloadable media (Whaticket).

    Permanent for this message: the customer gets one polite message, the processor does not retry.
    ``reason`` is one of: expired, not_found, too_large, unsupported_type, checksum_mismatch,
    not_downloadable, too_long.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- LLM errors ---------------------------------------------------------------------------


class LlmError(AtendeError):
    pass


class LlmUnavailable(LlmError):
    """Timeouts, 429 and 5xx after the client's own retries."""

    is_transient = True


class LlmRejected(LlmError):
    """The provider refused this request (bad request, unsupported file, content policy)."""


class LlmAuthError(LlmError):
    """The provider refused our API key (401/403; Gemini's API_KEY_INVALID 400). Not about the
    message: media must not be answered as "unreadable" because of it; an operator fixes the key."""


# --- Data access --------------------------------------------------------------------------


class StoreError(AtendeError):
    """A data-store call failed in a way the caller cannot fix (throttling, service error)."""

    is_transient = True


class ConcurrentUpdate(StoreError):
    """An optimistic-concurrency check failed; retrying the record re-reads fresh state."""


class InboundInFlight(AtendeError):
    """Another invocation holds the claim on this inbound message: let SQS redeliver later.

    ``retry_after_seconds``: when that claim's lease ends (the record's next visibility);
    ``attempted`` is False when this delivery did no work (it then never counts towards the DLQ).
    """

    is_transient = True

    def __init__(self, message: str, *, retry_after_seconds: int | None = None, attempted: bool = True) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.attempted = attempted
