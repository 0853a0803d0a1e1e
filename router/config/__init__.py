"""Configuration: the schema, loading with located errors, the built-in default."""

from .loader import load_config, load_dict, load_file
from .schema import Config, ModelConfig, ProviderConfig, RouteConfig, RuleConfig

__all__ = [
    "Config",
    "ModelConfig",
    "ProviderConfig",
    "RouteConfig",
    "RuleConfig",
    "load_config",
    "load_dict",
    "load_file",
]
