"""Embedding wire protocols, sans-IO: request shapes, recorded answers, malformed ones."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from router.embeddings.adapters import (
    AzureEmbeddings,
    GeminiEmbeddings,
    OllamaEmbeddings,
    OpenAIEmbeddings,
    embedding_adapter_for,
    vector_from_wire,
)
from router.embeddings.types import EmbeddingRequest
from router.errors import ConfigError, ProviderUnavailable
from router.execution.embeddings import batches
from router.providers import Endpoint
from tests.helpers import fixture_text

KEY = "sk-embed-0123456789SECRET"


def _req(**kw: Any) -> EmbeddingRequest:
    return EmbeddingRequest(input=("alpha", "beta"), **kw)


def _ep(base: str = "http://127.0.0.1:9/v1", model: str = "emb", **kw: Any) -> Endpoint:
    return Endpoint(base_url=base, model_id=model, api_key=KEY, **kw)


def test_openai_request_shape() -> None:
    http = OpenAIEmbeddings().build(
        _ep(extra_body={"truncate": True}), ["alpha", "beta"], _req(dimensions=256, user="u1")
    )
    assert http.method == "POST" and http.url == "http://127.0.0.1:9/v1/embeddings"
    assert http.json == {
        "truncate": True,
        "model": "emb",
        "input": ["alpha", "beta"],
        "dimensions": 256,
        "user": "u1",
    }
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(http)
    # Unset parameters are not sent: servers that do not know them would refuse them.
    bare = OpenAIEmbeddings().build(_ep(), ["x"], EmbeddingRequest(input=("x",)))
    assert set(bare.json) == {"model", "input"}


def test_openai_recorded_answer() -> None:
    b = OpenAIEmbeddings().parse(
        fixture_text("embeddings/openai_embeddings.json").encode(), expected=2
    )
    assert b.vectors == [
        [0.0023064255, -0.009327292, 0.015797347],
        [-0.0028842222, 0.0123155, -0.0125546],
    ]
    assert b.prompt_tokens == 8 and b.model == "text-embedding-3-small"


def test_openai_answer_out_of_order_is_put_back_by_index() -> None:
    body = json.loads(fixture_text("embeddings/openai_embeddings.json"))
    body["data"].reverse()
    b = OpenAIEmbeddings().parse(json.dumps(body).encode(), expected=2)
    assert b.vectors[0][0] == 0.0023064255 and b.vectors[1][0] == -0.0028842222


def test_base64_vectors_decode_to_the_floats() -> None:
    b = OpenAIEmbeddings().parse(
        fixture_text("embeddings/openai_embeddings_base64.json").encode(), expected=2
    )
    assert b.vectors == [[0.5, -0.25, 0.125], [1.0, 2.0, -3.5]]


def test_ollama_request_and_answer() -> None:
    http = OllamaEmbeddings().build(
        _ep("http://127.0.0.1:11434", "nomic-embed-text"), ["alpha", "beta"], _req(dimensions=64)
    )
    assert http.url == "http://127.0.0.1:11434/api/embed"
    assert http.json == {"model": "nomic-embed-text", "input": ["alpha", "beta"], "dimensions": 64}
    b = OllamaEmbeddings().parse(fixture_text("embeddings/ollama_embed.json").encode(), 2)
    assert b.prompt_tokens == 8 and len(b.vectors) == 2 and b.vectors[1][1] == 0.06042469


def test_gemini_request_and_answer() -> None:
    http = GeminiEmbeddings().build(
        _ep("https://generativelanguage.googleapis.com", "models/gemini-embedding-001",
            extra_body={"taskType": "RETRIEVAL_DOCUMENT"}),
        ["alpha", "beta"],
        _req(dimensions=768),
    )  # fmt: skip
    assert http.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/"
        "gemini-embedding-001:batchEmbedContents"
    )
    assert http.headers["x-goog-api-key"] == KEY and "authorization" not in http.headers
    assert http.json == {
        "requests": [
            {
                "taskType": "RETRIEVAL_DOCUMENT",
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": t}]},
                "outputDimensionality": 768,
            }
            for t in ("alpha", "beta")
        ]
    }
    b = GeminiEmbeddings().parse(fixture_text("embeddings/gemini_batch_embed.json").encode(), 2)
    assert b.prompt_tokens is None  # Gemini reports none: the router bounds it
    assert b.vectors[0] == [0.0040465445, 0.013137547, -0.017611828]


@pytest.mark.parametrize(
    ("version", "url"),
    [
        (None, "https://res.openai.azure.com/openai/deployments/emb-dep/embeddings?api-version=2024-10-21"),
        ("v1", "https://res.openai.azure.com/openai/v1/embeddings"),
    ],
)  # fmt: skip
def test_azure_deployment_url_and_key_header(version: str | None, url: str) -> None:
    http = AzureEmbeddings().build(
        _ep("https://res.openai.azure.com/", "emb-dep", api_version=version), ["a"], _req()
    )
    assert http.url == url
    assert http.headers["api-key"] == KEY and "authorization" not in http.headers


def test_kinds_map_to_their_protocol() -> None:
    assert isinstance(embedding_adapter_for("ollama"), OllamaEmbeddings)
    assert isinstance(embedding_adapter_for("gemini"), GeminiEmbeddings)
    assert isinstance(embedding_adapter_for("azure_openai"), AzureEmbeddings)
    for preset in ("openai", "vllm", "llama_cpp_python", "together", "fireworks", "mistral"):
        assert type(embedding_adapter_for(preset)) is OpenAIEmbeddings
    with pytest.raises(ConfigError, match="no embeddings API"):
        embedding_adapter_for("anthropic")


def _f32(*xs: float) -> str:
    return base64.b64encode(struct.pack(f"<{len(xs)}f", *xs)).decode()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"object": "list"}',
        b'{"data": [{"index": 0, "embedding": [1.0]}]}',  # one vector for two inputs
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 5, "embedding": [2.0]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": ["x"]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [true]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": ["1.5"]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": true, "embedding": [2.0]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1.5, "embedding": [2.0]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": "1", "embedding": [2.0]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0, {}]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1e999]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [NaN]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [Infinity]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": []}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [[1.0],[2.0]]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": "!!notb64"}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": "AAAA="}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": null}]}',
        b'{"data": [{"index": 0, "embedding": [1.0]}, "oops"]}',
    ],
)
def test_malformed_openai_answers_are_malformed_response(body: bytes) -> None:
    with pytest.raises(ProviderUnavailable) as e:
        OpenAIEmbeddings().parse(body, expected=2)
    assert e.value.code == "malformed_response"
    assert "alpha" not in str(e.value)


def test_integers_in_a_vector_come_back_as_floats() -> None:
    body = b'{"data": [{"index": 0, "embedding": [0, 1, -2]}], "usage": {"prompt_tokens": 3}}'
    b = OpenAIEmbeddings().parse(body, expected=1)
    assert b.vectors == [[0.0, 1.0, -2.0]] and all(type(x) is float for x in b.vectors[0])
    assert b.prompt_tokens == 3 and type(b.prompt_tokens) is int


def test_a_base64_nan_is_refused_too() -> None:
    with pytest.raises(ProviderUnavailable):
        vector_from_wire(_f32(1.0, float("nan")))
    assert vector_from_wire(_f32(1.5, -2.0)) == [1.5, -2.0]


@pytest.mark.parametrize(
    ("adapter", "body"),
    [
        (OllamaEmbeddings(), b'{"embeddings": [[1.0]]}'),
        (OllamaEmbeddings(), b'{"model": "x"}'),
        (GeminiEmbeddings(), b'{"embeddings": [{"values": [1.0]}, {"vals": [1.0]}]}'),
        (GeminiEmbeddings(), b'{"embeddings": [{"values": [1.0]}]}'),
    ],
)
def test_malformed_native_answers(adapter: Any, body: bytes) -> None:
    with pytest.raises(ProviderUnavailable) as e:
        adapter.parse(body, expected=2)
    assert e.value.code == "malformed_response"


def test_an_error_object_in_a_2xx_body_is_an_error() -> None:
    with pytest.raises(ProviderUnavailable):
        OllamaEmbeddings().parse(b'{"error": "model is loading"}', expected=1)


@pytest.mark.parametrize(("n", "limit"), [(0, 3), (1, 3), (3, 3), (7, 3), (7, None), (10, 1)])
def test_batches_cover_every_input_once_in_order(n: int, limit: int | None) -> None:
    inputs = [f"t{i}" for i in range(n)]
    runs = batches(inputs, limit)
    assert [x for _, run in runs for x in run] == inputs
    assert all(inputs[start] == run[0] for start, run in runs if run)
    if limit is not None:
        assert all(len(run) <= limit for _, run in runs)
