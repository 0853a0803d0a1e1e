"""Calendar windows in UTC, prices, amortised cost and token counters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.accounting import (
    ExactCounter,
    FastCounter,
    amortised_cost_usd,
    amortised_usd_per_token,
    cost_usd,
    window,
    window_label,
    worst_case_cost_usd,
)
from router.config import load_dict
from router.targets import resolve_targets
from router.types import ChatRequest, Usage
from tests.money_helpers import money_config


def ts(*a: int) -> float:
    return datetime(*a, tzinfo=UTC).timestamp()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("per", "now", "start", "end", "label"),
    [
        (
            "minute",
            ts(2026, 11, 29, 21, 7, 59),
            ts(2026, 11, 29, 21, 7),
            ts(2026, 11, 29, 21, 8),
            "2026-11-29T21:07",
        ),
        (
            "hour",
            ts(2026, 11, 29, 23, 59, 59),
            ts(2026, 11, 29, 23),
            ts(2026, 11, 30, 0),
            "2026-11-29T23",
        ),
        ("day", ts(2026, 11, 30, 23, 59, 59), ts(2026, 11, 30), ts(2026, 12, 1), "2026-11-30"),
        ("day", ts(2026, 12, 1), ts(2026, 12, 1), ts(2026, 12, 2), "2026-12-01"),
        ("month", ts(2026, 12, 31, 23, 59), ts(2026, 12, 1), ts(2027, 1, 1), "2026-12"),
        ("month", ts(2027, 1, 1), ts(2027, 1, 1), ts(2027, 2, 1), "2027-01"),
        ("month", ts(2028, 2, 29, 12), ts(2028, 2, 1), ts(2028, 3, 1), "2028-02"),
        ("month", ts(2027, 2, 28, 23, 59, 59), ts(2027, 2, 1), ts(2027, 3, 1), "2027-02"),
    ],
)
def test_calendar_windows(per: str, now: float, start: float, end: float, label: str) -> None:
    assert window(per, now) == (start, end)  # type: ignore[arg-type]
    assert window_label(per, start) == label  # type: ignore[arg-type]


def test_window_boundary_belongs_to_the_next_window() -> None:
    midnight = ts(2027, 1, 1)
    assert window("day", midnight - 1e-3)[1] == midnight
    assert window("day", midnight)[0] == midnight


def test_windows_ignore_local_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        assert window_label("day", window("day", ts(2026, 11, 29, 20))[0]) == "2026-11-29"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_unknown_window() -> None:
    with pytest.raises(ValueError, match="unknown budget window"):
        window("week", 0.0)  # type: ignore[arg-type]


@pytest.fixture
def targets():  # type: ignore[no-untyped-def]
    cfg = money_config("http://127.0.0.1:9/v1")
    cfg["models"]["cached"] = {
        "provider": "paid-api",
        "model": "c",
        "price": {"input": 2.0, "output": 8.0, "cached_input": 0.5},
    }
    return resolve_targets(load_dict(cfg))


def test_list_price_with_cached_input(targets) -> None:  # type: ignore[no-untyped-def]
    u = Usage(prompt_tokens=1_000_000, cached_tokens=400_000, completion_tokens=500_000)
    assert cost_usd(targets["cached"], u) == pytest.approx(0.6 * 2 + 0.4 * 0.5 + 0.5 * 8)
    assert cost_usd(targets["paid"], None) == 0
    assert worst_case_cost_usd(targets["cached"], 1_000_000, 1_000_000) == pytest.approx(10.0)


def test_self_hosted_marginal_zero_amortised_per_token(targets) -> None:  # type: ignore[no-untyped-def]
    local = targets["local"]
    u = Usage(prompt_tokens=3000, completion_tokens=1000)
    assert cost_usd(local, u) == 0
    assert worst_case_cost_usd(local, 10**6, 10**6) == 0
    # $3.6 per hour at 1000 tokens/s = $0.000001 per token
    assert amortised_usd_per_token(local) == pytest.approx(1e-6)
    assert amortised_cost_usd(local, u) == pytest.approx(4000 * 1e-6)
    assert amortised_cost_usd(targets["paid"], u) is None
    assert local.marginal_cost_free and not targets["paid"].marginal_cost_free


def req(*texts: str, **kw) -> ChatRequest:  # type: ignore[no-untyped-def]
    return ChatRequest(messages=[{"role": "user", "content": t} for t in texts], **kw)


def test_fast_counter_estimate_and_bound() -> None:
    c = FastCounter()
    r = req("abcdefgh", "héllo")  # 8 chars, 5 chars / 6 bytes
    assert c.count(r) == 2 + 2 + 2 * 4
    assert c.upper_bound(r) == 8 + 6 + 2 * 8 + 8
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    assert c.upper_bound(req("x", tools=tools)) > c.upper_bound(req("x")) + 20


def test_exact_counter_plugs_a_tokenizer() -> None:
    c = ExactCounter(lambda s: s.split(), per_message=3, priming=2)
    r = req("one two three", "four")
    assert c.count(r) == c.upper_bound(r) == 4 + 2 * 3 + 2


def _smollm_tokenizer():  # type: ignore[no-untyped-def]

    from tests.conftest import MODEL, unavailable

    try:
        import llama_cpp
    except ImportError:
        unavailable("llama-cpp-python is not installed: run scripts/install.sh")
    if not MODEL.is_file():
        unavailable(f"model file {MODEL} missing: run scripts/install.sh")
    llm = llama_cpp.Llama(model_path=str(MODEL), vocab_only=True, verbose=False)
    return lambda s: llm.tokenize(s.encode(), add_bos=False, special=False)


SAMPLES = [
    "The quick brown fox jumps over the lazy dog. " * 20,
    "def add(a: int, b: int) -> int:\n    return a + b  # sum\n" * 10,
    '{"user": {"id": 12345, "email": "ann@example.com", "tags": ["a", "b"]}}' * 10,
    "Überprüfen Sie bitte die Rechnung für März; straße, größe, ändern. " * 10,
    "東京は日本の首都です。人口は約千四百万人です。" * 10,
    "🙂🚀 emoji heavy text ✅✅ " * 10,
]


@pytest.mark.real_server
def test_bound_holds_against_a_real_byte_level_tokenizer() -> None:
    encode = _smollm_tokenizer()
    c = FastCounter()
    for text in SAMPLES:
        r = req(text)
        true = len(encode(text))
        assert c.upper_bound(r) >= true + 5, text[:30]  # ChatML adds ~5 per message
