"""examples/switch_providers.py runs: one app, five providers, the same answers."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "switch_providers.py"


def test_switch_providers_example(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert all("'It is 21°C and sunny in Paris.'" in line for line in lines)
    assert all("{'city': 'Paris', 'temp_c': 21}" in line for line in lines)
