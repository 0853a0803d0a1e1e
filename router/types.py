"""Request, response, chunk and context types.

The response types mirror OpenAI's ``chat.completion`` and
``chat.completion.chunk`` objects so application code written against the
openai SDK reads the same attributes; the router adds ``route`` (where the
request went and why) and a few conveniences (``content``, ``delta_text``).
"""

# Annotations stay objects (no ``from __future__ import annotations``): pydantic
# then need not evaluate strings when it builds each model at import.
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Attempt",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "ChunkChoice",
    "Delta",
    "FunctionCall",
    "Message",
    "RequestContext",
    "RouteInfo",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]


class _Wire(BaseModel):
    """Base of the OpenAI-shaped types: unknown fields from a server are ignored."""

    # Schemas are built at first use: creating a router never pays for them.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class FunctionCall(_Wire):
    """The function a tool call invokes; ``arguments`` is a JSON string."""

    name: str
    arguments: str = ""


class ToolCall(_Wire):
    """One tool call made by the assistant."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """A chat message in OpenAI's shape.

    ``content`` is a string, a list of content parts (text, image_url), or
    ``None`` for an assistant turn that only calls tools.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text parts joined (image parts are skipped)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    def to_wire(self) -> dict[str, Any]:
        """The OpenAI wire form of this message, without unset fields."""
        return self.model_dump(exclude_none=True)


class Usage(_Wire):
    """Token counts in OpenAI's sense, whatever the provider.

    ``prompt_tokens`` is the whole prompt: it includes ``cached_tokens`` (read
    from a prompt cache) and ``cache_write_tokens`` (written to one).
    ``completion_tokens`` is the whole output: it includes ``reasoning_tokens``.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    """Prompt tokens written to a prompt cache (Anthropic's ``cache_creation_input_tokens``)."""
    reasoning_tokens: int = 0
    estimated: bool = False
    """True when the target reported no usage and the router estimated it."""


class Attempt(BaseModel):
    """One try of one target: what happened and how long it took."""

    model_config = ConfigDict(defer_build=True)

    target: str
    outcome: str
    """``ok``, ``error``, ``timeout``, ``breaker_open``, ``rate_limited`` (a limit refused
    the try: nothing was sent), ``skipped``, ``cancelled``."""
    status: int | None = None
    latency_s: float = 0.0
    error: str | None = None
    """The error class name, never the provider's message text."""
    zone: str | None = None
    provider: str | None = None


class RouteInfo(BaseModel):
    """Where a request went: the chosen target, every attempt, the cost."""

    model_config = ConfigDict(defer_build=True)

    route: str
    target: str
    provider: str
    zone: str
    attempts: list[Attempt] = Field(default_factory=list)
    cost_usd: float = 0.0
    """Marginal cost: what the provider bills (0 on self-hosted targets)."""
    amortised_cost_usd: float | None = None
    """Self-hosted GPU cost spread per token (``cost:`` in the config); else ``None``."""
    cost_estimated: bool = False
    decision_id: str = ""
    cache: Literal["hit", "miss"] | None = None
    """``hit``: served from the route's response cache (nothing sent, nothing billed);
    ``miss``: looked up, not found, sent; ``None``: the cache did not apply."""


class ChoiceMessage(_Wire):
    """The assistant message of a choice."""

    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(_Wire):
    """One completion choice."""

    index: int = 0
    message: ChoiceMessage
    finish_reason: str | None = None


class ChatResponse(_Wire):
    """A chat completion, OpenAI-shaped, plus ``route``."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None
    route: RouteInfo | None = None

    @property
    def content(self) -> str | None:
        """The first choice's text (``None`` when it only called tools)."""
        return self.choices[0].message.content if self.choices else None


class ToolCallDelta(_Wire):
    """A fragment of a streamed tool call; ``index`` ties fragments together."""

    index: int = 0
    id: str | None = None
    type: str | None = None
    function: dict[str, Any] | None = None


class Delta(_Wire):
    """What a chunk adds to a choice."""

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Wire):
    """One choice's part of a stream chunk."""

    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None


class ChatChunk(_Wire):
    """A streamed chunk, OpenAI-shaped (``chat.completion.chunk``)."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None

    @property
    def delta_text(self) -> str:
        """The text this chunk adds to the first choice ("" when none)."""
        if not self.choices:
            return ""
        return self.choices[0].delta.content or ""


class RequestContext(BaseModel):
    """Who is asking and under which constraints.

    A context can only tighten policy: it may raise sensitivity and the
    quality floor and lower the cost ceiling, never the reverse.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    tenant: str | None = None
    user: str | None = None
    tags: tuple[str, ...] = ()
    sensitivity: str | None = None
    max_cost_usd: float | None = Field(default=None, ge=0)
    min_quality: float | None = Field(default=None, ge=0, le=100)
    deadline_s: float | None = Field(default=None, gt=0)
    metadata: Mapping[str, str] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


PARAM_NAMES = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "seed",
        "user",
    }
)


class ChatRequest(BaseModel):
    """A validated chat call: the messages plus OpenAI chat parameters."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None

    @property
    def has_tools(self) -> bool:
        """Whether the call offers tools or replays tool turns."""
        return bool(self.tools) or any(m.tool_calls or m.role == "tool" for m in self.messages)

    @property
    def has_images(self) -> bool:
        """Whether any message carries an image part."""
        return any(
            isinstance(m.content, list)
            and any(p.get("type") in ("image_url", "image", "input_image") for p in m.content)
            for m in self.messages
        )

    @property
    def wants_json_schema(self) -> bool:
        """Whether the call asks for structured (JSON-schema) output."""
        return (
            bool(self.response_format) and (self.response_format or {}).get("type") == "json_schema"
        )

    def iter_text(self) -> Iterator[str]:
        """Every piece of text a detector must scan: all roles, tool args, tool results."""
        for m in self.messages:
            if isinstance(m.content, str):
                yield m.content
            elif m.content:
                for p in m.content:
                    if isinstance(p.get("text"), str):
                        yield p["text"]
            if m.tool_calls:
                for tc in m.tool_calls:
                    yield tc.function.arguments
            if m.name:
                yield m.name

    def params(self) -> dict[str, Any]:
        """The chat parameters that were set, by OpenAI name."""
        return {k: v for k in PARAM_NAMES if (v := getattr(self, k)) is not None}
