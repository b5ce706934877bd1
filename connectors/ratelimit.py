"""Client-side pacing per API: a thread-safe token bucket plus the API's shared cool-down.

The vendors' "wait this long" headers are read by ``core.pacing.retry_after_seconds`` (re-exported here),
the one definition that the vendor-SDK retries in ``ingest/`` use too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.pacing import Cooldown, CooldownTooLong, retry_after_seconds, shared_cooldown

__all__ = ["Cooldown", "CooldownTooLong", "RateLimiter", "retry_after_seconds", "shared_limiter"]


class RateLimiter:
    """Token bucket (``rate_per_s`` sustained, ``burst`` at once; None = unpaced) behind the API's cool-down.

    Thread-safe; waits outside the lock. Each caller reserves a token (the balance may go negative) and sleeps
    until its token is due, so concurrent callers queue fairly instead of all waking at once. ``acquire`` first
    waits out the cool-down (``cooldown``: "nothing to this API before T", set by any thread's 429), and checks
    it again just before returning, so a cool-down set while a caller queued for its token still holds it.
    """

    def __init__(
        self,
        rate_per_s: float | None,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cooldown: Cooldown | None = None,
    ) -> None:
        if rate_per_s is not None and rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive (or None for no pacing)")
        self.rate = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s or 1.0)
        self.cooldown = cooldown or Cooldown(clock=clock, sleep=sleep)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, max_wait_s: float = float("inf")) -> float:
        """Wait out the cool-down, then take one token; returns the seconds waited.

        Raises ``CooldownTooLong`` when the cool-down ends further than ``max_wait_s`` away (the caller's
        remaining budget): better to fail now than to sleep past the point of giving up.
        """
        waited = self.cooldown.wait(max_wait_s)
        if self.rate is not None:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                self._tokens -= 1.0
                wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            if wait > 0:
                self._sleep(wait)
                waited += wait
            waited += self.cooldown.wait(max_wait_s - waited)
        return waited

    def next_free_in(self) -> float:
        """Seconds until a request could go now (the cool-down or the next token), without taking one: what a
        slow source tells the operator it is waiting for."""
        wait = self.cooldown.remaining()
        if self.rate is not None:
            with self._lock:
                tokens = min(self.capacity, self._tokens + (self._clock() - self._last) * self.rate)
            wait = max(wait, (1.0 - tokens) / self.rate if tokens < 1.0 else 0.0)
        return wait


_LIMITERS: dict[tuple[str, float | None], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(api: str, rate_per_s: float | None) -> RateLimiter:
    """The process-wide limiter for ``api`` at this rate: clients of one API share one budget.

    Whatever the rate, every limiter of ``api`` shares ``shared_cooldown(api)``: one 429 pauses them all.
    """
    with _LIMITERS_LOCK:
        key = (api, float(rate_per_s) if rate_per_s else None)
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(key[1], cooldown=shared_cooldown(api))
        return _LIMITERS[key]
