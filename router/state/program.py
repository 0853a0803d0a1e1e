"""Store programs: logic that reads and writes shared state without doing the I/O.

Breakers, health, budgets and migration guards decide from what the state
store holds. Written as generators that *yield* each store operation
(:func:`op`) and receive its result, that logic exists once and runs on any
store: :func:`run` performs the operations on a sync
:class:`~router.state.StateStore`, :func:`arun` awaits them on an
:class:`~router.state.AsyncStateStore` — so an ``AsyncRouter`` never blocks
its event loop on Redis or SQLite, and the decisions stay in one place::

    def bump(key: str) -> Program[float]:
        n = yield op("incr", key)
        return float(n)

    run(bump("k"), store)            # sync driver
    await arun(bump("k"), astore)    # async driver

An operation names a method the two store interfaces share, with its
arguments. A failing operation is thrown into the program at its ``yield``,
so a program may handle a store error (or let it propagate).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .aio.base import AsyncStateStore
    from .base import StateStore

__all__ = ["Op", "Program", "arun", "op", "run"]

T = TypeVar("T")


class Op:
    """One store operation: ``store.<name>(*args, **kwargs)``."""

    __slots__ = ("args", "kwargs", "name")

    def __init__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.name = name
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"Op({self.name})"  # arguments may be ledger lines: not shown


Program = Generator[Op, Any, T]
"""A generator yielding :class:`Op` and returning ``T``."""


def op(name: str, *args: Any, **kwargs: Any) -> Op:
    """The operation ``store.<name>(*args, **kwargs)``, to be yielded by a program."""
    return Op(name, args, kwargs)


def run(program: Program[T], store: StateStore | None) -> T:
    """Run ``program`` to its end, performing each operation on the sync ``store``.

    ``store`` may be ``None`` for a program that has nothing to read or
    write (a walk without breakers, say); an operation then is a bug.
    """
    send: Any = None
    error: BaseException | None = None
    try:
        while True:
            if error is None:
                o = program.send(send)
            else:
                o, error = program.throw(error), None
            try:
                send = getattr(store, o.name)(*o.args, **o.kwargs)
            except BaseException as e:  # handed to the program, which may handle it
                error = e
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def arun(program: Program[T], store: AsyncStateStore | None) -> T:
    """Run ``program`` to its end, awaiting each operation on the async ``store``."""
    send: Any = None
    error: BaseException | None = None
    try:
        while True:
            if error is None:
                o = program.send(send)
            else:
                o, error = program.throw(error), None
            try:
                send = await getattr(store, o.name)(*o.args, **o.kwargs)
            except BaseException as e:  # handed to the program, which may handle it
                error = e
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
