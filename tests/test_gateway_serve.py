"""The ``gateway:`` config section and ``llm-router serve`` as a process: refusals,
SIGTERM draining, workers, and two gateways sharing one budget and one breaker on Redis."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from router import Router
from router.cli import main
from router.cli.serve import check
from router.config import load_dict, load_file
from router.errors import ConfigError
from tests.faultserver import Fault, FaultServer
from tests.gateway_support import KEY_ACME, KEY_LIMITED, digest, free_port, gateway_config

pytest_plugins = ["tests.resilience_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
USER = [{"role": "user", "content": "Hello there"}]


def _with_gateway(gateway: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {"p": {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"provider": "p", "model": "x"}},
        "routes": {"chat": {"candidates": ["m"]}},
        "gateway": gateway,
    }


# -- the config section --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ({"name": "a", "key": "short"}, "at least 16 characters"),
        ({"name": "a", "key": "sha256:abc"}, "64 lowercase hex"),
        ({"name": "a", "key": "sha256:" + "A" * 64}, "64 lowercase hex"),
        ({"name": "a", "key": " padded-key-0123456789 "}, "whitespace"),
        ({"name": "a", "key": "k" * 20, "routes": ["nope"]}, "neither a route nor a model"),
        ({"name": "a", "key": "k" * 20, "context": {"sensitivity": "secret"}}, "not one of"),
        ({"name": "a", "key": "k" * 20, "context": {"max_cost_usd": -1}}, "greater than or equal"),
        ({"name": "a", "key": "k" * 20, "colour": "red"}, "unknown key"),
        ({"name": "a", "key": "k" * 20, "max_in_flight": 0}, "greater than or equal"),
    ],
)
def test_bad_keys_are_clear_config_errors(key: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_dict(_with_gateway({"keys": [key]}))
    assert problem in str(e.value)
    assert "gateway.keys.0" in str(e.value)
    assert key["key"].strip() not in str(e.value)


def test_duplicate_names_and_values_are_refused_without_saying_the_value() -> None:
    k = "same-value-0123456789"
    with pytest.raises(ConfigError) as e:
        load_dict(_with_gateway({"keys": [{"name": "a", "key": k}, {"name": "a", "key": k + "x"}]}))
    assert "unique" in str(e.value)
    digest = "sha256:" + hashlib.sha256(k.encode()).hexdigest()
    with pytest.raises(ConfigError) as e:
        load_dict(_with_gateway({"keys": [{"name": "a", "key": k}, {"name": "b", "key": digest}]}))
    assert "same value" in str(e.value)
    assert k not in str(e.value) and digest not in str(e.value)


def test_keys_from_the_environment_never_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "from-env-0123456789-SECRET"
    monkeypatch.setenv("GW_TEST_KEY", secret)
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(_with_gateway({"keys": [{"name": "a", "key": "${GW_TEST_KEY}"}]})))
    config = load_file(path)
    assert config.gateway is not None
    key = config.gateway.keys[0]
    assert key.digest() == hashlib.sha256(secret.encode()).digest()
    assert secret not in repr(config) and secret not in str(config.model_dump())
    monkeypatch.delenv("GW_TEST_KEY")
    with pytest.raises(ConfigError, match="GW_TEST_KEY is not set"):
        load_file(path)


def test_serve_refuses_what_it_must(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_keys = load_dict(_with_gateway({}))
    assert "no gateway.keys" in (check(no_keys, "127.0.0.1", 1, False) or "")
    assert check(no_keys, "127.0.0.1", 1, True) is None
    assert check(no_keys, "::1", 1, True) is None
    assert "loopback" in (check(no_keys, "0.0.0.0", 1, True) or "")
    keyed = load_dict(_with_gateway({"keys": [{"name": "a", "key": "k" * 20}]}))
    assert check(keyed, "0.0.0.0", 1, False) is None
    assert "state: memory" in (check(keyed, "127.0.0.1", 2, False) or "")
    shared = load_dict(
        {**_with_gateway({"keys": [{"name": "a", "key": "k" * 20}]}), "state": "sqlite:///x.db"}
    )
    assert check(shared, "127.0.0.1", 2, False) is None
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(_with_gateway({})))
    assert main(["serve", str(path)]) == 2
    assert "no gateway.keys" in capsys.readouterr().err
    literal = "written-in-the-file-0123456789"
    path.write_text(json.dumps(_with_gateway({"keys": [{"name": "svc", "key": literal}]})))
    assert main(["serve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "svc" in err and "${VAR}" in err and literal not in err
    path.write_text(json.dumps(_with_gateway({"keys": [{"name": "a", "key": "short"}]})))
    assert main(["serve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "gateway.keys.0.key" in err and "short" not in err.replace("at least", "")


# -- as a process --------------------------------------------------------------------


@contextmanager
def serving(
    config: dict[str, Any], tmp_path: Path, *args: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    path = tmp_path / f"gateway-{free_port()}.yaml"
    path.write_text(json.dumps(config))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GW_KEY": KEY_ACME}
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "serve", str(path), "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"serve exited with {proc.returncode}: {out}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not start")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _process_config(faults: FaultServer, **extra: Any) -> dict[str, Any]:
    config = gateway_config(faults, **extra)
    for p in config["providers"].values():
        p["timeout"] = {"connect_s": 2, "read_s": 10, "write_s": 2, "pool_s": 2}
    config["gateway"]["keys"][0]["key"] = "${GW_KEY}"
    config["gateway"]["keys"][2]["key"] = digest(KEY_LIMITED)  # no key written in the file
    return config


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {KEY_ACME}"},
        timeout=30,
    )


def test_sigterm_drains_requests_in_flight_and_exits_0(
    fault_server: FaultServer, faults: FaultServer, tmp_path: Path
) -> None:
    faults.default("hosted", Fault.ok(delay_s=1.5))
    with (
        serving(_process_config(fault_server), tmp_path) as (url, proc),
        ThreadPoolExecutor(2) as pool,
    ):
        whole = pool.submit(_post, url, {"model": "chat", "messages": USER})
        streamed = pool.submit(_post, url, {"model": "chat", "messages": USER, "stream": True})
        deadline = time.monotonic() + 20
        while faults.count("hosted") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert faults.count("hosted") == 2  # both are in flight upstream
        proc.send_signal(signal.SIGTERM)
        r1, r2 = whole.result(), streamed.result()
        assert (
            r1.status_code == 200
            and r1.json()["choices"][0]["message"]["content"] == "Hello from hosted"
        )
        assert r2.status_code == 200 and r2.text.endswith("data: [DONE]\n\n")
        assert proc.wait(30) == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "/healthz", timeout=1)


def test_metrics_for_prometheus(
    fault_server: FaultServer, faults: FaultServer, tmp_path: Path
) -> None:
    config = _process_config(fault_server)
    with serving(config, tmp_path) as (url, _):
        assert httpx.get(url + "/metrics").status_code == 404  # off by default
    config["gateway"]["metrics"] = True
    with serving(config, tmp_path) as (url, _):
        assert _post(url, {"model": "chat", "messages": USER}).status_code == 200
        assert _post(url, {"model": "nope", "messages": USER}).status_code == 404
        scrape = httpx.get(url + "/metrics")
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
        text = scrape.text
        lines = [ln for ln in text.splitlines() if ln.startswith("router_gateway_requests")]
        assert any('status_code="404"' in ln for ln in lines)
        assert any('status_code="200"' in ln for ln in lines)
        assert "gen_ai_client_operation_duration" in text  # the router's own metrics
        assert KEY_ACME not in text


def test_workers_share_a_sqlite_store(
    fault_server: FaultServer, faults: FaultServer, tmp_path: Path
) -> None:
    config = _process_config(fault_server, state=f"sqlite:///{tmp_path / 'state.db'}")
    with serving(config, tmp_path, "--workers", "2") as (url, _):
        for _ in range(6):
            r = _post(url, {"model": "chat", "messages": USER})
            assert r.status_code == 200
        assert httpx.get(url + "/readyz").status_code == 200
    assert faults.count("hosted") == 6


@pytest.mark.redis
def test_two_gateways_on_one_redis_hold_one_budget_and_one_breaker(
    fault_server: FaultServer,
    faults: FaultServer,
    tmp_path: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GW_KEY", KEY_ACME)
    config = _process_config(fault_server, state=redis_url)
    config["providers"]["hosted"]["breaker"] = {"failures": 1, "cooldown_s": 60}
    body = {"model": "hosted", "messages": USER, "max_tokens": 100}
    # The budget admits the worst case of one call and not a second after it settles.
    worst = Router.from_dict(config).explain(USER, model="hosted", max_tokens=100).costs["hosted"]
    config["rules"].append(
        {
            "name": "acme-day",
            "when": {"tenant": "acme", "route": "hosted"},
            "budget": {"usd": worst + 5e-6, "per": "day"},
        }
    )
    with serving(config, tmp_path) as (a, _), serving(config, tmp_path) as (b, _):
        assert _post(a, body).status_code == 200
        refused = _post(b, body)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "budget_exceeded"
        assert faults.count("hosted") == 1
        # The breaker: gateway a sees hosted fail, gateway b then skips it.
        faults.script("hosted", Fault.http(500), Fault.http(500))
        chat = {"model": "chat", "messages": USER}
        first = _post(a, chat)
        assert first.headers["x-router-target"] == "local"
        sent = faults.count("hosted")
        second = _post(b, chat)
        assert second.status_code == 200 and second.headers["x-router-target"] == "local"
        assert faults.count("hosted") == sent


@pytest.mark.redis
def test_two_gateways_on_one_redis_share_a_keys_max_in_flight(
    fault_server: FaultServer,
    faults: FaultServer,
    tmp_path: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GW_KEY", KEY_ACME)
    config = _process_config(fault_server, state=redis_url)
    faults.script("local", Fault.ok(delay_s=1.5))  # the first request stays in flight
    hdr = {"authorization": f"Bearer {KEY_LIMITED}"}  # max_in_flight: 1

    def post(url: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(url + "/v1/chat/completions", json=body, headers=hdr, timeout=30)

    body = {"model": "local-only", "messages": USER}
    other = [{"role": "user", "content": "the second request"}]
    with (
        serving(config, tmp_path) as (a, _),
        serving(config, tmp_path) as (b, _),
        ThreadPoolExecutor(1) as pool,
    ):
        first = pool.submit(post, a, body)
        deadline = time.monotonic() + 20
        while faults.count("local") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert faults.count("local") == 1  # in flight on gateway a
        for stream in (False, True):
            second = post(b, {**body, "messages": other, "stream": stream})
            assert second.status_code == 429
            assert second.json()["error"]["code"] == "too_many_in_flight"
            assert second.headers["retry-after"] == "1"
        assert first.result().status_code == 200
        assert all(r.body["messages"] != other for r in faults.records())  # nothing sent
        # The slot came back to the store: either gateway may use it, one after the other.
        assert post(b, body).status_code == 200
        assert post(a, {**body, "stream": True}).status_code == 200
