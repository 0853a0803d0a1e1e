"""Embeddings under the router's policy: ``Router.embed`` / ``AsyncRouter.embed``.

``types`` holds the OpenAI-shaped request and answer; ``adapters`` the
sans-IO wire protocols (OpenAI-compatible ``/embeddings``, Ollama's
``/api/embed``, Gemini's ``batchEmbedContents``, Azure deployments) and their
batch limits; ``flow`` runs a call through classification, decision, budgets,
the plan walker, the ledger and the audit log (docs/architecture.md).
"""

from .types import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage

__all__ = ["Embedding", "EmbeddingRequest", "EmbeddingResponse", "EmbeddingUsage"]
