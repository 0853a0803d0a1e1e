"""The exact response cache (docs/cache.md): keys, entries, and the router around them.

Router-level tests run sync and async, on memory, SQLite and Redis, against the
fault server, and count what the server received: a hit must send nothing.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import AsyncRouter, Router
from router.accounting.ledger import read_ledger
from router.assemble import Assembler
from router.cache import digest, lookup_steps, replay_chunks, store_steps
from router.config import load_dict
from router.config.schema import CacheConfig
from router.errors import ConfigError, ProviderError, StreamInterrupted
from router.policy import Policy
from router.state import MemoryStore
from router.state.program import run
from router.targets import Target
from router.types import ChatChunk, ChatRequest, ChatResponse
from tests.faultserver import Fault, FaultServer
from tests.faultserver.harness import MESSAGES, make_config

pytest_plugins = ["tests.resilience_fixtures", "tests.telemetry_fixtures"]

CACHE = {"ttl_s": 300}


# -- the key ------------------------------------------------------------------------


def _req(**kw: Any) -> ChatRequest:
    kw.setdefault("messages", [{"role": "user", "content": "What is 2 + 2?"}])
    return ChatRequest.model_validate(kw)


def _key(req: ChatRequest, tenant: str | None = "t", **kw: Any) -> str | None:
    return digest(kw.pop("policy", "p" * 64), tenant, kw.pop("route", "r"), req, **kw)


def test_key_ignores_mapping_key_order_and_stop_spelling() -> None:
    tool_a = {"type": "function", "function": {"name": "f", "parameters": {"a": 1, "b": 2}}}
    tool_b = {"function": {"parameters": {"b": 2, "a": 1}, "name": "f"}, "type": "function"}
    assert _key(_req(tools=[tool_a], temperature=0)) == _key(_req(tools=[tool_b], temperature=0))
    assert _key(_req(stop="END")) == _key(_req(stop=["END"]))
    assert _key(_req(temperature=None)) == _key(_req())  # unset is unset


@pytest.mark.parametrize(
    "other",
    [
        {"messages": [{"role": "user", "content": "What is 2 + 2? "}]},  # whitespace counts
        {"messages": [{"role": "user", "content": "What is 2 + 2?", "name": "x"}]},
        {"messages": [{"role": "system", "content": "What is 2 + 2?"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]}]},
        {"max_tokens": 5},
        {"temperature": 0.0},
        {"seed": 1},
        {"top_p": 0.5},
        {"user": "u1"},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
    ],
)
def test_key_changes_with_anything_that_can_change_the_answer(other: dict[str, Any]) -> None:
    assert _key(_req()) != _key(_req(**other))


def test_key_separates_tenants_policies_and_routes() -> None:
    req = _req(temperature=0)
    keys = {
        _key(req, "acme"),
        _key(req, "globex"),
        _key(req, None),
        _key(req, "-"),  # what budgets call "no tenant" is still a tenant name here
        _key(req, ""),
        _key(req, "null"),
        _key(req, "acme", policy="q" * 64),
        _key(req, "acme", route="other"),
    }
    assert len(keys) == 8


def test_key_is_a_digest_revealing_no_content() -> None:
    secret = "the launch code is 0000-SECRET"
    k = _key(_req(messages=[{"role": "user", "content": secret}]), "acme")
    assert k is not None and len(k) == 64 and int(k, 16) >= 0
    assert "SECRET" not in k and "acme" not in k


def test_ignore_temperature_drops_it_from_the_key() -> None:
    hot, cold = _req(temperature=1.3), _req(temperature=0)
    assert _key(hot) != _key(cold)
    assert _key(hot, ignore_temperature=True) == _key(cold, ignore_temperature=True)


def test_a_request_without_a_canonical_form_has_no_key() -> None:
    nan_tool = {"type": "function", "function": {"name": "f", "parameters": {"x": math.nan}}}
    assert _key(_req(tools=[nan_tool])) is None


# -- entries -------------------------------------------------------------------------


def _targets() -> dict[str, Target]:
    cfg = {
        "providers": {"p": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:1/v1"}},
        "models": {"a": {"provider": "p", "model": "a"}, "b": {"provider": "p", "model": "b"}},
        "routes": {"default": {"candidates": ["a", "b"]}},
    }
    return dict(Policy(load_dict(cfg)).targets)


def _answer(text: str = "four") -> ChatResponse:
    return ChatResponse.model_validate(
        {
            "id": "c1",
            "model": "a",
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )


def test_an_entry_is_served_only_while_live_and_only_for_an_admitted_target() -> None:
    t = _targets()
    store, cfg, key = MemoryStore(), CacheConfig(ttl_s=60), "a" * 64
    assert run(store_steps("r", cfg, key, t["a"], _answer(), now=1000.0), store)
    hit = run(lookup_steps(key, [t["a"], t["b"]], now=1059.0), store)
    assert hit is not None and hit.target is t["a"] and hit.response.content == "four"
    assert run(lookup_steps(key, [t["b"]], now=1001.0), store) is None  # a not admitted
    assert run(lookup_steps(key, [t["a"]], now=1060.0), store) is None  # expired
    assert run(lookup_steps("b" * 64, [t["a"]], now=1001.0), store) is None


def test_a_corrupt_or_foreign_entry_is_a_miss() -> None:
    t = _targets()
    store, key = MemoryStore(), "c" * 64
    for junk in ("not json", "[]", '{"v": 99}', '{"v":1,"target":"a","expires_at":9e99}', "null"):
        store.set("cache|e|" + key, junk)
        assert run(lookup_steps(key, [t["a"]], now=0.0), store) is None


def test_max_entries_evicts_the_oldest_writes() -> None:
    t = _targets()
    store, cfg = MemoryStore(), CacheConfig(ttl_s=60, max_entries=3)
    keys = [f"{i:064x}" for i in range(7)]
    for k in keys:
        run(store_steps("r", cfg, k, t["a"], _answer(k), now=0.0), store)
    live = [k for k in keys if run(lookup_steps(k, [t["a"]], now=1.0), store) is not None]
    assert live == keys[-3:]
    # another route's ring is its own
    run(store_steps("other", cfg, "f" * 64, t["a"], _answer(), now=0.0), store)
    assert run(lookup_steps(keys[-1], [t["a"]], now=1.0), store) is not None


def test_nothing_is_stored_for_an_empty_or_oversized_answer() -> None:
    t = _targets()
    store, cfg = MemoryStore(), CacheConfig(ttl_s=60)
    empty = ChatResponse(id="x", choices=[])
    assert not run(store_steps("r", cfg, "d" * 64, t["a"], empty, now=0.0), store)
    assert not run(store_steps("r", cfg, "e" * 64, t["a"], _answer("x" * 2_000_000), 0.0), store)
    assert store.get("cache|e|" + "d" * 64) is None and store.get("cache|e|" + "e" * 64) is None


def test_store_errors_are_misses_and_unwritten_entries_never_failures() -> None:
    class Down(MemoryStore):
        def get(self, key: str) -> str | None:
            raise OSError("store down")

        def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
            raise OSError("store down")

    t = _targets()
    assert run(lookup_steps("a" * 64, [t["a"]], now=0.0), Down()) is None
    assert not run(store_steps("r", CacheConfig(ttl_s=1), "a" * 64, t["a"], _answer(), 0.0), Down())


def test_replayed_chunks_assemble_into_the_cached_answer() -> None:
    answer = ChatResponse.model_validate(
        {
            "id": "c9",
            "created": 7,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": "t1", "function": {"name": "f", "arguments": '{"x": 1}'}},
                            {"id": "t2", "function": {"name": "g", "arguments": "{}"}},
                        ],
                    },
                    "finish_reason": "tool_calls",
                },
                {"index": 1, "message": {"content": "  spaced\n"}, "finish_reason": "length"},
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
        }
    )
    asm = Assembler()
    for c in replay_chunks(answer):
        assert isinstance(c, ChatChunk)
        asm.add(c)
    assert asm.response().model_dump() == answer.model_dump()


# -- configuration and policy ----------------------------------------------------------


def _cfg(faults: FaultServer, **route: Any) -> dict[str, Any]:
    return make_config(faults, [{"name": "a"}], route={"cache": CACHE, **route})


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"ttl_s": 0}, "greater than 0"),
        ({"ttl_s": -5}, "greater than 0"),
        ({}, "ttl_s"),
        ({"ttl_s": 10, "max_entries": 0}, "greater than or equal to 1"),
        ({"ttl_s": 10, "max_entries": "lots"}, "max_entries"),
        ({"ttl_s": 10, "ttl": 5}, "ttl"),
        ({"ttl_s": 10, "ignore_temperature": "maybe"}, "ignore_temperature"),
    ],
)
def test_bad_cache_config_is_a_located_error(
    faults: FaultServer, cache: dict[str, Any], message: str
) -> None:
    cfg = make_config(faults, [{"name": "a"}], route={"cache": cache})
    with pytest.raises(ConfigError) as e:
        Router(cfg)
    assert "routes.r.cache" in str(e.value) and message in str(e.value)


def test_a_rule_can_forbid_caching_but_not_enable_it(faults: FaultServer) -> None:
    cfg = _cfg(faults)
    cfg["rules"] = [{"name": "on", "cache": True}]
    with pytest.raises(ConfigError, match="only forbid caching"):
        Router(cfg)


@pytest.mark.parametrize(
    ("params", "route", "on", "why"),
    [
        ({"temperature": 0}, {}, True, "on: exact match, ttl 300s"),
        ({}, {}, False, "temperature unset"),
        ({"temperature": 0.7}, {}, False, "temperature 0.7 > 0"),
        ({"temperature": 0.7}, {"ignore_temperature": True}, True, "on:"),
        ({}, {"ignore_temperature": True}, True, "on:"),
    ],
)
def test_explain_says_whether_the_cache_applies(
    faults: FaultServer, params: dict[str, Any], route: dict[str, Any], on: bool, why: str
) -> None:
    cfg = make_config(faults, [{"name": "a"}], route={"cache": {**CACHE, **route}})
    with Router(cfg) as r:
        d = r.explain(MESSAGES, model="r", **params)
    assert d.cache is on
    assert why in d.cache_note and f"cache: {d.cache_note}" in d.explain()
    assert d.to_dict()["cache"] is on


def test_explain_says_whether_a_cached_answer_would_be_served(
    faults: FaultServer, client: Callable[..., Client]
) -> None:
    faults.default("a", Fault.ok("four"))
    c = client(_cfg(faults))
    before = c.r.explain(MESSAGES, model="r", temperature=0)
    assert "nothing cached for this request yet" in before.explain()
    c.chat(temperature=0)
    after = c.r.explain(MESSAGES, model="r", temperature=0)
    assert "a cached answer from a would be served" in after.explain()
    other = c.r.explain(MESSAGES, model="r", temperature=0, context={"tenant": "x"})
    assert "nothing cached" in other.cache_note
    assert faults.count("a") == 1


def test_explain_names_the_rule_that_forbids_caching(faults: FaultServer) -> None:
    cfg = _cfg(faults)
    cfg["rules"] = [
        {
            "name": "no-cache-confidential",
            "when": {"sensitivity": ">= confidential"},
            "cache": False,
        }
    ]
    with Router(cfg) as r:
        assert r.explain(MESSAGES, model="r", temperature=0).cache
        d = r.explain(MESSAGES, model="r", temperature=0, context={"sensitivity": "confidential"})
    assert not d.cache and "rule no-cache-confidential forbids caching" in d.explain()


def test_a_route_without_cache_says_nothing(faults: FaultServer) -> None:
    with Router(make_config(faults, [{"name": "a"}])) as r:
        d = r.explain(MESSAGES, model="r", temperature=0)
    assert not d.cache and d.cache_note == "" and "cache:" not in d.explain()


# -- the router: sync and async, on every store ---------------------------------------


class Client:
    """A Router or an AsyncRouter (on a loop of its own) behind one blocking interface."""

    def __init__(self, mode: str, cfg: dict[str, Any], **options: Any) -> None:
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None
        self.r: Any = AsyncRouter(cfg, **options) if mode == "async" else Router(cfg, **options)

    def _run(self, coro: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(coro)

    def chat(self, messages: Any = MESSAGES, **kw: Any) -> ChatResponse:
        kw.setdefault("model", "r")
        if self.loop is None:
            return self.r.chat(messages, **kw)  # type: ignore[no-any-return]
        return self._run(self.r.chat(messages, **kw))  # type: ignore[no-any-return]

    def stream(
        self, messages: Any = MESSAGES, *, stop_after: int | None = None, **kw: Any
    ) -> tuple[list[ChatChunk], ChatResponse | None]:
        kw.setdefault("model", "r")
        chunks: list[ChatChunk] = []
        if self.loop is None:
            with self.r.stream(messages, **kw) as s:
                for c in s:
                    chunks.append(c)
                    if stop_after is not None and len(chunks) >= stop_after:
                        return chunks, None
                return chunks, s.response

        async def go() -> tuple[list[ChatChunk], ChatResponse | None]:
            async with self.r.stream(messages, **kw) as s:
                async for c in s:
                    chunks.append(c)
                    if stop_after is not None and len(chunks) >= stop_after:
                        return chunks, None
                return chunks, s.response

        return self._run(go())  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.loop is None:
            self.r.close()
        else:
            self._run(self.r.aclose())
            self.loop.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return "memory"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(mode: str) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(cfg: dict[str, Any], **options: Any) -> Client:
        made.append(Client(mode, cfg, **options))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_a_hit_sends_nothing_costs_nothing_and_is_recorded_as_a_hit(
    faults: FaultServer, client: Callable[..., Client], state: str, tmp_path: Path
) -> None:
    faults.default("a", Fault.ok("four"))
    cfg = _cfg(faults)
    cfg["models"]["a"]["price"] = {"input": 1.0, "output": 2.0}
    cfg["state"] = state
    audit = tmp_path / "audit.jsonl"
    cfg["telemetry"] = {"audit_log": str(audit)}
    c = client(cfg)
    miss = c.chat(temperature=0, context={"tenant": "acme"})
    assert miss.route is not None and miss.route.cache == "miss" and miss.route.cost_usd > 0
    hit = c.chat(temperature=0, context={"tenant": "acme"})
    assert faults.count("a") == 1
    assert hit.content == miss.content == "four"
    assert hit.route is not None
    assert (hit.route.cache, hit.route.cost_usd, hit.route.target, hit.route.attempts) == (
        "hit",
        0.0,
        "a",
        [],
    )
    assert hit.route.decision_id != miss.route.decision_id
    assert hit.usage == miss.usage  # the answer's own usage, as it was reported
    ledger = read_ledger(c.r.store)
    assert [(x.cache, x.outcome) for x in ledger] == [("miss", "ok"), ("hit", "ok")]
    assert ledger[1].cost_usd == 0 and ledger[1].prompt_tokens == 0 == ledger[1].reserved_usd
    assert ledger[1].tenant == "acme" and ledger[1].request_id == hit.route.decision_id
    c.r.close() if c.mode == "sync" else c._run(c.r.aclose())
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r.get("cache") for r in records] == ["miss", "hit"]
    assert records[1]["cost_usd"] == 0 and records[1]["input_tokens"] == 0
    assert records[1]["attempts"] == [] and records[1]["outcome"] == "ok"
    assert "four" not in audit.read_text()


def test_a_hit_holds_no_budget(faults: FaultServer, client: Callable[..., Client]) -> None:
    class Counting(MemoryStore):
        reserves = 0

        def budget_reserve(self, *a: Any, **k: Any) -> Any:
            Counting.reserves += 1
            return super().budget_reserve(*a, **k)

    faults.default("a", Fault.ok("four"))
    cfg = _cfg(faults)
    cfg["models"]["a"]["price"] = {"input": 1.0, "output": 2.0}
    cfg["rules"] = [{"name": "cap", "budget": {"usd": 100, "per": "day", "key": "tenant"}}]
    store = Counting()
    c = client(cfg, store=store)
    c.chat(temperature=0)
    assert Counting.reserves == 1
    for _ in range(3):
        assert c.chat(temperature=0).route.cache == "hit"  # type: ignore[union-attr]
    assert Counting.reserves == 1
    assert sum(x.cost_usd for x in read_ledger(store)) == read_ledger(store)[0].cost_usd


def test_a_cached_answer_to_a_stream_is_streamed(
    faults: FaultServer, client: Callable[..., Client], state: str
) -> None:
    body = {
        "id": "chatcmpl-t",
        "object": "chat.completion",
        "created": 3,
        "model": "a-model",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
    faults.default("a", Fault.raw(json.dumps(body).encode()))
    cfg = _cfg(faults)
    cfg["state"] = state
    c = client(cfg)
    answer = c.chat(temperature=0)
    chunks, streamed = c.stream(temperature=0)
    assert faults.count("a") == 1
    assert streamed is not None and streamed.route is not None
    assert streamed.route.cache == "hit" and streamed.route.cost_usd == 0
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    tool = streamed.choices[0].message.tool_calls
    assert tool is not None and tool[0].function.arguments == '{"a": 2, "b": 2}'
    assert streamed.model_dump(exclude={"route"}) == answer.model_dump(exclude={"route"})


def test_a_streamed_answer_is_cached_once_read_to_its_end(
    faults: FaultServer, client: Callable[..., Client]
) -> None:
    faults.default("a", Fault.ok("streamed words"))
    c = client(_cfg(faults))
    _, first = c.stream(temperature=0)
    assert first is not None and first.route is not None and first.route.cache == "miss"
    again, second = c.stream(temperature=0)
    hit = c.chat(temperature=0)
    assert faults.count("a") == 1
    assert second is not None and second.route is not None and second.route.cache == "hit"
    assert "".join(ch.delta_text for ch in again) == first.content == hit.content


def test_an_interrupted_or_abandoned_stream_is_never_cached(
    faults: FaultServer, client: Callable[..., Client]
) -> None:
    faults.script("a", Fault.cut(after=2))
    faults.default("a", Fault.ok("whole answer here"))
    c = client(_cfg(faults))
    with pytest.raises(StreamInterrupted):
        c.stream(temperature=0)
    chunks, _ = c.stream(temperature=0, stop_after=1)  # the caller stops reading
    assert chunks
    assert c.chat(temperature=0).route.cache == "miss"  # type: ignore[union-attr]
    assert faults.count("a") == 3
    assert c.chat(temperature=0).route.cache == "hit"  # type: ignore[union-attr]
    assert faults.count("a") == 3


def test_errors_are_never_cached(faults: FaultServer, client: Callable[..., Client]) -> None:
    faults.script("a", Fault.http(400, message="bad request"))
    faults.default("a", Fault.ok("fine"))
    c = client(_cfg(faults))
    with pytest.raises(ProviderError):
        c.chat(temperature=0)
    assert c.chat(temperature=0).content == "fine"
    assert c.chat(temperature=0).route.cache == "hit"  # type: ignore[union-attr]
    assert faults.count("a") == 2


def test_the_same_request_under_another_tenant_never_hits(
    faults: FaultServer, client: Callable[..., Client], state: str
) -> None:
    faults.default("a", Fault.ok("per tenant"))
    cfg = _cfg(faults)
    cfg["state"] = state
    c = client(cfg)
    tenants = ["acme", "globex", None, "-", ""]
    for t in tenants:
        ctx = {"tenant": t} if t is not None else None
        assert c.chat(temperature=0, context=ctx).route.cache == "miss"  # type: ignore[union-attr]
    assert faults.count("a") == len(tenants)
    for t in tenants:
        ctx = {"tenant": t} if t is not None else None
        assert c.chat(temperature=0, context=ctx).route.cache == "hit"  # type: ignore[union-attr]
    assert faults.count("a") == len(tenants)


def _two_zones(faults: FaultServer, **rule: Any) -> dict[str, Any]:
    cfg = make_config(
        faults, [{"name": "h"}, {"name": "l", "zone": "local"}], route={"cache": CACHE}
    )
    cfg["rules"] = [
        {"name": "confidential-stays-home", "when": {"sensitivity": ">= confidential"}, **rule}
    ]
    return cfg


def test_a_cached_answer_is_served_only_if_the_decision_admits_its_target(
    faults: FaultServer, client: Callable[..., Client], state: str
) -> None:
    faults.default("h", Fault.ok("from hosted"))
    faults.default("l", Fault.ok("from local"))
    cfg = _two_zones(faults, allow={"zone": ["local"]})
    cfg["state"] = state
    c = client(cfg)
    assert c.chat(temperature=0).route.target == "h"  # type: ignore[union-attr]
    # The same words, declared confidential: the hosted answer's target is not admitted.
    reply = c.chat(temperature=0, context={"sensitivity": "confidential"})
    assert reply.route is not None and (reply.route.target, reply.route.cache) == ("l", "miss")
    assert reply.content == "from local"
    assert (faults.count("h"), faults.count("l")) == (1, 1)


def test_a_policy_change_starts_a_fresh_cache(
    faults: FaultServer, client: Callable[..., Client]
) -> None:
    faults.default("a", Fault.ok("v1"))
    store = MemoryStore()
    cfg = _cfg(faults)
    client(cfg, store=store).chat(temperature=0)
    # Another router (another process) on the same store and policy: a hit.
    assert client(cfg, store=store).chat(temperature=0).route.cache == "hit"  # type: ignore[union-attr]
    changed = _cfg(faults, max_tokens=64)
    assert client(changed, store=store).chat(temperature=0).route.cache == "miss"  # type: ignore[union-attr]
    assert faults.count("a") == 2


def test_a_rule_with_cache_false_keeps_confidential_requests_out(
    faults: FaultServer, client: Callable[..., Client], state: str
) -> None:
    faults.default("l", Fault.ok("secret answer"))
    cfg = _two_zones(faults, allow={"zone": ["local"]}, cache=False)
    cfg["state"] = state
    c = client(cfg)
    secret = [{"role": "user", "content": "summarise the merger memo"}]
    ctx = {"sensitivity": "confidential", "tenant": "acme"}
    for _ in range(2):
        reply = c.chat(secret, temperature=0, context=ctx)
        assert reply.route is not None and reply.route.cache is None
    assert faults.count("l") == 2
    # nothing was written: no entry, no ring slot
    keys = c.r.store.get("cache|n|r")
    assert keys is None


def test_a_detected_confidential_request_is_not_cached_either(
    faults: FaultServer, client: Callable[..., Client]
) -> None:
    faults.default("l", Fault.ok("ok"))
    cfg = _two_zones(faults, allow={"zone": ["local"]}, cache=False)
    c = client(cfg)
    leaked = [{"role": "user", "content": "deploy with AKIAIOSFODNN7EXAMPLE please"}]
    d = c.r.explain(leaked, model="r", temperature=0)
    assert d.sensitivity.level in ("confidential", "restricted") and not d.cache
    for _ in range(2):
        assert c.chat(leaked, temperature=0).route.cache is None  # type: ignore[union-attr]
    assert faults.count("l") == 2


@pytest.mark.parametrize(
    ("route", "params", "cached"),
    [
        ({}, {}, False),
        ({}, {"temperature": 0.2}, False),
        ({}, {"temperature": 0}, True),
        ({"ignore_temperature": True}, {}, True),
        ({"ignore_temperature": True}, {"temperature": 1.5}, True),
    ],
)
def test_temperature_rules(
    faults: FaultServer,
    client: Callable[..., Client],
    route: dict[str, Any],
    params: dict[str, Any],
    cached: bool,
) -> None:
    faults.default("a", Fault.ok("t"))
    c = client(make_config(faults, [{"name": "a"}], route={"cache": {**CACHE, **route}}))
    first, second = c.chat(**params), c.chat(**params)
    assert first.route is not None and second.route is not None
    assert second.route.cache == ("hit" if cached else None)
    assert faults.count("a") == (1 if cached else 2)


def test_ignore_temperature_serves_any_temperature(
    faults: FaultServer, client: Callable[..., Client]
) -> None:
    faults.default("a", Fault.ok("t"))
    c = client(
        make_config(faults, [{"name": "a"}], route={"cache": {**CACHE, "ignore_temperature": True}})
    )
    c.chat(temperature=0.1)
    assert c.chat(temperature=1.9).route.cache == "hit"  # type: ignore[union-attr]
    assert faults.count("a") == 1


def test_entries_expire_after_ttl(
    faults: FaultServer, client: Callable[..., Client], state: str
) -> None:
    faults.default("a", Fault.ok("fresh"))
    now = [1_800_000_000.0]
    cfg = _cfg(faults)
    cfg["state"] = state
    c = client(cfg, clock=lambda: now[0])
    c.chat(temperature=0)
    now[0] += 299.0
    assert c.chat(temperature=0).route.cache == "hit"  # type: ignore[union-attr]
    now[0] += 2.0
    assert c.chat(temperature=0).route.cache == "miss"  # type: ignore[union-attr]
    assert faults.count("a") == 2


def test_max_entries_bounds_a_route(faults: FaultServer, client: Callable[..., Client]) -> None:
    faults.default("a", Fault.ok("x"))
    c = client(_cfg(faults, cache={"ttl_s": 300, "max_entries": 2}))
    asks = [[{"role": "user", "content": f"question {i}"}] for i in range(3)]
    for m in asks:
        c.chat(m, temperature=0)
    assert c.chat(asks[2], temperature=0).route.cache == "hit"  # type: ignore[union-attr]
    assert c.chat(asks[0], temperature=0).route.cache == "miss"  # type: ignore[union-attr]
    assert faults.count("a") == 4


def test_hits_and_misses_show_in_spans_and_metrics(faults: FaultServer, otel: Any) -> None:
    faults.default("a", Fault.ok("m"))
    with Router(_cfg(faults), **otel.providers) as r:
        r.chat(MESSAGES, model="r", temperature=0)
        r.chat(MESSAGES, model="r", temperature=0)
        r.chat(MESSAGES, model="r")  # cache does not apply
    routes = [s for s in otel.spans() if s.name == "route r"]
    assert [s.attributes.get("router.cache") for s in routes] == ["miss", "hit", None]
    points = {p.attributes["router.cache"]: p.value for p in otel.points("router.cache_lookups")}
    assert points == {"miss": 1, "hit": 1}


def test_a_stream_says_whether_it_replays_the_cache(faults: FaultServer) -> None:
    faults.default("a", Fault.ok("replayed"))
    with Router(_cfg(faults)) as r:
        with r.stream(MESSAGES, model="r", temperature=0) as s:
            assert s.cache == "miss"
            list(s)
        with r.stream(MESSAGES, model="r", temperature=0) as s:
            assert s.cache == "hit" and s.target is not None and s.target.name == "a"
            assert "".join(c.delta_text for c in s) == "replayed"
        with r.stream(MESSAGES, model="r") as s:
            assert s.cache is None
            list(s)
    assert faults.count("a") == 2


def test_audit_verify_checks_a_hits_target_against_plan_and_rules(
    faults: FaultServer, tmp_path: Path
) -> None:
    from router.telemetry.audit import GENESIS, _sha256, canonical, verify_log

    faults.default("h", Fault.ok("x"))
    cfg = _two_zones(faults, allow={"zone": ["local"]})
    audit = tmp_path / "audit.jsonl"
    cfg["telemetry"] = {"audit_log": str(audit)}
    with Router(cfg) as r:
        r.chat(MESSAGES, model="r", temperature=0)
        r.chat(MESSAGES, model="r", temperature=0)
    assert verify_log(audit, load_dict(cfg)).ok

    def forged(**changes: Any) -> Path:
        rec = {
            "v": 1,
            "seq": 1,
            "prev": GENESIS,
            "route": "r",
            "sensitivity": "confidential",
            "plan": [{"target": "l", "zone": "local"}],
            "attempts": [],
            "cache": "hit",
            "target": "l",
            "zone": "local",
            **changes,
        }
        rec["hash"] = _sha256(canonical(rec))
        path = tmp_path / f"forged-{len(list(tmp_path.iterdir()))}.jsonl"
        path.write_text(canonical(rec).decode() + "\n")
        return path

    def violations(path: Path) -> list[str]:
        report = verify_log(path, load_dict(cfg))
        return [f.message for f in report.findings if f.kind == "violation"]

    assert violations(forged()) == []
    # a confidential hit served from the hosted target: outside the plan, and against the rule
    outside = violations(forged(target="h", zone="hosted"))
    assert (
        outside
        and "cached answer from 'h'" in outside[0]
        and "not in the admitted plan" in outside[0]
    )
    breaking = violations(
        forged(plan=[{"target": "h", "zone": "hosted"}], target="h", zone="hosted")
    )
    assert any("breaks rule 'confidential-stays-home'" in v for v in breaking)


@settings(max_examples=200, deadline=None)
@given(a=st.text(max_size=12), b=st.text(max_size=12), route=st.text(max_size=8))
def test_no_two_tenants_or_routes_share_a_key(a: str, b: str, route: str) -> None:
    req = _req(temperature=0)
    ka, kb = _key(req, a, route=route), _key(req, b, route=route)
    if a != b and ka is not None:  # None: no canonical form (a lone surrogate), never cached
        assert ka != kb
    if route != "r" and ka is not None:
        assert ka != _key(req, a, route="r")
    assert _key(req, None, route=route) != ka


def test_the_report_shows_hits_apart_and_leaves_them_out_of_the_shift_report(
    faults: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.accounting.report import shift_report, spend_by
    from router.cli import main
    from router.targets import resolve_targets

    faults.default("a", Fault.ok("four"))
    cfg = _cfg(faults)
    cfg["models"]["a"]["price"] = {"input": 1.0, "output": 2.0}
    cfg["models"]["self"] = {
        "provider": "a",
        "model": "self-hosted",
        "cost": {"gpu_hour_usd": 2.0, "tokens_per_second": 1000},
    }
    state = f"sqlite:///{tmp_path / 'state.db'}"
    cfg["state"] = state
    with Router(cfg) as r:
        for _ in range(3):
            r.chat(MESSAGES, model="r", temperature=0)
        records = read_ledger(r.store)
    rows = {x.key: (x.requests, x.cost_usd) for x in spend_by(records, "traffic")}
    assert rows["cache"] == (2, 0.0) and rows["primary"][0] == 1 and rows["primary"][1] > 0
    shift = shift_report(records, resolve_targets(load_dict(cfg)))
    assert shift.requests == 1
    assert main(["report", "--state", state, "--json", "--by", "tenant"]) == 0
    out = json.loads(capsys.readouterr().out)
    traffic = {x["key"]: x for x in out["spend"]["traffic"]}  # added: the cache served calls
    assert traffic["cache"]["requests"] == 2 and traffic["cache"]["cost_usd"] == 0


def test_a_memory_cache_stays_in_its_process(
    faults: FaultServer, client: Callable[..., Client], tmp_path: Path
) -> None:
    faults.default("a", Fault.ok("local to me"))
    cfg = _cfg(faults, cache={"ttl_s": 60, "store": "memory"})
    cfg["state"] = f"sqlite:///{tmp_path / 'state.db'}"
    one, two = client(cfg), client(cfg)
    assert one.chat(temperature=0).route.cache == "miss"  # type: ignore[union-attr]
    assert one.chat(temperature=0).route.cache == "hit"  # type: ignore[union-attr]
    assert two.chat(temperature=0).route.cache == "miss"  # type: ignore[union-attr]
    assert faults.count("a") == 2
    # Nothing of the cache reached the shared store; the ledger did.
    assert one.r.store.get("cache|n|r") is None
    assert [x.cache for x in read_ledger(one.r.store)] == ["miss", "hit", "miss"]
    assert "nothing cached" not in one.r.explain(MESSAGES, model="r", temperature=0).cache_note


def test_the_explain_command_says_whether_the_cache_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from router.cli import main

    cfg = {
        "providers": {"p": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"provider": "p", "model": "x"}},
        "routes": {"default": {"candidates": ["m"], "cache": {"ttl_s": 60}}},
        "rules": [{"name": "no-cache-tagged", "when": {"tags": ["private"]}, "cache": False}],
    }
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["explain", str(path), "--message", "hi", "--temperature", "0"]) == 0
    assert "cache: on: exact match, ttl 60s" in capsys.readouterr().out
    assert main(["explain", str(path), "--message", "hi"]) == 0
    assert "cache: off: temperature unset" in capsys.readouterr().out
    args = ["explain", str(path), "--message", "hi", "--temperature", "0", "--tag", "private"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cache"] is False and "rule no-cache-tagged" in out["cache_note"]


_WORKER = """
import json, sys
from router import Router
cfg = json.loads(sys.argv[1])
with Router(cfg) as r:
    reply = r.chat([{"role": "user", "content": "shared?"}], model="r", temperature=0,
                   context={"tenant": "acme"})
    print(json.dumps([reply.route.cache, reply.content]))
"""


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_processes_sharing_a_store_share_the_cache(
    faults: FaultServer, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import os
    import subprocess
    import sys

    faults.default("a", Fault.ok("shared answer"))
    cfg = _cfg(faults)
    cfg["state"] = (
        f"sqlite:///{tmp_path / 'state.db'}"
        if kind == "sqlite"
        else str(request.getfixturevalue("redis_url"))
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    seen = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", _WORKER, json.dumps(cfg)],
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        seen.append(tuple(json.loads(out.stdout)))
    assert seen == [("miss", "shared answer"), ("hit", "shared answer"), ("hit", "shared answer")]
    assert faults.count("a") == 1


def test_a_failing_store_never_fails_a_call_it_only_misses(
    faults: FaultServer, client: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    class CacheDown(MemoryStore):
        def get(self, key: str) -> str | None:
            if key.startswith("cache|"):
                raise OSError("cache keys unreachable")
            return super().get(key)

        def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
            if key.startswith("cache|"):
                raise OSError("cache keys unreachable")
            return super().incr(key, amount, ttl_s)

    faults.default("a", Fault.ok("still answered"))
    c = client(_cfg(faults), store=CacheDown())
    for _ in range(2):
        reply = c.chat(temperature=0)
        assert reply.content == "still answered" and reply.route is not None
        assert reply.route.cache == "miss"
    assert faults.count("a") == 2
    assert any("response cache not read" in m for m in caplog.messages)
    assert any("response cache not written" in m for m in caplog.messages)
