"""The configuration language, as pydantic models.

Sections follow docs/architecture.md: providers, models, sensitivity, rules, routes,
state, telemetry. Every model forbids unknown keys, so a typo is an error
with its location rather than a silently ignored setting. Matchers are data
only: nothing in a config is ever evaluated as code.
"""

# Annotations stay objects (no ``from __future__ import annotations``): pydantic
# then need not evaluate strings when it builds each model at import.
import hashlib
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from ..credentials import mask_url

__all__ = [
    "BackoffConfig",
    "BudgetEffect",
    "CacheConfig",
    "Config",
    "CostConfig",
    "DetectorConfig",
    "GatewayConfig",
    "GatewayKey",
    "GatewayKeyContext",
    "GuardConfig",
    "LimitEffect",
    "Matcher",
    "ModelConfig",
    "PriceConfig",
    "ProviderConfig",
    "RampConfig",
    "RateLimits",
    "RedactEffect",
    "RetryConfig",
    "RouteConfig",
    "RuleConfig",
    "SensitivityConfig",
    "ShadowConfig",
    "SplitArm",
    "TelemetryConfig",
    "TimeoutConfig",
    "TrustFilter",
]


class _Strict(BaseModel):
    # Validators are built on first validation, as one schema for the whole config.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


RetryOn = Literal["rate_limit", "server_error", "timeout", "connection"]
Capability = Literal["tools", "json_schema", "vision", "streaming", "embeddings"]
"""``embeddings`` marks an embedding model: it serves ``Router.embed`` and never chat."""
Openness = Literal["closed", "open_weights_restricted", "open_weights_permissive", "fully_open"]
Retention = Literal["none", "zero", "standard"]

NonNegFloat = Annotated[float, Field(ge=0)]


class BackoffConfig(_Strict):
    """Exponential backoff between retries of one target."""

    initial_s: NonNegFloat = 0.5
    max_s: NonNegFloat = 8.0
    multiplier: float = Field(default=2.0, ge=1)
    jitter: NonNegFloat = 0.25
    """Random extra delay, as a fraction of the computed delay."""


class RetryConfig(_Strict):
    """How often one target is tried, and on which failures."""

    attempts: int = Field(default=2, ge=1, le=20)
    """Total tries of a target, the first one included."""
    backoff: BackoffConfig = BackoffConfig()
    on: tuple[RetryOn, ...] = ("rate_limit", "server_error", "timeout", "connection")
    max_retry_after_s: NonNegFloat = 60.0
    """A server asking for a longer wait than this is not retried but fallen back from."""


class TimeoutConfig(_Strict):
    """Per-provider network timeouts, in seconds."""

    connect_s: float = Field(default=5.0, gt=0)
    read_s: float = Field(default=60.0, gt=0)
    write_s: float = Field(default=30.0, gt=0)
    pool_s: float = Field(default=10.0, gt=0)


class BreakerConfig(_Strict):
    """Circuit breaker per target."""

    failures: int = Field(default=5, ge=1)
    """Consecutive-in-window failures that open the breaker."""
    failure_ratio: float | None = Field(default=None, gt=0, le=1)
    min_calls: int = Field(default=10, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, gt=0)


_RATE_KEYS = ("tenant", "user", "route")


class RateLimits(_Strict):
    """Requests and tokens a provider or model may be sent per minute, and at once.

    Counted in the state store, so every process sharing it shares the
    limits. ``max_wait_s``: how long a call whose last planned target is at
    its limit waits for room (0: it fails at once with ``rate_limited``).
    """

    rpm: int | None = Field(default=None, gt=0)
    """Requests per minute (any 60 s)."""
    tpm: int | None = Field(default=None, gt=0)
    """Tokens per minute: estimated input plus the output cap at admission,
    corrected to the reported usage when the call ends."""
    max_in_flight: int | None = Field(default=None, gt=0)
    """Requests sent and not yet answered (a stream: until it ends or is closed)."""
    max_wait_s: float = Field(default=0.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.rpm is None and self.tpm is None and self.max_in_flight is None:
            raise ValueError("limits: set at least one of rpm, tpm, max_in_flight")
        return self


class ProviderConfig(_Strict):
    """An endpoint: its wire protocol (or preset), address, credentials and trust."""

    kind: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    """Environment variable read for the key when ``api_key`` is not set."""
    headers: dict[str, str] = Field(default_factory=dict)
    api_version: str | None = None
    timeout: TimeoutConfig = TimeoutConfig()
    retry: RetryConfig | None = None
    breaker: BreakerConfig | None = None
    limits: RateLimits | None = None
    """Shared by every model of this provider."""
    max_connections: int = Field(default=100, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific settings (``embedded``: ``n_ctx``, ``n_threads``, ``n_gpu_layers``,
    ``chat_format``)."""
    zone: str | None = None
    region: str | None = None
    data_retention: Retention | None = None

    def __repr_args__(self) -> Any:
        # SecretStr already masks the key; headers may hold one too, and base_url
        # in its userinfo or query (router.credentials lists them all).
        for k, v in super().__repr_args__():
            if k == "base_url":
                v = mask_url(v)
            yield (k, "{…}" if k == "headers" and v else v)


class PriceConfig(_Strict):
    """List price in USD per million tokens."""

    input: NonNegFloat
    output: NonNegFloat
    cached_input: NonNegFloat | None = None
    """Prompt tokens read from a prompt cache; ``input`` when unset."""
    cache_write: NonNegFloat | None = None
    """Prompt tokens written to a prompt cache (Anthropic); ``input`` when unset."""
    source: str | None = None
    as_of: str | None = None


class CostConfig(_Strict):
    """Self-hosted cost: amortised from the GPU's hourly price and throughput."""

    gpu_hour_usd: NonNegFloat
    tokens_per_second: float = Field(gt=0)


class ModelConfig(_Strict):
    """A target: a model id served by a provider, with its metadata."""

    provider: str
    model: str
    catalog: str | None = None
    price: PriceConfig | None = None
    cost: CostConfig | None = None
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    """Output tokens asked for when the request sets none (and the cost estimate)."""
    capabilities: tuple[Capability, ...] | None = None
    quality: float | dict[str, float] | None = None
    license: str | None = None
    openness: Openness | None = None
    origin: str | None = None
    zone: str | None = None
    region: str | None = None
    data_retention: Retention | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields always sent to this model (e.g. vLLM's ``top_k``)."""
    limits: RateLimits | None = None
    """This model's own limits (its provider's apply as well)."""

    @field_validator("quality")
    @classmethod
    def _quality_range(cls, v: float | dict[str, float] | None) -> Any:
        values = v.values() if isinstance(v, dict) else ([] if v is None else [v])
        if any(not 0 <= q <= 100 for q in values):
            raise ValueError("quality scores are between 0 and 100")
        return v


class DetectorConfig(_Strict):
    """A sensitivity detector and the level it raises a request to."""

    detector: str
    level: str
    name: str | None = None
    pattern: str | None = None
    keywords: tuple[str, ...] | None = None
    case_sensitive: bool = False
    countries: tuple[str, ...] | None = None
    """For ``national_id``: ISO 3166 codes of the identifiers to find (default: all)."""


class SensitivityConfig(_Strict):
    """Ordered sensitivity levels, the default level and the detectors."""

    levels: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
    default: str = "internal"
    detect: tuple[DetectorConfig, ...] | None = None

    @model_validator(mode="after")
    def _levels_known(self) -> Self:
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("sensitivity levels must be unique")
        if self.default not in self.levels:
            raise ValueError(f"default level {self.default!r} is not one of {list(self.levels)}")
        for d in self.detect or ():
            if d.level not in self.levels:
                raise ValueError(f"detector {d.detector!r} raises to unknown level {d.level!r}")
        return self


StrMatch = str | list[str] | dict[str, Any]


class Matcher(_Strict):
    """A rule's ``when``: every given field must match (data, never code)."""

    tenant: StrMatch | None = None
    user: StrMatch | None = None
    tags: dict[str, list[str]] | list[str] | str | None = None
    sensitivity: str | None = None
    route: StrMatch | None = None
    metadata: dict[str, StrMatch] | None = None
    input_tokens: str | None = None
    has_tools: bool | None = None
    has_images: bool | None = None


class TrustFilter(_Strict):
    """Attribute sets a rule allows or denies.

    ``allow`` admits a target only if every listed field matches (an unset
    attribute does not); ``deny`` excludes a target if any listed field does.
    """

    zone: tuple[str, ...] | None = None
    region: tuple[str, ...] | None = None
    provider: tuple[str, ...] | None = None
    model: tuple[str, ...] | None = None
    license: tuple[str, ...] | None = None
    openness: tuple[str, ...] | None = None
    origin: tuple[str, ...] | None = None
    data_retention: tuple[str, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalars_to_lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in data.items()}
        return data


class LimitEffect(_Strict):
    """Ceilings and floors a rule imposes; the tightest one in force wins.

    ``rpm`` / ``tpm`` are different: a rate limit per value of ``key``
    (``tenant``, ``user``, ``route`` or ``metadata.NAME``, as budgets are
    keyed), counted per rule in the state store; every matched rule's rate
    limit applies. A call over one waits up to ``max_wait_s``, then fails
    with ``rate_limited``.
    """

    max_cost_usd: NonNegFloat | None = None
    min_quality: float | None = Field(default=None, ge=0, le=100)
    max_output_tokens: int | None = Field(default=None, gt=0)
    max_latency_ms: NonNegFloat | None = None
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    key: str = "tenant"
    max_wait_s: float = Field(default=0.0, ge=0, le=3600)

    @field_validator("key")
    @classmethod
    def _known_key(cls, v: str) -> str:
        if v not in _RATE_KEYS and not (v.startswith("metadata.") and len(v) > len("metadata.")):
            raise ValueError(f"unknown limit key {v!r}; use tenant, user, route or metadata.NAME")
        return v

    @model_validator(mode="after")
    def _key_needs_a_rate(self) -> Self:
        keyed = {"key", "max_wait_s"} & self.model_fields_set
        if keyed and self.rpm is None and self.tpm is None:
            raise ValueError(f"limit: {' and '.join(sorted(keyed))} apply to rpm or tpm: set one")
        return self

    @property
    def is_rate(self) -> bool:
        """Whether this effect sets a rate limit (``rpm`` or ``tpm``)."""
        return self.rpm is not None or self.tpm is not None


class BudgetEffect(_Strict):
    """Spend allowed per calendar window (UTC) for each value of ``key``."""

    usd: NonNegFloat
    per: Literal["minute", "hour", "day", "month"]
    key: str = "tenant"
    on_exhausted: Literal["deny", "local_only"] = "deny"
    name: str | None = None


class RedactEffect(_Strict):
    """Send targets in ``zones`` the request with what ``detectors`` find replaced by
    typed placeholders (``[EMAIL_1]``); ``restore`` puts the values back in the answer."""

    detectors: tuple[str, ...] = Field(min_length=1)
    zones: tuple[str, ...] = Field(min_length=1)
    restore: bool = False


class RuleConfig(_Strict):
    """A policy rule: when it matches, its effects apply."""

    name: str
    when: Matcher | None = None
    allow: TrustFilter | None = None
    deny: TrustFilter | None = None
    limit: LimitEffect | None = None
    require: tuple[Capability, ...] | None = None
    budget: BudgetEffect | None = None
    override: tuple[str, ...] | None = None
    """Context fields this rule lets a request loosen (e.g. ``max_cost_usd``)."""
    cache: bool | None = None
    """``false``: requests this rule matches are never served from, nor stored in, the
    response cache (``true`` is refused: a rule can forbid caching, only a route enables it)."""

    @field_validator("cache")
    @classmethod
    def _cache_only_forbids(cls, v: bool | None) -> bool | None:
        if v is True:
            raise ValueError(
                "a rule can only forbid caching (cache: false); "
                "enable the cache on a route (routes.<name>.cache: {ttl_s: ...})"
            )
        return v

    redact: RedactEffect | None = None
    """Placeholders instead of detected values for targets in some zones (docs/policy.md)."""


class SplitArm(_Strict):
    """One arm of a weighted split."""

    model: str
    weight: float = Field(ge=0)


def _utc(v: Any) -> Any:
    """A date (midnight UTC), an ISO string or a datetime, as an aware UTC datetime."""
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an ISO date or datetime") from None
    if isinstance(v, date) and not isinstance(v, datetime):
        v = datetime(v.year, v.month, v.day)
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    return v


class RampConfig(_Strict):
    """Move a split arm's weight linearly from ``from_pct`` to ``to_pct``.

    ``start`` and ``end`` are ISO dates (midnight UTC) or datetimes (naive
    ones are UTC); YAML's unquoted dates are accepted too.
    """

    model: str
    from_pct: float = Field(ge=0, le=100)
    to_pct: float = Field(ge=0, le=100)
    start: datetime
    end: datetime

    _start_utc = field_validator("start", "end", mode="before")(_utc)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("ramp end must be after its start")
        return self


class GuardConfig(_Strict):
    """Roll a split arm back to 0% when it regresses against a baseline."""

    model: str
    baseline: str
    metric: Literal["error_rate", "p95_latency_ms"] = "error_rate"
    max_ratio: float | None = Field(default=None, gt=0)
    max_value: float | None = Field(default=None, ge=0)
    window_s: float = Field(default=600, gt=0)
    min_samples: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _has_threshold(self) -> Self:
        if self.max_ratio is None and self.max_value is None:
            raise ValueError("a guard needs max_ratio (against the baseline) or max_value")
        return self


class ShadowConfig(_Strict):
    """Send sampled copies to a candidate in the background; never returned."""

    model: str
    sample_pct: float = Field(ge=0, le=100)
    max_concurrency: int = Field(default=4, ge=1)
    log: str | None = None
    """Append-only JSONL file receiving one record per compared pair (no content)."""


class CacheConfig(_Strict):
    """The exact response cache of a route (docs/cache.md).

    Entries live in the state store (shared by every process using it), or
    in the process with ``store: memory``, for ``ttl_s`` seconds; at most
    about ``max_entries`` per route are kept (the oldest written is evicted
    first). Calls with a temperature above 0, or
    none (providers default to 1), are not cached unless
    ``ignore_temperature`` is true.
    """

    ttl_s: float = Field(gt=0, le=366 * 86400)
    max_entries: int = Field(default=1000, ge=1, le=10_000_000)
    ignore_temperature: bool = False
    store: Literal["state", "memory"] = "state"
    """``state``: the state store (shared like budgets); ``memory``: this process only,
    whatever ``state:`` says (answers never leave the process)."""


class RouteConfig(_Strict):
    """A name applications ask for, and how to pick among its candidates."""

    candidates: tuple[str, ...] = ()
    select: Literal["ordered", "cheapest", "best_quality", "fastest", "weighted"] = "ordered"
    min_quality: float | None = Field(default=None, ge=0, le=100)
    fallback: bool = True
    task: str | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    retry: RetryConfig | None = None
    deadline_s: float | None = Field(default=None, gt=0)
    first_token_timeout_s: float | None = Field(default=None, gt=0)
    hedge_after_ms: float | None = Field(default=None, gt=0)
    split: tuple[SplitArm, ...] | None = None
    sticky_by: str | None = None
    ramp: RampConfig | None = None
    guard: GuardConfig | None = None
    shadow: ShadowConfig | None = None
    cache: CacheConfig | None = None

    @model_validator(mode="after")
    def _has_candidates(self) -> Self:
        if not self.candidates and not self.split:
            raise ValueError("a route needs candidates or a split")
        arms = [a.model for a in self.split or ()]
        if len(set(arms)) != len(arms):
            raise ValueError("a split names each model once")
        for key, sub in (("ramp", self.ramp), ("guard", self.guard)):
            if sub is not None and sub.model not in arms:
                raise ValueError(f"{key}.model {sub.model!r} must be one of the split arms {arms}")
        if self.guard is not None and self.guard.baseline not in self.all_models():
            raise ValueError(f"guard.baseline {self.guard.baseline!r} is not a model of this route")
        s = self.sticky_by
        if (
            s is not None
            and s not in ("user", "tenant")
            and not (s.startswith("metadata.") and len(s) > len("metadata."))
        ):
            raise ValueError("sticky_by is user, tenant or metadata.<name>")
        return self

    def all_models(self) -> tuple[str, ...]:
        """Every model the route can send to, candidates first, split arms after."""
        names = list(self.candidates)
        for arm in self.split or ():
            if arm.model not in names:
                names.append(arm.model)
        return tuple(names)


class TelemetryConfig(_Strict):
    """Tracing, metrics, content capture and the audit log."""

    enabled: bool = True
    capture_content: bool = False
    audit_log: str | None = None
    audit_key: SecretStr | None = None
    """HMAC key of the audit log (write it as ``${VAR}``); masked in reprs and dumps."""

    @field_validator("audit_key")
    @classmethod
    def _key_length(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("audit_key must be at least 16 characters (e.g. 32 random bytes, hex)")
        return v


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MIN_GATEWAY_KEY_LEN = 16
"""Shortest plain gateway key accepted (a ``sha256:`` digest is checked for its form)."""


class GatewayKeyContext(_Strict):
    """The context floor of a gateway key: a request may tighten it, never loosen it."""

    sensitivity: str | None = None
    tags: tuple[str, ...] = ()
    max_cost_usd: NonNegFloat | None = None
    min_quality: float | None = Field(default=None, ge=0, le=100)
    deadline_s: float | None = Field(default=None, gt=0)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


class GatewayKey(_Strict):
    """One API key of ``llm-router serve``: who presents it, and what they may do.

    ``key`` is the key itself, written as a ``${VAR}`` reference (read from the
    environment at load), or ``sha256:<64 hex>``, the SHA-256 digest of the key,
    so that the file holds no usable secret. ``routes``: the route and model
    names the key may ask for (unset: all).
    """

    name: str = Field(min_length=1)
    key: SecretStr
    tenant: str | None = None
    routes: tuple[str, ...] | None = None
    context: GatewayKeyContext = GatewayKeyContext()
    max_in_flight: int | None = Field(default=None, ge=1)
    """Requests of this key served at once by all the gateway processes sharing the state
    store; more are answered 429."""

    @field_validator("key")
    @classmethod
    def _key_form(cls, v: SecretStr) -> SecretStr:
        # Messages never quote the value: it is a secret, a wrong one included.
        raw = v.get_secret_value()
        if raw.startswith("sha256:"):
            if not _DIGEST.fullmatch(raw):
                raise ValueError("a sha256: key is 'sha256:' and 64 lowercase hex digits")
        elif len(raw) < MIN_GATEWAY_KEY_LEN:
            raise ValueError(
                f"a gateway key must be at least {MIN_GATEWAY_KEY_LEN} characters "
                "(write it as ${VAR}, or as sha256:<hex digest>)"
            )
        elif raw != raw.strip():
            raise ValueError("a gateway key must not start or end with whitespace")
        return v

    def digest(self) -> bytes:
        """The SHA-256 digest of the key (what presented keys are compared with)."""
        raw = self.key.get_secret_value()
        if raw.startswith("sha256:"):
            return bytes.fromhex(raw[len("sha256:") :])
        return hashlib.sha256(raw.encode()).digest()


class GatewayConfig(_Strict):
    """The ``gateway:`` section: keys and limits of ``llm-router serve``."""

    keys: tuple[GatewayKey, ...] = ()
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest request body accepted; a larger one is answered 413 (read no further)."""
    grace_s: float = Field(default=30.0, ge=0)
    """On SIGTERM, how long requests in flight (streams included) may take to finish."""
    access_log: bool = True
    """One structured line per request (no content, no key) on the ``router.gateway.access``
    logger."""
    metrics: bool = False
    """Serve ``/metrics`` for Prometheus (needs the ``gateway-metrics`` extra)."""
    transport: Literal["auto", "httpx", "aiohttp"] = "auto"
    """Upstream transport: ``aiohttp`` (needs httpx-aiohttp; faster with many requests in
    flight), ``httpx``, or ``auto`` (aiohttp when installed)."""

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [k.name for k in self.keys]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"gateway key names must be unique: {', '.join(dup)} repeated")
        digests = [k.digest() for k in self.keys]
        if len(set(digests)) != len(digests):
            # Which ones is not said: that would tell a reader of the error two keys are equal.
            raise ValueError("two gateway keys have the same value")
        return self


class Config(_Strict):
    """A whole router configuration document."""

    zones: tuple[str, ...] = ("local", "private", "hosted", "frontier")
    """Zones from most to least contained; policies compare against this order."""
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    sensitivity: SensitivityConfig = SensitivityConfig()
    rules: tuple[RuleConfig, ...] = ()
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    state: str = "memory"
    telemetry: TelemetryConfig = TelemetryConfig()
    gateway: GatewayConfig | None = None
    """Settings of ``llm-router serve`` (docs/gateway.md); ignored by the SDK."""

    def __repr_args__(self) -> Any:
        # A state store URL (redis://:password@host) may carry a password.
        for k, v in super().__repr_args__():
            yield (k, mask_url(v) if k == "state" else v)

    def reference_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Names that point nowhere, each with the key path where it stands."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for name, m in self.models.items():
            if m.provider not in self.providers:
                problems.append(
                    (("models", name, "provider"), f"provider {m.provider!r} is not defined")
                )
        for rname, r in self.routes.items():
            for i, cand in enumerate(r.candidates):
                if cand not in self.models:
                    problems.append(
                        (("routes", rname, "candidates", i), f"model {cand!r} is not defined")
                    )
            for i, arm in enumerate(r.split or ()):
                if arm.model not in self.models:
                    loc: tuple[str | int, ...] = ("routes", rname, "split", i, "model")
                    problems.append((loc, f"model {arm.model!r} is not defined"))
            if r.shadow is not None and r.shadow.model not in self.models:
                problems.append(
                    (
                        ("routes", rname, "shadow", "model"),
                        f"model {r.shadow.model!r} is not defined",
                    )
                )
        for i, key in enumerate(self.gateway.keys if self.gateway else ()):
            names = {*self.routes, *self.models}
            for j, route in enumerate(key.routes or ()):
                if route not in names:
                    problems.append(
                        (
                            ("gateway", "keys", i, "routes", j),
                            f"{route!r} is neither a route nor a model",
                        )
                    )
            level = key.context.sensitivity
            if level is not None and level not in self.sensitivity.levels:
                problems.append(
                    (
                        ("gateway", "keys", i, "context", "sensitivity"),
                        f"level {level!r} is not one of {list(self.sensitivity.levels)}",
                    )
                )
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                problems.append((("rules", i, "name"), f"rule name {rule.name!r} is used twice"))
            seen.add(rule.name)
        return problems
