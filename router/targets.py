"""Targets: config models resolved against their providers, presets and catalog.

A :class:`Target` is what the policy engine ranks and the executor sends to.
It is built once per config, so a request never re-reads the config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .accounting.tokens import ASSUMED_OUTPUT_TOKENS
from .config.schema import Config, CostConfig, ModelConfig, PriceConfig, ProviderConfig
from .credentials import provider_secrets
from .errors import ConfigError
from .providers.base import Endpoint
from .providers.presets import NATIVE, PRESETS, known_kinds

__all__ = ["Target", "resolve_targets"]


_ALL_CAPS = frozenset({"tools", "json_schema", "vision", "streaming"})


@dataclass(frozen=True, slots=True)
class Target:
    """A model the router can send to, with every attribute policy looks at."""

    name: str
    model_id: str
    provider: str
    kind: str
    provider_name: str
    zone: str
    region: str | None
    data_retention: str | None
    license: str | None
    openness: str | None
    origin: str | None
    context_window: int | None
    max_output_tokens: int | None
    capabilities: frozenset[str]
    quality: Mapping[str, float]
    price: PriceConfig | None
    cost: CostConfig | None
    endpoint: Endpoint = field(repr=False)
    provider_config: ProviderConfig = field(repr=False)
    api_key_env: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """Every configured secret of the provider (:func:`router.credentials.provider_secrets`):
    what errors and telemetry are scrubbed of."""

    def quality_for(self, task: str | None) -> float | None:
        """The quality score for ``task``, else the default score, else ``None``."""
        if task and task in self.quality:
            return self.quality[task]
        return self.quality.get("default")

    @property
    def marginal_cost_free(self) -> bool:
        """True for self-hosted targets (no per-token list price)."""
        return self.price is None or (self.price.input == 0 and self.price.output == 0)


def _paid_output_cap(m: ModelConfig) -> int | None:
    # A priced model gets an explicit output cap, so the worst case that
    # ceilings and budgets are checked against is also the most it can bill.
    if m.price is not None and (m.price.input > 0 or m.price.output > 0):
        return ASSUMED_OUTPUT_TOKENS
    return None


def _quality(q: float | dict[str, float] | None) -> Mapping[str, float]:
    if q is None:
        return {}
    if isinstance(q, dict):
        return dict(q)
    return {"default": float(q)}


def _api_key(p: ProviderConfig, env_name: str | None) -> str | None:
    if p.api_key is not None:
        return p.api_key.get_secret_value() or None
    if env_name:
        return os.environ.get(env_name) or None
    return None


def _resolve(name: str, m: ModelConfig, p: ProviderConfig, catalog: Mapping[str, Any]) -> Target:
    base = catalog.get(m.catalog) if m.catalog else None
    if m.catalog and base is None:
        raise ConfigError(f"unknown catalog entry {m.catalog!r}", key=f"models.{name}.catalog")
    if base is not None:
        # Config fields override the catalog's; unset ones inherit.
        merged = {**base.model_dump(exclude_unset=True), **m.model_dump(exclude_unset=True)}
        m = ModelConfig.model_validate(merged)
    preset = PRESETS.get(p.kind)
    if preset is not None:
        zone_default, provider_name = preset.zone, preset.provider_name
        base_url = p.base_url or preset.base_url
        env_name = p.api_key_env or preset.api_key_env
        quirks = preset.quirks
        if base_url is None:
            raise ConfigError(
                f"provider kind {p.kind!r} needs a base_url", key=f"providers.{m.provider}.base_url"
            )
    elif p.kind in NATIVE:
        native = NATIVE[p.kind]
        zone_default, provider_name = native.zone, native.provider_name
        base_url = p.base_url or ""
        env_name = p.api_key_env or native.api_key_env
        quirks = native.quirks
        if native.needs_base_url and not base_url:
            raise ConfigError(
                f"provider kind {p.kind!r} needs a base_url", key=f"providers.{m.provider}.base_url"
            )
    else:
        raise ConfigError(
            f"unknown provider kind {p.kind!r}; known: {', '.join(known_kinds())}",
            key=f"providers.{m.provider}.kind",
        )
    endpoint = Endpoint(
        base_url=base_url,
        model_id=m.model,
        api_key=_api_key(p, env_name),
        headers=dict(p.headers),
        api_version=p.api_version,
        quirks=quirks,
        extra_body=dict(m.params),
        default_max_tokens=m.max_output_tokens or _paid_output_cap(m),
    )
    return Target(
        name=name,
        model_id=m.model,
        provider=m.provider,
        kind=p.kind,
        provider_name=provider_name,
        zone=m.zone or p.zone or zone_default,
        region=m.region or p.region,
        data_retention=m.data_retention or p.data_retention,
        license=m.license,
        openness=m.openness,
        origin=m.origin,
        context_window=m.context_window,
        max_output_tokens=m.max_output_tokens,
        capabilities=frozenset(m.capabilities) if m.capabilities is not None else _ALL_CAPS,
        quality=_quality(m.quality),
        price=m.price,
        cost=m.cost,
        endpoint=endpoint,
        provider_config=p,
        api_key_env=env_name,
        secrets=provider_secrets(endpoint.api_key, endpoint.headers, endpoint.base_url),
    )


def resolve_targets(config: Config, catalog: Mapping[str, Any] | None = None) -> dict[str, Target]:
    """Every model of ``config`` as a :class:`Target`, by config name."""
    cat = catalog or {}
    return {
        name: _resolve(name, m, config.providers[m.provider], cat)
        for name, m in config.models.items()
    }
