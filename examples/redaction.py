"""Redaction: a hosted model answers a request holding personal data without seeing it.

Run:  python examples/redaction.py

Two targets, both played by a tiny recording server on 127.0.0.1 (nothing
leaves the machine): ``cloud`` in zone ``frontier`` and ``box`` in zone
``local``. Email addresses and phone numbers are confidential, and
confidential requests stay local — except that one rule redacts emails and
phones for the frontier. The script shows the decision, sends a chat and a
stream, and prints what the frontier received (placeholders) next to what the
caller got back (the values, restored). A request that also holds a card
number still stays local: only what was redacted is taken off the scale.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from router import Router

RECEIVED: list[tuple[int, dict[str, Any]]] = []


class Stub(BaseHTTPRequestHandler):
    """An OpenAI-compatible API that repeats the last message back, and records bodies."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        RECEIVED.append((self.server.server_address[1], body))
        said = "You wrote: " + body["messages"][-1]["content"]
        if body.get("stream"):
            # Cut the answer every 7 characters: placeholders arrive in pieces.
            pieces = [said[i : i + 7] for i in range(0, len(said), 7)]
            events = [
                {"id": "s", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                 "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                for p in pieces
            ]  # fmt: skip
            events.append(
                {"id": "s", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            )  # fmt: skip
            data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            self._reply(data.encode(), "text/event-stream")
            return
        reply = {
            "id": "stub-1", "object": "chat.completion", "created": 0, "model": "stub",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": said},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 20, "total_tokens": 40},
        }  # fmt: skip
        self._reply(json.dumps(reply).encode(), "application/json")

    def _reply(self, data: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def config(cloud: int, box: int) -> dict[str, Any]:
    return {
        "providers": {
            "hosted": {
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{cloud}/v1",
                "api_key": "sk-example",
                "zone": "frontier",
            },
            "gpu": {"kind": "vllm", "base_url": f"http://127.0.0.1:{box}/v1", "zone": "local"},
        },
        "models": {
            "cloud": {"provider": "hosted", "model": "big-model"},
            "box": {"provider": "gpu", "model": "small-model"},
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
                "redact": {"detectors": ["email", "phone"], "zones": ["frontier"], "restore": True},
            },
            {
                "name": "confidential-stays-home",
                "when": {"sensitivity": ">= confidential"},
                "allow": {"zone": ["local"]},
            },
        ],
        "routes": {"default": {"candidates": ["cloud", "box"]}},
    }


def main() -> None:
    cloud, box = serve(), serve()
    cloud_port = cloud.server_address[1]
    text = "Draft a reply to jane.doe@example.com; if urgent, call +1 415 555 0123."
    msgs = [{"role": "user", "content": text}]
    with Router.from_dict(config(cloud_port, box.server_address[1])) as r:
        print(r.explain(msgs).explain(), end="\n\n")

        resp = r.chat(msgs)
        assert resp.route is not None
        sent = RECEIVED[-1][1]["messages"][-1]["content"]
        print(f"answered by {resp.route.target} (zone {resp.route.zone})")
        print(f"  the frontier received: {sent}")
        print(f"  the caller got:        {resp.content}")
        assert "jane.doe@example.com" not in json.dumps(RECEIVED[-1][1])
        assert resp.content == "You wrote: " + text

        with r.stream(msgs) as s:
            streamed = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
        print(f"  streamed, restored:    {streamed}", end="\n\n")
        assert streamed == resp.content

        card = [{"role": "user", "content": text + " Card on file: 4111 1111 1111 1111."}]
        decision = r.explain(card)
        print("with a card number too (not redacted), the request stays home:")
        print(decision.explain())
        assert decision.target_names == ("box",)

    frontier_bodies = [json.dumps(b) for port, b in RECEIVED if port == cloud_port]
    assert all("jane.doe@example.com" not in b and "555 0123" not in b for b in frontier_bodies)
    print(f"\nthe frontier received {len(frontier_bodies)} requests, none with the values")
    cloud.shutdown()
    box.shutdown()


if __name__ == "__main__":
    main()
