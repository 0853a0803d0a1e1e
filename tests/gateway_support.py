"""The gateway under test: a real uvicorn server on 127.0.0.1 in a thread, in front of
the fault server, and configs with keys."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from router import AsyncRouter
from router.gateway import create_app
from tests.faultserver import FaultServer
from tests.faultserver.harness import FAST_RETRY, FAST_TIMEOUT

__all__ = [
    "KEY_ACME",
    "KEY_HOSPITAL",
    "GatewayServer",
    "gateway_config",
    "running",
]

KEY_ACME = "gw-acme-0123456789abcdef-SECRET"
KEY_HOSPITAL = "gw-hospital-fedcba9876543210-SECRET"
KEY_LIMITED = "gw-limited-aaaabbbbccccdddd-SECRET"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class GatewayServer:
    """uvicorn serving the gateway app on a free loopback port, in its own thread."""

    def __init__(
        self, router: AsyncRouter, *, auth: bool = True, tracer_provider: Any = None
    ) -> None:
        self.port = free_port()
        self.app = create_app(router, auth=auth, tracer_provider=tracer_provider)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(20)
        if self._thread.is_alive():
            raise RuntimeError("gateway did not stop")


@contextmanager
def running(
    config: dict[str, Any], *, auth: bool = True, **options: Any
) -> Iterator[GatewayServer]:
    """A gateway for ``config`` (a dict), started and stopped around the block."""
    router = AsyncRouter.from_dict(config, **options)
    tp = options.get("tracer_provider")
    server = GatewayServer(router, auth=auth, tracer_provider=tp).start()
    try:
        yield server
    finally:
        server.stop()


def digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def gateway_config(faults: FaultServer, **extra: Any) -> dict[str, Any]:
    """Two targets on the fault server: ``local`` (zone local) and ``hosted`` (zone hosted,
    priced), routes ``chat`` (hosted first, then local) and ``local-only``; a rule keeps
    confidential requests in zone local. Keys: acme (all routes), hospital (tenant
    hospital, floor confidential), limited (route ``local-only`` only, 1 in flight)."""
    providers = {
        name: {
            "kind": "openai_compatible",
            "base_url": faults.base_url(name),
            "zone": zone,
            "timeout": FAST_TIMEOUT,
            "retry": FAST_RETRY,
        }
        for name, zone in (("local", "local"), ("hosted", "hosted"))
    }
    config: dict[str, Any] = {
        "providers": providers,
        "models": {
            "local": {"provider": "local", "model": "local-model", "quality": 50},
            "hosted": {
                "provider": "hosted",
                "model": "hosted-model",
                "quality": 90,
                "price": {"input": 1.0, "output": 2.0},
            },
        },
        "routes": {
            "chat": {"candidates": ["hosted", "local"]},
            "local-only": {"candidates": ["local"]},
        },
        "rules": [
            {
                "name": "confidential-stays-local",
                "when": {"sensitivity": ">=confidential"},
                "allow": {"zone": ["local"]},
            }
        ],
        "gateway": {
            "keys": [
                {"name": "acme", "key": KEY_ACME, "tenant": "acme"},
                {
                    "name": "hospital",
                    "key": digest(KEY_HOSPITAL),
                    "tenant": "hospital",
                    "context": {"sensitivity": "confidential", "tags": ["phi"]},
                },
                {
                    "name": "limited",
                    "key": KEY_LIMITED,
                    "tenant": "limited",
                    "routes": ["local-only"],
                    "max_in_flight": 1,
                },
            ]
        },
    }
    for k, v in extra.items():
        config[k] = v
    return config
