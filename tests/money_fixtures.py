"""Fixtures for the money and state tests: a Redis server, stores, a fake paid provider.

Registered with ``pytest_plugins = ["tests.money_fixtures"]`` in the test
modules that use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from router.state import MemoryStore, StateStore
from router.state.sqlite import SQLiteStore
from tests.money_helpers import FakeProvider


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Each backend in turn, empty."""
    s: StateStore
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "state.db")
    else:
        from router.state.redis import RedisStore

        s = RedisStore(request.getfixturevalue("redis_url"))
    yield s
    s.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def shared_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``state:`` URL several processes can share."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A running :class:`FakeProvider`."""
    fp = FakeProvider()
    yield fp
    fp.close()
