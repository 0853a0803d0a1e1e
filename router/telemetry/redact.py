"""Redaction of captured message content before it is exported.

Content capture is off by default. When a config opts in, every span of text
a sensitivity detector matches is replaced by its label (``[EMAIL]``,
``[CARD]``, …) and credentials are *always* replaced, whether or not the
policy configures a credential detector: a built-in credential detector and
the literal API keys of the config run on every captured text.

Detectors come from the policy engine (``router.policy.detectors``); this
module only relies on the small :class:`Detector` protocol, so it works with
any object that has ``name``, ``label`` and ``finditer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..config.schema import SensitivityConfig

__all__ = [
    "CredentialDetector",
    "Detector",
    "LiteralDetector",
    "Redactor",
    "policy_detectors",
    "redact",
]


@runtime_checkable
class Detector(Protocol):
    """What redaction needs from a sensitivity detector."""

    @property
    def name(self) -> str:
        """The detector's config name (``email``, ``project-codes``)."""
        ...

    @property
    def label(self) -> str:
        """The placeholder word (``EMAIL`` renders as ``[EMAIL]``)."""
        ...

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        """``(start, end)`` offsets of every match in ``text``."""
        ...


def redact(text: str, detectors: Iterable[Detector]) -> str:
    """``text`` with every detected span replaced by ``[LABEL]``.

    Overlapping or adjacent matches of different detectors merge into one
    placeholder (the first detector's label wins), so no fragment of a match
    survives between two placeholders.
    """
    spans: list[tuple[int, int, str]] = []
    for d in detectors:
        spans.extend((s, e, d.label) for s, e in d.finditer(text) if e > s)
    if not spans:
        return text
    spans.sort(key=lambda x: (x[0], -x[1]))
    out: list[str] = []
    pos = 0
    cur_s, cur_e, cur_label = spans[0]
    for s, e, label in spans[1:]:
        if s <= cur_e:
            cur_e = max(cur_e, e)
            continue
        out.append(text[pos:cur_s])
        out.append(f"[{cur_label}]")
        pos = cur_e
        cur_s, cur_e, cur_label = s, e, label
    out.append(text[pos:cur_s])
    out.append(f"[{cur_label}]")
    out.append(text[cur_e:])
    return "".join(out)


# API-key shapes; deliberately broad: a false positive only hides a word of a
# captured prompt, a false negative leaks a key into a tracing backend.
_CREDENTIAL = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{30,}"
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|\bAIza[0-9A-Za-z_\-]{35}"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/\-]{16,}=*",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class CredentialDetector:
    """Built-in API-key shapes (``sk-…``, ``AKIA…``, ``ghp_…``, JWTs, PEM keys, bearer)."""

    name: str = "credential"
    label: str = "CREDENTIAL"

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        """Offsets of every credential-shaped substring."""
        for m in _CREDENTIAL.finditer(text):
            yield m.span()


@dataclass(frozen=True, slots=True)
class LiteralDetector:
    """Exact strings known to be secret (the config's API keys)."""

    secrets: tuple[str, ...]
    name: str = "configured_secret"
    label: str = "CREDENTIAL"

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        """Offsets of every occurrence of every secret."""
        for s in self.secrets:
            start = text.find(s)
            while start != -1:
                yield start, start + len(s)
                start = text.find(s, start + 1)


def policy_detectors(cfg: SensitivityConfig) -> list[Detector] | None:
    """The policy engine's compiled detectors, or ``None`` when it offers none.

    Imported lazily: the detectors live in ``router.policy.detectors``, and
    redaction must keep working (credential-only) where that module is absent.
    """
    try:
        from ..policy.detectors import compile_detectors  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    compiled = compile_detectors(cfg)
    return [d for d, _level in compiled]


class Redactor:
    """Applies the policy's detectors plus the always-on credential detectors."""

    def __init__(self, detectors: Sequence[Detector], secrets: Iterable[str] = ()) -> None:
        keep = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        always: list[Detector] = [CredentialDetector()]
        if keep:
            always.insert(0, LiteralDetector(keep))
        self.detectors: tuple[Detector, ...] = (*always, *detectors)

    @classmethod
    def for_sensitivity(cls, cfg: SensitivityConfig, secrets: Iterable[str] = ()) -> Redactor:
        """A redactor with the policy's detectors; credential-only when they are unavailable."""
        found = policy_detectors(cfg)
        r = cls(found or (), secrets)
        r.source = "policy" if found is not None else "builtin"
        return r

    source: str = "explicit"
    """Where the detectors came from: ``policy``, ``builtin`` (credentials only), ``explicit``."""

    def __call__(self, text: str) -> str:
        """``text`` redacted."""
        return redact(text, self.detectors)
