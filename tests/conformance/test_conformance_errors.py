"""Each error class, from each provider's own error bodies, through the public client."""

from __future__ import annotations

import pytest
from conftest import Client
from wire_drivers import API_KEY, Driver, EmbeddedDriver, FakeProvider, Reply

from router.errors import (
    AuthenticationError,
    ContextLengthExceeded,
    InvalidRequestError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
)

# Error statuses are served by respx and, over a real socket, by the fault server.
pytestmark = pytest.mark.transports("respx", "faultserver")

HI = [{"role": "user", "content": "Hi"}]

CASES = {
    "auth": AuthenticationError,
    "rate_limit": RateLimitError,
    "invalid": InvalidRequestError,
    "context": ContextLengthExceeded,
    "unavailable": ProviderUnavailable,
}


# The embedded engine's own failures (its driver declares the others unsupported).
EMBEDDED = {
    "context": Reply(error=ValueError("Requested tokens (4100) exceed context window of 2048")),
    "unavailable": Reply(error=RuntimeError("llama_decode returned -1")),
}


@pytest.mark.cases(*CASES)
async def test_error_class(client: Client, fake: FakeProvider, driver: Driver, case: str) -> None:
    key = case
    reply = EMBEDDED[key] if driver.kind == "embedded" else fake.error_reply(key)
    fake.queue(reply)
    with pytest.raises(ProviderError) as exc:
        await client.chat(HI)
    err = exc.value
    assert type(err) is CASES[key], f"{type(err).__name__} for {key}"
    assert err.target == "m"
    if driver.kind != "embedded":
        assert err.status == reply.status
    if key == "rate_limit":
        assert isinstance(err, RateLimitError) and err.retry_after_s == 7
        assert err.retryable
    if key == "unavailable":
        assert err.retryable
    if key in ("auth", "invalid", "context"):
        assert not err.retryable
    assert API_KEY not in str(err) and API_KEY not in repr(err)


async def test_errors_in_streams_too(client: Client, fake: FakeProvider, driver: Driver) -> None:
    """An error status on a streaming request maps exactly as a non-streaming one."""
    fake.queue(fake.error_reply("rate_limit"))
    with pytest.raises(RateLimitError) as exc:
        await client.stream(HI)
    assert exc.value.retry_after_s == 7


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_missing_model_file_is_unavailable(mode: str) -> None:
    """The embedded provider without its model file: a retryable failure with a fix."""
    c = Client(EmbeddedDriver().config(), mode)
    try:
        with pytest.raises(ProviderUnavailable) as exc:
            await c.chat(HI)
    finally:
        await c.close()
    assert exc.value.code == "model_missing"
