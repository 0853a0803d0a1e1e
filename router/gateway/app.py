"""The gateway's ASGI application: authenticate, parse, route through AsyncRouter, answer.

One :class:`Gateway` per process holds the :class:`~router.AsyncRouter` and the
key ring; the keys' in-flight counts live in the router's state store, shared
by every gateway process on it. Each endpoint speaks one wire
format (:mod:`.openai_wire`, :mod:`.anthropic_wire`); everything else —
keys, the context floor, body limits, the ``x-router-*`` answer headers,
errors, the access log and the server span — is shared here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..client import AsyncRouter, AsyncStream
from ..config.schema import Config, GatewayConfig, GatewayKey
from ..state.base import Acquired, LimitCharge
from .access import AccessEntry
from .body import parse_json, read_body
from .context import BadHeader, request_context
from .errors import GatewayError, classify
from .keys import KeyRing, presented_key
from .openai_wire import OPENAI, ChatCall

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from ..targets import Target
    from ..types import ChatResponse
    from .metrics import Render

__all__ = [
    "CONFIG_ENV",
    "NO_AUTH_ENV",
    "SLOT_HOLD_S",
    "SLOT_PREFIX",
    "SLOT_RENEW_S",
    "Gateway",
    "Wire",
    "create_app",
    "from_environment",
    "header_map",
    "is_loopback",
    "router_for",
]

CONFIG_ENV = "LLM_ROUTER_GATEWAY_CONFIG"
"""The config file a worker process loads (``llm-router serve`` sets it)."""
NO_AUTH_ENV = "LLM_ROUTER_GATEWAY_NO_AUTH"

SLOT_PREFIX = "gateway:inflight:"
"""Store key prefix of a gateway key's in-flight count (``max_in_flight``), by key name."""
SLOT_HOLD_S = 120.0
"""A slot's lease in the store (seconds): renewed every :data:`SLOT_RENEW_S` while its
request runs, so a process that dies holding slots frees them within this long."""
SLOT_RENEW_S = 30.0
"""How often a process renews the leases of its requests in flight (seconds)."""

log = logging.getLogger("router.gateway")


class Wire(Protocol):
    """One API's shapes: request in, answer, stream events and errors out."""

    def parse(self, body: object) -> ChatCall:
        """The call a request body asks for (a 400 :class:`GatewayError` if malformed)."""
        ...

    def error_body(self, err: GatewayError) -> bytes:
        """An error answer's body."""
        ...

    def response(self, resp: ChatResponse, call: ChatCall, fallback_id: str) -> bytes:
        """A whole answer's body."""
        ...

    def events(self, stream: AsyncStream, call: ChatCall, fallback_id: str) -> AsyncIterator[bytes]:
        """The SSE events of a stream, ending with an error event if it fails midway."""
        ...


def _opened_target(stream: AsyncStream) -> Target | None:
    # Known once the stream is entered (fallbacks happen before the first content).
    return stream.target


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Slot:
    """One request's hold on its key's in-flight count."""

    ticket: str
    key: str
    limit: int


class Gateway:
    """The state of one gateway process and its request handling."""

    def __init__(
        self,
        router: AsyncRouter,
        *,
        auth: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.router = router
        self.tracer = trace.get_tracer("router.gateway", tracer_provider=tracer_provider)
        meter = otel_metrics.get_meter("router.gateway", meter_provider=meter_provider)
        self.requests = meter.create_counter(
            "router.gateway.requests", unit="{request}", description="HTTP requests by status"
        )
        config: Config = router.config
        self.settings: GatewayConfig = config.gateway or GatewayConfig()
        self.keys = KeyRing(self.settings.keys)
        self.auth = auth
        if auth and not len(self.keys):
            raise ValueError("the gateway has no keys (gateway.keys) and auth is on")
        self.levels = tuple(config.sensitivity.levels)
        self.names = (*config.routes, *(m for m in config.models if m not in config.routes))
        # Slot tickets: unique across processes sharing the store, cheap to make.
        self._ticket_prefix = f"gw:{uuid.uuid4().hex[:12]}:"
        self._tickets = 0
        self._held: dict[str, _Slot] = {}
        """This process's slots in flight, by ticket: their leases are renewed."""
        self._renewer: asyncio.Task[None] | None = None
        self.tracing = config.telemetry.enabled

    # -- the parts every endpoint shares ------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> GatewayKey | None:
        """The key presented, or a 401; ``None`` when auth is off."""
        if not self.auth:
            return None
        key = self.keys.match(presented_key(headers))
        if key is None:
            raise GatewayError(
                401,
                "missing or unknown API key",
                type="invalid_request_error",
                code="invalid_api_key",
            )
        return key

    def allowed(self, key: GatewayKey | None) -> tuple[str, ...]:
        """The route and model names ``key`` may ask for."""
        if key is None or key.routes is None:
            return self.names
        return key.routes

    def check_model(self, key: GatewayKey | None, model: str) -> None:
        """A 404 for a model that does not exist or that ``key`` may not use."""
        if model not in self.allowed(key):
            # The same answer for both: a key does not learn what other keys may use.
            raise GatewayError(
                404,
                # The name is not echoed: a client may have pasted a key into it.
                "the requested model does not exist or this key may not use it",
                code="model_not_found",
                param="model",
            )

    @asynccontextmanager
    async def slot(self, key: GatewayKey | None) -> AsyncIterator[None]:
        """Hold one of the key's ``max_in_flight`` slots while the block runs (429 when
        none is free): :meth:`acquire` and :meth:`release`."""
        ticket = await self.acquire(key)
        try:
            yield
        finally:
            await self.release(ticket)

    async def acquire(self, key: GatewayKey | None) -> _Slot | None:
        """Take one of ``key``'s ``max_in_flight`` slots in the state store, or a 429.

        The count is shared by every gateway process on the store (one atomic
        ``limit_acquire``, awaited on the router's async store); ``None`` when the
        key has no limit. Give it back with :meth:`release`, whatever happens.
        """
        if key is None or key.max_in_flight is None:
            return None
        self._tickets += 1
        slot = _Slot(
            f"{self._ticket_prefix}{self._tickets}", SLOT_PREFIX + key.name, key.max_in_flight
        )
        # Shielded: a slot taken in the store is always known here, to be released.
        with anyio.CancelScope(shield=True):
            got = await self._take(slot)
        if not got.ok:
            raise GatewayError(
                429,
                f"more than {key.max_in_flight} requests in flight for this key",
                type="rate_limit_error",
                code="too_many_in_flight",
                headers={"retry-after": "1"},
            )
        self._held[slot.ticket] = slot
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew())
        return slot

    def _take(self, slot: _Slot) -> Awaitable[Acquired]:
        # Taking a ticket's slot again renews its lease (every store keys holds by ticket).
        charge = LimitCharge(slot.key, slot.limit)
        return self.router.async_store.limit_acquire(
            slot.ticket, (charge,), now=time.time(), hold_s=SLOT_HOLD_S
        )

    async def _renew(self) -> None:
        """Renew the leases of this process's slots in flight until there are none."""
        while self._held:
            await asyncio.sleep(SLOT_RENEW_S)
            for slot in list(self._held.values()):
                try:
                    await self._take(slot)
                except Exception as e:
                    log.warning("could not renew an in-flight slot (%s)", type(e).__name__)
                    continue
                if slot.ticket not in self._held:
                    # Released while the renewal was on its way: it may have put the
                    # hold back after the release removed it.
                    await self._give_back(slot)

    async def aclose(self) -> None:
        """Stop renewing leases (the server is stopping)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(BaseException):
                await self._renewer
            self._renewer = None

    async def release(self, slot: _Slot | None) -> None:
        """Give back a slot :meth:`acquire` took. Shielded from cancellation (a client
        that left, a server stopping); a store that fails here is logged, and the
        slot then expires after :data:`SLOT_HOLD_S`."""
        if slot is None:
            return
        self._held.pop(slot.ticket, None)
        with anyio.CancelScope(shield=True):
            await self._give_back(slot)

    async def _give_back(self, slot: _Slot) -> None:
        try:
            await self.router.async_store.limit_release(slot.ticket, (slot.key,))
        except Exception as e:
            log.warning(
                "could not release an in-flight slot (%s); it expires in %.0f s",
                type(e).__name__,
                SLOT_HOLD_S,
            )

    def error_response(self, wire: Wire, err: GatewayError, entry: AccessEntry) -> Response:
        """``err`` as ``wire``'s error body, with its status and headers."""
        headers = dict(err.headers)
        if err.decision_id:
            headers["x-router-decision-id"] = err.decision_id
        entry.status = err.status
        entry.error = err.code or err.type
        entry.decision_id = err.decision_id
        return Response(
            wire.error_body(err),
            status_code=err.status,
            headers=headers,
            media_type="application/json",
        )

    def finish(self, entry: AccessEntry) -> None:
        """A request is answered: its access-log line, its count by path and status."""
        if self.settings.access_log:
            entry.write()
        self.requests.add(1, {"http.route": entry.path, "http.response.status_code": entry.status})

    # -- one chat call, in any wire format ------------------------------------------

    async def chat(self, request: Request, wire: Wire) -> Response:
        """Serve one chat request (JSON or SSE) in ``wire``'s shapes."""
        headers = header_map(request.scope)
        entry = AccessEntry(request.method, request.scope["path"])
        span, token = self._server_span(request, headers)

        def done() -> None:
            self.finish(entry)
            _end_span(span, entry)

        streamed = False
        try:
            response = await self._chat(request, headers, wire, entry)
            if isinstance(response, _Streamed):
                streamed = True  # the stream writes the log and ends the span when it ends
                response.on_end.append(done)
            return response
        finally:
            if token is not None:
                otel_context.detach(token)
            if not streamed:
                done()

    async def _chat(
        self, request: Request, headers: Mapping[str, str], wire: Wire, entry: AccessEntry
    ) -> Response:
        try:
            key = self.authenticate(headers)
            if key is not None:
                entry.key, entry.tenant = key.name, key.tenant
            raw = await read_body(headers, request.stream(), self.settings.max_body_bytes)
            call = wire.parse(parse_json(raw))
            entry.stream = call.stream
            self.check_model(key, call.model)
            entry.model = call.model
            try:
                ctx = request_context(key, headers, self.levels, call.user)
            except BadHeader as e:
                raise GatewayError(400, str(e), param=e.field) from None
            if call.stream:
                return await self._stream(wire, call, ctx, key, entry)
            async with self.slot(key):
                resp = await self.router.chat(
                    call.messages, model=call.model, context=ctx, **call.params
                )
        except Exception as e:
            return self.error_response(wire, self._classify(e), entry)
        route = resp.route
        assert route is not None
        entry.status, entry.decision_id = 200, route.decision_id
        entry.target, entry.zone = route.target, route.zone
        headers = {
            "x-router-decision-id": route.decision_id,
            "x-router-route": route.route,
            "x-router-target": route.target,
            "x-router-zone": route.zone,
            "x-router-cost-usd": f"{route.cost_usd:.10f}".rstrip("0").rstrip(".") or "0",
        }
        if route.cache is not None:
            headers["x-router-cache"] = route.cache
        body = wire.response(resp, call, f"chatcmpl-{route.decision_id}")
        return Response(body, headers=headers, media_type="application/json")

    async def _stream(
        self, wire: Wire, call: ChatCall, ctx: Any, key: GatewayKey | None, entry: AccessEntry
    ) -> Response:
        slot = await self.acquire(key)
        try:
            stream = self.router.stream(call.messages, model=call.model, context=ctx, **call.params)
            # Entering tries the plan up to the first content: a failure here is still
            # an ordinary HTTP error, with its status.
            await stream.__aenter__()
        except BaseException:
            await self.release(slot)
            raise
        decision = stream.decision
        target = _opened_target(stream)
        entry.status, entry.decision_id = 200, decision.id
        headers = {
            "x-router-decision-id": decision.id,
            "x-router-route": decision.route,
            "cache-control": "no-cache",
        }
        if target is not None:
            headers["x-router-target"] = target.name
            headers["x-router-zone"] = target.zone
            entry.target, entry.zone = target.name, target.zone
        if stream.cache is not None:
            headers["x-router-cache"] = stream.cache

        async def close() -> None:
            try:
                await stream.aclose()
            finally:
                await self.release(slot)

        events = wire.events(stream, call, f"chatcmpl-{decision.id}")
        return _Streamed(events, close, headers=headers)

    def _classify(self, e: BaseException) -> GatewayError:
        err = classify(e)
        if err.status >= 500 and err.code == "internal_error":
            # The type only: an unexpected error's text could quote request content.
            log.error("unexpected error serving a request: %s", type(e).__name__)
        return err

    def _server_span(
        self, request: Request, headers: Mapping[str, str]
    ) -> tuple[trace.Span | None, Token[otel_context.Context] | None]:
        """A SERVER span continuing the caller's ``traceparent``, made current."""
        if not self.tracing:
            return None, None
        parent = propagate.extract(headers)
        path = request.scope["path"]
        span = self.tracer.start_span(
            f"{request.method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": path},
        )
        if not span.is_recording():
            return None, None
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    # -- the other endpoints ------------------------------------------------------

    async def models(self, request: Request) -> Response:
        """``GET /v1/models``: the names the presented key may use as ``model``."""
        entry = AccessEntry(request.method, request.scope["path"])
        try:
            key = self.authenticate(header_map(request.scope))
        except GatewayError as e:
            response = self.error_response(OPENAI, e, entry)
            self.finish(entry)
            return response
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "llm-router"}
            for name in self.allowed(key)
        ]
        entry.status = 200
        self.finish(entry)
        return Response(json.dumps({"object": "list", "data": data}), media_type="application/json")

    async def healthz(self, request: Request) -> Response:
        """200 once the config is loaded and the server serves."""
        return Response('{"status":"ok"}', media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        """200 when the state store answers (within 2 s), else 503."""
        # The async store every call's state steps are awaited on: never blocks the loop.
        store = self.router.async_store
        try:
            await asyncio.wait_for(store.budget_usage("gateway:readyz", now=time.time()), 2.0)
        except Exception as e:
            body = {"status": "unavailable", "state_store": type(e).__name__}
            return Response(json.dumps(body), status_code=503, media_type="application/json")
        return Response('{"status":"ready"}', media_type="application/json")


def header_map(scope: Mapping[str, Any]) -> dict[str, str]:
    """A request's headers as one dict, built once: lower-case names (as ASGI gives them),
    the first value of a repeated header (as starlette's ``Headers.get``)."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        k = name.decode("latin-1")
        if k not in out:
            out[k] = value.decode("latin-1")
    return out


def _end_span(span: trace.Span | None, entry: AccessEntry) -> None:
    if span is None:
        return
    span.set_attribute("http.response.status_code", entry.status)
    if entry.decision_id:
        span.set_attribute("llm_router.decision_id", entry.decision_id)
    if entry.status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


class _Streamed(StreamingResponse):
    """An SSE answer that closes its router stream however the response ends.

    A client that leaves cancels the response, possibly before the body was
    iterated at all: closing here (shielded from that cancellation) still
    releases the budget hold and the key's slot, and writes the audit record.
    """

    def __init__(
        self,
        events: AsyncIterator[bytes],
        close: Callable[[], Awaitable[None]],
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(events, media_type="text/event-stream", headers=headers)
        self._close = close
        self.on_end: list[Callable[[], None]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self._close()
                finally:
                    for fn in self.on_end:
                        fn()


class _App(Starlette):
    """Starlette, with the chat endpoints dispatched straight from ``__call__``.

    They answer every error themselves (:meth:`Gateway.chat` turns any
    exception into a JSON error), so the middleware layers and the route
    matching starlette runs for each request are of no use to them and cost
    a few frames per request; every other request (lifespan, the other
    endpoints, unknown paths) goes through starlette as usual.
    """

    fast: dict[str, Callable[[Request], Awaitable[Response]]]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handle = self.fast.get(scope["path"])
            if handle is not None:
                scope["app"] = self
                response = await handle(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    router: AsyncRouter,
    *,
    auth: bool = True,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    metrics: Render | None = None,
) -> Starlette:
    """The ASGI app serving ``router``; it closes the router when the server stops.

    ``auth=False`` serves without keys (``--no-auth``). ``tracer_provider`` /
    ``meter_provider``: where the gateway's SERVER spans and request counts go
    (default: the global ones; give the router the same). ``metrics``: renders
    ``GET /metrics`` (:func:`router.gateway.metrics.prometheus`); the meter provider
    is shut down with the app.
    """
    from .anthropic_wire import ANTHROPIC

    gateway = Gateway(
        router, auth=auth, tracer_provider=tracer_provider, meter_provider=meter_provider
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            try:
                await gateway.aclose()
                await router.aclose()
            finally:
                if metrics is not None and meter_provider is not None:
                    shutdown = getattr(meter_provider, "shutdown", None)
                    if shutdown is not None:
                        shutdown()

    def endpoint(
        fn: Callable[[Request, Wire], Awaitable[Response]], wire: Wire
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await fn(request, wire)

        return handle

    fast = {
        "/v1/chat/completions": endpoint(gateway.chat, OPENAI),
        "/v1/messages": endpoint(gateway.chat, ANTHROPIC),
    }
    routes = [
        # Served by _App.__call__ first; kept here for the 405 on other methods.
        *(Route(path, handle, methods=["POST"]) for path, handle in fast.items()),
        Route("/v1/models", gateway.models, methods=["GET"]),
        Route("/healthz", gateway.healthz, methods=["GET"]),
        Route("/readyz", gateway.readyz, methods=["GET"]),
    ]
    if metrics is not None:
        render = metrics

        async def scrape(request: Request) -> Response:
            body, content_type = render()
            return Response(body, headers={"content-type": content_type})

        routes.append(Route("/metrics", scrape, methods=["GET"]))

    async def no_route(request: Request, exc: Exception) -> Response:
        # Unknown paths and methods answer in OpenAI's error shape too (not starlette's text).
        status = getattr(exc, "status_code", 404)
        # The path is not echoed: it is the client's text, and could hold anything.
        err = GatewayError(status, "no such endpoint, or not with this method", code="not_found")
        return Response(OPENAI.error_body(err), status_code=status, media_type="application/json")

    handlers = {404: no_route, 405: no_route}
    app = _App(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.fast = fast
    app.state.gateway = gateway
    return app


def router_for(config: Config | str | os.PathLike[str], **options: Any) -> AsyncRouter:
    """An AsyncRouter for the gateway, with the upstream transport ``gateway.transport``
    names; ``options``: AsyncRouter's other keyword arguments."""
    if isinstance(config, Config):
        settings = config.gateway or GatewayConfig()
        make: Callable[..., AsyncRouter] = lambda **kw: AsyncRouter(config, **kw, **options)  # noqa: E731
    else:
        from ..config import load_file

        settings = load_file(config).gateway or GatewayConfig()
        make = lambda **kw: AsyncRouter.from_file(config, **kw, **options)  # noqa: E731
    # "auto": aiohttp when httpx-aiohttp is installed (AsyncRouter resolves it).
    return make(transport_factory=None if settings.transport == "httpx" else settings.transport)


def from_environment() -> Starlette:
    """The app for the config file ``$LLM_ROUTER_GATEWAY_CONFIG`` (uvicorn's factory, per
    worker process); ``$LLM_ROUTER_GATEWAY_NO_AUTH=1`` turns key checks off."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set (start the gateway with llm-router serve)")
    from ..config import load_file

    settings = load_file(path).gateway or GatewayConfig()
    auth = os.environ.get(NO_AUTH_ENV) != "1"
    if not settings.metrics:
        return create_app(router_for(path), auth=auth)
    from .metrics import prometheus

    provider, render = prometheus()
    router = router_for(path, meter_provider=provider)
    return create_app(router, auth=auth, meter_provider=provider, metrics=render)
