"""Builders for the resilience tests: configs around the fault server, and one routed call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from router import AsyncRouter, Router
from router.errors import ProviderError
from router.types import Attempt

from .server import FaultServer

__all__ = ["MESSAGES", "Outcome", "make_config", "run"]

FAST_RETRY: dict[str, Any] = {
    "attempts": 2,
    "backoff": {"initial_s": 0.001, "max_s": 0.01, "multiplier": 2, "jitter": 0},
    "max_retry_after_s": 1.0,
}
FAST_TIMEOUT: dict[str, Any] = {"connect_s": 0.5, "read_s": 0.2, "write_s": 0.5, "pool_s": 0.5}

_KIND = {
    "openai": "openai_compatible",
    "anthropic": "anthropic",
    "ollama": "ollama",
    "gemini": "gemini",
}


def make_config(
    server: FaultServer,
    targets: list[dict[str, Any]],
    *,
    route: dict[str, Any] | None = None,
    retry: dict[str, Any] | None = None,
    breaker: dict[str, Any] | None = None,
    timeout: dict[str, Any] | None = None,
    routes: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A config with one provider per target, all behind route ``r`` (in the given order).

    Each target is ``{"name", "wire"?, "zone"?, "context_window"?, "in_route"?}``.
    """
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    candidates: list[str] = []
    for t in targets:
        name, wire = t["name"], t.get("wire", "openai")
        p: dict[str, Any] = {
            "kind": _KIND[wire],
            "base_url": server.base_url(name, wire),
            "zone": t.get("zone", "hosted"),
            "timeout": timeout or FAST_TIMEOUT,
            "retry": FAST_RETRY if retry is None else retry,
        }
        if wire in ("anthropic", "gemini"):
            p["api_key"] = f"sk-{wire}-test"
        if breaker is not None:
            p["breaker"] = breaker
        providers[name] = p
        m: dict[str, Any] = {"provider": name, "model": f"{name}-model"}
        if t.get("context_window"):
            m["context_window"] = t["context_window"]
        models[name] = m
        if t.get("in_route", True):
            candidates.append(name)
    all_routes = {"r": {"candidates": candidates, **(route or {})}}
    all_routes.update(routes or {})
    return {"providers": providers, "models": models, "routes": all_routes}


@dataclass
class Outcome:
    """What one routed call produced: text or an error, and its attempts."""

    text: str | None = None
    error: BaseException | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def summary(self) -> list[tuple[str, str, int | None, str | None]]:
        return [(a.target, a.outcome, a.status, a.error) for a in self.attempts]


MESSAGES = [{"role": "user", "content": "Hello"}]


def _sync(r: Router, stream: bool, context: Any, model: str) -> Outcome:
    try:
        if stream:
            with r.stream(MESSAGES, model=model, context=context) as s:
                text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
            return Outcome(text, None, list(s.response.route.attempts))  # type: ignore[union-attr]
        resp = r.chat(MESSAGES, model=model, context=context)
        return Outcome(resp.content, None, list(resp.route.attempts))  # type: ignore[union-attr]
    except ProviderError as e:
        return Outcome(None, e, list(e.attempts))


async def _async(r: AsyncRouter, stream: bool, context: Any, model: str) -> Outcome:
    try:
        if stream:
            async with r.stream(MESSAGES, model=model, context=context) as s:
                parts = [c.choices[0].delta.content or "" async for c in s if c.choices]
            return Outcome("".join(parts), None, list(s.response.route.attempts))  # type: ignore[union-attr]
        resp = await r.chat(MESSAGES, model=model, context=context)
        return Outcome(resp.content, None, list(resp.route.attempts))  # type: ignore[union-attr]
    except ProviderError as e:
        return Outcome(None, e, list(e.attempts))


def run(
    config: dict[str, Any] | Router | AsyncRouter,
    *,
    mode: str,
    stream: bool,
    context: Any = None,
    model: str = "r",
) -> Outcome:
    """Route one call through a sync or async router (a fresh one for a config)."""
    if mode == "sync":
        if isinstance(config, Router):
            return _sync(config, stream, context, model)
        with Router(config) as r:  # type: ignore[arg-type]
            return _sync(r, stream, context, model)

    async def go() -> Outcome:
        if isinstance(config, AsyncRouter):
            return await _async(config, stream, context, model)
        async with AsyncRouter(config) as r:  # type: ignore[arg-type]
            return await _async(r, stream, context, model)

    return asyncio.run(go())
