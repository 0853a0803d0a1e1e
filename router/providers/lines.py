"""Splitting a response body's bytes into text lines (sans-IO, for stream decoders)."""

from __future__ import annotations

__all__ = ["LineSplitter"]


class LineSplitter:
    """Complete text lines out of a response's byte chunks.

    Lines end at LF, CRLF or CR (as SSE and NDJSON allow) and are decoded as
    UTF-8 only once complete, so a character split across chunks is intact.
    Replaces httpx's ``iter_lines``, which runs three generator layers and an
    incremental decoder per chunk.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    @property
    def pending(self) -> bool:
        """Whether bytes of an unfinished line are held back."""
        return bool(self._pending)

    def feed(self, chunk: bytes) -> list[str]:
        """The lines ``chunk`` completes (terminators removed)."""
        if self._pending:
            chunk = self._pending + chunk
        lines = chunk.splitlines()
        if chunk.endswith(b"\n"):
            self._pending = b""
        elif chunk.endswith(b"\r"):
            # Maybe the first half of a CRLF: wait for the next chunk to tell.
            self._pending = lines.pop() + b"\r" if lines else b"\r"
        else:
            self._pending = lines.pop() if lines else b""
        return [line.decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        """The last line, when the body did not end with a line break."""
        rest, self._pending = self._pending, b""
        if rest.endswith(b"\r"):  # a line ended by a lone CR: complete, even if empty
            rest = rest[:-1]
        elif not rest:
            return []
        return [rest.decode("utf-8", "replace")]
