"""A fake monotonic clock whose ``sleep`` records the wait and moves time on (no real sleeping)."""

from __future__ import annotations

import threading


class FakeClock:
    """``now()`` for a limiter's clock, ``sleep(s)`` for its sleep and a RetryPolicy's: ``slept`` lists the waits."""

    def __init__(self, slept: list[float] | None = None, start: float = 1_000.0) -> None:
        self.t = start
        self.slept = slept if slept is not None else []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.t += seconds
