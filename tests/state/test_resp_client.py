"""The async Redis client: pipelining, order, failures mid-pipeline, timeouts, sessions.

Most cases talk to a scripted fake server on loopback (it answers what each
test says, or drops the connection at a chosen moment); the last ones to a
real ``redis-server`` over a unix socket and TLS.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from router.errors import ConfigError
from router.state.aio.redis_url import RedisAddress, parse_redis_url
from router.state.aio.resp import ReplyError, ReplyParser
from router.state.aio.resp_client import (
    RedisAuthError,
    RedisConnectionError,
    RedisTimeoutError,
    RespClient,
    _Connection,
)
from router.state.resilient import connection_errors

PASSWORD = "pw-not-in-any-error"

Reply = bytes | None  # the bytes to answer a command with; None: no answer (yet)


class FakeRedis:
    """A loopback server that parses commands and answers each with ``answer(cmd)``.

    ``answer`` returns the reply's bytes, ``None`` to stay silent, or the
    string ``"close"`` to drop the connection there. Every command received
    is kept in ``commands`` (per connection: ``connections``), every read's
    command count in ``reads``.
    """

    def __init__(self, answer: Callable[[list[str]], Any]) -> None:
        self.answer = answer
        self.commands: list[list[str]] = []
        self.reads: list[int] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def address(self, **kw: Any) -> RedisAddress:
        return RedisAddress(host="127.0.0.1", port=self.port, **kw)

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(w)
        parser = ReplyParser()
        try:
            while data := await r.read(65536):
                cmds = parser.feed(data)
                self.reads.append(len(cmds))
                for cmd in cmds:
                    self.commands.append(cmd)
                    out = self.answer(cmd)
                    if out == "close":
                        w.close()
                        return
                    if out is not None:
                        w.write(out)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def close(self) -> None:
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def echo(cmd: list[str]) -> bytes:
    """PING → PONG, ECHO x → x, anything else → +OK."""
    if cmd[0] == "ECHO":
        b = cmd[1].encode()
        return b"$%d\r\n%s\r\n" % (len(b), b)
    if cmd[0] == "PING":
        return b"+PONG\r\n"
    return b"+OK\r\n"


@pytest.fixture
async def fake() -> AsyncIterator[Callable[[Callable[[list[str]], Any]], Any]]:
    servers: list[FakeRedis] = []

    async def make(answer: Callable[[list[str]], Any] = echo) -> FakeRedis:
        s = FakeRedis(answer)
        await s.start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        await s.close()


# -- pipelining and order ----------------------------------------------------------------


async def test_concurrent_commands_leave_in_one_write_and_get_their_own_replies(
    fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await fake()
    client = RespClient(server.address())
    assert await client.execute("PING") == "PONG"  # connected
    writes = 0
    original = _Connection._flush

    def counting(self: _Connection) -> None:
        nonlocal writes
        writes += bool(self._out)
        original(self)

    monkeypatch.setattr(_Connection, "_flush", counting)
    got = await asyncio.gather(*(client.execute("ECHO", f"v{i}") for i in range(64)))
    assert got == [f"v{i}" for i in range(64)]  # each caller its own reply, in order
    assert writes == 1  # 64 commands, one send
    assert server.connections == 1
    await client.aclose()


async def test_an_error_reply_fails_only_its_own_command(fake: Any) -> None:
    def answer(cmd: list[str]) -> bytes:
        return b"-ERR no such thing\r\n" if cmd[0] == "BAD" else echo(cmd)

    client = RespClient((await fake(answer)).address())
    a, bad, b = await asyncio.gather(
        client.execute("ECHO", "a"),
        client.execute("BAD"),
        client.execute("ECHO", "b"),
        return_exceptions=True,
    )
    assert (a, b) == ("a", "b")
    assert isinstance(bad, ReplyError) and not isinstance(bad, OSError)
    assert bad.message == "ERR no such thing" and bad.code == "ERR"
    assert await client.execute("ECHO", "after") == "after"  # the connection goes on
    await client.aclose()


async def test_a_batch_gets_every_reply_errors_in_place(fake: Any) -> None:
    def answer(cmd: list[str]) -> bytes:
        return b"-ERR nope\r\n" if cmd[0] == "BAD" else echo(cmd)

    server = await fake(answer)
    client = RespClient(server.address())
    replies = await client.execute_many([("ECHO", "x"), ("BAD",), ("PING",)])
    assert replies[0] == "x" and replies[2] == "PONG"
    assert isinstance(replies[1], ReplyError) and replies[1].message == "ERR nope"
    await client.aclose()


async def test_a_cancelled_callers_reply_is_dropped_and_order_kept(fake: Any) -> None:
    held: list[bytes] = []

    def answer(cmd: list[str]) -> bytes | None:
        if cmd[0] == "RELEASE":  # answer everything held, then this one
            out = b"".join(held) + b"+released\r\n"
            held.clear()
            return out
        held.append(echo(cmd))
        return None

    client = RespClient((await fake(answer)).address())
    first = asyncio.ensure_future(client.execute("ECHO", "first"))
    second = asyncio.ensure_future(client.execute("ECHO", "second"))
    await asyncio.sleep(0.05)
    first.cancel()
    assert await client.execute("RELEASE") == "released"
    assert await second == "second"  # not "first": the dropped reply kept its place
    assert first.cancelled()
    await client.aclose()


# -- failures ------------------------------------------------------------------------------


async def test_a_connection_lost_mid_pipeline_fails_every_waiting_command(fake: Any) -> None:
    answered = 0

    def answer(cmd: list[str]) -> Any:
        nonlocal answered
        if cmd[0] == "ECHO" and cmd[1].startswith("w"):
            answered += 1
            if answered > 3:
                return "close"  # three replies, then the server goes away
        return echo(cmd)

    server = await fake(answer)
    client = RespClient(server.address(password=PASSWORD))
    results = await asyncio.gather(
        *(client.execute("ECHO", f"w{i}") for i in range(10)), return_exceptions=True
    )
    assert results[:3] == ["w0", "w1", "w2"]
    lost = results[3:]
    assert all(isinstance(e, RedisConnectionError) for e in lost), lost
    caught, excluded = connection_errors()
    assert all(isinstance(e, caught) and not isinstance(e, excluded) for e in lost)
    assert len({id(e) for e in lost}) == len(lost)  # one exception per caller
    assert all(PASSWORD not in str(e) and "127.0.0.1" in str(e) for e in lost)
    # The next command opens a new connection (with the session set up again).
    assert await client.execute("ECHO", "again") == "again"
    assert server.connections == 2
    assert [c for c in server.commands if c[0] == "AUTH"] == [["AUTH", PASSWORD]] * 2
    await client.aclose()


async def test_a_reply_cut_in_the_middle_fails_its_command(fake: Any) -> None:
    def answer(cmd: list[str]) -> Any:
        return b"$10\r\nhalf" if cmd[0] == "GET" else echo(cmd)

    server = await fake(answer)
    client = RespClient(server.address())
    assert await client.execute("PING") == "PONG"
    task = asyncio.ensure_future(client.execute("GET", "k"))
    await asyncio.sleep(0.05)
    assert not task.done()  # half a reply is no reply
    await server.close()  # the server goes away with the rest
    with pytest.raises(RedisConnectionError):
        await task
    await client.aclose()


async def test_bytes_that_are_not_resp_drop_the_connection(fake: Any) -> None:
    def answer(cmd: list[str]) -> bytes:
        return b"!garbage\r\n" if cmd[0] == "GET" else echo(cmd)

    server = await fake(answer)
    client = RespClient(server.address())
    with pytest.raises(RedisConnectionError, match="unexpected reply type"):
        await client.execute("GET", "k")
    assert await client.execute("PING") == "PONG"  # on a new connection
    assert server.connections == 2
    await client.aclose()


async def test_a_command_without_a_reply_times_out_and_the_client_recovers(fake: Any) -> None:
    hanging = False

    def answer(cmd: list[str]) -> bytes | None:
        nonlocal hanging  # as Redis blocked on a command: nothing after it is answered
        hanging = hanging or cmd[0] == "HANG"
        return None if hanging else echo(cmd)

    server = await fake(answer)
    client = RespClient(server.address(timeout_s=0.1))
    hang = asyncio.ensure_future(client.execute("HANG"))
    behind = asyncio.ensure_future(client.execute("ECHO", "behind"))  # its reply comes after
    with pytest.raises(RedisTimeoutError) as caught:
        await hang
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, ConnectionError)
    with pytest.raises(RedisTimeoutError):
        await behind  # replies can no longer be matched: everything on it fails
    hanging = False
    assert await client.execute("ECHO", "fresh") == "fresh"
    assert server.connections == 2
    await client.aclose()


async def test_no_server_is_a_connection_error_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    client = RespClient(parse_redis_url(f"redis://:{PASSWORD}@127.0.0.1:{port}/0"))
    for _ in range(2):  # every command tries again
        with pytest.raises(RedisConnectionError) as caught:
            await client.execute("PING")
        assert f"127.0.0.1:{port}" in str(caught.value) and PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(client) and PASSWORD not in repr(client.address)
    await client.aclose()


async def test_a_session_that_never_answers_times_out_at_connect(fake: Any) -> None:
    server = await fake(lambda cmd: None)  # accepts, reads, never answers
    client = RespClient(server.address(password=PASSWORD, connect_timeout_s=0.1))
    with pytest.raises(RedisTimeoutError, match="no connection"):
        await client.execute("PING")
    await client.aclose()


# -- the session -------------------------------------------------------------------------


async def test_the_session_is_set_up_before_the_first_command(fake: Any) -> None:
    server = await fake()
    address = parse_redis_url(
        f"redis://app:{PASSWORD}@127.0.0.1:{server.port}/3?client_name=router-1"
    )
    client = RespClient(address)
    got = await asyncio.gather(client.execute("PING"), client.execute("ECHO", "x"))
    assert got == ["PONG", "x"]
    assert server.commands == [
        ["AUTH", "app", PASSWORD],
        ["SELECT", "3"],
        ["CLIENT", "SETNAME", "router-1"],
        ["PING"],
        ["ECHO", "x"],
    ]
    assert server.connections == 1  # concurrent first commands share one attempt
    await client.aclose()


async def test_refused_credentials_are_not_a_connection_error(fake: Any) -> None:
    def answer(cmd: list[str]) -> bytes:
        if cmd[0] == "AUTH":
            return b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        return b"-NOAUTH Authentication required.\r\n"

    client = RespClient((await fake(answer)).address(password=PASSWORD, db=1))
    with pytest.raises(RedisAuthError) as caught:
        await client.execute("PING")
    assert not isinstance(caught.value, OSError)  # waiting does not fix a password
    assert PASSWORD not in str(caught.value)
    await client.aclose()


async def test_a_script_the_server_lacks_is_sent_whole_once(fake: Any) -> None:
    known: set[str] = set()

    def answer(cmd: list[str]) -> bytes:
        if cmd[0] == "EVALSHA":
            if cmd[1] not in known:
                return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
            return b":1\r\n"
        if cmd[0] == "EVAL":
            import hashlib

            known.add(hashlib.sha1(cmd[1].encode()).hexdigest())
            return b":2\r\n"
        return b"-ERR unexpected\r\n"

    server = await fake(answer)
    client = RespClient(server.address())
    script = client.register_script("return 1")
    assert await script(keys=["k"], args=["a"]) == 2  # EVALSHA refused, EVAL ran it
    assert await script(keys=["k"], args=["a"]) == 1  # known now
    assert [c[0] for c in server.commands] == ["EVALSHA", "EVAL", "EVALSHA"]
    assert server.commands[1] == ["EVAL", "return 1", "1", "k", "a"]
    other = client.register_script("error")

    def lua_error(cmd: list[str]) -> bytes:
        return b"-ERR user_script:1: Script attempted to access nonexistent global\r\n"

    server.answer = lua_error
    with pytest.raises(ReplyError, match="user_script:1"):  # not retried, not hidden
        await other()
    await client.aclose()


# -- closing -------------------------------------------------------------------------------


async def test_close_lets_replies_in_flight_arrive_then_refuses(fake: Any) -> None:
    def answer(cmd: list[str]) -> bytes | None:
        return echo(cmd)

    server = await fake(answer)
    client = RespClient(server.address())
    assert await client.execute("PING") == "PONG"
    inflight = asyncio.ensure_future(client.execute("ECHO", "late"))
    await asyncio.sleep(0)
    await asyncio.gather(client.aclose(), client.aclose())
    assert await inflight == "late"
    with pytest.raises(RedisConnectionError, match="closed"):
        await client.execute("PING")
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_close_while_connecting_returns_and_fails_the_waiters(fake: Any) -> None:
    server = await fake(lambda cmd: None)  # the session's AUTH is never answered
    client = RespClient(server.address(password=PASSWORD))
    waiter = asyncio.ensure_future(client.execute("PING"))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(client.aclose(), 2)
    with pytest.raises(RedisConnectionError, match="closed"):
        await waiter  # an error, not a cancellation its caller never asked for
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


# -- URLs ------------------------------------------------------------------------------------


def test_urls_read_as_redis_py_reads_them() -> None:
    a = parse_redis_url("redis://u%40x:p%3Aw@cache:6380/2?client_name=n&socket_timeout=1.5")
    assert (a.host, a.port, a.db, a.username, a.password) == ("cache", 6380, 2, "u@x", "p:w")
    assert a.client_name == "n" and a.timeout_s == 1.5 and a.connect_timeout_s is None
    assert a.where == "redis://cache:6380/2" and "p:w" not in repr(a)
    b = parse_redis_url("redis://:secret@h?db=4&max_connections=128")  # pool size: ignored
    assert (b.port, b.db, b.username, b.password) == (6379, 4, None, "secret")
    u = parse_redis_url("unix:///run/redis.sock?db=1&password=pw")
    assert (u.path, u.db, u.password, u.where) == (
        "/run/redis.sock",
        1,
        "pw",
        "unix:///run/redis.sock/1",
    )
    t = parse_redis_url("rediss://h:1/0")
    assert t.tls is not None and t.tls.check_hostname and t.where.startswith("rediss://")
    loose = parse_redis_url("rediss://h:1/0?ssl_cert_reqs=none")
    assert loose.tls is not None and not loose.tls.check_hostname
    for bad in (
        "redis://h/0?ssl_ca_cert=x",  # misspelt: never silently ignored
        "redis://h/0?socket_timeout=-1",
        "redis://h/zero",
        "rediss://h/0?ssl_cert_reqs=maybe",
        "unix://",
        "http://h/0",
    ):
        with pytest.raises(ConfigError):
            parse_redis_url(bad)


# -- a real server: unix socket, TLS -------------------------------------------------------


def _openssl_cert(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def real_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A redis-server of this module's own: a unix socket and a TLS port."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("needs redis-server and openssl")
    tmp = tmp_path_factory.mktemp("redis")
    cert, key = _openssl_cert(tmp)
    sock, tls_port = tmp / "redis.sock", _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not (sock.exists() and _answers(tls_port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip("redis-server with a unix socket and TLS did not start")
        time.sleep(0.05)
    yield {"sock": sock, "tls_port": tls_port, "cert": cert}
    proc.terminate()
    proc.wait(10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.redis
async def test_a_unix_socket(real_redis: dict[str, Any]) -> None:
    client = RespClient(parse_redis_url(f"unix://{real_redis['sock']}?db=2&client_name=uds"))
    assert await client.execute("SET", "k", "v") == "OK"
    assert await client.execute("GET", "k") == "v"
    assert await client.execute("CLIENT", "GETNAME") == "uds"
    await client.aclose()


@pytest.mark.redis
async def test_tls_verifies_the_server(real_redis: dict[str, Any]) -> None:
    port, cert = real_redis["tls_port"], real_redis["cert"]
    client = RespClient(parse_redis_url(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"))
    assert await client.execute("PING") == "PONG"
    assert await client.execute("ECHO", "é" * 10_000) == "é" * 10_000
    await client.aclose()
    stranger = RespClient(parse_redis_url(f"rediss://127.0.0.1:{port}/0"))  # default CAs only
    with pytest.raises(RedisConnectionError):
        await stranger.execute("PING")
    await stranger.aclose()
    if os.environ.get("SSL_CERT_FILE"):
        return
    unchecked = RespClient(parse_redis_url(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none"))
    assert await unchecked.execute("PING") == "PONG"
    await unchecked.aclose()


def test_the_client_runs_on_uvloop() -> None:
    """The gateway serves on uvloop, whose transports are not asyncio's classes."""
    uvloop = pytest.importorskip("uvloop")

    async def go() -> list[Any]:
        server = FakeRedis(echo)
        await server.start()
        client = RespClient(server.address(timeout_s=5))
        try:
            return list(await asyncio.gather(*(client.execute("ECHO", f"u{i}") for i in range(8))))
        finally:
            await client.aclose()
            await server.close()

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(go()) == [f"u{i}" for i in range(8)]
    finally:
        loop.close()


@pytest.mark.redis
async def test_framing_in_keys_values_and_script_arguments_stays_data(
    real_redis: dict[str, Any],
) -> None:
    # A tenant name or message fragment that reaches a key carries RESP framing
    # and a whole command: bulk strings are length-prefixed, so it is bytes, never a command.
    client = RespClient(parse_redis_url(f"unix://{real_redis['sock']}?db=3"))
    attack = "t\r\n*1\r\n$8\r\nFLUSHDB\r\n$-1\r\n:1\r\n"
    assert await client.execute("SET", "canary", "alive") == "OK"
    assert await client.execute("SET", attack, attack) == "OK"
    assert await client.execute("GET", attack) == attack
    echo = client.register_script("return {KEYS[1], ARGV[1]}")
    assert await echo(keys=[attack], args=[attack + "\x00é"]) == [attack, attack + "\x00é"]
    assert await client.execute("GET", "canary") == "alive"
    assert await client.execute("DBSIZE") == 2
    await client.aclose()
