"""Every telemetry name the router emits, in one place.

GenAI names follow the OpenTelemetry semantic conventions **v1.41.0**
(status: Development, maintained since 2026 in the
``semantic-conventions-genai`` repository). They still change between
releases, so nothing else in the package spells an attribute or metric name:
when the convention moves, this module is the only one to edit.

Routing attributes the convention has no names for live under ``router.*``.
"""

from __future__ import annotations

from typing import Final

SEMCONV_VERSION: Final = "1.41.0"
SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
INSTRUMENTATION_NAME: Final = "llm-policy-router"

# -- GenAI span attributes -------------------------------------------------
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_STREAM: Final = "gen_ai.request.stream"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
TOKEN_TYPE: Final = "gen_ai.token.type"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

OPERATION_CHAT: Final = "chat"
OPERATION_EMBEDDINGS: Final = "embeddings"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"
ERROR_TYPE_OTHER: Final = "_OTHER"

# -- GenAI metrics ---------------------------------------------------------
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"

# The convention's advisory bucket boundaries.
TOKEN_BUCKETS: Final = tuple(float(4**i) for i in range(14))  # 1, 4, 16, …, 67108864
DURATION_BUCKETS: Final = tuple(round(0.01 * 2**i, 2) for i in range(14))  # 0.01 … 81.92

# -- Router attributes, events and metrics ---------------------------------
ROUTE: Final = "router.route"
DECISION_ID: Final = "router.decision.id"
SENSITIVITY: Final = "router.sensitivity"
SENSITIVITY_DECLARED: Final = "router.sensitivity.declared"
DETECTORS: Final = "router.detectors"
REDACTED: Final = "router.redaction.detectors"
"""Detector names whose spans were replaced by placeholders for some planned targets."""
MATCHED_RULES: Final = "router.rules.matched"
EXCLUDED_COUNT: Final = "router.excluded.count"
PLAN: Final = "router.plan"
TARGET: Final = "router.target"
ZONE: Final = "router.zone"
ATTEMPT: Final = "router.attempt"
TRY: Final = "router.attempt.try"
OUTCOME: Final = "router.attempt.outcome"
ATTEMPTS: Final = "router.attempts"
FALLBACK_REASON: Final = "router.fallback.reason"
HEDGE: Final = "router.hedge"
FALLBACK_FROM: Final = "router.fallback.from"
FALLBACK_TO: Final = "router.fallback.to"
COST_USD: Final = "router.cost_usd"
COST_ESTIMATED: Final = "router.cost.estimated"
CACHE: Final = "router.cache"
"""``hit`` or ``miss`` when the route's response cache applied to the call."""
BUDGET_KEYS: Final = "router.budget.keys"
TENANT: Final = "router.tenant"
RULE: Final = "router.rule"

EVENT_FALLBACK: Final = "router.fallback"
EVENT_SKIPPED: Final = "router.target_skipped"
EVENT_FIRST_CHUNK: Final = "router.first_chunk"
EVENT_HEDGE: Final = "router.hedge"

METRIC_COST: Final = "router.cost"
METRIC_CACHE: Final = "router.cache_lookups"
METRIC_FALLBACKS: Final = "router.fallbacks"
METRIC_DENIALS: Final = "router.denials"
METRIC_ATTEMPTS: Final = "router.attempts"
METRIC_RATE_LIMITED: Final = "router.rate_limited"
"""Targets passed over for a rate limit: ``router.rate_limited.where`` is ``plan`` (left
out by the policy: marked limited) or ``walk`` (a limit refused the try)."""
RATE_LIMITED_WHERE: Final = "router.rate_limited.where"
