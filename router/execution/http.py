"""Sending to HTTP targets: one pooled httpx client per provider, sync and async.

The adapter does all translation (sans-IO); this module only moves bytes and
turns transport failures into the exception tree. The functions that are not
I/O (building, checking, decoding) are shared by both clients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

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

__all__ = ["AsyncHttpSender", "HttpSender"]

# httpx is imported where a request is built, not at module load: creating a
# router (and a router whose targets are all embedded) never pays for it, and
# after the first send each ``import httpx`` below is a dict lookup.


def _timeout(t: Target) -> httpx.Timeout:
    import httpx

    c = t.provider_config.timeout
    return httpx.Timeout(connect=c.connect_s, read=c.read_s, write=c.write_s, pool=c.pool_s)


_MIN_TIMEOUT_S = 0.001


def request_timeout(
    t: Target, cap_s: float | None = None, read_cap_s: float | None = None
) -> httpx.Timeout:
    """The provider's timeouts, each capped by what the deadline leaves (``cap_s``);
    the read timeout also by ``read_cap_s`` (a stream's first-token timeout)."""
    import httpx

    c = t.provider_config.timeout

    def cap(v: float, *extra: float | None) -> float:
        for x in (cap_s, *extra):
            if x is not None:
                v = min(v, x)
        return max(_MIN_TIMEOUT_S, v)

    return httpx.Timeout(
        connect=cap(c.connect_s),
        read=cap(c.read_s, read_cap_s),
        write=cap(c.write_s),
        pool=cap(c.pool_s),
    )


def _past(deadline: float | None, t: Target) -> None:
    """Raise the deadline's timeout once it has passed (between reads)."""
    if deadline is not None and time.monotonic() > deadline:
        raise scrub(ProviderTimeout("deadline exceeded while reading", code="deadline"), t)


def _limits(t: Target) -> httpx.Limits:
    import httpx

    n = t.provider_config.max_connections
    return httpx.Limits(max_connections=n, max_keepalive_connections=n)


def scrub(err: ProviderError, t: Target) -> ProviderError:
    """Tag an error with its target and make sure the key never rides along."""
    key = t.endpoint.api_key
    if key and key in err.message:
        err.message = err.message.replace(key, "***")
        err.args = (err.message,)
    err.target = t.name
    err.provider = t.provider_name
    return err


def transport_error(exc: httpx.HTTPError, t: Target) -> ProviderError:
    """A transport failure (no HTTP answer) as a provider error."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        err: ProviderError = ProviderTimeout(f"{type(exc).__name__}", code="timeout")
    else:
        err = ProviderUnavailable(f"{type(exc).__name__}", code="connection")
    return scrub(err, t)


class _Prepared:
    __slots__ = ("adapter", "http")

    def __init__(self, adapter: Adapter, http: HttpRequest) -> None:
        self.adapter = adapter
        self.http = http


class _Base:
    """Adapter lookup and request building, shared by the sync and async senders."""

    def __init__(self) -> None:
        self._adapters: dict[str, Adapter] = {}
        self._lock = threading.Lock()

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

    @staticmethod
    def _error(p: _Prepared, t: Target, resp: httpx.Response) -> ProviderError:
        return scrub(p.adapter.parse_error(resp.status_code, resp.headers, resp.content), t)

    @staticmethod
    def _raise(
        p: _Prepared, t: Target, status: int, headers: httpx.Headers, body: bytes
    ) -> ChatResponse:
        raise scrub(p.adapter.parse_error(status, headers, body), t)

    @staticmethod
    def _parse(p: _Prepared, t: Target, body: bytes) -> ChatResponse:
        try:
            return p.adapter.parse_response(body)
        except ProviderError as e:
            raise scrub(e, t) from None


class HttpSender(_Base):
    """Blocking sends through one pooled ``httpx.Client`` per provider."""

    def __init__(self) -> None:
        super().__init__()
        self._clients: dict[str, httpx.Client] = {}

    def _client(self, t: Target) -> httpx.Client:
        import httpx

        c = self._clients.get(t.provider)
        if c is None:
            with self._lock:
                c = self._clients.get(t.provider)
                if c is None:
                    c = httpx.Client(timeout=_timeout(t), limits=_limits(t))
                    self._clients[t.provider] = c
        return c

    def complete(
        self, t: Target, request: ChatRequest, *, timeout_s: float | None = None
    ) -> ChatResponse:
        """One non-streaming call, over by ``timeout_s`` (checked between reads)."""
        import httpx

        p = self._prepare(t, request, stream=False)
        client = self._client(t)
        if timeout_s is None:
            # No deadline to watch between reads: the plain (cheaper) request path.
            try:
                resp = client.request(
                    p.http.method, p.http.url, headers=p.http.headers, json=p.http.json
                )
            except httpx.HTTPError as e:
                raise transport_error(e, t) from None
            if resp.status_code >= 300:
                return self._raise(p, t, resp.status_code, resp.headers, resp.content)
            return self._parse(p, t, resp.content)
        deadline = time.monotonic() + timeout_s
        try:
            with client.stream(
                p.http.method,
                p.http.url,
                headers=p.http.headers,
                json=p.http.json,
                timeout=request_timeout(t, timeout_s),
            ) as resp:
                body = bytearray()
                for part in resp.iter_bytes():
                    body += part
                    _past(deadline, t)
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        if resp.status_code >= 300:
            return self._raise(p, t, resp.status_code, resp.headers, bytes(body))
        return self._parse(p, t, bytes(body))

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
        client = self._client(t)
        try:
            with client.stream(
                p.http.method,
                p.http.url,
                headers=p.http.headers,
                json=p.http.json,
                timeout=request_timeout(t, timeout_s, first_token_s),
            ) as resp:
                if resp.status_code >= 300:
                    resp.read()
                    raise self._error(p, t, resp)
                decoder = p.adapter.stream_decoder()
                try:
                    feed = decoder.feed
                    for line in resp.iter_lines():
                        chunks = feed(line)
                        if chunks:  # most lines complete no chunk
                            yield from chunks
                    yield from decoder.close()
                except ProviderError as e:
                    raise scrub(e, t) from None
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None

    def close(self) -> None:
        """Close every pooled connection."""
        for c in self._clients.values():
            c.close()
        self._clients.clear()


class AsyncHttpSender(_Base):
    """Non-blocking sends through one pooled ``httpx.AsyncClient`` per provider."""

    def __init__(self, transport_factory: Any = None) -> None:
        super().__init__()
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._transport_factory = transport_factory

    def _client(self, t: Target) -> httpx.AsyncClient:
        import httpx

        c = self._clients.get(t.provider)
        if c is None:
            kw: dict[str, Any] = {"timeout": _timeout(t), "limits": _limits(t)}
            if self._transport_factory is not None:
                kw["transport"] = self._transport_factory(t)
            c = httpx.AsyncClient(**kw)
            self._clients[t.provider] = c
        return c

    async def complete(
        self, t: Target, request: ChatRequest, *, timeout_s: float | None = None
    ) -> ChatResponse:
        """One non-streaming call (the driver bounds its total time)."""
        import httpx

        p = self._prepare(t, request, stream=False)
        try:
            resp = await self._client(t).request(
                p.http.method,
                p.http.url,
                headers=p.http.headers,
                json=p.http.json,
                timeout=request_timeout(t, timeout_s),
            )
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None
        if resp.status_code >= 300:
            raise self._error(p, t, resp)
        return self._parse(p, t, resp.content)

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
        client = self._client(t)
        try:
            async with client.stream(
                p.http.method,
                p.http.url,
                headers=p.http.headers,
                json=p.http.json,
                timeout=request_timeout(t, timeout_s, first_token_s),
            ) as resp:
                if resp.status_code >= 300:
                    await resp.aread()
                    raise self._error(p, t, resp)
                decoder = p.adapter.stream_decoder()
                try:
                    feed = decoder.feed
                    async for line in resp.aiter_lines():
                        for chunk in feed(line):
                            yield chunk
                    for chunk in decoder.close():
                        yield chunk
                except ProviderError as e:
                    raise scrub(e, t) from None
        except httpx.HTTPError as e:
            raise transport_error(e, t) from None

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()
