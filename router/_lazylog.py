"""Module loggers that load :mod:`logging` with the first message, not at import.

Building a router never logs, and ``logging`` (with the format patterns it
compiles) is a measurable part of start-up (docs/performance.md, "Start-up in a
fresh environment"), so the modules on that path name their logger through
:func:`get_logger` instead of ``logging.getLogger``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import logging

__all__ = ["get_logger"]


class _LazyLogger:
    """Stands for ``logging.getLogger(name)``; every attribute is the real logger's."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: logging.Logger | None = None

    def __getattr__(self, attr: str) -> Any:
        logger = self._logger
        if logger is None:
            import logging

            # getLogger returns one object per name under logging's own lock, so
            # two threads racing here store the same logger.
            logger = self._logger = logging.getLogger(self._name)
        # The logger's own bound method: the record names the caller's line, not this one.
        return getattr(logger, attr)


def get_logger(name: str) -> logging.Logger:
    """The logger ``name``, with :mod:`logging` imported only when it is first used."""
    return cast("logging.Logger", _LazyLogger(name))
