"""Process-local progress listeners: how the CLI draws rich progress bars for flows running in its process.

Flows report to Prefect progress artifacts as well; these listeners are only for the terminal.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PROGRESS_LISTENERS", "notify_progress"]

PROGRESS_LISTENERS: list[Callable[[str, int, int], None]] = []


def notify_progress(source: str, done: int, total: int) -> None:
    """Tell the process-local progress listeners (the CLI's progress bars) how far ``source`` got."""
    for listener in PROGRESS_LISTENERS:
        listener(source, done, total)
