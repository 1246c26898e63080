"""One bundle per provider: everything Atende knows about a WhatsApp provider, in one module.

``atende.providers.<provider>`` (the module is named after the ``Provider`` value) exports
``BUNDLE``, a ``ProviderBundle`` that names

- its inbound parser and webhook proofs, and its registration function (``Ref``: named here,
  imported only when asked for),
- its webhook ingress factory and the routes it serves under ``/webhooks/<provider>``,
- its outbound client factory and media-source factory (processor side).

``BUNDLES`` imports a provider's module on first use: a webhook container serving Meta never
imports Evolution or Whaticket code, and a bundle module itself imports nothing but this one —
each factory imports its adapter when first called, so the webhook does not load clients and the
processor does not load ingresses. The composition root (``atende.bootstrap``) and the webhook
router (``functions/webhook/app.py``) go through the bundles and name no provider.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import import_module
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from atende.domain.messages import Provider
from atende.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from atende.channels.outbound import Messenger
    from atende.config import ProcessorSettings, WebhookSettings
    from atende.domain.tenants import Channel
    from atende.media.sources import MediaSource
    from atende.service.ingress import HttpResponse
    from atende.store.queue import InboundQueue
    from atende.store.secrets import SecretStore

# Plain classes with __slots__, not dataclasses: this module is on every webhook cold start,
# and creating a dataclass costs about 1 ms of import time each (measured on the dev machine).

WEBHOOK_PREFIX = "/webhooks/"
_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


class Ref:
    """A function named by where it lives (``"package.module:function"``), imported by ``load``.

    Lets a bundle name its parser, proofs and registration without the webhook importing the
    registration's tables or the processor importing the parsers.
    """

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        self.target = target

    def load(self) -> Callable[..., object]:
        module, _, name = self.target.partition(":")
        value = getattr(import_module(module), name)
        if not callable(value):
            raise TypeError(f"{self.target} is not callable")
        return cast(Callable[..., object], value)

    def __repr__(self) -> str:
        return f"Ref({self.target!r})"


# --- webhook side ----------------------------------------------------------------------------


class WebhookRequest(Protocol):
    """One HTTP delivery as a route reads it; the handler translates the API Gateway event and
    reads each part only when the route asks for it."""

    @property
    def params(self) -> Mapping[str, str]:
        """The path parameters the route's pattern names (``{connection}`` → ``"connection"``)."""
        ...

    def body(self) -> bytes:
        """The raw body, base64-decoded when API Gateway encoded it: what signatures cover."""
        ...

    def header(self, name: str) -> str | None:
        """One header; ``name`` in lower case."""
        ...

    def headers(self) -> Mapping[str, str]:
        """Every header, names lower-cased."""
        ...

    def query(self) -> Mapping[str, str]:
        """The query string's parameters, keys as sent (``hub.mode``)."""
        ...


class IngressContext(Protocol):
    """What every webhook ingress is built from, shared by the providers of one container
    (``atende.bootstrap.WebhookIngresses``)."""

    @property
    def settings(self) -> WebhookSettings: ...

    @property
    def queue(self) -> InboundQueue: ...

    @property
    def secrets(self) -> SecretStore: ...


class Route[IngressT]:  # IngressT: the provider's webhook use case (MetaIngress, …)
    """``method path`` → ``call(ingress, request)``; ``path`` in template.yaml's syntax
    (``/webhooks/whaticket/{connection}/{token}``), one template event per route."""

    __slots__ = ("_segments", "call", "method", "path")

    def __init__(self, method: str, path: str, call: Callable[[IngressT, WebhookRequest], HttpResponse]) -> None:
        self.method = method
        self.path = path
        self.call = call
        self._segments = tuple(path.split("/"))

    def __repr__(self) -> str:
        return f"Route({self.method!r}, {self.path!r})"

    @property
    def has_params(self) -> bool:
        return "{" in self.path

    def match(self, segments: Sequence[str]) -> Mapping[str, str] | None:
        """The path parameters when ``segments`` (a path split on ``/``) is this route's path.

        A parameter takes any one segment, even an empty one: the ingress decides what a
        channel name may be (``/webhooks/whaticket//x`` is an unknown channel, 403).
        """
        if len(segments) != len(self._segments):
            return None
        params: dict[str, str] = {}
        for pattern, value in zip(self._segments, segments, strict=True):
            if pattern.startswith("{"):
                params[pattern[1:-1]] = value
            elif pattern != value:
                return None
        return params


# --- processor side --------------------------------------------------------------------------


class OutboundContext:
    """What every outbound factory is given: one per processor container (``build_reply_service``)."""

    __slots__ = ("_shared", "http", "secrets", "settings")

    def __init__(self, *, settings: ProcessorSettings, secrets: SecretStore, http: httpx.Client) -> None:
        self.settings = settings
        self.secrets = secrets
        self.http = http  # one client (connection pool) for every provider's calls
        self._shared: dict[Callable[[], object], object] = {}

    def shared[T](self, make: Callable[[], T]) -> T:
        """``make()``, built once per context: state a provider keeps across its channels."""
        if make not in self._shared:
            self._shared[make] = make()
        return cast(T, self._shared[make])


def sending_endpoint(channel: Channel) -> tuple[str, str]:
    """A self-hosted provider's base URL and sending-credentials secret, from its channel item."""
    if not channel.access_token_secret_id or not channel.base_url:
        raise ConfigError(f"channel {channel.channel_id} has no base_url or credentials secret")
    return channel.base_url, channel.access_token_secret_id


# --- the bundle and the registry -------------------------------------------------------------


class ProviderBundle[IngressT]:
    """Everything about one provider; each module ``atende.providers.<provider>`` makes one."""

    __slots__ = (
        "_exact",
        "_exact_paths",
        "_patterned",
        "ingress",
        "media_source",
        "messenger",
        "parser",
        "proofs",
        "provider",
        "registration",
        "routes",
    )

    def __init__(
        self,
        *,
        provider: Provider,
        parser: Ref,
        proofs: tuple[Ref, ...],
        registration: Ref,
        ingress: Callable[[IngressContext], IngressT],
        routes: tuple[Route[IngressT], ...],
        messenger: Callable[[Channel, OutboundContext], Messenger],
        media_source: Callable[[Channel, Messenger, OutboundContext], MediaSource | None],
    ) -> None:
        self.provider = provider
        # Named, not imported: inbound JSON → normalised messages/statuses; the webhook's
        # authentication of a delivery; connecting a channel (admin CLI, local seed).
        self.parser = parser
        self.proofs = proofs
        self.registration = registration
        # Webhook: the use case, built once per container, and the routes that call it.
        self.ingress = ingress
        self.routes = routes
        # Processor, per message (secrets come from the context's cache): the channel's client,
        # and where its media files come from (None: this provider delivers no downloadable file).
        self.messenger = messenger
        self.media_source = media_source
        prefix = self.webhook_prefix
        for route in routes:
            if route.path != prefix and not route.path.startswith(prefix + "/"):
                raise ConfigError(f"{provider.value} route {route.path} is outside {prefix}")
        # Indexed once: a delivery to a fixed path (Meta's) costs one dict lookup to route.
        self._exact = {(r.method, r.path): r for r in routes if not r.has_params}
        self._exact_paths = frozenset(path for _, path in self._exact)
        self._patterned = tuple(r for r in routes if r.has_params)

    @property
    def webhook_prefix(self) -> str:
        return WEBHOOK_PREFIX + self.provider.value

    def route(self, method: str, path: str) -> RouteMatch | Literal[404, 405]:
        """This bundle's route for ``method path``, else 404 (no route has this path) or 405
        (routes have it, none with this method)."""
        exact = self._exact.get((method, path))
        if exact is not None:
            return RouteMatch(self, exact, _NO_PARAMS)
        status: Literal[404, 405] = 405 if path in self._exact_paths else 404
        segments = path.split("/")
        for route in self._patterned:
            params = route.match(segments)
            if params is None:
                continue
            if route.method == method:
                return RouteMatch(self, route, params)
            status = 405
        return status

    def __repr__(self) -> str:
        return f"ProviderBundle({self.provider.value!r})"


class BundleRegistry(Mapping[Provider, ProviderBundle[Any]]):
    """``Provider`` → its bundle, each module imported on first lookup."""

    def __init__(self) -> None:
        self._loaded: dict[str, ProviderBundle[Any]] = {}  # by Provider value (a StrEnum is its value)

    def named(self, name: str) -> ProviderBundle[Any] | None:
        """The bundle of the provider called ``name`` (a webhook path segment), if there is one."""
        bundle = self._loaded.get(name)
        if bundle is not None:
            return bundle
        try:
            return self[Provider(name)]
        except (ValueError, KeyError):
            return None

    def __getitem__(self, provider: Provider) -> ProviderBundle[Any]:
        bundle = self._loaded.get(provider)
        if bundle is not None:
            return bundle
        try:
            provider = Provider(provider)
        except ValueError:
            raise KeyError(provider) from None
        module_name = f"{__name__}.{provider.value}"
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # the bundle exists but something it imports does not: a real error
            raise KeyError(provider) from None
        bundle = getattr(module, "BUNDLE", None)
        if not isinstance(bundle, ProviderBundle) or bundle.provider is not provider:
            raise ConfigError(f"{module_name}.BUNDLE is not the ProviderBundle of {provider.value}")
        self._loaded[provider] = bundle
        return bundle

    def __iter__(self) -> Iterator[Provider]:
        from importlib.util import find_spec

        return iter([p for p in Provider if find_spec(f"{__name__}.{p.value}") is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)


BUNDLES = BundleRegistry()


class RouteMatch:
    """The route a request goes to, the bundle it belongs to, and the path's parameters."""

    __slots__ = ("bundle", "params", "route")

    def __init__(self, bundle: ProviderBundle[Any], route: Route[Any], params: Mapping[str, str]) -> None:
        self.bundle = bundle
        self.route = route
        self.params = params


def match_route(method: str, path: str) -> RouteMatch | Literal[404, 405]:
    """The route serving ``method path`` (``path`` without a trailing slash), else the status to
    answer: 404 when no route has this path, 405 when routes have it but not this method.

    Only the bundle the path names is imported (``/webhooks/<provider>/…``).
    """
    if not path.startswith(WEBHOOK_PREFIX):
        return 404
    bundle = BUNDLES.named(path[len(WEBHOOK_PREFIX) :].partition("/")[0])
    if bundle is None:
        return 404
    return bundle.route(method, path)
