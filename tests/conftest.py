"""Shared fixtures: real local servers (llama-cpp-python, Prism) and helpers.

A fixture whose server cannot run here skips its tests with the reason —
except under CI (``CI`` set), where a missing piece is a failure: CI must
run every test, not skip it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings

# Under CI the property tests draw the same examples every run (a failure there
# reproduces exactly); developers' runs keep exploring new ones, and a failing
# example they find is saved in .hypothesis/ and replayed until fixed.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path(
    os.environ.get("LLM_ROUTER_EMBEDDED_MODEL", ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
)
PRISM = ROOT / ".prism" / "node_modules" / ".bin" / "prism"
CONTRACT = ROOT / "tests" / "contracts" / "openai-chat-completions.openapi.json"


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI, which must run everything."""
    if os.environ.get("CI"):
        pytest.fail(f"required for CI but unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str, proc: subprocess.Popen[bytes], timeout_s: float, ok: tuple[int, ...]
) -> None:
    """Poll ``url`` until it answers one of ``ok`` or the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0, headers={"authorization": "Bearer x"}).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout_s}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The SmolLM2 GGUF file (scripts/install.sh fetches it)."""
    if not MODEL.is_file():
        unavailable(f"model file {MODEL} missing: run scripts/install.sh")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        unavailable("llama-cpp-python is not installed: run scripts/install.sh")
    return MODEL


def run_llama_server(model_path: Path, *options: str) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on SmolLM2 with ``options``; yields
    its /v1 base URL and stops it (a fixture's body)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        "1",
        *options,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", proc, 60, (200,))
    except RuntimeError as e:
        _stop(proc)
        unavailable(f"llama-cpp-python server ({' '.join(options)}) did not start: {e}")
    yield f"http://127.0.0.1:{port}/v1"
    _stop(proc)


@pytest.fixture(scope="session")
def llama_server(model_path: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2; yields its /v1 base URL."""
    yield from run_llama_server(model_path, "--n_ctx", "2048", "--chat_format", "chatml")


@pytest.fixture(scope="session")
def prism_server() -> Iterator[str]:
    """Prism validating requests against OpenAI's chat-completions schema; yields its base URL."""
    if not PRISM.exists() or shutil.which("node") is None:
        unavailable("Prism is not installed: run scripts/test.sh (npm install into .prism/)")
    port = free_port()
    proc = subprocess.Popen(
        [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(CONTRACT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Prism answers 404/405 for unknown routes once it is listening.
        wait_http(f"http://127.0.0.1:{port}/", proc, 90, (200, 404, 405))
    except RuntimeError as e:
        _stop(proc)
        unavailable(f"Prism did not start: {e}")
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_base_url() -> Iterator[str]:
    """A real Redis server: the one on 127.0.0.1:6379 if it answers, else one started here.

    ``LLM_ROUTER_TEST_OWN_REDIS=1`` ignores the shared server (to test the fallback).
    """
    if not os.environ.get("LLM_ROUTER_TEST_OWN_REDIS") and _redis_answers(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                unavailable("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)


@pytest.fixture
def redis_url(redis_base_url: str) -> Iterator[str]:
    """A redis:// URL with a key prefix of its own; its keys are deleted afterwards."""
    import redis

    prefix = f"llm-router-test-{uuid.uuid4().hex[:12]}:"
    yield f"{redis_base_url}?prefix={prefix}"
    client = redis.Redis.from_url(redis_base_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
