"""Pull the plug on a target mid-traffic and watch requests move — only to admitted targets.

Run from the repository root:  python examples/failover.py
Everything runs on 127.0.0.1: the "providers" are targets of the test suite's
fault-injecting server, so no model or key is needed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from router import Router
from router.errors import ProviderError
from tests.faultserver import Fault, FaultServer

HI = [{"role": "user", "content": "Hi"}]


def config(srv: FaultServer) -> dict[str, object]:
    def provider(name: str, zone: str) -> dict[str, object]:
        return {
            "kind": "openai_compatible",
            "base_url": srv.base_url(name),
            "zone": zone,
            "timeout": {"connect_s": 0.5, "read_s": 0.5},
            "retry": {"attempts": 2, "backoff": {"initial_s": 0.01}},
            "breaker": {"failures": 2, "cooldown_s": 1.0},
        }

    names = {"gpu-box": "local", "spare-box": "local", "frontier": "frontier"}
    return {
        "providers": {n: provider(n, z) for n, z in names.items()},
        "models": {n: {"provider": n, "model": f"{n}-model"} for n in names},
        "rules": [
            {
                "name": "confidential-stays-local",
                "when": {"sensitivity": "confidential"},
                "allow": {"zone": ["local"]},
            }
        ],
        "routes": {
            "chat": {"candidates": ["gpu-box", "spare-box", "frontier"], "deadline_s": 3},
        },
    }


def show(r: Router, i: int, sensitivity: str | None = None) -> None:
    t0 = time.monotonic()
    try:
        resp = r.chat(HI, model="chat", context={"sensitivity": sensitivity})
        route = resp.route
        assert route is not None
        trail = ", ".join(f"{a.target}:{a.outcome}" for a in route.attempts)
        print(f"#{i:<2} {resp.content:<24} {time.monotonic() - t0:5.2f}s  [{trail}]")
    except ProviderError as e:
        trail = ", ".join(f"{a.target}:{a.outcome}" for a in e.attempts)
        print(f"#{i:<2} {type(e).__name__:<24} {time.monotonic() - t0:5.2f}s  [{trail}]")


def main() -> None:
    with FaultServer() as srv, Router(config(srv)) as r:
        print("-- healthy")
        for i in range(3):
            show(r, i)
        print("-- gpu-box unplugged (connections reset)")
        srv.default("gpu-box", Fault.reset())
        for i in range(3, 8):
            show(r, i)
        print("-- gpu-box back; after the cooldown one probe closes its breaker")
        srv.default("gpu-box", Fault.ok())
        time.sleep(1.1)
        for i in range(8, 10):
            show(r, i)
        print("-- every local target down: a confidential request fails, never leaves")
        srv.default("gpu-box", Fault.http(503))
        srv.default("spare-box", Fault.hang())
        before = srv.count("frontier")
        show(r, 10, sensitivity="confidential")
        print("requests the frontier received meanwhile:", srv.count("frontier") - before)


if __name__ == "__main__":
    main()
