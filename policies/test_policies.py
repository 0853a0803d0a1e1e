"""Every shipped policy passes its own tests (``<name>.test.yaml`` beside ``<name>.yaml``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import load_file
from router.policy import Policy
from router.policy.lint import lint
from router.policy.testing import run_file

HERE = Path(__file__).parent
POLICIES = sorted(p for p in HERE.glob("*.yaml") if not p.name.endswith(".test.yaml"))


def test_every_policy_has_tests() -> None:
    assert POLICIES, "no policies found"
    for p in POLICIES:
        assert p.with_suffix(".test.yaml").exists(), f"{p.name} has no tests file"


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_policy_passes_its_tests(policy: Path) -> None:
    compiled = Policy(load_file(policy))
    results = run_file(compiled, policy.with_suffix(".test.yaml"))
    assert results
    failures = {r.name: r.failures for r in results if not r.passed}
    assert not failures, failures


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_policy_lints_clean(policy: Path) -> None:
    assert lint(load_file(policy)) == []
