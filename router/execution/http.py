"""Sending to HTTP targets: one pooled httpx transport per provider, sync and async.

The adapter does all translation (sans-IO); this module only moves bytes and
turns transport failures into the exception tree. The functions that are not
I/O (building, checking, decoding) are shared by both senders.

Requests go straight to an httpx *transport* (the connection pool), not through
``httpx.Client``: an API call needs none of the client's cookie jar, auth
flows, redirect handling or URL merging, and skipping them removes most of
what a call costs over the network round trip. What the client would still
add is done here: default headers, the JSON body, timeouts, and proxies from
the environment (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY``).
A blocking embedding request, read whole, goes one level lower still: to the
httpcore pool inside the transport (:func:`_core_exchange`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..credentials import scrub_error
from ..errors import (
    AuthenticationError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ..providers import Adapter, HttpRequest, adapter_for
from ..targets import Target
from ..types import ChatChunk, ChatRequest, ChatResponse

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncHttpSender", "HttpSender", "env_proxy", "timeouts"]

# httpx is imported where a pool is built, not at module load: creating a
# router (and a router whose targets are all embedded) never pays for it.

_MIN_TIMEOUT_S = 0.001

_HEADER_SETS = 64
"""Distinct header sets a pool keeps normalised (keys and URLs rarely vary)."""

_DEFAULT_HEADERS = {
    "user-agent": f"llm-policy-router/{__version__}",
    "accept-encoding": "gzip, deflate",
}


def timeouts(
    t: Target, cap_s: float | None = None, read_cap_s: float | None = None
) -> dict[str, float]:
    """The provider's timeouts (httpx's ``timeout`` extension), each capped by what
    the deadline leaves (``cap_s``); the read timeout also by ``read_cap_s``
    (a stream's first-token timeout)."""
    c = t.provider_config.timeout
    if cap_s is None and read_cap_s is None:
        return {"connect": c.connect_s, "read": c.read_s, "write": c.write_s, "pool": c.pool_s}

    def cap(v: float, *extra: float | None) -> float:
        for x in (cap_s, *extra):
            if x is not None:
                v = min(v, x)
        return max(_MIN_TIMEOUT_S, v)

    return {
        "connect": cap(c.connect_s),
        "read": cap(c.read_s, read_cap_s),
        "write": cap(c.write_s),
        "pool": cap(c.pool_s),
    }


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``*_PROXY``, ``NO_PROXY``), if any."""
    import urllib.request  # ssl and http.client: not worth loading at import time

    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme.lower()) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _past(deadline: float | None, t: Target) -> None:
    """Raise the deadline's timeout once it has passed (between reads)."""
    if deadline is not None and time.monotonic() > deadline:
        raise scrub(ProviderTimeout("deadline exceeded while reading", code="deadline"), t)


def _limits(t: Target) -> httpx.Limits:
    import httpx

    n = t.provider_config.max_connections
    return httpx.Limits(max_connections=n, max_keepalive_connections=n)


def scrub(err: ProviderError, t: Target) -> ProviderError:
    """Tag an error with its target and scrub every configured secret of its provider
    (key, header values, URL userinfo and query values) from all it renders."""
    scrub_error(err, t.secrets)
    err.target = t.name
    err.provider = t.provider_name
    return err


def transport_error(exc: Exception, t: Target) -> ProviderError:
    """A transport failure (no HTTP answer) as a provider error: one of httpx's
    ``HTTPError``s, or of the httpcore errors httpx's transport turns into them
    (:func:`_core_errors`; the same class names)."""
    import httpcore
    import httpx

    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException):
        err: ProviderError = ProviderTimeout(f"{type(exc).__name__}", code="timeout")
    else:
        err = ProviderUnavailable(f"{type(exc).__name__}", code="connection")
    return scrub(err, t)


def _core_errors() -> tuple[type[Exception], ...]:
    """What a send through the httpcore pool inside httpx's transport raises when
    no HTTP answer came: httpcore's errors, which the transport would turn into
    httpx's ``HTTPError`` subclasses, and httpx's own (a stand-in pool such as
    respx's raises those)."""
    import httpcore
    import httpx

    return (
        httpcore.TimeoutException,
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.ProxyError,
        httpcore.UnsupportedProtocol,
        httpx.HTTPError,
    )


def _core_exchange(
    t: Target, pool: _Pool, http: HttpRequest, timeout: dict[str, float], deadline: float | None
) -> tuple[int, httpx.Headers, bytes]:
    """:meth:`HttpSender.exchange` through the httpcore pool of the provider's transport.

    What ``httpx.HTTPTransport.handle_request`` and ``Response.iter_bytes`` do for
    a whole body, without their per-call request, response and stream objects
    (about 30 us of a 500 us one-input embedding call). The errors are the same
    (``transport_error`` maps httpcore's as it maps httpx's), and so is a
    compressed body (decoded by an ``httpx.Response``, only then).
    """
    import httpx

    try:
        resp = pool.core.handle_request(pool.core_request(http, timeout))
        try:
            parts = []
            for part in resp.stream:
                parts.append(part)
                _past(deadline, t)
        finally:
            resp.close()
    except _core_errors() as e:
        raise transport_error(e, t) from None
    headers = httpx.Headers(resp.headers)
    body = b"".join(parts)
    if headers.get("content-encoding", "identity") != "identity":
        try:
            body = httpx.Response(resp.status, headers=headers, content=body).read()
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
    return resp.status, headers, body


def _emitted(read: tuple[list[ChatChunk], ProviderError | None]) -> Iterator[ChatChunk]:
    """The chunks one read of a stream made, then the error a line of it carried (if
    any): shared by the sync and async streams, so both deliver before they fail."""
    chunks, err = read
    yield from chunks
    if err is not None:
        raise err


def _tokens_needed(request: ChatRequest) -> int:
    """A rough size of ``request`` in tokens (text / 4, plus its output cap): enough to
    tell whether a provider's remaining tokens would take another like it."""
    chars = 0
    for m in request.messages:
        c = m.content
        if isinstance(c, str):
            chars += len(c)
        elif c:
            chars += sum(len(str(part)) for part in c)
    return chars // 4 + (request.max_tokens or 0)


# The same encoding httpx's ``json=`` uses: compact, UTF-8, no NaN. One encoder
# for every body: ``json.dumps`` with arguments builds a new one per call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _encode(http: HttpRequest) -> bytes:
    return _JSON.encode(http.json).encode()


_HeadersKey = tuple[str, tuple[tuple[str, str], ...]]


class _Pool:
    """One provider's transport, and the parsed URLs and headers its requests reuse.

    ``core`` is the httpcore pool (or proxy) inside a plain ``httpx.HTTPTransport``,
    which :meth:`HttpSender.exchange` sends through directly; ``None`` for any other
    transport, which is always asked itself.
    """

    __slots__ = ("core", "core_parts", "headers", "transport", "urls")

    def __init__(self, transport: Any) -> None:
        import httpx

        self.transport = transport
        self.urls: dict[str, httpx.URL] = {}
        self.headers: dict[_HeadersKey, httpx.Headers] = {}
        self.core_parts: dict[_HeadersKey, tuple[Any, list[tuple[bytes, bytes]]]] = {}
        core = getattr(transport, "_pool", None) if type(transport) is httpx.HTTPTransport else None
        self.core: Any = core if callable(getattr(core, "handle_request", None)) else None

    def _headers(self, http: HttpRequest) -> tuple[_HeadersKey, httpx.URL, httpx.Headers]:
        """The parsed URL and the normalised headers of ``http`` (no content-length)."""
        import httpx

        url = self.urls.get(http.url)
        if url is None:
            url = self.urls[http.url] = httpx.URL(http.url)
        key = (http.url, tuple(http.headers.items()))
        base = self.headers.get(key)
        if base is None:
            if len(self.headers) >= _HEADER_SETS:  # e.g. a per-request header: stop caching
                self.headers.clear()
                self.core_parts.clear()
            base = httpx.Headers({"host": url.netloc.decode("ascii"), **_DEFAULT_HEADERS})
            base.update(http.headers)
            self.headers[key] = base
        return key, url, base

    def core_request(self, http: HttpRequest, timeout: dict[str, float]) -> Any:
        """The ``httpcore.Request`` that ``httpx.HTTPTransport`` would make of
        :meth:`build`'s request: the same URL parts, header bytes and body."""
        import httpcore

        key, url, base = self._headers(http)
        parts = self.core_parts.get(key)
        if parts is None:
            target = httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            )
            parts = self.core_parts[key] = (target, list(base.raw))
        body = _encode(http)
        headers = [*parts[1], (b"content-length", str(len(body)).encode())]
        return httpcore.Request(
            http.method, parts[0], headers=headers, content=body, extensions={"timeout": timeout}
        )

    def build(self, http: HttpRequest, timeout: dict[str, float]) -> httpx.Request:
        """The ``httpx.Request`` for ``http``: what ``httpx.Request(content=...)`` builds,
        with the URL parsed and the headers normalised once per distinct set."""
        import httpx

        _, url, base = self._headers(http)
        body = _encode(http)
        headers = httpx.Headers(base)
        headers["content-length"] = str(len(body))
        req = httpx.Request(
            http.method,
            url,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"timeout": timeout},
        )
        req.read()  # the body is in memory: make ``request.content`` available to transports
        return req


class _Prepared:
    __slots__ = ("adapter", "http")

    def __init__(self, adapter: Adapter, http: HttpRequest) -> None:
        self.adapter = adapter
        self.http = http


class _Base:
    """Adapter lookup, pools and request building, shared by the sync and async senders."""

    on_headers: Callable[[Target, Callable[[], int], int, Mapping[str, str]], None] | None = None
    """Told every response's (target, the tokens its request may use — computed on
    demand —, status, headers): how provider rate-limit headers reach the limiter."""

    def __init__(self, make_transport: Callable[[Target], Any]) -> None:
        self._adapters: dict[str, Adapter] = {}
        self._pools: dict[str, _Pool] = {}
        self._make_transport = make_transport
        self._lock = threading.Lock()

    def _pool(self, t: Target) -> _Pool:
        p = self._pools.get(t.provider)
        if p is None:
            with self._lock:
                p = self._pools.get(t.provider)
                if p is None:
                    p = self._pools[t.provider] = _Pool(self._make_transport(t))
        return p

    def transports(self) -> dict[str, Any]:
        """Provider name → the transport its requests went through (built on first use)."""
        return {name: p.transport for name, p in self._pools.items()}

    def _prepare(self, t: Target, request: ChatRequest, stream: bool) -> _Prepared:
        if t.endpoint.quirks.requires_key and not t.endpoint.api_key:
            raise scrub(
                AuthenticationError(
                    f"no API key for provider {t.provider!r}: set "
                    + (t.api_key_env or "api_key in the config"),
                    code="missing_api_key",
                ),
                t,
            )
        adapter = self._adapters.get(t.provider)
        if adapter is None:
            adapter = adapter_for(t.kind, t.provider_name)
            self._adapters[t.provider] = adapter
        return _Prepared(adapter, adapter.build_request(t.endpoint, request, stream=stream))

    def _heard(self, t: Target, request: ChatRequest, resp: httpx.Response) -> None:
        hook = self.on_headers
        if hook is not None:
            hook(t, lambda: _tokens_needed(request), resp.status_code, resp.headers)

    @staticmethod
    def _raise(p: _Prepared, t: Target, resp: httpx.Response, body: bytes) -> ChatResponse:
        raise scrub(p.adapter.parse_error(resp.status_code, resp.headers, body), t)

    @staticmethod
    def _parse(p: _Prepared, t: Target, body: bytes) -> ChatResponse:
        try:
            return p.adapter.parse_response(body)
        except ProviderError as e:
            raise scrub(e, t) from None


def _sync_transport(t: Target) -> httpx.BaseTransport:
    import httpx

    return httpx.HTTPTransport(limits=_limits(t), proxy=env_proxy(t.endpoint.base_url))


def _async_transport(t: Target) -> httpx.AsyncBaseTransport:
    import httpx

    return httpx.AsyncHTTPTransport(limits=_limits(t), proxy=env_proxy(t.endpoint.base_url))


class HttpSender(_Base):
    """Blocking sends through one pooled ``httpx.HTTPTransport`` per provider."""

    def __init__(self) -> None:
        super().__init__(_sync_transport)

    def _open(self, t: Target, p: _Prepared, timeout: dict[str, float]) -> httpx.Response:
        import httpx

        pool = self._pool(t)
        try:
            return pool.transport.handle_request(pool.build(p.http, timeout))  # type: ignore[no-any-return]
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None

    def complete(
        self, t: Target, request: ChatRequest, *, timeout_s: float | None = None
    ) -> ChatResponse:
        """One non-streaming call, over by ``timeout_s`` (checked between reads)."""
        import httpx

        p = self._prepare(t, request, stream=False)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        resp = self._open(t, p, timeouts(t, timeout_s))
        self._heard(t, request, resp)
        try:
            parts = []
            for part in resp.iter_bytes():
                parts.append(part)
                _past(deadline, t)
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        finally:
            resp.close()
        body = b"".join(parts)
        if resp.status_code >= 300:
            return self._raise(p, t, resp, body)
        return self._parse(p, t, body)

    def exchange(
        self, t: Target, http: HttpRequest, *, timeout_s: float | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """Send a request an adapter other than the chat one built (embeddings): its
        status, headers and whole body, over by ``timeout_s`` (checked between reads)."""
        import httpx

        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pool = self._pool(t)
        if pool.core is not None:
            return _core_exchange(t, pool, http, timeouts(t, timeout_s), deadline)
        try:
            resp = pool.transport.handle_request(pool.build(http, timeouts(t, timeout_s)))
            try:
                parts = []
                for part in resp.iter_bytes():
                    parts.append(part)
                    _past(deadline, t)
            finally:
                resp.close()
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        return resp.status_code, resp.headers, b"".join(parts)

    def stream(
        self,
        t: Target,
        request: ChatRequest,
        *,
        timeout_s: float | None = None,
        first_token_s: float | None = None,
    ) -> Iterator[ChatChunk]:
        """A generator of chunks; closing it closes the connection.

        The per-read timeout is capped by ``timeout_s`` and ``first_token_s``
        (a blocking read cannot be interrupted otherwise).
        """
        import httpx

        p = self._prepare(t, request, stream=True)
        resp = self._open(t, p, timeouts(t, timeout_s, first_token_s))
        self._heard(t, request, resp)
        try:
            if resp.status_code >= 300:
                self._raise(p, t, resp, resp.read())
            decoder = p.adapter.stream_decoder()
            try:
                decode = decoder.feed_bytes
                for part in resp.iter_bytes():
                    yield from _emitted(decode(part))
                yield from _emitted(decoder.flush_bytes())
                yield from decoder.close()
            except ProviderError as e:
                raise scrub(e, t) from None
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        finally:
            resp.close()

    def close(self) -> None:
        """Close every pooled connection."""
        for p in self._pools.values():
            p.transport.close()
        self._pools.clear()


class AsyncHttpSender(_Base):
    """Non-blocking sends through one pooled ``httpx.AsyncHTTPTransport`` per provider
    (or what ``transport_factory(target)`` returns)."""

    def __init__(self, transport_factory: Callable[[Target], Any] | None = None) -> None:
        super().__init__(transport_factory or _async_transport)

    async def _open(self, t: Target, p: _Prepared, timeout: dict[str, float]) -> httpx.Response:
        import httpx

        pool = self._pool(t)
        try:
            return await pool.transport.handle_async_request(pool.build(p.http, timeout))  # type: ignore[no-any-return]
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None

    async def complete(
        self, t: Target, request: ChatRequest, *, timeout_s: float | None = None
    ) -> ChatResponse:
        """One non-streaming call (the driver bounds its total time)."""
        import httpx

        p = self._prepare(t, request, stream=False)
        resp = await self._open(t, p, timeouts(t, timeout_s))
        self._heard(t, request, resp)
        try:
            body = await resp.aread()
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        finally:
            await resp.aclose()
        if resp.status_code >= 300:
            return self._raise(p, t, resp, body)
        return self._parse(p, t, body)

    async def exchange(
        self, t: Target, http: HttpRequest, *, timeout_s: float | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """:meth:`HttpSender.exchange`, awaited (the caller bounds its total time)."""
        import httpx

        pool = self._pool(t)
        try:
            resp = await pool.transport.handle_async_request(
                pool.build(http, timeouts(t, timeout_s))
            )
            try:
                body = await resp.aread()
            finally:
                await resp.aclose()
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        return resp.status_code, resp.headers, body

    async def stream(
        self,
        t: Target,
        request: ChatRequest,
        *,
        timeout_s: float | None = None,
        first_token_s: float | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """An async generator of chunks; closing it closes the connection."""
        import httpx

        p = self._prepare(t, request, stream=True)
        resp = await self._open(t, p, timeouts(t, timeout_s, first_token_s))
        self._heard(t, request, resp)
        try:
            if resp.status_code >= 300:
                self._raise(p, t, resp, await resp.aread())
            decoder = p.adapter.stream_decoder()
            try:
                decode = decoder.feed_bytes
                async for part in resp.aiter_bytes():
                    for chunk in _emitted(decode(part)):
                        yield chunk
                for chunk in _emitted(decoder.flush_bytes()):
                    yield chunk
                for chunk in decoder.close():
                    yield chunk
            except ProviderError as e:
                raise scrub(e, t) from None
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for p in self._pools.values():
            await p.transport.aclose()
        self._pools.clear()
