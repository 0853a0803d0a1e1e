"""The constructors' keyword arguments, alike on every way to build a router."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml

from router import AsyncRouter, ConfigError, Router
from router.state import MemoryStore
from tests.telemetry_support import LOCAL_URL, Otel, completion, make_config

pytest_plugins = ["tests.telemetry_fixtures"]

MSG = [{"role": "user", "content": "hi"}]


def _builders(tmp_path: Path) -> dict[str, Callable[..., Router | AsyncRouter]]:
    """Each way to build a router, by name (``from_file`` reads a copy in ``tmp_path``)."""
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(make_config()))
    builders: dict[str, Callable[..., Router | AsyncRouter]] = {
        "Router": lambda **kw: Router(make_config(), **kw),
        "Router.from_file": lambda **kw: Router.from_file(path, **kw),
        "Router.from_dict": lambda **kw: Router.from_dict(make_config(), **kw),
        "AsyncRouter": lambda **kw: AsyncRouter(make_config(), **kw),
        "AsyncRouter.from_file": lambda **kw: AsyncRouter.from_file(path, **kw),
        "AsyncRouter.from_dict": lambda **kw: AsyncRouter.from_dict(make_config(), **kw),
    }
    assert list(builders) == BUILDERS
    return builders


BUILDERS = [
    "Router",
    "Router.from_file",
    "Router.from_dict",
    "AsyncRouter",
    "AsyncRouter.from_file",
    "AsyncRouter.from_dict",
]


@pytest.mark.parametrize("how", BUILDERS)
def test_store_and_clock(how: str, tmp_path: Path) -> None:
    store = MemoryStore()
    r = _builders(tmp_path)[how](store=store, clock=lambda: 1_800_000_000.0)
    assert r.store is store
    assert r.budget.store is store and r.budget.clock() == 1_800_000_000.0


@pytest.mark.parametrize("how", BUILDERS)
def test_the_store_defaults_to_the_configs(how: str, tmp_path: Path) -> None:
    a, b = _builders(tmp_path)[how](), _builders(tmp_path)[how]()
    assert isinstance(a.store, MemoryStore) and a.store is not b.store


@pytest.mark.parametrize("how", BUILDERS)
async def test_tracer_and_meter_providers(
    how: str, tmp_path: Path, otel: Otel, mock: respx.MockRouter
) -> None:
    mock.post(LOCAL_URL).mock(return_value=httpx.Response(200, json=completion("smol-135m")))
    r = _builders(tmp_path)[how](**otel.providers)
    if isinstance(r, AsyncRouter):
        async with r:
            await r.chat(MSG)
    else:
        with r:
            r.chat(MSG)
    assert {s.name for s in otel.spans()} == {"route default", "chat smol-135m"}
    assert otel.points("gen_ai.client.operation.duration")


def test_from_file_still_locates_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    cfg: dict[str, Any] = make_config()
    cfg["routes"]["default"]["candidates"] = ["nope"]
    path.write_text(yaml.safe_dump(cfg))
    for cls in (Router, AsyncRouter):
        with pytest.raises(ConfigError) as ei:
            cls.from_file(path, store=MemoryStore())
        assert ei.value.file == str(path) and ei.value.line is not None


def test_unknown_keywords_are_refused() -> None:
    with pytest.raises(TypeError, match="tracer"):
        Router(make_config(), tracer=object())  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="transport_factory"):
        Router(make_config(), transport_factory=None)  # type: ignore[call-arg]


def test_a_router_closes_the_store_it_opened_and_not_one_it_was_given(tmp_path: Path) -> None:
    from router.state import MemoryStore

    closed: list[str] = []

    class Watched(MemoryStore):
        def close(self) -> None:
            closed.append("given")

    cfg = {
        "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"provider": "p", "model": "x"}},
        "routes": {"default": {"candidates": ["m"]}},
        "state": f"sqlite:///{tmp_path}/state.db",
    }
    with Router(cfg, store=Watched()):
        pass
    assert closed == []  # the caller's store stays open
    r = Router(cfg)
    r.store.set("k", "v")  # opens this thread's connection to the file
    opened = list(r.store._all)  # type: ignore[attr-defined]
    assert opened
    r.close()
    for conn in opened:  # the router's own store: its connections are closed
        with pytest.raises(Exception, match="closed"):
            conn.execute("select 1")
