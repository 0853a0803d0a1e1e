"""Where and how the async Redis client connects, read from a ``redis://`` URL.

The URLs the sync store gives redis-py, read the same way:

- ``redis://[[user]:password@]host[:port][/db]``; ``rediss://…`` is the same
  over TLS; ``unix://[[user]:password@]/path/redis.sock[?db=N]`` a local socket.
- Query parameters: ``db``, ``username``, ``password``, ``client_name``,
  ``socket_timeout`` (seconds a command may wait for its reply),
  ``socket_connect_timeout``, and for TLS ``ssl_cert_reqs``
  (``none`` / ``optional`` / ``required``, the default), ``ssl_ca_certs``,
  ``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname`` (default true).
  ``max_connections``, ``health_check_interval``, ``retry_on_timeout`` and
  ``socket_keepalive`` size or tune redis-py's pool and mean nothing to one
  multiplexed connection: accepted and ignored. Anything else is a
  :class:`~router.errors.ConfigError` (a misspelt TLS option must not pass
  silently). The store's own ``prefix`` is taken out before this is read.

The password is kept out of ``repr`` and out of :attr:`RedisAddress.where`,
the only form logs and errors use.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigError

__all__ = ["DEFAULT_PORT", "RedisAddress", "parse_redis_url"]

DEFAULT_PORT = 6379

_IGNORED = frozenset(
    {"max_connections", "health_check_interval", "retry_on_timeout", "socket_keepalive"}
)
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class RedisAddress:
    """A server to connect to, and the session to set up on each connection."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    path: str | None = None
    """A unix socket's path (then ``host`` and ``port`` are unused)."""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_name: str | None = None
    timeout_s: float | None = None
    """How long a command may wait for its reply; ``None``: as long as it takes."""
    connect_timeout_s: float | None = None
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def where(self) -> str:
        """The server as logs and errors name it: never a credential."""
        scheme = "unix" if self.path else "rediss" if self.tls else "redis"
        place = self.path if self.path else f"{self.host}:{self.port}"
        return f"{scheme}://{place}/{self.db}"


def _bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"state: ?{name}= takes true or false", key="state")


def _seconds(name: str, value: str) -> float | None:
    if value.strip().lower() in ("", "none"):
        return None
    try:
        s = float(value)
    except ValueError:
        s = -1.0
    if not s > 0:
        raise ConfigError(f"state: ?{name}= takes a positive number of seconds", key="state")
    return s


def _tls(options: dict[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=options.get("ssl_ca_certs") or None)
    reqs = options.get("ssl_cert_reqs", "required").strip().lower()
    modes = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
    if reqs not in modes:
        raise ConfigError("state: ?ssl_cert_reqs= takes none, optional or required", key="state")
    check = _bool("ssl_check_hostname", options.get("ssl_check_hostname", "true"))
    ctx.check_hostname = check and reqs != "none"
    ctx.verify_mode = modes[reqs]
    if options.get("ssl_certfile"):
        ctx.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile") or None)
    return ctx


def parse_redis_url(url: str) -> RedisAddress:
    """The :class:`RedisAddress` of a ``redis://``, ``rediss://`` or ``unix://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "state: a Redis URL starts with redis://, rediss:// or unix://", key="state"
        )
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _IGNORED:
            continue
        if name not in _KNOWN:
            raise ConfigError(f"state: unknown Redis URL parameter {name!r}", key="state")
        options[name] = value
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    username = options.get("username", username) or None
    password = options.get("password", password) or None
    db_text = options.get("db")
    if parts.scheme != "unix" and db_text is None:
        db_text = parts.path.lstrip("/") or "0"
    try:
        db = int(db_text or "0")
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ConfigError(
            "state: the Redis URL's port and database are numbers", key="state"
        ) from None
    session = RedisAddress(
        db=db,
        username=username,
        password=password,
        client_name=options.get("client_name") or None,
        timeout_s=_seconds("socket_timeout", options.get("socket_timeout", "")),
        connect_timeout_s=_seconds(
            "socket_connect_timeout", options.get("socket_connect_timeout", "")
        ),
    )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError(
                "state: unix:// names the socket's path: unix:///path/redis.sock", key="state"
            )
        return replace(session, path=unquote(parts.path))
    tls = _tls(options) if parts.scheme == "rediss" else None
    return replace(session, host=parts.hostname or "127.0.0.1", port=port, tls=tls)


_KNOWN = frozenset(
    {
        "db",
        "username",
        "password",
        "client_name",
        "socket_timeout",
        "socket_connect_timeout",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
    }
)
