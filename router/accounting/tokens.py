"""Token counts for pre-flight checks and for streams that report no usage.

The fast estimate is about four characters per token (English prose with BPE
tokenizers), rounded up, plus a per-message overhead for the chat template.
Measured against SmolLM2's byte-level BPE tokenizer (docs/money.md,
``benchmarks/token_estimate.py``) it is +40% on English prose, -20% to -45%
on code, JSON and German, and -86% on Japanese, so it is always flagged as
an estimate and never used where an undercount could overrun a budget.

Budgets need a number that is never *below* the truth, so a counter also
gives an upper bound. For byte-level BPE tokenizers (GPT, Llama 3, Qwen,
Mistral, SmolLM2 …) every token covers at least one byte of UTF-8, so the
byte count plus the template overhead is a hard bound on text input. An exact
tokenizer can be plugged in (:class:`ExactCounter`); then estimate and bound
coincide.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from ..types import ChatRequest, ChatResponse

__all__ = [
    "ASSUMED_OUTPUT_TOKENS",
    "ExactCounter",
    "FastCounter",
    "TokenCounter",
    "estimate_extra_tokens",
    "estimate_text_tokens",
    "estimate_tokens",
    "extra_texts",
    "output_upper_bound",
    "request_texts",
    "response_texts",
    "text_upper_bound",
    "upper_bound_tokens",
]

_PER_MESSAGE = 4

ASSUMED_OUTPUT_TOKENS = 4096
"""Output assumed for a priced target when neither the request, the route nor the
model caps it. The target's endpoint then *sends* this cap (see router.targets),
so a worst case computed with it is the most the call can produce."""
# Chat templates add role markers and separators: ChatML uses 5 tokens per
# message, Llama 3 about 5, plus a few to prime the reply. Bound generously.
_BOUND_PER_MESSAGE = 8
_BOUND_PRIMING = 8
# A tool call's markup (call tags, the JSON around name and arguments) beyond their text.
_BOUND_PER_TOOL_CALL = 16


def estimate_text_tokens(text: str) -> int:
    """Tokens in ``text``: ceil(chars / 4)."""
    return (len(text) + 3) // 4


def estimate_tokens(texts: Iterable[str], messages: int = 0) -> int:
    """Tokens for several texts plus a per-message overhead."""
    return sum(estimate_text_tokens(t) for t in texts) + _PER_MESSAGE * messages


def text_upper_bound(text: str) -> int:
    """UTF-8 bytes of ``text``: never below its token count for a byte-level BPE tokenizer."""
    # An ASCII text has as many bytes as characters; isascii is far cheaper than encode.
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def upper_bound_tokens(texts: Iterable[str], messages: int = 0) -> int:
    """The input bound of several texts: UTF-8 bytes plus the chat template's overhead."""
    raw = sum(text_upper_bound(t) for t in texts)
    return raw + _BOUND_PER_MESSAGE * messages + _BOUND_PRIMING


def response_texts(response: ChatResponse) -> Iterator[str]:
    """Every text a response's choices produced: content, refusal, tool names and arguments."""
    for c in response.choices:
        m = c.message
        yield m.content or ""
        yield m.refusal or ""
        for tc in m.tool_calls or ():
            yield tc.function.name
            yield tc.function.arguments


def _output_overhead(response: ChatResponse, per_choice: int) -> int:
    calls = sum(len(c.message.tool_calls or ()) for c in response.choices)
    return per_choice * len(response.choices) + _BOUND_PER_TOOL_CALL * calls


def output_upper_bound(response: ChatResponse) -> int:
    """Output tokens of ``response`` for a stream that reported no usage: a bound, not a guess.

    UTF-8 bytes of everything the choices carry plus end-of-turn and tool-call
    markup — never below the true count for byte-level BPE on visible text
    (reasoning a server does not show is not in it).
    """
    raw = sum(text_upper_bound(t) for t in response_texts(response))
    return raw + _output_overhead(response, _BOUND_PER_MESSAGE)


def request_texts(request: ChatRequest) -> Iterator[str]:
    """Every text a request sends to the model: messages, tool calls, tool and schema JSON."""
    yield from request.iter_text()
    yield from extra_texts(request)


def estimate_extra_tokens(request: ChatRequest) -> int:
    """The estimate for :func:`extra_texts` (0 for a plain text conversation)."""
    return estimate_tokens(extra_texts(request))


def extra_texts(request: ChatRequest) -> Iterator[str]:
    """What the model reads beyond :meth:`ChatRequest.iter_text`: tool names, tool and
    schema JSON."""
    for m in request.messages:
        for tc in m.tool_calls or ():
            yield tc.function.name
    if request.tools:
        yield json.dumps(request.tools, separators=(",", ":"))
    if request.response_format:
        yield json.dumps(request.response_format, separators=(",", ":"))


class TokenCounter(Protocol):
    """Counts a request's input tokens: a best estimate and a bound never below the truth."""

    def count(self, request: ChatRequest) -> int:
        """The best estimate of the request's input tokens."""
        ...

    def upper_bound(self, request: ChatRequest) -> int:
        """A count the true number of input tokens does not exceed."""
        ...


class FastCounter:
    """The default counter: chars/4 estimate; UTF-8 bytes as the bound. No dependencies."""

    def count(self, request: ChatRequest) -> int:
        """ceil(chars / 4) per text, plus 4 per message."""
        return estimate_tokens(request_texts(request), len(request.messages))

    def upper_bound(self, request: ChatRequest) -> int:
        """UTF-8 bytes plus template overhead: a hard bound for byte-level BPE on text.

        Image parts are not counted (providers bill them by their own rules).
        """
        return upper_bound_tokens(request_texts(request), len(request.messages))


class ExactCounter:
    """A counter backed by a real tokenizer.

    ``encode`` maps text to token ids (``tiktoken.get_encoding(...).encode``,
    ``tokenizers.Tokenizer.encode(...).ids`` wrapped in a lambda, or
    ``llama_cpp.Llama(..., vocab_only=True).tokenize`` on bytes). The chat
    template's overhead is added per message.
    """

    def __init__(
        self,
        encode: Callable[[str], Sequence[int]],
        *,
        per_message: int = _BOUND_PER_MESSAGE,
        priming: int = _BOUND_PRIMING,
    ) -> None:
        self._encode = encode
        self._per_message = per_message
        self._priming = priming

    def count(self, request: ChatRequest) -> int:
        """Tokens as the tokenizer counts them, plus the template overhead."""
        body = sum(len(self._encode(t)) for t in request_texts(request) if t)
        return body + self._per_message * len(request.messages) + self._priming

    def upper_bound(self, request: ChatRequest) -> int:
        """The exact count (already a bound when the tokenizer matches the model)."""
        return self.count(request)

    def count_output(self, response: ChatResponse) -> int:
        """Output tokens of ``response`` as the tokenizer counts them, plus the template's
        per-message overhead per choice and tool-call markup."""
        body = sum(len(self._encode(t)) for t in response_texts(response) if t)
        return body + _output_overhead(response, self._per_message)
