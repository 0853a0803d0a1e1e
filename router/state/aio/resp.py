"""RESP2, the Redis wire protocol, without I/O: commands to bytes, bytes to replies.

:func:`encode` turns one command into its bytes; :class:`ReplyParser` turns
whatever the socket delivered (any split: one byte at a time, many replies at
once) into complete replies, in order. A reply is

- a simple string (``+OK``) or a bulk string (``$3 abc``): :class:`str`,
  UTF-8 decoded (bytes that are not UTF-8 kept as surrogate escapes); a
  nil bulk string (``$-1``): ``None``;
- an integer (``:5``): :class:`int`;
- an array (``*2 …``, nested to any depth): :class:`list`; a nil array
  (``*-1``): ``None``;
- an error (``-ERR …``): a :class:`ReplyError` *value*, not raised, so an
  error inside an array (a transaction's ``EXEC``) stays in its place; the
  client raises a top-level one for the command that got it.

Bytes that are not RESP2 raise :class:`ProtocolError`: the stream cannot be
trusted past them, so the connection has to go.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ProtocolError", "ReplyError", "ReplyParser", "encode"]

_CRLF = b"\r\n"
_PLUS, _MINUS, _COLON, _DOLLAR, _STAR = b"+-:$*"


class ReplyError(Exception):
    """An error reply from the server (``-ERR …``, ``-NOSCRIPT …``, a Lua error).

    ``str(error)`` is the server's message; :attr:`code` its first word.
    """

    @property
    def message(self) -> str:
        """The server's message, as sent."""
        return str(self.args[0]) if self.args else ""

    @property
    def code(self) -> str:
        """The error's first word (``ERR``, ``NOSCRIPT``, ``WRONGPASS``, …)."""
        return self.message.split(" ", 1)[0]


class ProtocolError(Exception):
    """Bytes from the server that are not RESP2."""


def _arg(a: str | bytes | int | float) -> bytes:
    if isinstance(a, str):
        return a.encode()
    if isinstance(a, bytes):
        return a
    if isinstance(a, bool):  # a bool is an int: say what was meant instead
        raise TypeError("a Redis command argument cannot be a bool")
    if isinstance(a, int):
        return b"%d" % a
    if isinstance(a, float):
        return repr(a).encode()
    raise TypeError(f"a Redis command argument cannot be a {type(a).__name__}")


def encode(args: tuple[str | bytes | int | float, ...] | list[Any]) -> bytes:
    """One command (name and arguments) as a RESP2 array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    append = out.append
    for a in args:
        # Inline for the usual str: this runs for every argument of every command.
        b = a.encode() if type(a) is str else _arg(a)
        append(b"$%d\r\n" % len(b))
        append(b)
        append(_CRLF)
    return b"".join(out)


class ReplyParser:
    """Complete replies from a byte stream fed in pieces of any size.

    Resumable rather than restarted: an array's finished elements are kept
    while its rest is awaited, and a bulk string is only looked at again once
    it can be whole, so a large reply arriving in many reads is parsed once.
    """

    __slots__ = ("_buf", "_stack")

    def __init__(self) -> None:
        self._buf = bytearray()
        # Arrays being filled, innermost last: [elements so far, elements still due].
        self._stack: list[list[Any]] = []

    @property
    def pending(self) -> bool:
        """Whether bytes of an unfinished reply are held."""
        return bool(self._buf) or bool(self._stack)

    def feed(self, data: bytes) -> list[Any]:
        """The replies ``data`` completes (with what earlier feeds left), in order."""
        if self._buf:
            self._buf += data
            buf: bytes | bytearray = self._buf
        else:
            buf = data
        out: list[Any] = []
        stack = self._stack
        pos, n = 0, len(buf)
        try:
            while pos < n:
                eol = buf.find(_CRLF, pos)
                if eol < 0:
                    break
                kind = buf[pos]
                value: Any
                if kind == _DOLLAR:
                    size = int(buf[pos + 1 : eol])
                    if size < 0:
                        value, pos = None, eol + 2
                    else:
                        end = eol + 2 + size
                        if end + 2 > n:
                            break  # not all here yet: look again from its header
                        if buf[end : end + 2] != _CRLF:
                            raise ProtocolError("a bulk string does not end where its length says")
                        value, pos = buf[eol + 2 : end].decode(errors="surrogateescape"), end + 2
                elif kind == _COLON:
                    value, pos = int(buf[pos + 1 : eol]), eol + 2
                elif kind == _PLUS:
                    value, pos = buf[pos + 1 : eol].decode(), eol + 2
                elif kind == _MINUS:
                    value, pos = ReplyError(buf[pos + 1 : eol].decode(errors="replace")), eol + 2
                elif kind == _STAR:
                    count, pos = int(buf[pos + 1 : eol]), eol + 2
                    if count > 0:
                        stack.append([[], count])
                        continue
                    value = None if count < 0 else []
                else:
                    raise ProtocolError(f"unexpected reply type byte {bytes([kind])!r}")
                # A finished value fills its array, which may finish its parent, …
                while stack:
                    top = stack[-1]
                    top[0].append(value)
                    top[1] -= 1
                    if top[1]:
                        break
                    value = stack.pop()[0]
                else:
                    out.append(value)
        except ValueError as e:  # int() of a bad length, a simple string not UTF-8
            raise ProtocolError(f"malformed reply: {e}") from None
        if pos >= n:
            self._buf = bytearray()
        elif buf is self._buf:
            del self._buf[:pos]
        else:
            self._buf = bytearray(buf[pos:])
        return out
