"""``OPERATIONS`` names exactly the operations of both store interfaces."""

from __future__ import annotations

from router.state.aio.base import AsyncStateStore
from router.state.base import OPERATIONS, StateStore

LIFECYCLE = {"close", "aclose", "closed"}


def _public(cls: type) -> set[str]:
    return {n for n in vars(cls) if not n.startswith("_")} - LIFECYCLE


def test_operations_are_the_sync_interface() -> None:
    assert set(OPERATIONS) == _public(StateStore)
    assert len(OPERATIONS) == len(set(OPERATIONS))


def test_operations_are_the_async_interface() -> None:
    assert set(OPERATIONS) == _public(AsyncStateStore)
