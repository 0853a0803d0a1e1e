"""Azure OpenAI: the OpenAI Chat Completions format at a deployment URL.

``POST {resource}/openai/deployments/{deployment}/chat/completions?api-version=…``
with an ``api-key`` header; the model id of a target is the deployment name.
``api_version: v1`` selects Azure's version-less v1 API instead
(``{resource}/openai/v1/chat/completions``, deployment in the body's ``model``).
Everything else is :class:`~router.providers.openai_compatible.OpenAICompatibleAdapter`.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from ..errors import ConfigError
from ..types import ChatRequest
from .base import Endpoint, HttpRequest
from .openai_compatible import OpenAICompatibleAdapter

__all__ = ["DEFAULT_API_VERSION", "AzureOpenAIAdapter"]

DEFAULT_API_VERSION = "2024-10-21"
"""The latest GA data-plane version of the deployment-style API."""


class AzureOpenAIAdapter(OpenAICompatibleAdapter):
    """OpenAI's wire format, addressed and authenticated the Azure way."""

    kind = "azure_openai"

    def __init__(self, provider_name: str = "azure.ai.openai") -> None:
        super().__init__(provider_name)

    def build_request(
        self, endpoint: Endpoint, request: ChatRequest, *, stream: bool
    ) -> HttpRequest:
        if not endpoint.base_url:
            raise ConfigError(
                "an azure_openai provider needs base_url: the resource endpoint, "
                "e.g. https://my-resource.openai.azure.com"
            )
        resource = endpoint.base_url.rstrip("/")
        version = endpoint.api_version or DEFAULT_API_VERSION
        if version == "v1":
            base, query = f"{resource}/openai/v1", ""
        else:
            deployment = quote(endpoint.model_id, safe="-._~")
            base = f"{resource}/openai/deployments/{deployment}"
            query = f"?api-version={quote(version, safe='-._~')}"
        # The parent would send the key as a bearer token: strip it, add api-key.
        http = super().build_request(
            replace(endpoint, base_url=base, api_key=None), request, stream=stream
        )
        if endpoint.api_key:
            http.headers["api-key"] = endpoint.api_key
        return HttpRequest(http.method, http.url + query, http.headers, http.json)
