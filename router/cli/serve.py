"""``llm-router serve``: the OpenAI- and Anthropic-compatible HTTP gateway (docs/gateway.md)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from typing import Any

from ._args import positive_int

__all__ = ["add_parser", "check", "literal_keys"]


def _port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def add_parser(sub: Any) -> None:
    """Register the ``serve`` subcommand."""
    p = sub.add_parser(
        "serve",
        help="run the OpenAI-compatible HTTP gateway (needs the [gateway] extra)",
        description="Serve /v1/chat/completions, /v1/messages and /v1/models under the "
        "config's policy, keys from its gateway: section.",
    )
    p.add_argument("config", help="config file (with a gateway: section holding the keys)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=_port, default=4000, help="port to listen on (4000)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes; more than 1 needs a shared state store (sqlite or redis)",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without keys (only on a loopback address, for local development)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def check(config: Any, host: str, workers: int, no_auth: bool) -> str | None:
    """Why the gateway must not start with these settings (``None``: it may)."""
    from ..gateway.app import is_loopback

    keys = config.gateway.keys if config.gateway is not None else ()
    if no_auth and not is_loopback(host):
        return f"--no-auth is only allowed on a loopback address, not {host!r}"
    if not keys and not no_auth:
        return (
            "the config has no gateway.keys: add keys (docs/gateway.md), "
            "or pass --no-auth on a loopback address"
        )
    if workers > 1 and config.state == "memory":
        return (
            f"--workers {workers} needs a state store shared by the workers (state: "
            "sqlite:///path or redis://...): with state: memory each worker would keep "
            "its own budgets, breakers and limits"
        )
    return None


def literal_keys(config: Any, text: str) -> list[str]:
    """Names of the gateway keys whose value is written in the config file itself.

    A key is a ``${VAR}`` reference or a ``sha256:`` digest, so that the file
    holds nothing a reader could present; a value that appears verbatim in the
    file's text was written there (or as a ``${VAR:-default}``).
    """
    keys = config.gateway.keys if config.gateway is not None else ()
    out = []
    for k in keys:
        value = k.key.get_secret_value()
        if not value.startswith("sha256:") and value in text:
            out.append(k.name)
    return out


def run(args: argparse.Namespace) -> int:
    """Execute ``serve``: check the config, then run uvicorn until SIGTERM/SIGINT."""
    from ..config.loader import load_policy, read_text

    try:
        import uvicorn

        from ..gateway import app as _app  # noqa: F401  (starlette present)
    except ImportError as e:
        print(
            f"error: the gateway needs the gateway extra ({e.name} is missing): "
            "pip install 'llm-policy-router[gateway]'",
            file=sys.stderr,
        )
        return 2
    from ..gateway.app import CONFIG_ENV, NO_AUTH_ENV

    config, _ = load_policy(args.config)  # every config problem, at file:line
    problem = check(config, args.host, args.workers, args.no_auth)
    literal = literal_keys(config, read_text(args.config))
    if literal and not problem:
        problem = (
            f"gateway key(s) {', '.join(literal)}: the key is written in the config file; "
            "write it as ${VAR} (read from the environment) or as sha256:<hex digest>"
        )
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    settings = config.gateway
    os.environ[CONFIG_ENV] = os.path.abspath(args.config)
    os.environ[NO_AUTH_ENV] = "1" if args.no_auth else "0"
    logging.basicConfig(level=args.log_level.upper(), format="%(message)s")
    if args.no_auth:
        print("warning: serving without keys (--no-auth)", file=sys.stderr)
    # uvicorn drains on SIGTERM, then raises the signal again to the handler it found:
    # a no-op one makes a drained shutdown exit 0, as process managers expect.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        "router.gateway.app:from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # The gateway writes its own access log: without content, keys or query strings.
        access_log=False,
        # Nothing reads the client's address: X-Forwarded-* parsing is a layer per request
        # for nothing (and no client may set what the gateway believes about it).
        proxy_headers=False,
        timeout_graceful_shutdown=math.ceil(settings.grace_s) if settings else 30,
        lifespan="on",
        server_header=False,
    )
    return 0
