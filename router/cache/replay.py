"""A cached answer as the chunks of a stream."""

from __future__ import annotations

from ..types import ChatChunk, ChatResponse, ChunkChoice, Delta, ToolCallDelta, Usage

__all__ = ["replay_chunks"]


def replay_chunks(response: ChatResponse) -> list[ChatChunk]:
    """The chunks that assemble back into ``response``.

    Per choice: one chunk with the role, the whole text (or refusal) and
    every tool call, then one with its ``finish_reason``; then one usage
    chunk (no choices), as OpenAI ends a stream with ``include_usage``.
    """
    chunks = []

    def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatChunk:
        return ChatChunk(
            id=response.id,
            created=response.created,
            model=response.model,
            choices=choices,
            usage=usage,
        )

    for c in response.choices:
        m = c.message
        calls = [
            ToolCallDelta(
                index=i,
                id=tc.id,
                type=tc.type,
                function={"name": tc.function.name, "arguments": tc.function.arguments},
            )
            for i, tc in enumerate(m.tool_calls or ())
        ]
        delta = Delta(role=m.role, content=m.content, refusal=m.refusal, tool_calls=calls or None)
        chunks.append(chunk([ChunkChoice(index=c.index, delta=delta)]))
        chunks.append(chunk([ChunkChoice(index=c.index, finish_reason=c.finish_reason)]))
    if response.usage is not None:
        chunks.append(chunk([], response.usage))
    return chunks
