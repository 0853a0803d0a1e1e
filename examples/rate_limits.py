"""Rate limits that act before the 429: configured limits, per-tenant rules, provider headers.

Run from the repository root:  python examples/rate_limits.py
Everything runs on 127.0.0.1: the "providers" are targets of the test suite's
fault-injecting server, so no model or key is needed. Two routers share one
SQLite state file, as two processes of a deployment would.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from router import Router
from router.errors import RateLimitError
from tests.faultserver import Fault, FaultServer

HI = [{"role": "user", "content": "Hi"}]


def config(srv: FaultServer, state: str) -> dict[str, object]:
    def provider(name: str) -> dict[str, object]:
        return {
            "kind": "openai_compatible",
            "base_url": srv.base_url(name),
            "retry": {"attempts": 1},
        }

    return {
        "state": state,
        "providers": {
            "frontier": {**provider("frontier"), "limits": {"max_in_flight": 8}},
            "backup": provider("backup"),
        },
        "models": {
            # Three requests a minute on the frontier model, then the backup takes over.
            "frontier": {"provider": "frontier", "model": "big", "limits": {"rpm": 3}},
            "backup": {"provider": "backup", "model": "small"},
        },
        "rules": [
            # Each tenant may make 4 calls a minute, whichever target serves them.
            {"name": "per-tenant", "limit": {"rpm": 4, "key": "tenant"}},
        ],
        "routes": {"chat": {"candidates": ["frontier", "backup"]}},
    }


def where(r: Router, tenant: str) -> str:
    try:
        reply = r.chat(HI, model="chat", context={"tenant": tenant})
    except RateLimitError as e:
        return f"refused ({e.code}, retry in {e.retry_after_s:.0f}s)"
    assert reply.route is not None
    skipped = [a.target for a in reply.route.attempts if a.outcome == "rate_limited"]
    return reply.route.target + (
        f" (skipped {', '.join(skipped)}: rate limited)" if skipped else ""
    )


def main() -> None:
    with FaultServer() as srv, tempfile.TemporaryDirectory() as tmp:
        state = f"sqlite:///{tmp}/state.db"
        print("1. Configured limits: frontier allows 3 requests a minute, acme 4 calls a minute")
        with Router(config(srv, state)) as r:
            for i in range(5):
                print(f"   acme call {i + 1}: {where(r, 'acme')}")
            print(f"   globex call 1: {where(r, 'globex')}")

        print("2. The provider's headers: frontier answers, and says it has no request left")
        srv.reset()
        state = f"sqlite:///{tmp}/other.db"  # a fresh deployment: no limit reached yet
        empty = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"}
        srv.script("frontier", Fault.ok(headers=empty))
        with Router(config(srv, state)) as one, Router(config(srv, state)) as two:
            print(f"   router one, initech: {where(one, 'initech')}")
            print(f"   router two, umbrella: {where(two, 'umbrella')}  <- steered before any 429")
            d = two.explain(HI, model="chat", context={"tenant": "umbrella"})
            print(f"   explain: plan {[t.name for t in d.plan]}")
            for name, reasons in d.excluded.items():
                print(f"   explain: {name} excluded: {'; '.join(reasons)}")
        print(f"   requests the frontier received: {srv.count('frontier')}")


if __name__ == "__main__":
    main()
