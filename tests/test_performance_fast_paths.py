"""The performance fast paths give exactly what the general paths give.

Stream chunks are validated straight from JSON when they carry no error and no
usage object; the SSE parser short-cuts ``data:`` lines; the config loader uses
libyaml when present; httpx and asyncio load only when a request needs them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from router.assemble import Assembler
from router.config import loader
from router.errors import ConfigError, ProviderUnavailable, RateLimitError
from router.providers.base import SSEDecoder
from router.providers.openai_compatible import OpenAIStreamDecoder, chunk_from_dict
from router.providers.sse import SSEEvent, SSEParser
from router.types import ChatChunk

ROOT = Path(__file__).resolve().parent.parent


def _decode(*payloads: str) -> list[Any]:
    dec = OpenAIStreamDecoder()
    out = []
    for p in payloads:
        out += dec.feed(f"data: {p}")
        out += dec.feed("")
    return out


def _chunk(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    "payload",
    [
        _chunk(),
        _chunk(usage=None),
        _chunk(created=None),  # the fast path rejects null; the general path maps it to 0
        _chunk(system_fingerprint="fp", choices=[{"index": 1, "delta": {"role": "assistant"}}]),
        _chunk(choices=[], usage={"prompt_tokens": 9, "completion_tokens": 3}),
        _chunk(
            choices=[],
            usage={
                "prompt_tokens": 9,
                "completion_tokens": 3,
                "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        ),
        _chunk(
            choices=[
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "t", "function": {"name": "f", "arguments": "{"}}
                        ]
                    },
                }
            ]
        ),
    ],
)
def test_decoded_chunk_equals_general_path(payload: dict[str, Any]) -> None:
    for text in (json.dumps(payload), json.dumps(payload, separators=(",", ":"))):
        (got,) = _decode(text)
        assert got == chunk_from_dict(payload)


def test_usage_object_keeps_cached_and_reasoning_tokens_whatever_the_spacing() -> None:
    text = (
        '{"id":"c","choices":[],"usage" :  {"prompt_tokens":10,"completion_tokens":2,'
        '"prompt_tokens_details":{"cached_tokens":7},'
        '"completion_tokens_details":{"reasoning_tokens":1}}}'
    )
    (got,) = _decode(text)
    u = got.usage
    assert u is not None
    assert (u.cached_tokens, u.reasoning_tokens, u.total_tokens) == (7, 1, 12)


def test_error_payload_raises_even_when_it_would_validate_as_a_chunk() -> None:
    with pytest.raises(RateLimitError):
        _decode('{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}')


@pytest.mark.parametrize("bad", ['{"id": ', "[1, 2]", '"text"', "nan"])
def test_malformed_chunks_are_provider_unavailable(bad: str) -> None:
    with pytest.raises(ProviderUnavailable) as info:
        _decode(bad)
    assert info.value.code == "malformed_response"


def test_content_mentioning_error_or_usage_is_still_content() -> None:
    payload = _chunk(
        choices=[{"index": 0, "delta": {"content": 'the "error" and "usage": {x} words'}}]
    )
    (got,) = _decode(json.dumps(payload))
    assert got.delta_text == 'the "error" and "usage": {x} words'


def test_finish_reason_seen_on_the_fast_path_lets_a_stream_end_without_done() -> None:
    dec = OpenAIStreamDecoder()
    stop = _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    dec.feed("data: " + json.dumps(stop))
    dec.feed("")
    assert dec.close() == []
    cut = OpenAIStreamDecoder()
    cut.feed("data: " + json.dumps(_chunk()))
    cut.feed("")
    with pytest.raises(ProviderUnavailable):
        cut.close()


text_st = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(
    content=st.one_of(st.none(), text_st),
    finish=st.sampled_from([None, "stop", "length", "tool_calls"]),
    usage=st.sampled_from(["absent", "null"]),
    compact=st.booleans(),
)
def test_fast_path_matches_general_path(
    content: str | None, finish: str | None, usage: str, compact: bool
) -> None:
    payload = _chunk(choices=[{"index": 0, "delta": {"content": content}, "finish_reason": finish}])
    if usage == "null":
        payload["usage"] = None
    seps = (",", ":") if compact else (", ", ": ")
    (got,) = _decode(json.dumps(payload, separators=seps, ensure_ascii=False))
    assert got == chunk_from_dict(payload)


def test_sse_data_lines_keep_their_framing() -> None:
    p = SSEParser()
    for line in ("data:x", "data:  two spaces", ": comment", "event: delta", "id: 7"):
        assert p.feed(line) is None
    ev = p.feed("")
    assert ev == SSEEvent("delta", "x\n two spaces")
    assert (ev.event, ev.data) == ("delta", "x\n two spaces")
    p.feed("data")  # a field with no colon: empty data
    assert p.feed("") == SSEEvent("message", "")
    with pytest.raises(AttributeError):
        ev.data = "changed"  # type: ignore[misc]


class _Recorder(SSEDecoder):
    """Records each event's data; data ``boom`` is an error payload."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    @property
    def done(self) -> bool:
        return False

    def close(self) -> list[ChatChunk]:
        return self._flush()

    def _data(self, data: str) -> list[ChatChunk]:
        if data == "boom":
            raise RateLimitError("in-stream error")
        self.seen.append(data)
        return [ChatChunk(id=data)]


def _by_reads(body: bytes, cuts: list[int]) -> tuple[list[str], list[str], bool]:
    dec = _Recorder()
    points = sorted({c for c in cuts if 0 < c < len(body)})
    ids: list[str] = []
    for a, b in zip([0, *points], [*points, len(body)], strict=True):
        chunks, err = dec.feed_bytes(body[a:b])
        ids += [c.id for c in chunks]
        if err is not None:
            return ids, dec.seen, True
    chunks, err = dec.flush_bytes()
    ids += [c.id for c in chunks]
    if err is not None:
        return ids, dec.seen, True
    return _closed(dec, ids)


def _closed(dec: _Recorder, ids: list[str]) -> tuple[list[str], list[str], bool]:
    try:
        return ids + [c.id for c in dec.close()], dec.seen, False
    except RateLimitError:
        return ids, dec.seen, True


def _by_lines(body: bytes) -> tuple[list[str], list[str], bool]:
    dec = _Recorder()
    lines = re.split(r"\r\n|\r|\n", body.decode("utf-8", "replace"))
    if not lines[-1]:
        lines.pop()
    chunks, err = dec.feed_lines(lines)
    ids = [c.id for c in chunks]
    if err is not None:
        return ids, dec.seen, True
    return _closed(dec, ids)


_sse_line = st.one_of(
    st.builds(lambda v: f"data: {v}", st.sampled_from(["a", "b c", "", "boom", "{}", "é"])),
    st.sampled_from(["data:x", "event: delta", ": keep-alive", "id: 7", "data", "", ""]),
)


@example(lines=["data: a", "data: b", ""], ends=["\n"] * 12, cuts=[])
@example(lines=["data: a", ": note", "", "data: b", ""], ends=["\n"] * 12, cuts=[])
@example(lines=["data: ab", ""], ends=["\n"] * 12, cuts=[3])  # a line split across reads
@example(lines=["data: a", "data: b", ""], ends=["\n"] * 12, cuts=[8])  # an event split
@given(
    lines=st.lists(_sse_line, max_size=12),
    ends=st.lists(st.sampled_from(["\n", "\n", "\n", "\r\n", "\r", ""]), min_size=12, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_sse_bytes_decode_as_their_lines_whatever_the_reads(
    lines: list[str], ends: list[str], cuts: list[int]
) -> None:
    # The whole-event shortcut of feed_bytes must give exactly what line-by-line
    # parsing gives: the same events, the same error at the same place.
    body = "".join(line + end for line, end in zip(lines, ends, strict=False)).encode()
    assert _by_reads(body, cuts) == _by_lines(body)


def test_sse_bytes_shortcut_reads_whole_events_and_stops_at_an_error() -> None:
    dec = _Recorder()
    chunks, err = dec.feed_bytes(b"data: a\n\ndata: b\n\n\n\ndata: boom\n\ndata: c\n\n")
    assert [c.id for c in chunks] == ["a", "b"]
    assert isinstance(err, RateLimitError)


def test_assembler_joins_choices_and_tool_fragments() -> None:
    asm = Assembler()
    for chunk in _decode(
        json.dumps(
            _chunk(
                choices=[
                    {"index": 1, "delta": {"content": "b"}},
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "t1",
                                    "function": {"name": "f", "arguments": "{"},
                                }
                            ]
                        },
                    },
                ]
            )
        ),
        json.dumps(
            _chunk(
                choices=[
                    {"index": 1, "delta": {"content": "c"}, "finish_reason": "stop"},
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                        "finish_reason": "tool_calls",
                    },
                ]
            )
        ),
    ):
        asm.add(chunk)
    resp = asm.response()
    assert [c.index for c in resp.choices] == [0, 1]
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, call.function.arguments) == ("t1", "f", "{}")
    assert resp.choices[1].message.content == "bc"
    assert resp.choices[0].finish_reason == "tool_calls"


def test_config_loader_uses_libyaml_and_still_locates_errors() -> None:
    from router.config import yamlparse

    if getattr(yaml, "__with_libyaml__", False):
        assert yamlparse._SafeLoader is yaml.CSafeLoader
    with pytest.raises(ConfigError) as info:
        loader.parse_yaml("providers:\n  a: {kind: vllm}\n  a: {kind: vllm}\n", "r.yaml")
    assert (info.value.file, info.value.line, info.value.key) == ("r.yaml", 3, "providers.a")
    with pytest.raises(ConfigError) as bad:
        loader.parse_yaml("a: 1\nx: !!python/name:os.system 1\n", "r.yaml")
    assert bad.value.line == 2


# Loaded only by what a config or a call uses: a plain router must start without them.
_LAZY_MODULES = (
    "httpx",
    "asyncio",
    "opentelemetry",
    "concurrent.futures",  # hedging
    "router.catalog",  # models naming a catalog entry
    "router.migration.shadow",
    "router.migration.split",
    "router.migration.guard",
    "router.migration.compare",
    # The network side loads at a router's first call: executors, the plan walker,
    # the HTTP sender and its adapters, stream assembly; the audit log's hashing
    # only with a log.
    "router.execution.executor",
    "router.execution.walker",
    "router.execution.call",
    "router.execution.http",
    "router.providers.openai_compatible",
    "router.assemble",
    "router.telemetry.audit",
    # YAML loads only for a config read from YAML text.
    "yaml",
    "router.config.yamlparse",
    # Opt-in features load when a config uses them, the call path at the first
    # call: the response cache, rate limits, redaction, the ledger record;
    # ``logging`` with the first message.
    "router.cache.entries",
    "router.cache.key",
    "router.cache.replay",
    "router.execution.limits",
    "router.providers.ratelimit_headers",
    "router.policy.redaction",
    "router.accounting.ledger",
    "logging",
)


def _loaded_after(code: str) -> dict[str, bool]:
    probe = (
        f"import sys\n{code}\n"
        f"names = {_LAZY_MODULES!r}\n"
        "print(*[any(m == n or m.startswith(n + '.') for m in sys.modules) for n in names])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return dict(zip(_LAZY_MODULES, (w == "True" for w in out.stdout.split()), strict=True))


def test_creating_a_router_loads_nothing_a_plain_config_does_not_use() -> None:
    loaded = _loaded_after(
        "import router\n"
        "r = router.Router({'providers': {'p': {'kind': 'vllm', 'base_url': 'http://127.0.0.1:9/v1'}},"
        " 'models': {'m': {'provider': 'p', 'model': 'x'}},"
        " 'sensitivity': {'detect': [{'detector': 'email', 'level': 'confidential'}]}})"
    )
    assert not any(loaded.values()), [n for n, v in loaded.items() if v]


def test_a_config_that_uses_migration_and_the_catalog_loads_them() -> None:
    # The converse: laziness must not skip what the config does use.
    loaded = _loaded_after(
        "import router\n"
        "r = router.Router({'providers': {'p': {'kind': 'vllm', 'base_url': 'http://127.0.0.1:9/v1'},"
        " 'o': {'kind': 'openai', 'api_key': 'k'}},"
        " 'models': {'m': {'provider': 'p', 'model': 'x'}, 'n': {'provider': 'p', 'model': 'y'},"
        " 'g': {'provider': 'o', 'model': 'gpt-4.1-mini', 'catalog': 'gpt-4.1-mini@openai'}},"
        " 'routes': {'default': {'candidates': ['m', 'n'],"
        " 'shadow': {'model': 'n', 'sample_pct': 10}}}})"
    )
    assert loaded["router.catalog"] and loaded["router.migration.shadow"]


def test_a_call_loads_the_cache_limits_and_redaction_its_config_uses() -> None:
    # The converse for the opt-in features: what was taken off start-up loads
    # when a call needs it, and a decision still redacts and looks the cache up.
    loaded = _loaded_after(
        "import router\n"
        "r = router.Router({'providers': {'box': {'kind': 'vllm', 'zone': 'local',"
        " 'base_url': 'http://127.0.0.1:9/v1'},"
        " 'oa': {'kind': 'openai', 'api_key': 'k', 'zone': 'frontier'}},"
        " 'models': {'cloud': {'provider': 'oa', 'model': 'x'},"
        " 'local': {'provider': 'box', 'model': 'y'}},"
        " 'sensitivity': {'detect': [{'detector': 'email', 'level': 'confidential'}]},"
        " 'rules': [{'name': 'out', 'redact': {'detectors': ['email'], 'zones': ['frontier']}},"
        " {'name': 'home', 'when': {'sensitivity': '>= confidential'},"
        " 'allow': {'zone': ['local']}}],"
        " 'routes': {'default': {'candidates': ['cloud', 'local'],"
        " 'cache': {'ttl_s': 60, 'ignore_temperature': True}}}})\n"
        "assert 'router.execution.limits' not in sys.modules\n"
        "msgs = [{'role': 'user', 'content': 'mail a@b.example'}]\n"
        "call = r._core.start(msgs, 'default', None, {})\n"
        "assert call.decision.redaction is not None and call.extra['cache'].hit is None\n"
        "r._core.fail(call, RuntimeError('not sent'))\n"
        "r.close()"
    )
    for name in (
        "router.execution.limits",
        "router.policy.redaction",
        "router.cache.entries",
        "router.cache.key",
    ):
        assert loaded[name], name


def test_a_config_read_from_yaml_loads_the_yaml_parser() -> None:
    loaded = _loaded_after(
        "from router.config.loader import parse_yaml\nassert parse_yaml('a: 1\\n')[0] == {'a': 1}"
    )
    assert loaded["yaml"] and loaded["router.config.yamlparse"]


def test_the_first_call_loads_the_network_side() -> None:
    # The converse for the executor: explain() needs none of it, a call does.
    loaded = _loaded_after(
        "import router\n"
        "r = router.Router({'providers': {'p': {'kind': 'vllm', 'base_url': 'http://127.0.0.1:9/v1'}},"
        " 'models': {'m': {'provider': 'p', 'model': 'x'}}})\n"
        "r.explain([{'role': 'user', 'content': 'hi'}], model='m')\n"
        "assert 'router.execution.executor' not in sys.modules\n"
        "r._core.start([{'role': 'user', 'content': 'hi'}], 'm', None, {})\n"
        "assert r._executor is r._executor\n"
        "r.close()"
    )
    assert loaded["router.execution.executor"] and loaded["router.execution.walker"]
    assert not loaded["router.assemble"] and not loaded["router.telemetry.audit"]


def test_the_stream_fast_path_works_before_any_schema_is_built() -> None:
    # Models build their schemas at first use; the first chunk of a fresh
    # process goes straight to the validator, which must build itself then.
    code = (
        "from router.providers.openai_compatible import OpenAIStreamDecoder\n"
        "from router.types import ChatChunk\n"
        "assert type(ChatChunk.__pydantic_validator__).__name__ != 'SchemaValidator'\n"
        "d = OpenAIStreamDecoder()\n"
        'd.feed(\'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"content":"hi"}}]}\')\n'
        "print(d.feed('')[0].choices[0].delta.content)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "hi"
