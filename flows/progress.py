"""Process-local progress listeners: how the CLI draws rich progress bars for flows running in its process.

Flows report to Prefect progress artifacts as well; these listeners are only for the terminal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["PROGRESS_LISTENERS", "forwarded_logs", "notify_progress"]

PROGRESS_LISTENERS: list[Callable[[str, int, int], None]] = []


def notify_progress(source: str, done: int, total: int) -> None:
    """Tell the process-local progress listeners (the CLI's progress bars) how far ``source`` got."""
    for listener in PROGRESS_LISTENERS:
        listener(source, done, total)


class _ToRunLogger(logging.Handler):
    """Hands a connector's log records to the Prefect run logger of the flow or task that emits them."""

    def emit(self, record: logging.LogRecord) -> None:
        from prefect import get_run_logger
        from prefect.exceptions import MissingContextError

        try:
            get_run_logger().log(record.levelno, record.getMessage())
        except MissingContextError:
            return


@contextmanager
def forwarded_logs(name: str, level: int = logging.INFO) -> Iterator[None]:
    """Show the stdlib logger ``name`` (connectors log without Prefect) in the run's log and on the terminal."""
    logger = logging.getLogger(name)
    handler = _ToRunLogger(level)
    previous, propagated = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(min(level, previous) if previous else level)
    logger.propagate = False  # the run logger prints it once; the root's console handler must not print it again
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        logger.propagate = propagated
