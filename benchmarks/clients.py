"""The clients under test, each the way its documentation says to use it.

Every client makes the same call against the fake server: two messages, a
``max_tokens`` and (for streams) ``stream_options.include_usage``, and reads
the answer's text (a stream: every chunk). A client exposes up to three
factories, each returning a callable plus a closer:

- ``sync()``  -> (call, stream, close): blocking, one request per call;
- ``async_()`` -> (acall, aclose): awaited, shared by 64 concurrent tasks.

``IMPORT`` is the start-up statement timed in a fresh process (the import a
user pays before the first call, and for the router its config load).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

SYSTEM = "You are a concise customer-support assistant for an online shop. Answer in one sentence."
USER = (
    "Hello, I ordered a pair of hiking boots last Tuesday (order 58213) and the tracking page "
    "still says 'label created'. Can you tell me when the parcel will actually ship and whether "
    "I can still change the delivery address to my office?"
)
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
MAX_TOKENS = 128
MODEL = "bench-model"
KEY = "sk-bench"
CONTEXT = {"tenant": "acme", "user": "u-1042", "tags": ["support"]}
ROUTE = "support"

Sync = tuple[Callable[[], Any], Callable[[], int], Callable[[], None]]
Async = tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[None]]]


def config_path() -> str:
    """The router benchmark config (10 targets, 20 rules, detection on)."""
    return os.path.join(os.path.dirname(__file__), "configs", "router.yaml")


# -- raw httpx ---------------------------------------------------------------


def _body(stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _sse_count(lines: Any) -> int:
    n = 0
    for line in lines:
        if line.startswith("data: ") and line != "data: [DONE]":
            json.loads(line[6:])
            n += 1
    return n


class Httpx:
    """``httpx.Client`` / ``AsyncClient`` with keep-alive, JSON parsed by hand."""

    IMPORT = "import httpx"

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.headers = {"authorization": f"Bearer {KEY}"}

    def sync(self) -> Sync:
        import httpx

        c = httpx.Client(base_url=self.base, timeout=60)
        body, sbody, headers = _body(False), _body(True), self.headers

        def call() -> Any:
            r = c.post("/chat/completions", json=body, headers=headers)
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"]

        def stream() -> int:
            with c.stream("POST", "/chat/completions", json=sbody, headers=headers) as r:
                r.raise_for_status()
                return _sse_count(r.iter_lines())

        return call, stream, c.close

    def _async_client(self) -> Any:
        import httpx

        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        return httpx.AsyncClient(base_url=self.base, timeout=60, limits=limits)

    def async_(self) -> Async:
        c = self._async_client()
        body, headers = _body(False), self.headers

        async def acall() -> Any:
            r = await c.post("/chat/completions", json=body, headers=headers)
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"]

        return acall, c.aclose


class HttpxAiohttp(Httpx):
    """``httpx.AsyncClient`` over the aiohttp transport (``httpx-aiohttp``): async only."""

    IMPORT = "import httpx, httpx_aiohttp"

    def sync(self) -> Sync:
        raise NotImplementedError("async only")

    def _async_client(self) -> Any:
        import httpx
        from httpx_aiohttp import AiohttpTransport

        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        return httpx.AsyncClient(
            base_url=self.base,
            timeout=60,
            transport=AiohttpTransport(limits=limits),
        )


# -- the openai SDK ----------------------------------------------------------


class OpenAISDK:
    """``openai.OpenAI`` / ``AsyncOpenAI`` with retries off."""

    IMPORT = "import openai; openai.OpenAI(api_key='sk-bench', base_url='http://127.0.0.1:9/v1')"

    def __init__(self, base_url: str) -> None:
        self.base = base_url

    def sync(self) -> Sync:
        import openai

        c = openai.OpenAI(api_key=KEY, base_url=self.base, max_retries=0)

        def call() -> Any:
            r = c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
            return r.choices[0].message.content

        def stream() -> int:
            s = c.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
                stream=True,
                stream_options={"include_usage": True},
            )
            return sum(1 for _ in s)

        return call, stream, c.close

    def async_(self) -> Async:
        import httpx
        import openai

        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        c = openai.AsyncOpenAI(
            api_key=KEY,
            base_url=self.base,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits),
        )

        async def acall() -> Any:
            r = await c.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
            )
            return r.choices[0].message.content

        return acall, c.close


# -- LiteLLM -----------------------------------------------------------------

# LiteLLM fetches its model price map over the network at import unless told not to.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}


class LiteLLM:
    """``litellm.completion`` / ``acompletion`` against an OpenAI-compatible base."""

    IMPORT = "import litellm"

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.kw = {
            "model": f"openai/{MODEL}",
            "api_base": base_url,
            "api_key": KEY,
            "max_tokens": MAX_TOKENS,
            "num_retries": 0,
        }

    @staticmethod
    def _quiet() -> Any:
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        return litellm

    def sync(self) -> Sync:
        litellm = self._quiet()
        kw = self.kw

        def call() -> Any:
            r = litellm.completion(messages=MESSAGES, **kw)
            return r.choices[0].message.content

        def stream() -> int:
            s = litellm.completion(
                messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **kw
            )
            return sum(1 for _ in s)

        return call, stream, lambda: None

    def async_(self) -> Async:
        litellm = self._quiet()
        kw = self.kw

        async def acall() -> Any:
            r = await litellm.acompletion(messages=MESSAGES, **kw)
            return r.choices[0].message.content

        async def aclose() -> None:
            return None

        return acall, aclose


class LiteLLMRouter(LiteLLM):
    """``litellm.Router`` with two deployments and a fallback from one to the other."""

    IMPORT = (
        "import litellm; litellm.Router(model_list=["
        "{'model_name': 'a', 'litellm_params': {'model': 'openai/m', "
        "'api_base': 'http://127.0.0.1:9/v1', 'api_key': 'k'}},"
        "{'model_name': 'b', 'litellm_params': {'model': 'openai/m', "
        "'api_base': 'http://127.0.0.1:9/v1', 'api_key': 'k'}}], fallbacks=[{'a': ['b']}])"
    )

    def _router(self) -> Any:
        litellm = self._quiet()
        params = {"model": f"openai/{MODEL}", "api_base": self.base, "api_key": KEY}
        return litellm.Router(
            model_list=[
                {"model_name": "bench", "litellm_params": dict(params)},
                {"model_name": "bench-fallback", "litellm_params": dict(params)},
            ],
            fallbacks=[{"bench": ["bench-fallback"]}],
            num_retries=0,
        )

    def sync(self) -> Sync:
        r = self._router()

        def call() -> Any:
            resp = r.completion(model="bench", messages=MESSAGES, max_tokens=MAX_TOKENS)
            return resp.choices[0].message.content

        def stream() -> int:
            s = r.completion(
                model="bench",
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                stream=True,
                stream_options={"include_usage": True},
            )
            return sum(1 for _ in s)

        return call, stream, lambda: None

    def async_(self) -> Async:
        r = self._router()

        async def acall() -> Any:
            resp = await r.acompletion(model="bench", messages=MESSAGES, max_tokens=MAX_TOKENS)
            return resp.choices[0].message.content

        async def aclose() -> None:
            return None

        return acall, aclose


# -- this router -------------------------------------------------------------


class PolicyRouter:
    """``router.Router`` / ``AsyncRouter`` with the benchmark policy (10 targets, 20 rules)."""

    IMPORT = "import router; router.Router.from_file({cfg!r})"

    def __init__(self, base_url: str) -> None:
        os.environ["BENCH_BASE_URL"] = base_url
        self.cfg = config_path()

    def sync(self) -> Sync:
        import router

        r = router.Router.from_file(self.cfg)

        def call() -> Any:
            return r.chat(MESSAGES, model=ROUTE, context=CONTEXT, max_tokens=MAX_TOKENS).content

        def stream() -> int:
            n = 0
            with r.stream(MESSAGES, model=ROUTE, context=CONTEXT, max_tokens=MAX_TOKENS) as s:
                for _ in s:
                    n += 1
            return n

        return call, stream, r.close

    def _transport_factory(self) -> Any:
        return None

    def async_(self) -> Async:
        import router

        r = router.AsyncRouter(self.cfg, transport_factory=self._transport_factory())

        async def acall() -> Any:
            resp = await r.chat(MESSAGES, model=ROUTE, context=CONTEXT, max_tokens=MAX_TOKENS)
            return resp.content

        return acall, r.aclose


class PolicyRouterAiohttp(PolicyRouter):
    """``AsyncRouter(cfg, transport_factory="aiohttp")`` (httpx-aiohttp): async only."""

    IMPORT = "import router, httpx_aiohttp; router.AsyncRouter({cfg!r})"

    def sync(self) -> Sync:
        raise NotImplementedError("async only")

    def _transport_factory(self) -> Any:
        return "aiohttp"


CLIENTS: dict[str, type] = {
    "httpx": Httpx,
    "httpx-aiohttp": HttpxAiohttp,
    "openai": OpenAISDK,
    "litellm": LiteLLM,
    "litellm-router": LiteLLMRouter,
    "router": PolicyRouter,
    "router-aiohttp": PolicyRouterAiohttp,
}
"""Every client, in table order; ``httpx`` is the baseline of every ratio."""

ASYNC_ONLY = frozenset({"httpx-aiohttp", "router-aiohttp"})

# Modules a client needs; a client whose modules are missing is skipped with a note.
REQUIRES: dict[str, tuple[str, ...]] = {
    "httpx": ("httpx",),
    "httpx-aiohttp": ("httpx", "httpx_aiohttp"),
    "openai": ("openai",),
    "litellm": ("litellm",),
    "litellm-router": ("litellm",),
    "router": ("router",),
    "router-aiohttp": ("router", "httpx_aiohttp"),
}

# Extra environment for a client's processes.
ENV: dict[str, dict[str, str]] = {"litellm": LITELLM_ENV, "litellm-router": LITELLM_ENV}
