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


@dataclass(frozen=True, slots=True)
class CredentialDetector:
    """The policy engine's built-in credential detector (one list of shapes for both).

    ``sk-…``, ``AKIA…``, ``ghp_…``, Stripe, Slack and Google keys, JWTs, PEM
    and PGP private key blocks, bearer and basic authorization, credentials
    in URLs: :data:`router.policy.detectors.CREDENTIAL_PATTERNS`.
    """

    name: str = "credential"
    label: str = "CREDENTIAL"

    def finditer(self, text: str) -> Iterator[tuple[int, int]]:
        """Offsets of every credential-shaped substring."""
        from ..policy.detectors import builtin_detector

        return builtin_detector("credential").finditer(text)


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


def policy_detectors(cfg: SensitivityConfig) -> list[Detector]:
    """The policy engine's compiled detectors for ``cfg``.

    Imported here, not at module load, so that a router which never captures
    content never compiles them; a failure to load them is an error, never a
    silent fall-back to fewer detectors (content capture fails closed).
    """
    from ..policy.detectors import compile_detectors

    return [d for d, _level in compile_detectors(cfg)]


class Redactor:
    """Applies the policy's detectors plus the always-on credential detectors.

    Text is matched in the same normalised, decoded form the policy engine
    classifies (:func:`router.policy.detectors.scan_forms`): a card number in
    full-width digits or an email behind ``\\u0040`` is redacted as surely as
    it is classified. A text with nothing to redact is returned as written;
    one with something is returned in that normalised form, redacted.
    """

    def __init__(self, detectors: Sequence[Detector], secrets: Iterable[str] = ()) -> None:
        keep = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        always: list[Detector] = [CredentialDetector()]
        if keep:
            always.insert(0, LiteralDetector(keep))
        self.detectors: tuple[Detector, ...] = (*always, *detectors)

    @classmethod
    def for_sensitivity(cls, cfg: SensitivityConfig, secrets: Iterable[str] = ()) -> Redactor:
        """A redactor with the policy's detectors."""
        r = cls(policy_detectors(cfg), secrets)
        r.source = "policy"
        return r

    source: str = "explicit"
    """Where the detectors came from: ``policy`` or ``explicit``."""

    def __call__(self, text: str) -> str:
        """``text`` redacted."""
        from ..policy.detectors import scan_forms

        # The most decoded normalised form is scanned first: what it shows is
        # what a model reads. Forms as written follow, for user patterns.
        forms = scan_forms(text)
        normalised = [f for f, norm in forms if norm]
        for form in (normalised[-1], *(f for f, norm in forms if not norm)):
            out = redact(form, self.detectors)
            if out != form:
                return out
        return text
