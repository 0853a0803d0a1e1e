"""Spans and metrics for routed calls, through the OpenTelemetry API only.

One INTERNAL span ``route {route}`` per call carries the routing story
(decision id, sensitivity, rules, plan, cost, fallbacks and skipped targets as
events); one CLIENT child ``chat {model}`` per attempt carries the GenAI
semantic-convention attributes. The attempt span is parented explicitly on the
route span's context — never on the ambient current span — so interleaved
async streams cannot cross-wire.

Works with whatever SDK and exporters the application configures. With none
configured (the API's proxy providers), each request costs one provider check
and the hooks return at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import semconv as sc
from .observer import Observer

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

    from ..config.schema import Config
    from ..embeddings.types import EmbeddingResponse
    from ..errors import NoEligibleTarget, RouterError
    from ..execution.call import Call
    from ..execution.walker import Send
    from ..targets import Target
    from ..types import ChatResponse, Message, RequestContext
    from .redact import Redactor

__all__ = ["TracingObserver"]

log = logging.getLogger("router.telemetry")

_KEY = "telemetry.tracing"
_SENT = frozenset({"ok", "error", "timeout", "cancelled"})
"""Attempt outcomes of a try that was actually sent (others were skipped)."""

_now = time.perf_counter
_RECHECK_S = 1.0

P = ParamSpec("P")
R = TypeVar("R")


def _safe(default: Any = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Observer hooks must never raise into the request path."""

    def deco(fn: Callable[P, R]) -> Callable[P, R]:
        @wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # pragma: no cover - defensive
                # The type only: a message could quote request data.
                log.warning("telemetry hook %s failed: %s", fn.__name__, type(e).__name__)
                return default  # type: ignore[no-any-return]

        return wrapper

    return deco


@dataclass(slots=True)
class _AttemptToken:
    span: trace.Span | None
    t0: float
    target: Target
    attrs: dict[str, AttributeValue]


@dataclass(slots=True)
class _CallState:
    t0: float
    span: trace.Span | None = None
    ctx: Context | None = None
    metering: bool = False
    seen: int = 0
    attempt_no: int = 0
    last_target: str | None = None
    last_reason: str | None = None
    open_attempt: _AttemptToken | None = None
    in_flight: int = 0
    input_json: tuple[str, str | None] | None = None
    route_attrs: dict[str, AttributeValue] = field(default_factory=dict)


def _is_noop_meter_provider(p: metrics.MeterProvider) -> bool:
    # The API hands out a proxy until an SDK provider is installed globally.
    return isinstance(p, metrics.NoOpMeterProvider) or type(p).__name__ == "_ProxyMeterProvider"


def _is_noop_tracer_provider(p: trace.TracerProvider) -> bool:
    return isinstance(p, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def _error_type(err: BaseException) -> str:
    if isinstance(err, GeneratorExit | _Cancelled):
        return "cancelled"
    return type(err).__name__


class _Cancelled(Exception):
    """Marks a try that was abandoned (a hedge that lost), not failed."""


_CANCELLED = _Cancelled()


def _is_chat(response: Any) -> bool:
    """A chat response (it has choices), not an embedding one."""
    return hasattr(response, "choices")


def _operation(decision: Any) -> str:
    """``gen_ai.operation.name`` of a decision's call (a denial may carry none)."""
    if getattr(decision, "operation", None) == "embeddings":
        return sc.OPERATION_EMBEDDINGS
    return sc.OPERATION_CHAT


def _last_outcome(call: Call, target: str) -> str | None:
    for a in reversed(call.walker.attempts):
        if a is not None and a.target == target:
            return a.outcome
    return None


class TracingObserver(Observer):
    """An :class:`Observer` that makes spans and records metrics.

    ``tracer_provider`` / ``meter_provider`` default to the global ones (set
    by the application's SDK setup, before or after the router is built).
    ``secrets`` are strings always redacted from captured content (the
    config's API keys).
    """

    def __init__(
        self,
        config: Config,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        secrets: Iterable[str] = (),
        redactor: Redactor | None = None,
    ) -> None:
        from .. import __version__ as version

        self._tp = tracer_provider
        self._mp = meter_provider
        self._known: tuple[tuple[bool, bool], float] = ((False, False), 0.0)
        self._tracer = trace.get_tracer(
            sc.INSTRUMENTATION_NAME, version, tracer_provider, schema_url=sc.SCHEMA_URL
        )
        meter = metrics.get_meter(
            sc.INSTRUMENTATION_NAME, version, meter_provider, schema_url=sc.SCHEMA_URL
        )
        self._tokens = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self._ttfc = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self._cost = meter.create_counter(
            sc.METRIC_COST, unit="USD", description="Cost of routed calls, in US dollars."
        )
        self._fallbacks = meter.create_counter(
            sc.METRIC_FALLBACKS, unit="{fallback}", description="Moves to the next planned target."
        )
        self._denials = meter.create_counter(
            sc.METRIC_DENIALS, unit="{request}", description="Requests the policy refused."
        )
        self._attempts = meter.create_counter(
            sc.METRIC_ATTEMPTS, unit="{attempt}", description="Attempts by outcome."
        )
        self._cache = meter.create_counter(
            sc.METRIC_CACHE,
            unit="{request}",
            description="Response cache lookups of answered calls, by result (hit, miss).",
        )
        self._rate_limited = meter.create_counter(
            sc.METRIC_RATE_LIMITED,
            unit="{target}",
            description="Targets passed over because they were at a rate limit.",
        )
        self._capture = config.telemetry.capture_content
        self._sensitivity = config.sensitivity
        self._secrets = tuple(s for s in secrets if s)
        self._redactor = redactor
        self._servers: dict[str, tuple[str | None, int | None]] = {}

    # -- switches --------------------------------------------------------------

    def _enabled(self) -> tuple[bool, bool]:
        """(tracing, metering): whether anything would record right now.

        A global provider, once installed, stays (OpenTelemetry sets it once),
        so "both on" is final; otherwise the answer is re-checked at most every
        ``_RECHECK_S`` seconds, because each check reads the environment. A
        provider installed while requests flow records from within that time.
        """
        known, at = self._known
        if known == (True, True) or (at and _now() - at < _RECHECK_S):
            return known
        tracing = self._tp is not None or not _is_noop_tracer_provider(trace.get_tracer_provider())
        metering = self._mp is not None or not _is_noop_meter_provider(metrics.get_meter_provider())
        self._known = ((tracing, metering), _now())
        return tracing, metering

    @property
    def redactor(self) -> Redactor:
        """The redactor for captured content (built on first use)."""
        if self._redactor is None:
            from .redact import Redactor

            self._redactor = Redactor.for_sensitivity(self._sensitivity, self._secrets)
        return self._redactor

    # -- attribute helpers -------------------------------------------------------

    def _server(self, t: Target) -> tuple[str | None, int | None]:
        hit = self._servers.get(t.name)
        if hit is None:
            host: str | None = None
            port: int | None = None
            if t.endpoint.base_url:
                try:
                    u = urlsplit(t.endpoint.base_url)
                    host = u.hostname
                    port = u.port or {"https": 443, "http": 80}.get(u.scheme)
                except ValueError:
                    pass
            hit = self._servers[t.name] = (host, port)
        return hit

    def _target_attrs(self, call: Call, t: Target) -> dict[str, AttributeValue]:
        a: dict[str, AttributeValue] = {
            sc.OPERATION_NAME: _operation(call.decision),
            sc.PROVIDER_NAME: t.provider_name,
            sc.REQUEST_MODEL: t.model_id,
        }
        host, port = self._server(t)
        if host:
            a[sc.SERVER_ADDRESS] = host
        if port:
            a[sc.SERVER_PORT] = port
        return a

    @staticmethod
    def _budget_keys(call: Call) -> list[str]:
        ctx = call.context
        keys = []
        for rule, b in call.decision.budgets:
            if b.key == "tenant":
                value = ctx.tenant
            elif b.key == "user":
                value = ctx.user
            else:
                value = ctx.metadata.get(b.key.removeprefix("metadata."))
            keys.append(f"{rule}:{b.key}={value if value is not None else '-'}")
        return keys

    def _route_attrs(self, call: Call) -> dict[str, AttributeValue]:
        d = call.decision
        a: dict[str, AttributeValue] = {
            sc.OPERATION_NAME: _operation(d),
            sc.REQUEST_STREAM: call.stream,
            sc.ROUTE: d.route,
            sc.DECISION_ID: d.id,
            sc.SENSITIVITY: d.sensitivity.level,
            sc.DETECTORS: sorted(d.sensitivity.detectors),
            sc.MATCHED_RULES: list(d.matched_rules),
            sc.EXCLUDED_COUNT: len(d.excluded),
            sc.PLAN: [t.name for t in d.plan],
        }
        if d.sensitivity.declared:
            a[sc.SENSITIVITY_DECLARED] = d.sensitivity.declared
        red = getattr(d, "redaction", None)
        if red is not None:
            a[sc.REDACTED] = sorted(red.detectors)
        if call.context.tenant:
            a[sc.TENANT] = call.context.tenant
        budgets = self._budget_keys(call)
        if budgets:
            a[sc.BUDGET_KEYS] = budgets
        return a

    def _request_attrs(self, call: Call) -> dict[str, AttributeValue]:
        r = call.request
        a: dict[str, AttributeValue] = {sc.REQUEST_STREAM: call.stream}
        if r.max_tokens is not None:
            a[sc.REQUEST_MAX_TOKENS] = r.max_tokens
        if r.temperature is not None:
            a[sc.REQUEST_TEMPERATURE] = r.temperature
        if r.top_p is not None:
            a[sc.REQUEST_TOP_P] = r.top_p
        if r.seed is not None:
            a[sc.REQUEST_SEED] = r.seed
        return a

    # -- content capture -------------------------------------------------------

    def _parts(self, m: Message) -> list[dict[str, Any]]:
        red = self.redactor
        parts: list[dict[str, Any]] = []
        if m.role == "tool":
            return [
                {
                    "type": "tool_call_response",
                    "id": red(m.tool_call_id or ""),
                    "response": red(m.text()),
                }
            ]
        text = m.text()
        if text:
            parts.append({"type": "text", "content": red(text)})
        for tc in m.tool_calls or ():
            parts.append(
                {
                    "type": "tool_call",
                    "id": red(tc.id),
                    "name": red(tc.function.name),
                    "arguments": red(tc.function.arguments),
                }
            )
        return parts

    def _input_json(self, st: _CallState, call: Call) -> tuple[str, str | None]:
        if st.input_json is None:
            system: list[dict[str, Any]] = []
            messages: list[dict[str, Any]] = []
            for m in call.request.messages:
                if m.role in ("system", "developer"):
                    system.extend(self._parts(m))
                else:
                    messages.append({"role": m.role, "parts": self._parts(m)})
            st.input_json = (
                json.dumps(messages, ensure_ascii=False),
                json.dumps(system, ensure_ascii=False) if system else None,
            )
        return st.input_json

    def _output_json(self, response: ChatResponse) -> str:
        red = self.redactor
        out = []
        for c in response.choices:
            parts: list[dict[str, Any]] = []
            if c.message.content:
                parts.append({"type": "text", "content": red(c.message.content)})
            for tc in c.message.tool_calls or ():
                parts.append(
                    {
                        "type": "tool_call",
                        "id": red(tc.id),
                        "name": red(tc.function.name),
                        "arguments": red(tc.function.arguments),
                    }
                )
            out.append(
                {"role": "assistant", "parts": parts, "finish_reason": c.finish_reason or ""}
            )
        return json.dumps(out, ensure_ascii=False)

    # -- hooks -------------------------------------------------------------------

    @_safe()
    def request_started(self, call: Call) -> None:
        """Open the route span (when tracing records) and the per-call state."""
        tracing, metering = self._enabled()
        if not (tracing or metering):
            return
        st = _CallState(t0=_now(), metering=metering)
        if tracing:
            attrs = self._route_attrs(call)
            span = self._tracer.start_span(
                f"route {call.decision.route}", kind=SpanKind.INTERNAL, attributes=attrs
            )
            if span.is_recording():
                st.span = span
                st.ctx = trace.set_span_in_context(span)
            else:
                span.end()
        st.route_attrs = {sc.ROUTE: call.decision.route}
        if metering:
            for name, reasons in call.decision.excluded.items():
                if any(r.startswith("rate limited") for r in reasons):
                    self._rate_limited.add(
                        1, {**st.route_attrs, sc.TARGET: name, sc.RATE_LIMITED_WHERE: "plan"}
                    )
        call.extra[_KEY] = st

    def _sync(self, st: _CallState, call: Call) -> None:
        """Account for attempts the walker recorded since the last hook."""
        attempts = call.walker.attempts
        for a in attempts[st.seen :]:
            if st.metering:
                self._attempts.add(
                    1,
                    {**st.route_attrs, sc.TARGET: a.target, sc.OUTCOME: a.outcome},
                )
                if a.outcome == "rate_limited":
                    self._rate_limited.add(
                        1, {**st.route_attrs, sc.TARGET: a.target, sc.RATE_LIMITED_WHERE: "walk"}
                    )
            if a.outcome not in _SENT and st.span is not None:
                st.span.add_event(
                    sc.EVENT_SKIPPED,
                    {sc.TARGET: a.target, sc.OUTCOME: a.outcome, sc.ZONE: a.zone or ""},
                )
            st.last_target = a.target
            st.last_reason = None if a.outcome == "ok" else (a.error or a.outcome)
        st.seen = len(attempts)

    @_safe()
    def attempt_started(self, call: Call, step: Send) -> Any:
        """Open a CLIENT span for this try; record a fallback when the target changed."""
        st: _CallState | None = call.extra.get(_KEY)
        if st is None:
            return None
        self._sync(st, call)
        st.attempt_no += 1
        t = step.target
        attrs = self._target_attrs(call, t)
        span_attrs: dict[str, AttributeValue] = {
            **attrs,
            **self._request_attrs(call),
            sc.ROUTE: call.decision.route,
            sc.TARGET: t.name,
            sc.ZONE: t.zone,
            sc.ATTEMPT: st.attempt_no,
            sc.TRY: step.try_no,
        }
        if st.in_flight > 0:
            # Another try is still running: a hedge, not a fallback.
            span_attrs[sc.HEDGE] = True
            if st.span is not None:
                st.span.add_event(sc.EVENT_HEDGE, {sc.TARGET: t.name})
        elif st.last_target is not None and st.last_target != t.name:
            reason = st.last_reason or "unknown"
            span_attrs[sc.FALLBACK_REASON] = reason
            if st.span is not None:
                st.span.add_event(
                    sc.EVENT_FALLBACK,
                    {
                        sc.FALLBACK_FROM: st.last_target,
                        sc.FALLBACK_TO: t.name,
                        sc.FALLBACK_REASON: reason,
                    },
                )
            if st.metering:
                self._fallbacks.add(
                    1,
                    {
                        **st.route_attrs,
                        sc.FALLBACK_FROM: st.last_target,
                        sc.FALLBACK_TO: t.name,
                        sc.FALLBACK_REASON: reason,
                    },
                )
        st.last_target = t.name
        st.in_flight += 1
        span = None
        if st.ctx is not None:
            if self._capture:
                inp, system = self._input_json(st, call)
                span_attrs[sc.INPUT_MESSAGES] = inp
                if system is not None:
                    span_attrs[sc.SYSTEM_INSTRUCTIONS] = system
            span = self._tracer.start_span(
                f"{_operation(call.decision)} {t.model_id}",
                context=st.ctx,
                kind=SpanKind.CLIENT,
                attributes=span_attrs,
            )
        return _AttemptToken(span, _now(), t, {**attrs, **st.route_attrs})

    @_safe()
    def attempt_ended(
        self,
        call: Call,
        step: Send,
        token: Any,
        *,
        response: ChatResponse | None = None,
        error: RouterError | None = None,
    ) -> None:
        """Close the try's span (a stream's stays open until the stream ends)."""
        st: _CallState | None = call.extra.get(_KEY)
        if st is None or not isinstance(token, _AttemptToken):
            return
        self._sync(st, call)
        st.in_flight = max(0, st.in_flight - 1)
        if error is not None:
            self._end_attempt(st, token, error=error)
        elif response is not None:
            self._end_attempt(st, token, response=response)
        elif not call.stream and _last_outcome(call, token.target.name) == "ok":
            # An answer the driver does not show this hook (embeddings): the span
            # stays open until request_ended brings the response and its usage.
            st.open_attempt = token
        elif not call.stream or _last_outcome(call, token.target.name) == "cancelled":
            # A hedged try that lost the race: neither an answer nor a failure.
            self._end_attempt(st, token, error=_CANCELLED)
        else:
            # A stream produced its first content: time to first chunk.
            ttfc = _now() - token.t0
            if token.span is not None:
                token.span.add_event(sc.EVENT_FIRST_CHUNK)
            if st.metering:
                self._ttfc.record(ttfc, token.attrs)
            st.open_attempt = token

    def _end_attempt(
        self,
        st: _CallState,
        token: _AttemptToken,
        *,
        response: ChatResponse | EmbeddingResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        elapsed = _now() - token.t0
        span = token.span
        attrs = dict(token.attrs)
        if response is not None:
            if response.model:
                attrs[sc.RESPONSE_MODEL] = response.model
            if span is not None:
                self._response_attrs(span, response)
            if st.metering and response.usage is not None:
                u = response.usage
                self._tokens.record(u.prompt_tokens, {**attrs, sc.TOKEN_TYPE: sc.TOKEN_TYPE_INPUT})
                if _is_chat(response):  # embeddings produce no tokens
                    self._tokens.record(
                        u.completion_tokens, {**attrs, sc.TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT}
                    )
        if error is not None:
            etype = _error_type(error)
            attrs[sc.ERROR_TYPE] = etype
            if span is not None:
                span.set_attribute(sc.ERROR_TYPE, etype)
                if etype != "cancelled":
                    # The class name only: provider messages stay out of spans.
                    span.set_status(Status(StatusCode.ERROR, etype))
        if st.metering:
            self._duration.record(elapsed, attrs)
        if span is not None:
            span.end()

    def _response_attrs(self, span: trace.Span, response: ChatResponse | EmbeddingResponse) -> None:
        a: dict[str, AttributeValue] = {}
        if response.model:
            a[sc.RESPONSE_MODEL] = response.model
        u = response.usage
        if not _is_chat(response):
            # Embeddings: input tokens and the vectors' length; no content to capture.
            if u is not None:
                a[sc.USAGE_INPUT_TOKENS] = u.prompt_tokens
            data = getattr(response, "data", None)
            if data:
                a[sc.EMBEDDINGS_DIMENSION_COUNT] = len(data[0].embedding)
            span.set_attributes(a)
            return
        chat = cast("ChatResponse", response)
        if chat.id:
            a[sc.RESPONSE_ID] = chat.id
        a[sc.RESPONSE_FINISH_REASONS] = [c.finish_reason or "" for c in chat.choices]
        if u is not None:
            a[sc.USAGE_INPUT_TOKENS] = u.prompt_tokens
            a[sc.USAGE_OUTPUT_TOKENS] = u.completion_tokens
            a[sc.USAGE_CACHE_READ_INPUT_TOKENS] = u.cached_tokens
        if self._capture:
            a[sc.OUTPUT_MESSAGES] = self._output_json(chat)
        span.set_attributes(a)

    @_safe()
    def request_ended(
        self,
        call: Call,
        *,
        response: ChatResponse | EmbeddingResponse | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Close an open stream attempt and the route span; record cost."""
        st: _CallState | None = call.extra.pop(_KEY, None)
        if st is None:
            return
        self._sync(st, call)
        if st.open_attempt is not None:
            # A chat stream's attempt, or an embedding call's answered one.
            self._end_attempt(st, st.open_attempt, response=response, error=error)
            st.open_attempt = None
        route = response.route if response is not None else None
        if st.metering and route is not None:
            self._cost.add(
                route.cost_usd,
                {**st.route_attrs, sc.TARGET: route.target, sc.ZONE: route.zone},
            )
            if route.cache is not None:
                self._cache.add(1, {**st.route_attrs, sc.CACHE: route.cache})
        span = st.span
        if span is None:
            return
        a: dict[str, AttributeValue] = {sc.ATTEMPTS: len(call.walker.attempts)}
        if route is not None:
            a[sc.TARGET] = route.target
            a[sc.ZONE] = route.zone
            a[sc.COST_USD] = route.cost_usd
            a[sc.COST_ESTIMATED] = route.cost_estimated
            if route.cache is not None:
                a[sc.CACHE] = route.cache
        if response is not None and response.usage is not None:
            a[sc.USAGE_INPUT_TOKENS] = response.usage.prompt_tokens
            a[sc.USAGE_OUTPUT_TOKENS] = response.usage.completion_tokens
        if error is not None:
            etype = _error_type(error)
            a[sc.ERROR_TYPE] = etype
            if etype != "cancelled":
                span.set_status(Status(StatusCode.ERROR, etype))
        span.set_attributes(a)
        span.end()

    @_safe()
    def request_denied(self, route: str, context: RequestContext, error: NoEligibleTarget) -> None:
        """Count the denial by rule and record a failed route span."""
        tracing, metering = self._enabled()
        rule = denial_rule(error)
        d = getattr(error, "decision", None)
        route_name = getattr(d, "route", None) or route
        if metering:
            self._denials.add(1, {sc.ROUTE: route_name, sc.RULE: rule})
        if not tracing:
            return
        attrs: dict[str, AttributeValue] = {
            sc.OPERATION_NAME: _operation(d),
            sc.ROUTE: route_name,
            sc.RULE: rule,
            sc.ERROR_TYPE: type(error).__name__,
        }
        if d is not None:
            attrs[sc.DECISION_ID] = d.id
            attrs[sc.SENSITIVITY] = d.sensitivity.level
            attrs[sc.DETECTORS] = sorted(d.sensitivity.detectors)
            attrs[sc.MATCHED_RULES] = list(d.matched_rules)
            attrs[sc.EXCLUDED_COUNT] = len(d.excluded)
        if context.tenant:
            attrs[sc.TENANT] = context.tenant
        span = self._tracer.start_span(
            f"route {route_name}", kind=SpanKind.INTERNAL, attributes=attrs
        )
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


def denial_rule(error: NoEligibleTarget) -> str:
    """The rule a denial is counted under.

    An explicit ``error.rule`` wins; otherwise the first matched rule (in
    config order) that an exclusion reason names; otherwise ``unattributed``.
    """
    explicit = getattr(error, "rule", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    d = getattr(error, "decision", None)
    if d is None:
        return "unattributed"
    excluded: Mapping[str, Iterable[str]] = d.excluded or {}
    reasons = [r for rs in excluded.values() for r in rs]
    # The engine words a rule's exclusion as "rule <name>: …"; a limit's
    # source may name it elsewhere in the reason.
    for rule in d.matched_rules:
        if any(r.startswith(f"rule {rule}:") for r in reasons):
            return str(rule)
    for rule in d.matched_rules:
        if any(rule in r for r in reasons):
            return str(rule)
    return "unattributed"
