"""Measure the fast token estimate (chars/4) and the UTF-8 bound against a real tokenizer.

Uses SmolLM2's byte-level BPE tokenizer through llama-cpp-python (vocab only,
no weights loaded). Run: ``python benchmarks/token_estimate.py [model.gguf]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from router.accounting.tokens import estimate_text_tokens

SAMPLES = {
    "English prose": (
        "Routing policies decide where each request goes. A confidential request never "
        "leaves the infrastructure, while public traffic may use a hosted provider when "
        "the local model is busy or lacks a capability such as vision or tool calling. "
    )
    * 20,
    "Python code": (
        "def route(request, policy):\n"
        "    plan = [t for t in policy.targets if t.zone in policy.allowed]\n"
        "    return sorted(plan, key=lambda t: (t.price.input, -t.quality))\n"
    )
    * 20,
    "JSON": '{"id": 12345, "email": "ann@example.com", "tags": ["eu", "beta"], "ok": true}\n' * 20,
    "German": "Überprüfen Sie bitte die Rechnung für März; die Größe der Straße ändert sich. " * 20,
    "Japanese": "東京は日本の首都です。人口は約千四百万人で、世界有数の大都市です。" * 20,
    "Emoji-heavy chat": "ok 🙂🚀 sounds great ✅✅ see you 👋 " * 20,
}


def main() -> None:
    import llama_cpp

    path = sys.argv[1] if len(sys.argv) > 1 else "/work/main/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    llm = llama_cpp.Llama(model_path=str(Path(path)), vocab_only=True, verbose=False)
    print(
        f"{'text':<18} {'chars':>6} {'bytes':>6} {'true':>6} {'chars/4':>8} {'error':>7} "
        f"{'bound/true':>10}"
    )
    for name, text in SAMPLES.items():
        true = len(llm.tokenize(text.encode(), add_bos=False, special=False))
        est = estimate_text_tokens(text)
        raw = len(text.encode())
        print(
            f"{name:<18} {len(text):>6} {raw:>6} {true:>6} {est:>8} "
            f"{(est - true) / true:>+7.0%} {raw / true:>10.2f}"
        )


if __name__ == "__main__":
    main()
