"""Pytest fixtures for the resilience tests: the fault server (register with
``pytest_plugins = ["tests.resilience_fixtures"]``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faultserver import FaultServer

__all__ = ["fault_server", "faults"]


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FaultServer]:
    """One fault server for the session (stopped, connections cancelled, at the end)."""
    with FaultServer() as server:
        yield server


@pytest.fixture
def faults(fault_server: FaultServer) -> Iterator[FaultServer]:
    """The fault server with no scripts and no records."""
    fault_server.reset()
    yield fault_server
    fault_server.reset()
