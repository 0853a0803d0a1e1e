"""The embedding call and its answer, OpenAI-shaped (``create_embedding_response``).

Application code written against the openai SDK reads the same attributes:
``response.data[i].embedding``, ``.index``, ``response.usage.prompt_tokens``,
``response.model``; the router adds ``route`` as it does for chat.
"""

# Annotations stay objects (no ``from __future__ import annotations``): pydantic
# then need not evaluate strings when it builds each model at import.
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..types import RouteInfo, Usage

__all__ = [
    "EMBEDDING_PARAMS",
    "Embedding",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "EmbeddingUsage",
]

EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format", "user"})
"""The keyword parameters of ``embed`` besides ``input``, ``model`` and ``context``."""


class EmbeddingRequest(BaseModel):
    """A validated embedding call: the inputs, in order, and OpenAI's parameters.

    ``encoding_format`` only chooses the wire encoding where the provider
    offers one (``base64`` is about a quarter the bytes of JSON floats): the
    answer always holds floats.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    input: tuple[str, ...] = Field(min_length=1)
    dimensions: int | None = Field(default=None, gt=0)
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = None


class Embedding(BaseModel):
    """One input's vector; ``index`` is the input's position in the call."""

    model_config = ConfigDict(defer_build=True)

    object: str = "embedding"
    index: int
    embedding: list[float]


class EmbeddingUsage(Usage):
    """Input tokens (``prompt_tokens``, ``total_tokens``, as OpenAI reports them).

    A :class:`~router.types.Usage` whose output counts are always 0, so cost and
    ledger code read it as they read chat usage. ``estimated`` is true when a
    provider reported none (Gemini) and the router counted the input's bound.
    """


class EmbeddingResponse(BaseModel):
    """An embedding answer, OpenAI-shaped, plus ``route``."""

    model_config = ConfigDict(defer_build=True)

    object: str = "list"
    data: list[Embedding]
    model: str = ""
    usage: EmbeddingUsage = Field(default_factory=EmbeddingUsage)
    route: RouteInfo | None = None

    @property
    def vectors(self) -> list[list[float]]:
        """The vectors in input order (``[d.embedding for d in data]``)."""
        return [d.embedding for d in self.data]
