"""API keys never reach reprs, messages or exceptions."""

from __future__ import annotations

import httpx
import pytest
import respx

from router import ProviderError, Router
from router.policy import Policy
from router.providers import Endpoint, HttpRequest

from .helpers import BASE, KEY, USER, one_target_config


def test_reprs_hide_the_key() -> None:
    with Router.from_dict(one_target_config(headers={"x-extra-auth": KEY})) as r:
        target = Policy(r.config).targets["m"]
        for obj in (r.config, r.config.providers["p"], target, target.endpoint):
            assert KEY not in repr(obj), type(obj)
            assert KEY not in str(obj), type(obj)
    req = HttpRequest("POST", BASE, {"authorization": f"Bearer {KEY}"}, {})
    assert KEY not in repr(req)
    assert KEY not in repr(Endpoint(base_url=BASE, model_id="m", api_key=KEY))


@respx.mock
def test_a_provider_echoing_the_key_is_scrubbed() -> None:
    respx.post(BASE + "/chat/completions").respond(
        401, json={"error": {"message": f"Incorrect API key provided: {KEY}", "code": "x"}}
    )
    with Router.from_dict(one_target_config()) as r, pytest.raises(ProviderError) as ei:
        r.chat(USER)
    assert KEY not in str(ei.value) and KEY not in repr(ei.value)
    assert KEY not in " ".join(map(str, ei.value.args))


@respx.mock
def test_transport_errors_carry_no_request_details() -> None:
    respx.post(BASE + "/chat/completions").mock(
        side_effect=httpx.ReadTimeout(f"timed out; Authorization: Bearer {KEY}")
    )
    with Router.from_dict(one_target_config()) as r, pytest.raises(ProviderError) as ei:
        r.chat(USER)
    assert KEY not in str(ei.value) and ei.value.__cause__ is None


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    cfg = {
        "providers": {"g": {"kind": "groq"}},
        "models": {"m": {"provider": "g", "model": "llama-3.3-70b-versatile"}},
    }
    with Router.from_dict(cfg) as r, pytest.raises(ProviderError, match="GROQ_API_KEY"):
        r.chat(USER, model="m")
