"""One driver per adapter: its config, its recorded wire bytes, and how to read its requests.

A driver knows three things about one wire format, so the scenarios in
``test_conformance_*.py`` can be written once for all of them:

* the provider block of a config that points the router at it (always a
  127.0.0.1 base URL: respx intercepts, or the fault server answers on a
  real socket; nothing leaves the machine);
* which transports serve it (``respx``, ``faultserver``; ``in_process`` for
  the embedded engine) and which scenarios exist for it at all (an
  in-process model has no HTTP status, key or rate limit), so a scenario is
  only ever generated where it applies;
* its recorded replies under ``tests/fixtures/wire/<driver>/`` — the same
  conversation in every format: a greeting, two parallel tool calls, the
  answer after the tools ran, a JSON object, two streams, a stream that fails
  midway, and one error body per error class;
* ``normalize``: the outgoing request read back into a provider-neutral view
  (system text, turns, tool calls and results, tools, limits, JSON schema).
  Normalizers assert what each wire format demands on the way (Anthropic's
  top-level ``system`` and alternating roles, Gemini's ``model`` role and
  object ``args``, Ollama's explicit ``stream``...), so a request that would
  be rejected by the real provider fails here.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import respx

from tests.faultserver import Fault, FaultServer

WIRE = Path(__file__).resolve().parent.parent / "fixtures" / "wire"
PORT = 18_431
ROOT = f"http://127.0.0.1:{PORT}"
API_KEY = "sk-test-SECRET-0123456789"
ANTHROPIC_ID = re.compile(r"[a-zA-Z0-9_-]+")  # the pattern Anthropic enforces on tool ids

TEXT = "Hello! How can I help you today?"
FINAL = "It is 21°C and sunny in Paris, where it is 14:05."
JSON_OBJ = {"city": "Paris", "temp_c": 21}
CALLS = [("get_weather", {"city": "Paris"}), ("get_time", {"timezone": "Europe/Paris"})]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current local time in a timezone",
            "parameters": {
                "type": "object",
                "properties": {"timezone": {"type": "string"}},
                "required": ["timezone"],
            },
        },
    },
]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp_c": {"type": "integer"}},
    "required": ["city", "temp_c"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
}


@dataclass
class Turn:
    """One turn of a normalized request."""

    role: str  # user | assistant | tool
    text: str = ""
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(reference, name, arguments): the reference is the call id, or the name
    where the format ties results to calls by name (Gemini)."""
    results: list[tuple[str, str]] = field(default_factory=list)
    """(reference, text) of tool results carried by this wire message."""


@dataclass
class Normalized:
    """A request body read back into a provider-neutral view."""

    system: str | None
    turns: list[Turn]
    tools: list[tuple[str, dict[str, Any]]]
    max_tokens: int | None
    json_schema: dict[str, Any] | None
    stream: bool


@dataclass(frozen=True)
class Usage:
    """The usage a driver's ``text`` fixture must yield."""

    prompt: int
    completion: int
    cached: int


class Driver:
    """Base: an HTTP wire format served by respx."""

    name = ""
    kind = ""
    model = "test-model"
    path = ""
    merges_tool_results = False
    """Whether parallel tool results travel in one wire message (a user turn)."""
    text_usage = Usage(12, 9, 6)
    stream_ext = "sse"
    transports: tuple[str, ...] = ("respx", "faultserver")
    unsupported: frozenset[str] = frozenset()
    """Scenarios that cannot exist for this driver: they are not generated."""
    root = ROOT
    """Where the provider lives (the fault server gives each test its own path)."""

    def supports(self, scenario: str) -> bool:
        """Whether ``scenario`` (a test's name without ``test_``, or an error case) applies."""
        return scenario not in self.unsupported

    def at(self, root: str) -> Driver:
        """This driver pointed at another server root."""
        d = copy.copy(self)
        d.root = root
        return d

    def url(self, pattern: str) -> str:
        """A regex for the full request URL: the root, then ``pattern``."""
        return rf"^{re.escape(self.root)}{pattern}$"

    def base_url(self) -> str:
        return self.root

    def provider(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.base_url(), "api_key": API_KEY}

    def config(self) -> dict[str, Any]:
        # One try per call: these tests check each wire's mapping, not the
        # default retries a one-target route gets.
        return {
            "providers": {"p": self.provider()},
            "models": {"m": {"provider": "p", "model": self.model}},
            "routes": {"default": {"candidates": ["m"], "retry": {"attempts": 1}}},
        }

    # -- fixtures ----------------------------------------------------------

    def fixture_path(self, name: str) -> Path:
        for d in (self.name, *self.fallback_dirs()):
            for ext in ("json", self.stream_ext):
                p = WIRE / d / f"{name}.{ext}"
                if p.exists():
                    return p
        raise FileNotFoundError(f"no fixture {name!r} for {self.name}")

    def fallback_dirs(self) -> tuple[str, ...]:
        return ()

    def raw(self, name: str) -> bytes:
        return self.fixture_path(name).read_bytes()

    def obj(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.raw(name))
        return data

    def errors(self) -> dict[str, Any]:
        return self.obj("errors")

    def strip_usage(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.pop("usage", None)
        return obj

    # -- the request -------------------------------------------------------

    def url_pattern(self) -> str:
        raise NotImplementedError

    def check_http(self, request: httpx.Request, stream: bool) -> None:
        """Assert the URL and headers this format demands."""

    def normalize(self, body: dict[str, Any]) -> Normalized:
        raise NotImplementedError


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if p.get("type") == "text")


class OpenAIDriver(Driver):
    name = "openai_compatible"
    kind = "openai_compatible"

    def base_url(self) -> str:
        return f"{self.root}/v1"

    def url_pattern(self) -> str:
        return self.url("/v1/chat/completions")

    def fallback_dirs(self) -> tuple[str, ...]:
        return ("openai",)

    def check_http(self, request: httpx.Request, stream: bool) -> None:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"

    def normalize(self, body: dict[str, Any]) -> Normalized:
        system = None
        turns: list[Turn] = []
        for m in body["messages"]:
            if m["role"] in ("system", "developer"):
                assert system is None, "one system message expected"
                system = _text(m["content"])
            elif m["role"] == "tool":
                assert isinstance(m["content"], str)
                turns.append(Turn("tool", results=[(m["tool_call_id"], m["content"])]))
            else:
                calls = []
                for tc in m.get("tool_calls") or ():
                    assert isinstance(tc["function"]["arguments"], str), "arguments: JSON string"
                    assert len(tc["id"]) <= 40, "OpenAI refuses tool call ids over 40 chars"
                    args = json.loads(tc["function"]["arguments"])
                    calls.append((tc["id"], tc["function"]["name"], args))
                turns.append(Turn(m["role"], _text(m.get("content")), calls))
        rf = body.get("response_format") or {}
        return Normalized(
            system=system,
            turns=turns,
            tools=[
                (t["function"]["name"], t["function"]["parameters"])
                for t in body.get("tools") or ()
            ],
            max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
            json_schema=(rf.get("json_schema") or {}).get("schema"),
            stream=bool(body.get("stream")),
        )


class AzureDriver(OpenAIDriver):
    name = "azure_openai"
    kind = "azure_openai"
    model = "gpt-41-prod"  # the deployment name

    def base_url(self) -> str:
        return self.root

    def url_pattern(self) -> str:
        return self.url(r"/openai/deployments/gpt-41-prod/chat/completions\?api-version=2024-10-21")

    def check_http(self, request: httpx.Request, stream: bool) -> None:
        assert request.headers["api-key"] == API_KEY
        assert "authorization" not in request.headers


class AnthropicDriver(Driver):
    name = "anthropic"
    kind = "anthropic"
    model = "claude-sonnet-4-5"
    merges_tool_results = True

    def url_pattern(self) -> str:
        return self.url("/v1/messages")

    def check_http(self, request: httpx.Request, stream: bool) -> None:
        assert request.headers["x-api-key"] == API_KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers

    def normalize(self, body: dict[str, Any]) -> Normalized:
        assert isinstance(body["max_tokens"], int), "max_tokens is required by Anthropic"
        roles = [m["role"] for m in body["messages"]]
        assert set(roles) <= {"user", "assistant"}, roles
        assert all(a != b for a, b in itertools.pairwise(roles)), "roles alternate"
        turns: list[Turn] = []
        for m in body["messages"]:
            blocks = m["content"]
            if isinstance(blocks, str):
                turns.append(Turn(m["role"], blocks))
                continue
            results = [
                (b["tool_use_id"], _text(b["content"]))
                for b in blocks
                if b["type"] == "tool_result"
            ]
            if results:
                assert m["role"] == "user", "tool results travel in a user turn"
                turns.append(Turn("tool", results=results))
            calls = []
            for b in blocks:
                if b["type"] == "tool_use":
                    assert m["role"] == "assistant"
                    assert ANTHROPIC_ID.fullmatch(b["id"]), f"tool_use id {b['id']!r}"
                    assert isinstance(b["input"], dict), "tool_use input is an object"
                    calls.append((b["id"], b["name"], b["input"]))
            text = _text([b for b in blocks if b["type"] == "text"])
            if text or calls:
                turns.append(Turn(m["role"], text, calls))
        fmt = (body.get("output_config") or {}).get("format") or {}
        for t in body.get("tools") or ():
            assert "input_schema" in t and "parameters" not in t
        return Normalized(
            system=body.get("system"),
            turns=turns,
            tools=[(t["name"], t["input_schema"]) for t in body.get("tools") or ()],
            max_tokens=body["max_tokens"],
            json_schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
            stream=bool(body.get("stream")),
        )


class GeminiDriver(Driver):
    name = "gemini"
    kind = "gemini"
    model = "gemini-2.5-flash"
    merges_tool_results = True

    def url_pattern(self) -> str:
        return self.url(
            r"/v1beta/models/gemini-2\.5-flash:(generateContent|streamGenerateContent\?alt=sse)"
        )

    def check_http(self, request: httpx.Request, stream: bool) -> None:
        assert request.headers["x-goog-api-key"] == API_KEY
        assert "authorization" not in request.headers
        method = "streamGenerateContent" if stream else "generateContent"
        assert request.url.path.endswith(f":{method}")
        assert (request.url.params.get("alt") == "sse") is stream

    def strip_usage(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.pop("usageMetadata", None)
        return obj

    def normalize(self, body: dict[str, Any]) -> Normalized:
        roles = [c["role"] for c in body["contents"]]
        assert set(roles) <= {"user", "model"}, roles
        assert all(a != b for a, b in itertools.pairwise(roles)), "roles alternate"
        turns: list[Turn] = []
        for c in body["contents"]:
            parts = c["parts"]
            results = []
            for p in parts:
                if "functionResponse" in p:
                    fr = p["functionResponse"]
                    assert isinstance(fr["response"], dict), (
                        "functionResponse.response is an object"
                    )
                    results.append((fr["name"], json.dumps(fr["response"], sort_keys=True)))
            if results:
                turns.append(Turn("tool", results=results))
            calls = []
            for p in parts:
                if "functionCall" in p:
                    assert c["role"] == "model"
                    fc = p["functionCall"]
                    assert isinstance(fc["args"], dict), "functionCall.args is an object"
                    calls.append((fc["name"], fc["name"], fc["args"]))
            text = "".join(p.get("text", "") for p in parts)
            if text or calls:
                turns.append(Turn("assistant" if c["role"] == "model" else "user", text, calls))
        si = body.get("systemInstruction")
        gc = body.get("generationConfig") or {}
        decls = [d for t in body.get("tools") or () for d in t["functionDeclarations"]]
        return Normalized(
            system="".join(p["text"] for p in si["parts"]) if si else None,
            turns=turns,
            tools=[(d["name"], d["parametersJsonSchema"]) for d in decls],
            max_tokens=gc.get("maxOutputTokens"),
            json_schema=gc.get("responseJsonSchema"),
            stream=False,  # Gemini says it in the URL; check_http covers it
        )


class OllamaDriver(Driver):
    name = "ollama"
    kind = "ollama"
    model = "llama3.2"
    text_usage = Usage(12, 9, 0)
    stream_ext = "ndjson"

    def provider(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.base_url()}  # a local server: no key

    def url_pattern(self) -> str:
        return self.url("/api/chat")

    def check_http(self, request: httpx.Request, stream: bool) -> None:
        assert "authorization" not in request.headers

    def strip_usage(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.pop("prompt_eval_count", None)
        obj.pop("eval_count", None)
        return obj

    def normalize(self, body: dict[str, Any]) -> Normalized:
        assert isinstance(body["stream"], bool), "stream defaults to true: always send it"
        system = None
        turns: list[Turn] = []
        for m in body["messages"]:
            if m["role"] == "system":
                system = m["content"]
            elif m["role"] == "tool":
                assert m.get("tool_name"), "tool results name their function"
                turns.append(Turn("tool", results=[(m["tool_name"], m["content"])]))
            else:
                calls = []
                for tc in m.get("tool_calls") or ():
                    args = tc["function"]["arguments"]
                    assert isinstance(args, dict), "arguments are an object"
                    calls.append((tc["function"]["name"], tc["function"]["name"], args))
                turns.append(Turn(m["role"], m["content"], calls))
        fmt = body.get("format")
        return Normalized(
            system=system,
            turns=turns,
            tools=[
                (t["function"]["name"], t["function"]["parameters"])
                for t in body.get("tools") or ()
            ],
            max_tokens=(body.get("options") or {}).get("num_predict"),
            json_schema=fmt if isinstance(fmt, dict) else None,
            stream=body["stream"],
        )


class EmbeddedDriver(OpenAIDriver):
    """llama-cpp-python in process, replaced by a fake that answers OpenAI-shaped dicts."""

    name = "embedded"
    kind = "embedded"
    model = "/nonexistent/fake-model.gguf"
    transports = ("in_process",)
    # No HTTP status, key, quota or connection exists in process.
    unsupported = frozenset(
        {
            "auth",
            "rate_limit",
            "invalid",
            "errors_in_streams_too",
            "truncated_stream",
            "stream_cut_before_content_is_unavailable",
        }
    )

    def provider(self) -> dict[str, Any]:
        return {"kind": "embedded"}

    def normalize(self, body: dict[str, Any]) -> Normalized:
        n = super().normalize({k: v for k, v in body.items() if k != "response_format"})
        rf = body.get("response_format") or {}
        n.json_schema = rf.get("schema")  # llama-cpp-python's json_object + schema
        return n


DRIVERS: list[Driver] = [
    OpenAIDriver(),
    AnthropicDriver(),
    GeminiDriver(),
    OllamaDriver(),
    AzureDriver(),
    EmbeddedDriver(),
]
HTTP_DRIVERS = [d for d in DRIVERS if d.kind != "embedded"]


# -- replies ---------------------------------------------------------------


@dataclass
class Reply:
    """What the fake provider answers next."""

    fixture: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    error: BaseException | None = None  # embedded: raise this
    fail_after: int | None = None  # embedded streams: raise ``error`` after n chunks
    cut: bool = False
    """A stream whose connection drops after ``body``. A real server (the fault
    server) drops it; respx cannot, so it ends the body there cleanly."""


def sse_records(raw: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an OpenAI SSE fixture (for the embedded fake)."""
    out = []
    for line in raw.decode().splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            out.append(json.loads(line[6:]))
    return out


class FakeProvider:
    """Answers the router's requests from a queue of :class:`Reply` and records them."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.replies: list[Reply] = []
        self.bodies: list[dict[str, Any]] = []
        self.http: list[httpx.Request] = []
        self._lock = threading.Lock()

    def queue(self, *replies: Reply | str) -> None:
        self.replies.extend(Reply(fixture=r) if isinstance(r, str) else r for r in replies)

    def _next(self) -> Reply:
        with self._lock:
            assert self.replies, "the router sent more requests than the scenario expected"
            return self.replies.pop(0)

    def sent(self) -> list[dict[str, Any]]:
        """The request bodies the provider received, in order."""
        return self.bodies

    def requests(self) -> list[Normalized]:
        return [self.driver.normalize(b) for b in self.sent()]

    # -- HTTP --------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        self.http.append(request)
        reply = self._next()
        stream = (
            request.url.params.get("alt") == "sse"
            if self.driver.kind == "gemini"
            else bool(body.get("stream"))
        )
        self.driver.check_http(request, stream)
        status, headers, content = self.render(reply)
        return httpx.Response(status, headers=headers, content=content)

    def render(self, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body bytes of an HTTP reply."""
        if reply.body is not None:
            return reply.status, reply.headers, reply.body
        if reply.status != 200:
            return reply.status, reply.headers, b"{}"
        raw = self.driver.raw(reply.fixture)
        if reply.transform is not None:
            raw = json.dumps(reply.transform(json.loads(raw))).encode()
        return 200, reply.headers, raw

    def is_stream(self, reply: Reply) -> bool:
        """Whether the reply is a 200 stream (a streamed fixture, or a cut one)."""
        if reply.cut:
            return True
        return reply.body is None and self.driver.fixture_path(reply.fixture).suffix != ".json"

    def unused(self) -> list[Reply]:
        """Replies queued but never asked for."""
        return self.replies

    def error_reply(self, key: str) -> Reply:
        spec = self.driver.errors()[key]
        return Reply(
            status=spec["status"],
            headers=spec.get("headers") or {},
            body=json.dumps(spec["body"]).encode(),
        )

    # -- embedded ----------------------------------------------------------

    def create_chat_completion(self, **kw: Any) -> Any:
        self.bodies.append(kw)
        reply = self._next()
        if reply.error is not None and reply.fail_after is None:
            raise reply.error
        raw = self.driver.raw(reply.fixture)
        if kw.get("stream"):
            return self._iterate(sse_records(raw), reply)
        obj = json.loads(raw)
        return reply.transform(obj) if reply.transform else obj

    @staticmethod
    def _iterate(records: list[dict[str, Any]], reply: Reply) -> Iterator[dict[str, Any]]:
        for i, r in enumerate(records):
            if reply.fail_after is not None and i == reply.fail_after:
                assert reply.error is not None
                raise reply.error
            yield r


_STREAM_TYPES = {"sse": "text/event-stream", "ndjson": "application/x-ndjson"}


def frames_of(raw: bytes, ext: str) -> list[bytes]:
    """A recorded stream split into its events (SSE) or lines (NDJSON), separators kept."""
    sep = b"\n" if ext == "ndjson" else b"\n\n"
    parts = raw.replace(b"\r\n", b"\n").split(sep)
    frames = [p + sep for p in parts[:-1]]
    return [*frames, parts[-1]] if parts[-1] else frames


class FaultServerProvider(FakeProvider):
    """The same replies, served over a real socket by the resilience fault server.

    Each queued reply becomes a scripted ``raw`` fault of ``target``: streams
    go out one event per HTTP chunk, and a ``cut`` reply really drops the
    connection. Requests are read back from the server's records.
    """

    def __init__(self, driver: Driver, server: FaultServer, target: str = "c") -> None:
        super().__init__(driver.at(f"{server.url}/{target}"))
        self.server = server
        self.target = target

    def queue(self, *replies: Reply | str) -> None:
        for r in replies:
            reply = Reply(fixture=r) if isinstance(r, str) else r
            status, headers, content = self.render(reply)
            if self.is_stream(reply):
                ctype = _STREAM_TYPES[self.driver.stream_ext]
                frames = frames_of(content, self.driver.stream_ext)
                fault = Fault.raw_stream(frames, ctype, drop=reply.cut)
            else:
                fault = Fault.raw(content, status, headers)
            self.server.script(self.target, fault)

    def sent(self) -> list[dict[str, Any]]:
        out = []
        for rec in self.server.records(self.target):
            # Headers carrying keys are not recorded; respx mode checks those.
            assert rec.method == "POST"
            assert re.match(self.driver.url_pattern(), self.server.url + rec.path), rec.path
            out.append(rec.body)
        return out

    def unused(self) -> list[Reply]:
        n = self.server.pending(self.target)
        return [Reply("(scripted)")] * n


def mock_http(fake: FakeProvider) -> respx.MockRouter:
    """A respx router sending every matching request to ``fake`` (others are refused)."""
    mock = respx.mock(assert_all_called=False, assert_all_mocked=True)
    mock.route(method="POST", url__regex=fake.driver.url_pattern()).mock(side_effect=fake.handle)
    return mock


# -- a fake that answers like a model would ----------------------------------


def driver_for_path(path: str) -> Driver:
    """Which wire format a request path speaks (for a server hosting all of them)."""
    if path.endswith("/api/chat"):
        return OllamaDriver()
    if path.endswith("/v1/messages"):
        return AnthropicDriver()
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return GeminiDriver()
    if "/openai/deployments/" in path:
        return AzureDriver()
    if path.endswith("/chat/completions"):
        return OpenAIDriver()
    raise AssertionError(f"no wire format at {path}")


class ModelLikeFake:
    """Answers from the recorded fixtures by looking at what was asked, like a model would.

    JSON schema asked → the JSON object; last turn a tool result → the final
    answer; tools offered → the two tool calls; otherwise the greeting. Serves
    every wire format on one host, chosen by the request path.
    """

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.served: list[str] = []
        self.failing = failing
        """Drivers that answer with their recorded ``unavailable`` error instead."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        driver = driver_for_path(request.url.path)
        self.served.append(driver.name)
        if driver.name in self.failing:
            spec = driver.errors()["unavailable"]
            return httpx.Response(spec["status"], json=spec["body"])
        req = driver.normalize(json.loads(request.content))
        if req.json_schema is not None:
            name = "json"
        elif req.turns and req.turns[-1].role == "tool":
            name = "tool_final"
        elif req.tools:
            name = "tool_calls"
        else:
            name = "text"
        return httpx.Response(200, content=driver.raw(name))


def mock_everything(fake: ModelLikeFake) -> respx.MockRouter:
    """respx serving ``fake`` for every POST to the test host (anything else is refused)."""
    mock = respx.mock(assert_all_called=False, assert_all_mocked=True)
    mock.route(method="POST", host="127.0.0.1", port=PORT).mock(side_effect=fake.handle)
    return mock
