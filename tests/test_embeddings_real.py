"""Embeddings from a real model: the embedded engine and llama-cpp-python's server in
embedding mode, on SmolLM2. Paraphrases must land closer than unrelated sentences."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router import AsyncRouter, Router
from tests.conftest import run_llama_server

pytestmark = pytest.mark.real_server

# Two pairs of paraphrases; across pairs the sentences are unrelated.
CAT = ("The cat sat on the mat.", "A cat was sitting on the mat.")
MONEY = ("Quarterly revenue rose by eight percent.", "Sales grew 8% this quarter.")


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def assert_paraphrases_closer(vectors: list[list[float]]) -> None:
    cat_a, cat_b, money_a, money_b = vectors
    assert len({len(v) for v in vectors}) == 1 and len(cat_a) > 100
    same_cat, same_money = cosine(cat_a, cat_b), cosine(money_a, money_b)
    for unrelated in (cosine(cat_a, money_a), cosine(cat_b, money_b), cosine(cat_a, money_b)):
        assert same_cat > unrelated
    assert same_money > cosine(money_a, cat_a)


def embedded_config(model_path: Path) -> dict[str, Any]:
    return {
        "providers": {"local": {"kind": "embedded", "options": {"n_ctx": 512, "n_threads": 1}}},
        "models": {
            "smol-emb": {
                "provider": "local",
                "model": str(model_path),
                "capabilities": ["embeddings"],
            }
        },
        "routes": {"default": {"candidates": ["smol-emb"]}},
    }


def test_embedded_engine_paraphrases_are_closer(model_path: Path) -> None:
    with Router(embedded_config(model_path)) as r:
        resp = r.embed([*CAT, *MONEY])
    assert_paraphrases_closer(resp.vectors)
    assert [d.index for d in resp.data] == [0, 1, 2, 3]
    assert resp.usage.prompt_tokens > 8 and not resp.usage.estimated
    assert resp.route is not None and resp.route.zone == "local"


def test_embedded_engine_async_gives_the_same_vectors(model_path: Path) -> None:
    async def go() -> list[list[float]]:
        async with AsyncRouter(embedded_config(model_path)) as r:
            return (await r.embed(list(CAT))).vectors

    with Router(embedded_config(model_path)) as r:
        sync = r.embed(list(CAT)).vectors
    got = asyncio.run(go())
    assert len(got) == len(sync) == 2
    for a, b in zip(got, sync, strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


@pytest.fixture(scope="module")
def embedding_server(model_path: Path) -> Iterator[str]:
    """llama-cpp-python's server in embedding mode; yields its /v1 base URL.

    SmolLM2 is a chat model that declares no pooling, so the server is told to
    mean-pool (a GGUF metadata override) — as a sentence encoder would.
    """
    yield from run_llama_server(
        model_path,
        "--embedding",
        "true",
        "--kv_overrides",
        "llama.pooling_type=int:1",
        "--n_ctx",
        "512",
    )


def server_config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"llama": {"kind": "llama_cpp_python", "base_url": base_url}},
        "models": {
            "smol-emb": {"provider": "llama", "model": "smollm2", "capabilities": ["embeddings"]}
        },
        "routes": {"default": {"candidates": ["smol-emb"]}},
    }


def test_server_paraphrases_are_closer(embedding_server: str) -> None:
    with Router(server_config(embedding_server)) as r:
        resp = r.embed([*CAT, *MONEY])
    assert_paraphrases_closer(resp.vectors)
    assert resp.usage.prompt_tokens > 8 and not resp.usage.estimated
    assert resp.route is not None and resp.route.target == "smol-emb"


def test_server_and_engine_agree(embedding_server: str, model_path: Path) -> None:
    with Router(server_config(embedding_server)) as r:
        served = r.embed(list(CAT)).vectors
    with Router(embedded_config(model_path)) as r:
        local = r.embed(list(CAT)).vectors
    for a, b in zip(served, local, strict=True):
        assert cosine(a, b) > 0.99


def test_server_batches_across_requests_keep_order(embedding_server: str) -> None:
    cfg = server_config(embedding_server)
    cfg["providers"]["llama"]["options"] = {"embedding_batch_size": 1}
    texts = [*CAT, *MONEY]
    with Router(cfg) as r:
        one_by_one = r.embed(texts).vectors
    with Router(server_config(embedding_server)) as r:
        together = r.embed(texts).vectors
    for a, b in zip(one_by_one, together, strict=True):
        assert cosine(a, b) > 0.999


def test_server_async_matches_sync(embedding_server: str) -> None:
    async def go() -> list[list[float]]:
        async with AsyncRouter(server_config(embedding_server)) as r:
            return (await r.embed([*CAT, *MONEY])).vectors

    got = asyncio.run(go())
    assert_paraphrases_closer(got)
    with Router(server_config(embedding_server)) as r:
        sync = r.embed([*CAT, *MONEY]).vectors
    for a, b in zip(got, sync, strict=True):
        assert cosine(a, b) > 0.999
