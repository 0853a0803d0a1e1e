"""The policy engine: pure, deterministic, fail-closed."""

from .decision import Decision, Limits, SensitivityResult
from .engine import Policy, decide
from .snapshot import Snapshot

__all__ = ["Decision", "Limits", "Policy", "SensitivityResult", "Snapshot", "decide"]
