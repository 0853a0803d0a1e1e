"""Redaction as a policy effect: what a listed zone is sent, what the caller gets back.

A rule ``redact: {detectors, zones, restore}`` sends targets in ``zones`` the
request with every span of ``detectors`` replaced by a typed placeholder; the
policy decides for them on that redacted text; with ``restore`` the answer
(plain, streamed, tool calls) comes back with the values. Probes: values
split across parts, placeholders the caller typed, placeholders split
across chunks at every position, embeddings, explain, audit and spans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from router import AsyncRouter, Router
from router.config import load_dict
from router.errors import ConfigError, NoEligibleTarget, ProviderError
from router.policy import Policy
from router.policy.redaction import Redaction, StreamRestorer, redact_request, reserved_numbers
from router.telemetry import semconv as sc
from router.telemetry.audit import verify_log
from router.types import ChatChunk, ChatRequest, ChunkChoice, Delta, ToolCallDelta
from tests.telemetry_support import Otel

pytest_plugins = ["tests.telemetry_fixtures"]

LOCAL = "http://127.0.0.1:9501/v1"
CLOUD = "http://127.0.0.1:9502/v1"
EMAIL = "jane.doe@example.com"
OTHER_EMAIL = "bob@corp.example.org"
PHONE = "+14155550123"
CARD = "4111 1111 1111 1111"
SSE = {"content-type": "text/event-stream"}


def config(*, restore: bool = True, **extra: Any) -> dict[str, Any]:
    """``cloud`` (frontier, first) and ``local``; email, phone and cards are
    confidential; confidential stays local; email and phone are redacted for
    the frontier."""
    cfg: dict[str, Any] = {
        "providers": {
            "box": {"kind": "vllm", "base_url": LOCAL, "zone": "local"},
            "oa": {"kind": "openai", "base_url": CLOUD, "api_key": "k-test", "zone": "frontier"},
        },
        "models": {
            "cloud": {"provider": "oa", "model": "gpt-x", "capabilities": ["tools", "streaming"]},
            "local": {"provider": "box", "model": "small", "capabilities": ["tools", "streaming"]},
            "cloud-emb": {"provider": "oa", "model": "emb-x", "capabilities": ["embeddings"]},
            "local-emb": {"provider": "box", "model": "emb-s", "capabilities": ["embeddings"]},
        },
        "sensitivity": {
            "detect": [
                {"detector": "email", "level": "confidential"},
                {"detector": "phone", "level": "confidential"},
                {"detector": "payment_card", "level": "confidential"},
            ]
        },
        "rules": [
            {
                "name": "pii-out",
                "redact": {
                    "detectors": ["email", "phone"],
                    "zones": ["frontier"],
                    "restore": restore,
                },
            },
            {
                "name": "confidential-stays-home",
                "when": {"sensitivity": ">= confidential"},
                "allow": {"zone": ["local"]},
            },
        ],
        "routes": {
            "default": {"candidates": ["cloud", "local"]},
            "emb": {"candidates": ["cloud-emb", "local-emb"]},
        },
    }
    cfg.update(extra)
    return cfg


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def echo(request: httpx.Request) -> httpx.Response:
    """An OpenAI answer repeating the last message it was sent."""
    body = json.loads(request.content)
    said = body["messages"][-1]["content"]
    return httpx.Response(
        200,
        json={
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": said},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
        },
    )


def sse(pieces: list[str], tool_args: list[str] | None = None) -> bytes:
    """An OpenAI stream: one chunk per piece of content, then tool-call fragments."""
    chunks: list[dict[str, Any]] = []
    for p in pieces:
        chunks.append({"index": 0, "delta": {"content": p}, "finish_reason": None})
    for i, a in enumerate(tool_args or ()):
        tc: dict[str, Any] = {"index": 0, "function": {"arguments": a}}
        if i == 0:
            tc.update(id="call_1", type="function")
            tc["function"]["name"] = "send"
        chunks.append({"index": 0, "delta": {"tool_calls": [tc]}, "finish_reason": None})
    chunks.append({"index": 0, "delta": {}, "finish_reason": "stop"})
    lines = [
        "data: "
        + json.dumps(
            {
                "id": "s",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [c],
            }
        )
        for c in chunks
    ]
    return ("\n\n".join([*lines, "data: [DONE]"]) + "\n\n").encode()


def sent_bodies(route: respx.Route) -> list[str]:
    return [c.request.content.decode() for c in route.calls]


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as m:
        yield m


# --- configuration ---------------------------------------------------------------------


def _rule(**redact: Any) -> dict[str, Any]:
    cfg = config()
    cfg["rules"][0]["redact"] = redact
    return cfg


def test_an_unknown_detector_is_a_config_error_listing_it_and_the_known_ones() -> None:
    with pytest.raises(ConfigError) as e:
        Policy(load_dict(_rule(detectors=["email", "passport", "dna"], zones=["frontier"])))
    msg = str(e.value)
    assert "[dna, passport]" in msg and "email, payment_card, phone" in msg
    assert "rules.pii-out.redact.detectors" in msg


def test_a_detector_the_config_does_not_turn_on_is_refused() -> None:
    # us_ssn is built in, but not in this config's detect list: nothing would find it.
    with pytest.raises(ConfigError, match=r"unknown detector\(s\) \[us_ssn\]"):
        Policy(load_dict(_rule(detectors=["us_ssn"], zones=["frontier"])))


def test_an_unknown_zone_and_empty_lists_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown zone\(s\) \[cloud\]"):
        Policy(load_dict(_rule(detectors=["email"], zones=["cloud"])))
    for bad in ({"detectors": [], "zones": ["frontier"]}, {"detectors": ["email"], "zones": []}):
        with pytest.raises(ConfigError):
            Policy(load_dict(_rule(**bad)))
    with pytest.raises(ConfigError):
        Policy(load_dict(_rule(detectors=["email"], zones=["frontier"], retsore=True)))


# --- placeholders ----------------------------------------------------------------------


def decide(text: str | list[dict[str, Any]], cfg: dict[str, Any] | None = None) -> Any:
    msgs = user(text) if isinstance(text, str) else text
    policy = Policy(load_dict(cfg or config()))
    return policy.decide(ChatRequest.model_validate({"messages": msgs}))


def test_one_value_one_placeholder_numbered_per_type() -> None:
    d = decide(f"write {EMAIL}, cc {OTHER_EMAIL}, call {PHONE}, again {EMAIL}")
    red = d.redaction
    assert red is not None
    sent = red.request.messages[0].content
    assert sent == "write [EMAIL_1], cc [EMAIL_2], call [PHONE_1], again [EMAIL_1]"
    assert dict(red.detectors) == {"email": 3, "phone": 1}
    assert d.target_names == ("cloud", "local")  # the frontier may take the redacted text


def test_a_repeated_text_is_redacted_the_same_without_being_searched_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The classification memo keeps a text's spans (positions only) with its
    # counts: the second request is redacted from them.
    from router.policy.detectors import Detector

    policy = Policy(load_dict(config()))
    system = f"Escalations go to {EMAIL} or {PHONE}; never to {OTHER_EMAIL}."

    def request(question: str) -> ChatRequest:
        return ChatRequest.model_validate(
            {"messages": [{"role": "system", "content": system}, *user(question)]}
        )

    first = policy.decide(request("What is the refund window?")).redaction
    searched: list[str] = []
    real = Detector.finditer

    def spy(self: Detector, text: str) -> Iterator[tuple[int, int]]:
        searched.append(text)
        return real(self, text)

    monkeypatch.setattr(Detector, "finditer", spy)
    again = policy.decide(request("And the address for returns?")).redaction
    assert first is not None and again is not None
    assert again.request.messages[0].content == first.request.messages[0].content
    assert again.request.messages[0].content == (
        "Escalations go to [EMAIL_1] or [PHONE_1]; never to [EMAIL_2]."
    )
    assert dict(again.detectors) == {"email": 2, "phone": 1}
    assert system not in searched


def test_the_memo_keeps_positions_never_text() -> None:
    from router.policy.detectors import Detector

    policy = Policy(load_dict(config()))
    secret = f"mail {EMAIL} or call {PHONE}"
    policy.decide(ChatRequest.model_validate({"messages": user(secret)}))

    def leaves(v: Any) -> Iterator[Any]:
        if isinstance(v, tuple | list):
            for x in v:
                yield from leaves(x)
        else:
            yield v

    kept = [x for entry in policy._seen.values() for x in leaves(entry)]
    assert any(isinstance(x, Detector) for x in kept)  # the spans are there
    assert all(isinstance(x, int | Detector) or x is None for x in kept)
    assert all(isinstance(k, bytes) for k in policy._seen)


def test_other_confidential_content_still_keeps_the_request_home() -> None:
    d = decide(f"write {EMAIL}, pay with {CARD}")
    assert d.target_names == ("local",)
    assert "confidential-stays-home" in d.excluded["cloud"][0]


def test_a_value_split_across_parts_fails_closed_for_the_zone() -> None:
    parts = [{"type": "text", "text": "mail jane.doe@exa"}, {"type": "text", "text": "mple.com"}]
    d = decide([{"role": "user", "content": parts}])
    assert d.target_names == ("local",)
    assert "fail closed" in d.excluded["cloud"][0]
    assert d.redaction is None


@pytest.mark.parametrize(
    "text",
    [
        "mail jane.doe\\u0040example.com",  # decoded forms are classified
        "mail jane.doe\uff20example.com",  # full-width at sign, normalised
        "mail jane.doe&#64;example.com",
    ],
)
def test_a_value_found_only_in_a_decoded_form_fails_closed(text: str) -> None:
    d = decide(text)
    assert d.target_names == ("local",)
    assert "fail closed" in d.excluded["cloud"][0]


def test_a_value_split_across_turns_fails_closed() -> None:
    d = decide([{"role": "user", "content": "call +1415"}, {"role": "user", "content": "5550123"}])
    assert "cloud" not in d.target_names


def test_every_field_is_redacted() -> None:
    msgs = [
        {"role": "system", "content": f"owner {EMAIL}"},
        {"role": "user", "content": [{"type": "text", "text": f"hi {EMAIL}", "note": PHONE}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "send", "arguments": json.dumps({"to": EMAIL})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": f"sent to {EMAIL}"},
        {"role": "user", "content": "thanks", "name": "x"},
    ]
    tools = [
        {
            "type": "function",
            "function": {"name": "send", "description": f"default {PHONE}", "parameters": {}},
        }
    ]
    req = ChatRequest.model_validate(
        {"messages": msgs, "tools": tools, "user": EMAIL, "stop": [PHONE]}
    )
    d = Policy(load_dict(config())).decide(req)
    assert d.redaction is not None and "cloud" in d.target_names
    wire = d.redaction.request.model_dump_json()
    assert EMAIL not in wire and PHONE not in wire
    assert json.loads(d.redaction.request.messages[2].tool_calls[0].function.arguments) == {
        "to": "[EMAIL_1]"
    }


def test_a_placeholder_the_user_typed_is_never_reused_nor_restored() -> None:
    text = f"I literally typed [EMAIL_1] and [PHONE_2]; my address is {EMAIL}, phone {PHONE}"
    d = decide(text)
    red = d.redaction
    assert red is not None
    sent = red.request.messages[0].content
    # Ours skip the numbers the user's text already holds.
    assert (
        sent
        == "I literally typed [EMAIL_1] and [PHONE_2]; my address is [EMAIL_2], phone [PHONE_1]"
    )
    # The model repeats everything: only what we issued turns back into values.
    assert red.restore_text(sent) == text
    assert red.restore_text("[EMAIL_3] [EMAIL_1]") == "[EMAIL_3] [EMAIL_1]"


@pytest.mark.parametrize(
    "typed", ["\\u005bEMAIL_1\\u005d", "&#91;EMAIL_1&#93;", "%5BEMAIL_1%5D", "\uff3bEMAIL_1\uff3d"]
)
def test_a_typed_placeholder_in_an_encoded_form_is_reserved_too(typed: str) -> None:
    assert reserved_numbers([f"see {typed}"]) == {"EMAIL": {1}}
    d = decide(f"see {typed}; mail {EMAIL}")
    assert d.redaction is not None
    assert "[EMAIL_2]" in d.redaction.request.messages[0].content


def test_nothing_to_redact_sends_the_request_as_is() -> None:
    d = decide("plain words")
    assert d.redaction is None and d.target_names == ("cloud", "local")


# --- explain, to_dict -------------------------------------------------------------------


def test_explain_shows_which_targets_get_redacted_text_and_which_detectors() -> None:
    with Router.from_dict(config()) as r:
        d = r.explain(user(f"mail {EMAIL} or {PHONE}"))
    text = d.explain()
    assert "redact: email x1, phone x1 for zones frontier" in text
    assert "sensitivity=internal" in text
    cloud_line = next(line for line in text.splitlines() if " cloud " in line)
    assert "sent redacted text (email x1, phone x1)" in cloud_line
    local_line = next(line for line in text.splitlines() if " local " in line)
    assert "redacted" not in local_line
    data = d.to_dict()
    assert data["redaction"]["targets"] == ["cloud"]
    assert data["redaction"]["detectors"] == {"email": 1, "phone": 1}
    assert EMAIL not in json.dumps(data) and EMAIL not in repr(d)


def test_cli_explain_shows_the_redaction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from router.cli import main

    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(config()))
    assert main(["explain", str(path), "--message", f"mail {EMAIL}"]) == 0
    out = capsys.readouterr().out
    assert "sent redacted text (email x1)" in out and EMAIL not in out


# --- chat: what is sent, what comes back -----------------------------------------------


def test_the_zone_is_sent_placeholders_and_the_caller_gets_values(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD + "/chat/completions").mock(side_effect=echo)
    text = f"mail {EMAIL} or call {PHONE}; {EMAIL} again"
    with Router.from_dict(config()) as r:
        resp = r.chat(user(text))
    body = sent_bodies(cloud)[0]
    assert EMAIL not in body and PHONE not in body and "[EMAIL_1]" in body
    assert resp.content == text
    assert resp.route is not None and resp.route.target == "cloud"


def test_without_restore_the_placeholders_stay(mock: respx.MockRouter) -> None:
    mock.post(CLOUD + "/chat/completions").mock(side_effect=echo)
    with Router.from_dict(config(restore=False)) as r:
        resp = r.chat(user(f"mail {EMAIL}"))
    assert resp.content == "mail [EMAIL_1]"


def test_a_local_target_is_sent_the_original(mock: respx.MockRouter) -> None:
    mock.post(CLOUD + "/chat/completions").respond(503)
    local = mock.post(LOCAL + "/chat/completions").mock(side_effect=echo)
    with Router.from_dict(config()) as r:
        resp = r.chat(user(f"mail {EMAIL}"))
    assert EMAIL in sent_bodies(local)[0]
    assert resp.content == f"mail {EMAIL}" and resp.route is not None
    assert resp.route.target == "local"


def test_confidential_beyond_redaction_never_reaches_the_zone(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD + "/chat/completions").mock(side_effect=echo)
    mock.post(LOCAL + "/chat/completions").respond(503)
    with Router.from_dict(config()) as r, pytest.raises(ProviderError):
        r.chat(user(f"mail {EMAIL}, card {CARD}"))
    assert not cloud.calls


def test_tool_call_arguments_are_restored(mock: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert EMAIL not in request.content.decode()
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "c",
                                    "type": "function",
                                    "function": {
                                        "name": "send",
                                        "arguments": '{"to": "[EMAIL_1]"}',
                                    },
                                }
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
            },
        )

    mock.post(CLOUD + "/chat/completions").mock(side_effect=answer)
    tools = [{"type": "function", "function": {"name": "send", "parameters": {"type": "object"}}}]
    with Router.from_dict(config()) as r:
        resp = r.chat(user(f"send it to {EMAIL}"), tools=tools)
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and json.loads(calls[0].function.arguments) == {"to": EMAIL}


async def test_async_chat_restores_too(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD + "/chat/completions").mock(side_effect=echo)
    async with AsyncRouter.from_dict(config()) as r:
        resp = await r.chat(user(f"mail {EMAIL}"))
    assert EMAIL not in sent_bodies(cloud)[0]
    assert resp.content == f"mail {EMAIL}"


# --- streams -----------------------------------------------------------------------------

ANSWER = "Sure: [EMAIL_1] and [PHONE_1], [x] [EMAIL_9] ["
RESTORED = f"Sure: {EMAIL} and {PHONE}, [x] [EMAIL_9] ["


def _redaction() -> Redaction:
    d = decide(f"mail {EMAIL} or {PHONE}")
    assert d.redaction is not None
    return d.redaction


def _chunk(
    content: str | None = None, args: str | None = None, finish: str | None = None
) -> ChatChunk:
    delta = Delta(content=content)
    if args is not None:
        delta.tool_calls = [ToolCallDelta(index=0, function={"arguments": args})]
    return ChatChunk(choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)])


def _run(red: Redaction, pieces: list[str], *, args: bool = False) -> tuple[str, int]:
    """Feed ``pieces``; the restored text and the most text held back at once."""
    r = StreamRestorer(red)
    out: list[str] = []
    held_most = 0
    fed = 0
    for p in pieces:
        c = r.feed(_chunk(args=p) if args else _chunk(content=p))
        d = c.choices[0].delta
        got = (
            (d.tool_calls[0].function or {}).get("arguments", "")
            if args and d.tool_calls
            else d.content
        )
        out.append(got or "")
        fed += len(p)
        held_most = max(held_most, sum(len(v) for v in r._held.values()))
    tail = r.flush()
    if tail is not None:
        d = tail.choices[0].delta
        out.append(
            d.tool_calls[0].function["arguments"] if args and d.tool_calls else d.content or ""
        )  # type: ignore[index]
    return "".join(out), held_most


def test_a_placeholder_split_at_every_position_is_restored_whole() -> None:
    red = _redaction()
    for i in range(len(ANSWER) + 1):
        for j in range(i, len(ANSWER) + 1):
            text, held = _run(red, [ANSWER[:i], ANSWER[i:j], ANSWER[j:]])
            assert text == RESTORED, (i, j)
            assert held < red.longest  # never more than a placeholder's length


def test_one_character_chunks_are_restored() -> None:
    red = _redaction()
    assert _run(red, list(ANSWER))[0] == RESTORED


def test_streamed_tool_arguments_split_anywhere_are_restored() -> None:
    red = _redaction()
    args = '{"to": "[EMAIL_1]", "tel": "[PHONE_1]"}'
    for i in range(len(args) + 1):
        text, _ = _run(red, [args[:i], args[i:]], args=True)
        assert json.loads(text) == {"to": EMAIL, "tel": PHONE}, i


def test_the_finish_chunk_releases_what_was_held() -> None:
    red = _redaction()
    r = StreamRestorer(red)
    first = r.feed(_chunk(content="ends with [EMAIL_"))
    assert first.choices[0].delta.content == "ends with "
    last = r.feed(_chunk(finish="stop"))
    assert last.choices[0].delta.content == "[EMAIL_"
    assert r.flush() is None


SPLITS = [3, 7, 9, 12, len("Sure: [EMAIL_1]") - 1, len("Sure: [EMAIL_1] and [PH")]


@pytest.mark.parametrize("cut", SPLITS)
def test_sync_stream_restores_split_placeholders(mock: respx.MockRouter, cut: int) -> None:
    cloud = mock.post(CLOUD + "/chat/completions").respond(
        200, content=sse([ANSWER[:cut], ANSWER[cut:]]), headers=SSE
    )
    with Router.from_dict(config()) as r, r.stream(user(f"mail {EMAIL} or {PHONE}")) as s:
        text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    assert EMAIL not in sent_bodies(cloud)[0]
    assert text == RESTORED
    assert s.response.content == RESTORED


@pytest.mark.parametrize("cut", SPLITS)
async def test_async_stream_restores_split_placeholders(mock: respx.MockRouter, cut: int) -> None:
    mock.post(CLOUD + "/chat/completions").respond(
        200, content=sse([ANSWER[:cut], ANSWER[cut:]]), headers=SSE
    )
    async with (
        AsyncRouter.from_dict(config()) as r,
        r.stream(user(f"mail {EMAIL} or {PHONE}")) as s,
    ):
        text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
    assert text == RESTORED
    assert s.response.content == RESTORED


def test_stream_tool_call_arguments_are_restored(mock: respx.MockRouter) -> None:
    args = '{"to": "[EMAIL_1]"}'
    mock.post(CLOUD + "/chat/completions").respond(
        200, content=sse(["ok"], [args[:10], args[10:]]), headers=SSE
    )
    tools = [{"type": "function", "function": {"name": "send", "parameters": {"type": "object"}}}]
    with Router.from_dict(config()) as r, r.stream(user(f"to {EMAIL}"), tools=tools) as s:
        for _ in s:
            pass
    calls = s.response.choices[0].message.tool_calls
    assert calls is not None and json.loads(calls[0].function.arguments) == {"to": EMAIL}


def test_stream_without_restore_keeps_placeholders(mock: respx.MockRouter) -> None:
    mock.post(CLOUD + "/chat/completions").respond(200, content=sse([ANSWER]), headers=SSE)
    with Router.from_dict(config(restore=False)) as r, r.stream(user(f"{EMAIL} {PHONE}")) as s:
        for _ in s:
            pass
    assert s.response.content == ANSWER


# --- embeddings -----------------------------------------------------------------------


def _vectors(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0]}
        for i, t in enumerate(body["input"])
    ]
    n = sum(len(t) for t in body["input"])
    return httpx.Response(
        200,
        json={
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": n, "total_tokens": n},
        },
    )


def test_embeddings_send_placeholders_to_the_zone(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD + "/embeddings").mock(side_effect=_vectors)
    local = mock.post(LOCAL + "/embeddings").mock(side_effect=_vectors)
    docs = [f"contact {EMAIL}", "no data here", f"call {PHONE} or {EMAIL}"]
    with Router.from_dict(config()) as r:
        resp = r.embed(docs, model="emb")
        decision = r.explain_embed(docs, model="emb")
    inputs = json.loads(cloud.calls[0].request.content)["input"]
    assert inputs == ["contact [EMAIL_1]", "no data here", "call [PHONE_1] or [EMAIL_1]"]
    assert not local.calls
    assert len(resp.data) == 3 and resp.route is not None and resp.route.target == "cloud-emb"
    assert "sent redacted text (email x2, phone x1)" in decision.explain()


async def test_async_embeddings_send_placeholders(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD + "/embeddings").mock(side_effect=_vectors)
    async with AsyncRouter.from_dict(config()) as r:
        await r.embed([f"contact {EMAIL}"], model="emb")
    assert EMAIL not in cloud.calls[0].request.content.decode()


def test_embeddings_with_other_confidential_input_stay_home(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD + "/embeddings").mock(side_effect=_vectors)
    local = mock.post(LOCAL + "/embeddings").mock(side_effect=_vectors)
    with Router.from_dict(config()) as r:
        r.embed([f"contact {EMAIL}", f"card {CARD}"], model="emb")
    assert not cloud.calls and EMAIL in local.calls[0].request.content.decode()


def test_an_email_split_across_two_inputs_fails_closed(mock: respx.MockRouter) -> None:
    cloud = mock.post(CLOUD + "/embeddings").mock(side_effect=_vectors)
    mock.post(LOCAL + "/embeddings").mock(side_effect=_vectors)
    with Router.from_dict(config()) as r:
        decision = r.explain_embed(["mail jane.doe@exa", "mple.com"], model="emb")
        r.embed(["mail jane.doe@exa", "mple.com"], model="emb")
    assert "fail closed" in decision.excluded["cloud-emb"][0]
    assert not cloud.calls


# --- audit and spans ---------------------------------------------------------------------


def test_the_audit_record_names_detectors_and_counts_never_values(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.post(CLOUD + "/chat/completions").mock(side_effect=echo)
    log = tmp_path / "audit.jsonl"
    cfg = config(telemetry={"audit_log": str(log)})
    with Router.from_dict(cfg) as r:
        r.chat(user(f"mail {EMAIL}, {EMAIL} or {PHONE}"))
    raw = log.read_text()
    assert EMAIL not in raw and PHONE not in raw and "[EMAIL_1]" not in raw
    rec = json.loads(raw.splitlines()[-1])
    assert rec["redaction"] == {
        "detectors": {"email": 2, "phone": 1},
        "zones": ["frontier"],
        "restore": True,
        "sensitivity": "internal",
        "rules": ["pii-out"],
    }
    assert rec["target"] == "cloud" and rec["sensitivity"] == "confidential"
    # The verifier re-checks the frontier attempt on the redacted text's level.
    report = verify_log(log, load_dict(cfg))
    assert report.records == 1
    assert report.ok, [str(f) for f in report.findings]


def test_the_verifier_still_flags_an_unredacted_confidential_attempt(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    from router.telemetry.audit import VerifyReport, _checks, _violations

    cfg = load_dict(config())
    rec = {
        "sensitivity": "confidential",
        "route": "default",
        "tags": [],
        "plan": [{"target": "cloud", "zone": "frontier"}],
        "attempts": [{"target": "cloud", "zone": "frontier"}],
    }
    checks = _checks(cfg, VerifyReport())
    assert list(_violations(rec, checks))
    rec["redaction"] = {"zones": ["frontier"], "sensitivity": "internal"}
    assert not list(_violations(rec, checks))


def test_spans_name_the_redacted_detectors_not_values(mock: respx.MockRouter, otel: Otel) -> None:
    mock.post(CLOUD + "/chat/completions").mock(side_effect=echo)
    r = Router(config(telemetry={"enabled": True, "capture_content": True}), **otel.providers)
    try:
        r.chat(user(f"mail {EMAIL}"))
    finally:
        r.close()
    spans = otel.spans()
    route = [s for s in spans if s.attributes and sc.REDACTED in s.attributes]
    assert route and list(route[0].attributes[sc.REDACTED]) == ["email"]  # type: ignore[index,arg-type]
    dump = repr([dict(s.attributes or {}) for s in spans]) + repr(
        [e.attributes for s in spans for e in s.events]
    )
    assert EMAIL not in dump


def test_redaction_values_stay_out_of_reprs() -> None:
    red = _redaction()
    assert EMAIL not in repr(red) and PHONE not in repr(red)
    assert EMAIL not in json.dumps(red.to_dict())


def test_redact_request_leaves_an_untouched_request_as_is() -> None:
    req = ChatRequest.model_validate({"messages": user("nothing")})
    from router.policy.detectors import builtin_detector

    out, values, counts, _ = redact_request(req, (builtin_detector("email"),), {})
    assert out is req and not values and not counts


def test_no_eligible_target_when_only_the_zone_could_serve(mock: respx.MockRouter) -> None:
    cfg = config()
    cfg["routes"]["default"] = {"candidates": ["cloud"]}
    with Router.from_dict(cfg) as r:
        with pytest.raises(NoEligibleTarget):
            r.chat(user(f"card {CARD}"))
        assert r.explain(user(f"mail {EMAIL}")).target_names == ("cloud",)


# --- the phone detector's digit-run window (a speed-up redaction relies on) ---------------


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "+1 415 555 0123",
                "(555) 123-4567",
                "030 1234567",
                "+4930123456",
                "5",
                "0",
                "(",
                ")",
                "+",
                " ",
                "-",
                ".",
                "/",
                "a",
                "x@y.io",
                "\u0661",
                "ab12",
            ]
        ),
        max_size=12,
    )
)
def test_the_phone_window_finds_what_the_whole_pattern_finds(pieces: list[str]) -> None:
    from dataclasses import replace

    from router.policy.detectors import builtin_detector

    text = "".join(pieces)
    windowed = builtin_detector("phone")
    whole = replace(windowed, window=None, window_lead=0, window_min=0, min_digits=0)
    assert list(windowed.finditer(text)) == list(whole.finditer(text))
    assert windowed.count(text, None, {}) == whole.count(text)


def test_a_value_a_placeholder_uncovers_fails_closed() -> None:
    # After a letter "+14155550123" is no phone number; after "[EMAIL_1]" it is one:
    # the redacted text is checked again, and the zone is not sent it.
    d = decide("write to a@b.co+14155550123 today")
    assert d.sensitivity.detectors == {"email": 1}
    assert d.target_names == ("local",)
    assert "phone still found after redacting" in d.excluded["cloud"][0]


def _call_for(text: str) -> Any:
    from router.execution.call import Call
    from router.types import RequestContext

    policy = Policy(load_dict(config()))
    request = ChatRequest.model_validate({"messages": user(text)})
    decision = policy.decide(request)
    route = policy.route_for(decision.route)[1]
    return Call(request, RequestContext(), decision, route, walker=None), decision.plan[0]


def test_closing_an_unread_restored_stream_closes_the_upstream() -> None:
    from router.execution.executor import Opened
    from router.execution.restore import restore_opened

    call, cloud = _call_for(f"mail {EMAIL}")
    closed: list[bool] = []

    def upstream() -> Iterator[ChatChunk]:
        try:
            yield _chunk(content="[EMAIL_1]")
        finally:
            closed.append(True)

    rest = upstream()
    opened = restore_opened(call, Opened(cloud, [], rest))
    assert opened.rest is not rest
    next(rest, None)  # the driver read the head from it already
    opened.rest.close()
    assert closed == [True]


async def test_closing_an_unread_async_restored_stream_closes_the_upstream() -> None:
    from collections.abc import AsyncIterator

    from router.execution.executor import Opened
    from router.execution.restore import restore_opened_async

    call, cloud = _call_for(f"mail {EMAIL}")
    closed: list[bool] = []

    async def upstream() -> AsyncIterator[ChatChunk]:
        try:
            yield _chunk(content="[EMAIL_1]")
            yield _chunk(content=" and more")
        finally:
            closed.append(True)

    rest = upstream()
    await rest.__anext__()
    opened = restore_opened_async(call, Opened(cloud, [], rest))
    await opened.rest.aclose()
    assert closed == [True]
