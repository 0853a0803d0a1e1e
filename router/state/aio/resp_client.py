"""A lean asyncio Redis client: one multiplexed connection, commands auto-pipelined.

Built for :class:`~router.state.aio.redis.AsyncRedisStore`, where the cost
that matters is the client's CPU per command with many calls in flight.
Every command of every task goes over **one** connection: it is encoded
(:mod:`.resp`) and appended to a write buffer that is flushed once per
event-loop iteration, so the commands the concurrent calls issue in one
iteration share one ``send``; its future joins a FIFO, and replies, which
Redis sends in the order it received the commands, resolve the futures in
that order. Nothing waits for a free connection and nothing is pooled.

- **Connecting** happens on the first command, and again on the first one
  after the connection is lost; concurrent commands share the attempt. The
  session is set up with ``AUTH``, ``SELECT`` and ``CLIENT SETNAME`` as the
  address asks, in one round trip.
- **Failures.** A lost connection fails every command waiting on it with
  :class:`RedisConnectionError`; a command without a reply within the
  address's ``timeout_s`` fails with :class:`RedisTimeoutError` (the
  connection is dropped with it: later replies could no longer be matched).
  Both are :class:`ConnectionError` (an :class:`OSError`), which
  :class:`~router.state.resilient.Failover` counts as "store unavailable".
  An error reply raises :class:`~router.state.aio.resp.ReplyError` for its
  command only; refused credentials raise :class:`RedisAuthError`, which is
  not a connection error (waiting does not fix a wrong password).
- **Scripts** (:meth:`RespClient.register_script`, the shape redis-py's
  has) run by ``EVALSHA``; a server that does not know one (fresh, restarted,
  flushed) gets the text once by ``EVAL``, which also caches it there.
- **Cancellation.** A cancelled caller's command still gets its reply,
  which is dropped: the order of replies is never lost.

Errors and ``repr`` name the server by :attr:`RedisAddress.where`, never
with a password.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from .redis_url import RedisAddress
from .resp import ProtocolError, ReplyError, encode

__all__ = [
    "RedisAuthError",
    "RedisConnectionError",
    "RedisTimeoutError",
    "RespClient",
    "Script",
]

Arg = str | bytes | int | float
_CLOSE_WAIT_S = 1.0  # how long closing waits for replies in flight, then for the socket


class RedisConnectionError(ConnectionError):
    """The Redis server cannot be reached, or the connection to it was lost."""


class RedisTimeoutError(RedisConnectionError, TimeoutError):
    """No connection, or no reply to a command, within the configured time."""


class RedisAuthError(ReplyError):
    """The server refused the session's credentials (or asked for some)."""


class _Batch:
    """Commands sent together whose replies are wanted together (a list, errors in place)."""

    __slots__ = ("future", "replies", "size")

    def __init__(self, future: asyncio.Future[list[Any]], size: int) -> None:
        self.future = future
        self.size = size
        self.replies: list[Any] = []


class _Connection(asyncio.Protocol):
    """One socket: a write buffer flushed once per loop iteration, a FIFO of waiters."""

    def __init__(self, where: str, timeout_s: float | None, loop: asyncio.AbstractEventLoop):
        from .resp import ReplyParser

        self.loop = loop
        self.where = where
        self.error: BaseException | None = None
        """Why this connection can no longer be used (``None`` while it can)."""
        self.gone: asyncio.Future[None] = loop.create_future()
        self._timeout = timeout_s
        self._transport: asyncio.Transport | None = None
        self._parser = ReplyParser()
        # One entry per command sent, in order: its future, or its batch.
        self._waiting: deque[asyncio.Future[Any] | _Batch] = deque()
        self._deadlines: deque[float] = deque()  # one per waiting entry, with a timeout
        self._out: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._drained: asyncio.Future[None] | None = None

    # -- sending -------------------------------------------------------------------

    def send(self, payload: bytes, waiter: asyncio.Future[Any] | _Batch, commands: int = 1) -> None:
        """Queue ``payload`` (``commands`` encoded commands) for the next flush."""
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(payload)
        waiting = self._waiting
        for _ in range(commands):
            waiting.append(waiter)
        if self._timeout is not None:
            due = self.loop.time() + self._timeout
            self._deadlines.extend([due] * commands)
            if self._timer is None:
                self._timer = self.loop.call_at(due, self._expire)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.error is None and self._transport is not None and out:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    # -- receiving -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports (the gateway runs on uvloop) are not asyncio.Transport
        # subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            replies = self._parser.feed(data)
        except ProtocolError as e:
            self.abort(RedisConnectionError(f"redis {self.where}: {e}"))
            return
        waiting, deadlines = self._waiting, self._deadlines
        for reply in replies:
            if not waiting:
                self.abort(RedisConnectionError(f"redis {self.where}: a reply nobody asked for"))
                return
            w = waiting.popleft()
            if deadlines:
                deadlines.popleft()
            if isinstance(w, _Batch):
                w.replies.append(reply)
                if len(w.replies) == w.size and not w.future.done():
                    w.future.set_result(w.replies)
            elif w.done():
                pass  # its caller was cancelled: the reply is dropped, the order kept
            elif isinstance(reply, ReplyError):
                w.set_exception(reply)
            else:
                w.set_result(reply)
        if not waiting and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def eof_received(self) -> bool | None:
        return None  # the server closed its side: close ours, connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            why = f": {exc}" if exc is not None else ""
            self.error = RedisConnectionError(f"lost the connection to redis {self.where}{why}")
        self._fail_waiting()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.gone.done():
            self.gone.set_result(None)

    # -- failing -------------------------------------------------------------------

    def _expire(self) -> None:
        self._timer = None
        if not self._deadlines:
            return
        due = self._deadlines[0]
        if due > self.loop.time():
            self._timer = self.loop.call_at(due, self._expire)
            return
        self.abort(RedisTimeoutError(f"redis {self.where}: no reply within {self._timeout:g} s"))

    def _fail_waiting(self) -> None:
        error = self.error
        assert error is not None
        self._deadlines.clear()
        while self._waiting:
            w = self._waiting.popleft()
            f = w.future if isinstance(w, _Batch) else w
            if not f.done():
                # A fresh exception each: one instance raised in many tasks
                # would collect all their tracebacks.
                f.set_exception(type(error)(*error.args))
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def abort(self, error: BaseException) -> None:
        """Drop the connection now, failing what waits on it with ``error``."""
        if self.error is None:
            self.error = error
        self._fail_waiting()
        if self._transport is not None:
            self._transport.abort()

    async def close(self) -> None:
        """Let the replies in flight arrive (briefly), then close the socket and wait for it."""
        if self._waiting and self.error is None:
            self._drained = self.loop.create_future()
            await asyncio.wait([self._drained], timeout=_CLOSE_WAIT_S)
        if self.error is None:
            self.error = RedisConnectionError(f"the connection to redis {self.where} was closed")
        if self._transport is not None:
            self._transport.close()
            _, pending = await asyncio.wait([self.gone], timeout=_CLOSE_WAIT_S)
            if pending:  # a TLS peer that never answers the close: cut it
                self._transport.abort()
                await self.gone
        self._fail_waiting()


class Script:
    """A Lua script of a :class:`RespClient`; ``await script(keys=…, args=…)`` runs it."""

    __slots__ = ("_client", "_digest", "sha", "text")

    def __init__(self, client: RespClient, text: str) -> None:
        self._client = client
        self.text = text
        self._digest = hashlib.sha1(text.encode()).hexdigest()  # the name Redis gives it
        self.sha = self._digest

    async def __call__(self, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        client, n = self._client, len(keys)
        try:
            return await client.execute("EVALSHA", self.sha, n, *keys, *args)
        except ReplyError as e:
            if e.code != "NOSCRIPT":
                raise
        # The server lost its script cache (restart, SCRIPT FLUSH): EVAL sends
        # the text and caches it again, so the next EVALSHA finds it.
        self.sha = self._digest
        return await client.execute("EVAL", self.text, n, *keys, *args)


class RespClient:
    """Redis over one multiplexed, auto-pipelined connection; see the module docstring.

    Belongs to the event loop that first uses it. :meth:`aclose` closes it
    for good: later commands raise :class:`RedisConnectionError`.
    """

    def __init__(self, address: RedisAddress) -> None:
        self.address = address
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"RespClient({self.address.where!r})"

    # -- commands ----------------------------------------------------------------------

    def execute(self, *args: Arg) -> Awaitable[Any]:
        """Send one command; await its reply (an error reply raises :class:`ReplyError`)."""
        conn = self._conn
        if conn is None or conn.error is not None:
            return self._execute_later(encode(args), 1, single=True)
        future = conn.loop.create_future()
        conn.send(encode(args), future)
        return future

    def execute_many(self, commands: Sequence[Sequence[Arg]]) -> Awaitable[list[Any]]:
        """Send ``commands`` back to back (one flush); await all their replies, errors in place.

        Nothing else is sent between them on this connection, so a
        ``MULTI`` … ``EXEC`` batch is a transaction.
        """
        payload = b"".join(encode(tuple(c)) for c in commands)
        conn = self._conn
        if conn is None or conn.error is not None:
            return self._execute_later(payload, len(commands), single=False)
        future: asyncio.Future[list[Any]] = conn.loop.create_future()
        conn.send(payload, _Batch(future, len(commands)), len(commands))
        return future

    async def _execute_later(self, payload: bytes, commands: int, *, single: bool) -> Any:
        conn = await self._connected()
        future = conn.loop.create_future()
        conn.send(payload, future if single else _Batch(future, commands), commands)
        return await future

    def register_script(self, text: str) -> Script:
        """``text`` as a callable :class:`Script` (redis-py's ``register_script`` shape)."""
        return Script(self, text)

    # -- the connection ------------------------------------------------------------------

    async def _connected(self) -> _Connection:
        if self._closed:
            raise RedisConnectionError(f"the client of redis {self.address.where} is closed")
        conn = self._conn
        if conn is not None and conn.error is None:
            return conn
        if self._connecting is None:
            task = asyncio.ensure_future(self._connect())
            task.add_done_callback(self._connect_done)
            self._connecting = task
        task = self._connecting
        try:
            # Shielded: a cancelled caller must not cancel the attempt the others wait on.
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and (me is None or not me.cancelling()):
                # The attempt was cancelled by aclose(), not this caller.
                raise RedisConnectionError(
                    f"the client of redis {self.address.where} is closed"
                ) from None
            raise

    def _connect_done(self, task: asyncio.Task[_Connection]) -> None:
        if self._connecting is task:
            self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have been cancelled

    async def _connect(self) -> _Connection:
        a = self.address
        loop = asyncio.get_running_loop()
        conn: _Connection | None = None

        def protocol() -> _Connection:
            return _Connection(a.where, a.timeout_s, loop)

        try:
            async with asyncio.timeout(a.connect_timeout_s):
                if a.path is not None:
                    _, conn = await loop.create_unix_connection(protocol, a.path)
                else:
                    _, conn = await loop.create_connection(
                        protocol,
                        a.host,
                        a.port,
                        ssl=a.tls,
                        server_hostname=a.host if a.tls is not None else None,
                    )
                await self._hello(conn)
        except RedisConnectionError:  # the session's commands lost their connection
            if conn is not None:
                conn.abort(RedisConnectionError("connection setup failed"))
            raise
        except TimeoutError:
            if conn is not None:
                conn.abort(RedisTimeoutError("connection setup timed out"))
            raise RedisTimeoutError(
                f"no connection to redis {a.where} within {a.connect_timeout_s} s"
            ) from None
        except OSError as e:
            reason = e.strerror or type(e).__name__
            raise RedisConnectionError(f"cannot connect to redis {a.where}: {reason}") from None
        except BaseException:
            if conn is not None:
                conn.abort(RedisConnectionError("connection setup failed"))
            raise
        if self._closed:  # closed while connecting
            await conn.close()
            raise RedisConnectionError(f"the client of redis {a.where} is closed")
        self._conn = conn
        return conn

    async def _hello(self, conn: _Connection) -> None:
        a = self.address
        hello: list[tuple[Arg, ...]] = []
        if a.password is not None:
            hello.append(("AUTH", a.username, a.password) if a.username else ("AUTH", a.password))
        if a.db:
            hello.append(("SELECT", a.db))
        if a.client_name:
            hello.append(("CLIENT", "SETNAME", a.client_name))
        if not hello:
            return
        future: asyncio.Future[list[Any]] = conn.loop.create_future()
        conn.send(b"".join(encode(c) for c in hello), _Batch(future, len(hello)), len(hello))
        for command, reply in zip(hello, await future, strict=True):
            if isinstance(reply, ReplyError):
                if command[0] == "AUTH" or reply.code in ("NOAUTH", "WRONGPASS", "NOPERM"):
                    raise RedisAuthError(f"redis {a.where} refused the credentials: {reply}")
                raise reply

    async def aclose(self) -> None:
        """Close the connection (replies in flight get a moment to arrive); idempotent."""
        self._closed = True
        task = self._connecting
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
