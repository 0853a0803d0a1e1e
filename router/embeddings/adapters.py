"""Sans-IO embedding adapters, one per wire protocol.

Each builds the :class:`~router.providers.HttpRequest` for one batch of
inputs and parses its answer into vectors in input order; error answers are
mapped by the provider's chat adapter (the same error bodies). No I/O here.

Batch limits (inputs per request; :func:`batch_limit`), overridable per
provider with ``options: {embedding_batch_size: N}``:

=====================  ========  =============================================
kind                   inputs    why
=====================  ========  =============================================
openai, azure_openai   2048      OpenAI's documented maximum per request
gemini                 100       ``batchEmbedContents``' maximum
openai_compatible      32        text-embeddings-inference's default
                                 ``--max-client-batch-size``
other presets          2048      OpenAI's limit (vLLM, llama.cpp, Together …)
ollama, embedded       no limit  one request takes any number
=====================  ========  =============================================
"""

from __future__ import annotations

import base64
import json
import sys
from abc import ABC, abstractmethod
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, TypeAdapter, ValidationError

from ..errors import ConfigError, ProviderError, ProviderUnavailable
from ..providers.base import Endpoint, HttpRequest
from ..providers.errors_map import error_for_status
from ..providers.presets import NATIVE
from ..targets import Target
from .types import EmbeddingRequest

__all__ = [
    "NO_EMBEDDINGS_API",
    "Batch",
    "EmbeddingAdapter",
    "batch_limit",
    "config_warnings",
    "embedding_adapter_for",
    "supports_dimensions",
    "vector_from_wire",
]

_LIMITS: Mapping[str, int | None] = {
    "openai": 2048,
    "azure_openai": 2048,
    "gemini": 100,
    "openai_compatible": 32,
    "ollama": None,
    "embedded": None,
}
_PRESET_LIMIT = 2048

NO_EMBEDDINGS_API = frozenset({"anthropic"})
"""Kinds whose provider has no embeddings endpoint: never in an embedding plan."""

_NO_DIMENSIONS = frozenset({"embedded"})
"""Kinds that cannot shorten vectors: ``dimensions`` is a clear error before any send."""


def batch_limit(t: Target) -> int | None:
    """Inputs per request for ``t`` (``None``: no limit)."""
    configured = t.provider_config.options.get("embedding_batch_size")
    if configured is not None:
        if type(configured) is not int or configured < 1:
            raise ConfigError(
                "must be a positive integer",
                key=f"providers.{t.provider}.options.embedding_batch_size",
            )
        return configured
    return _LIMITS.get(t.kind, _PRESET_LIMIT)


def supports_dimensions(t: Target) -> bool:
    """Whether ``t``'s protocol can ask for shortened vectors (``dimensions``)."""
    return t.kind not in _NO_DIMENSIONS


@dataclass(frozen=True, slots=True)
class Batch:
    """One answered request: its vectors in input order, the input tokens it reports."""

    vectors: list[list[float]]
    prompt_tokens: int | None
    model: str | None


def _malformed(why: str) -> ProviderUnavailable:
    # Never quotes the body: it may echo the inputs.
    return ProviderUnavailable(f"embedding response {why}", code="malformed_response")


Vector = Annotated[list[StrictFloat], Field(min_length=1)]
"""What every vector must be: a non-empty list of finite numbers (a JSON integer
reads as a float; a bool, a string, null, NaN or infinity is refused)."""


class _Wire(BaseModel):
    """An answer's body as pydantic-core reads it from JSON: the vectors are checked
    in the same pass that parses them (about half of ``json.loads`` alone)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, defer_build=True)


class _OpenAIItem(_Wire):
    index: Any = None
    # str: base64 (encoding_format: base64). A JSON value can only ever be one of
    # the two, so trying them in order accepts what the smart union accepts,
    # without its ranking of the members (about 1.5 us of 17 per 384 floats).
    embedding: Vector | str = Field(union_mode="left_to_right")


class _OpenAIBody(_Wire):
    data: list[_OpenAIItem]
    model: Any = None
    usage: Any = None


class _OllamaBody(_Wire):
    embeddings: list[Vector]
    model: Any = None
    prompt_eval_count: Any = None


class _GeminiItem(_Wire):
    values: Vector


class _GeminiBody(_Wire):
    embeddings: list[_GeminiItem]


_VECTOR: TypeAdapter[list[float]] = TypeAdapter(
    Vector, config=ConfigDict(allow_inf_nan=False, defer_build=True)
)
_LITTLE = sys.byteorder == "little"


def vector_from_wire(value: Any) -> list[float]:
    """A vector as a list of numbers, or base64 of little-endian float32 (OpenAI's
    ``encoding_format: base64``), as floats; anything else (:data:`Vector`) is a
    malformed response."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise _malformed("holds a vector that is not base64") from None
        if len(raw) % 4:
            raise _malformed("holds a base64 vector that is not whole float32 values")
        floats = array("f")
        floats.frombytes(raw)
        if not _LITTLE:
            floats.byteswap()
        value = floats.tolist()
    try:
        return _VECTOR.validate_python(value)
    except ValidationError:
        raise _malformed(_unfit([value])) from None


def _unfit(vectors: list[Any]) -> str:
    """Why vectors do not fit :data:`Vector` (never quoting them)."""
    if any(type(v) is list and v and type(v[0]) is list for v in vectors):
        return (
            "holds one vector per token: the model pools nothing (serve it with a "
            "pooling type, e.g. llama.cpp's --pooling mean)"
        )
    return "holds a vector that is not a non-empty list of finite numbers"


W = TypeVar("W", bound=_Wire)


class EmbeddingAdapter(ABC):
    """One embedding wire protocol: build a batch's request, parse its answer."""

    @abstractmethod
    def build(
        self, endpoint: Endpoint, inputs: Sequence[str], request: EmbeddingRequest
    ) -> HttpRequest:
        """The HTTP request embedding ``inputs`` (one batch)."""

    @abstractmethod
    def parse(self, body: bytes, expected: int) -> Batch:
        """A 2xx body as ``expected`` vectors in input order; a malformed one raises
        :class:`~router.errors.ProviderUnavailable` (``malformed_response``)."""

    def unfit(self, obj: dict[str, Any]) -> NoReturn:
        """Raise why a JSON object without an ``error`` is not this protocol's answer."""
        raise _malformed(
            _unfit(self._raw_vectors(obj)) if self._raw_vectors(obj) else "does not fit the schema"
        )

    @staticmethod
    def _raw_vectors(obj: dict[str, Any]) -> list[Any]:
        """The vectors as found in an unfit body, for :meth:`unfit`'s diagnosis."""
        return []

    def body_error(self, err: Any) -> ProviderError:
        """An ``error`` object inside a 2xx body."""
        if isinstance(err, Mapping):
            message = str(err.get("message") or "error in response")
            raw = err.get("code") or err.get("type") or err.get("status")
            code = str(raw) if raw is not None else None
        else:
            message, code = str(err), None
        return error_for_status(503, message, code, {})


def _read(model: type[W], body: bytes, adapter: EmbeddingAdapter) -> W:
    """``body`` as ``model``; otherwise the error it carries, or why it is malformed."""
    try:
        wire: W = model.__pydantic_validator__.validate_json(body)
        return wire
    except ValidationError:
        pass
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _malformed("is not JSON") from None
    if not isinstance(obj, dict):
        raise _malformed("is not a JSON object")
    if obj.get("error"):
        raise adapter.body_error(obj["error"])
    return adapter.unfit(obj)


def _tokens(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _count(what: str, got: list[Any], expected: int) -> None:
    if len(got) != expected:
        raise _malformed(f"has {len(got)} {what} for {expected} inputs")


def _headers(endpoint: Endpoint, key_header: str | None, scheme: str = "Bearer ") -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    headers.update(endpoint.headers)
    if endpoint.api_key and key_header is not None:
        headers[key_header] = f"{scheme}{endpoint.api_key}"
    return headers


class OpenAIEmbeddings(EmbeddingAdapter):
    """``POST {base_url}/embeddings``: OpenAI and every server speaking its API."""

    def build(
        self, endpoint: Endpoint, inputs: Sequence[str], request: EmbeddingRequest
    ) -> HttpRequest:
        body: dict[str, Any] = dict(endpoint.extra_body)
        body["model"] = endpoint.model_id
        body["input"] = list(inputs)
        if request.encoding_format is not None:
            body["encoding_format"] = request.encoding_format
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
        url = endpoint.base_url.rstrip("/") + "/embeddings"
        return HttpRequest("POST", url, _headers(endpoint, "authorization"), body)

    def parse(self, body: bytes, expected: int) -> Batch:
        wire = _read(_OpenAIBody, body, self)
        _count("vectors", wire.data, expected)
        vectors: list[list[float] | None] = [None] * expected
        for pos, item in enumerate(wire.data):
            index = pos if item.index is None else item.index
            if type(index) is not int or not 0 <= index < expected or vectors[index] is not None:
                raise _malformed("has missing, repeated or out-of-range indexes")
            vec = item.embedding
            vectors[index] = vector_from_wire(vec) if isinstance(vec, str) else vec
        usage = wire.usage
        tokens = _tokens(usage.get("prompt_tokens")) if isinstance(usage, dict) else None
        model = wire.model if isinstance(wire.model, str) else None
        return Batch([v for v in vectors if v is not None], tokens, model)

    @staticmethod
    def _raw_vectors(obj: dict[str, Any]) -> list[Any]:
        data = obj.get("data")
        return (
            [d.get("embedding") for d in data if isinstance(d, dict)]
            if isinstance(data, list)
            else []
        )


class AzureEmbeddings(OpenAIEmbeddings):
    """Azure OpenAI: ``{resource}/openai/deployments/{deployment}/embeddings?api-version=``
    with an ``api-key`` header (``api_version: v1``: ``{resource}/openai/v1/embeddings``)."""

    def build(
        self, endpoint: Endpoint, inputs: Sequence[str], request: EmbeddingRequest
    ) -> HttpRequest:
        from ..providers.azure_openai import DEFAULT_API_VERSION

        if not endpoint.base_url:
            raise ConfigError("an azure_openai provider needs base_url: the resource endpoint")
        resource = endpoint.base_url.rstrip("/")
        version = endpoint.api_version or DEFAULT_API_VERSION
        if version == "v1":
            base, query = f"{resource}/openai/v1", ""
        else:
            deployment = quote(endpoint.model_id, safe="-._~")
            base = f"{resource}/openai/deployments/{deployment}"
            query = f"?api-version={quote(version, safe='-._~')}"
        http = super().build(replace(endpoint, base_url=base, api_key=None), inputs, request)
        if endpoint.api_key:
            http.headers["api-key"] = endpoint.api_key
        return HttpRequest(http.method, http.url + query, http.headers, http.json)


class OllamaEmbeddings(EmbeddingAdapter):
    """Ollama's native ``POST {host}/api/embed`` (``input`` list, ``embeddings`` back)."""

    def build(
        self, endpoint: Endpoint, inputs: Sequence[str], request: EmbeddingRequest
    ) -> HttpRequest:
        from ..providers.ollama import DEFAULT_BASE_URL

        body: dict[str, Any] = dict(endpoint.extra_body)
        body["model"] = endpoint.model_id
        body["input"] = list(inputs)
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        base = (endpoint.base_url or DEFAULT_BASE_URL).rstrip("/")
        return HttpRequest("POST", base + "/api/embed", _headers(endpoint, "authorization"), body)

    def parse(self, body: bytes, expected: int) -> Batch:
        wire = _read(_OllamaBody, body, self)
        _count("vectors", wire.embeddings, expected)
        model = wire.model if isinstance(wire.model, str) else None
        return Batch(wire.embeddings, _tokens(wire.prompt_eval_count), model)

    @staticmethod
    def _raw_vectors(obj: dict[str, Any]) -> list[Any]:
        data = obj.get("embeddings")
        return data if isinstance(data, list) else []


class GeminiEmbeddings(EmbeddingAdapter):
    """Gemini's ``POST {base}/{version}/models/{model}:batchEmbedContents`` with
    ``x-goog-api-key``; it reports no token counts (the router bounds them)."""

    def build(
        self, endpoint: Endpoint, inputs: Sequence[str], request: EmbeddingRequest
    ) -> HttpRequest:
        from ..providers.gemini import API_VERSION, DEFAULT_BASE_URL

        model = endpoint.model_id.removeprefix("models/")
        extra = dict(endpoint.extra_body)  # e.g. taskType: per request in a batch
        requests = []
        for text in inputs:
            one: dict[str, Any] = {
                **extra,
                "model": f"models/{model}",
                "content": {"parts": [{"text": text}]},
            }
            if request.dimensions is not None:
                one["outputDimensionality"] = request.dimensions
            requests.append(one)
        base = (endpoint.base_url or DEFAULT_BASE_URL).rstrip("/")
        version = endpoint.api_version or API_VERSION
        url = f"{base}/{version}/models/{quote(model, safe='-._~')}:batchEmbedContents"
        headers = _headers(endpoint, "x-goog-api-key", "")
        return HttpRequest("POST", url, headers, {"requests": requests})

    def parse(self, body: bytes, expected: int) -> Batch:
        wire = _read(_GeminiBody, body, self)
        _count("vectors", wire.embeddings, expected)
        return Batch([e.values for e in wire.embeddings], None, None)

    @staticmethod
    def _raw_vectors(obj: dict[str, Any]) -> list[Any]:
        data = obj.get("embeddings")
        if not isinstance(data, list):
            return []
        return [e.get("values") for e in data if isinstance(e, dict)]


def embedding_adapter_for(kind: str) -> EmbeddingAdapter:
    """The embedding adapter for a provider ``kind`` (not ``embedded``: no wire)."""
    if kind == "ollama":
        return OllamaEmbeddings()
    if kind == "gemini":
        return GeminiEmbeddings()
    if kind == "azure_openai":
        return AzureEmbeddings()
    if kind in NO_EMBEDDINGS_API:
        raise ConfigError(f"provider kind {kind!r} has no embeddings API")
    if kind in NATIVE:
        raise KeyError(kind)
    return OpenAIEmbeddings()


def config_warnings(targets: Mapping[str, Target]) -> list[str]:
    """What ``llm-router validate`` warns about embedding models (each names its key)."""
    warnings = []
    for t in targets.values():
        if "embeddings" not in t.capabilities:
            continue
        if t.kind in NO_EMBEDDINGS_API:
            warnings.append(
                f"models.{t.name}: provider kind {t.kind} has no embeddings API; "
                "embed() never plans it"
            )
        try:
            batch_limit(t)
        except ConfigError as e:
            warnings.append(str(e))
    return warnings
