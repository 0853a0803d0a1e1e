"""Assembling streamed chunks into one ChatResponse (pure, shared by sync and async)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import ChatChunk, ChatResponse, Choice, ChoiceMessage, FunctionCall, ToolCall, Usage

__all__ = ["Assembler"]


@dataclass(slots=True, eq=False)
class _ToolBuf:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _ChoiceBuf:
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tools: dict[int, list[_ToolBuf]] = field(default_factory=dict)
    """Tool calls by stream index; the last of a list is the one fragments extend."""
    finish_reason: str | None = None


class Assembler:
    """Accumulates chunks; ``text`` is what the caller has seen of choice 0."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.usage: Usage | None = None
        self._choices: dict[int, _ChoiceBuf] = {}

    def add(self, chunk: ChatChunk) -> None:
        """Fold one chunk in."""
        if not self.id and chunk.id:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        elif chunk.model:
            self.model = chunk.model  # the latest name: a server-side fallback renames it
        if chunk.usage is not None:
            self.usage = chunk.usage  # usage is cumulative: the last one wins
        for c in chunk.choices:
            buf = self._choices.get(c.index)
            if buf is None:
                buf = self._choices[c.index] = _ChoiceBuf()
            d = c.delta
            if d.content:
                buf.content.append(d.content)
            if d.refusal:
                buf.refusal.append(d.refusal)
            for tc in d.tool_calls or ():
                calls = buf.tools.get(tc.index)
                if calls is None:
                    calls = buf.tools[tc.index] = [_ToolBuf()]
                tb = calls[-1]
                if tc.id:
                    if tb.id and tc.id != tb.id:
                        # Another call on the same index: a server that sends no index
                        # (Gemini's OpenAI-compatible API) keeps calls apart by id only.
                        tb = _ToolBuf()
                        calls.append(tb)
                    tb.id = tc.id
                fn = tc.function or {}
                if fn.get("name"):
                    tb.name = fn["name"]
                if fn.get("arguments"):
                    tb.arguments.append(fn["arguments"])
            if c.finish_reason:
                buf.finish_reason = c.finish_reason

    @property
    def text(self) -> str:
        """Text of choice 0 so far."""
        buf = self._choices.get(0)
        return "".join(buf.content) if buf else ""

    def response(self) -> ChatResponse:
        """The assembled response (``usage`` as reported, possibly ``None``)."""
        choices = []
        for idx in sorted(self._choices):
            buf = self._choices[idx]
            calls = [
                ToolCall(
                    id=tb.id, function=FunctionCall(name=tb.name, arguments="".join(tb.arguments))
                )
                for _, same_index in sorted(buf.tools.items())
                for tb in same_index
            ]
            choices.append(
                Choice(
                    index=idx,
                    message=ChoiceMessage(
                        # No text beside tool calls or a refusal is None, as OpenAI gives it.
                        content="".join(buf.content)
                        if buf.content or not (calls or buf.refusal)
                        else None,
                        refusal="".join(buf.refusal) or None,
                        tool_calls=calls or None,
                    ),
                    finish_reason=buf.finish_reason,
                )
            )
        return ChatResponse(
            id=self.id, model=self.model, created=self.created, choices=choices, usage=self.usage
        )
