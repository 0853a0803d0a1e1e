"""AsyncRouter's transport choice: httpx's pool, aiohttp under httpx, or any factory.

Runs against the benchmark's fake OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import router
from router.errors import ProviderError

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_server", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    proc.terminate()
    proc.wait(timeout=10)


def _config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"fake": {"kind": "vllm", "base_url": base_url}},
        "models": {"m": {"provider": "fake", "model": "bench-model"}},
        "routes": {"default": {"candidates": ["m"]}},
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_custom_factory_is_used_for_each_provider(base_url: str) -> None:
    made: list[str] = []

    def factory(target: Any) -> httpx.AsyncBaseTransport:
        made.append(target.provider)
        return httpx.AsyncHTTPTransport()

    async with router.AsyncRouter(_config(base_url), transport_factory=factory) as r:
        first = await r.chat(MESSAGES)
        second = await r.chat(MESSAGES)
    assert first.content and second.content == first.content
    assert made == ["fake"]  # one pooled client per provider, built once


async def test_auto_picks_aiohttp_only_when_it_is_installed(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from router.execution import transports

    installed = transports.aiohttp_available()
    monkeypatch.setattr(transports, "aiohttp_available", lambda: False)
    async with router.AsyncRouter(_config(base_url), transport_factory="auto") as r:
        assert (await r.chat(MESSAGES)).content
        assert isinstance(r._executor.http.transports()["fake"], httpx.AsyncHTTPTransport)
    if not installed:
        return
    monkeypatch.setattr(transports, "aiohttp_available", lambda: True)
    from httpx_aiohttp import AiohttpTransport

    async with router.AsyncRouter(_config(base_url), transport_factory="auto") as r:
        assert (await r.chat(MESSAGES)).content
        assert isinstance(r._executor.http.transports()["fake"], AiohttpTransport)


def test_bad_transport_factory_is_refused(base_url: str) -> None:
    with pytest.raises(TypeError, match="transport_factory"):
        router.AsyncRouter(_config(base_url), transport_factory="curl")


class TestAiohttp:
    @pytest.fixture(autouse=True)
    def _needs_httpx_aiohttp(self) -> None:
        pytest.importorskip("httpx_aiohttp")

    async def test_chat_and_stream_over_aiohttp(self, base_url: str) -> None:
        from httpx_aiohttp import AiohttpTransport

        async with router.AsyncRouter(_config(base_url), transport_factory="aiohttp") as r:
            resp = await r.chat(MESSAGES)
            async with r.stream(MESSAGES) as s:
                chunks = [c async for c in s]
            assert isinstance(r._executor.http.transports()["fake"], AiohttpTransport)
        assert resp.content == "Your order shipped yesterday and should arrive on Friday."
        assert resp.usage is not None and resp.usage.prompt_tokens == 96
        assert len(chunks) == 21
        assert s.response.content is not None and s.response.content.startswith("Your order")
        assert s.response.usage is not None and s.response.usage.completion_tokens == 20

    async def test_from_file_accepts_the_shorthand(self, base_url: str, tmp_path: Path) -> None:
        cfg = tmp_path / "router.yaml"
        cfg.write_text(
            f"providers: {{fake: {{kind: vllm, base_url: '{base_url}'}}}}\n"
            "models: {m: {provider: fake, model: bench-model}}\n",
            encoding="utf-8",
        )
        async with router.AsyncRouter.from_file(cfg, transport_factory="aiohttp") as r:
            assert (await r.chat(MESSAGES, model="m")).content

    async def test_unreachable_target_is_a_provider_error(self) -> None:
        url = f"http://127.0.0.1:{_closed_port()}/v1"
        async with router.AsyncRouter(_config(url), transport_factory="aiohttp") as r:
            with pytest.raises(ProviderError) as info:
                await r.chat(MESSAGES)
        # httpx-aiohttp reports a refused connection as a connect timeout; either
        # way the failure is retryable and carries the target, never a key.
        assert info.value.retryable
        assert info.value.target == "m"
