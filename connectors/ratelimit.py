"""Client-side pacing: a thread-safe token bucket per API; the vendors' "wait this long" headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RateLimiter", "retry_after_seconds", "shared_limiter"]


class RateLimiter:
    """Token bucket: ``rate_per_s`` sustained, ``burst`` at once. Thread-safe; waits outside the lock.

    Each caller reserves a token (the balance may go negative) and sleeps until its token is
    due, so concurrent callers queue fairly instead of all waking at once.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(api: str, rate_per_s: float) -> RateLimiter:
    """The process-wide bucket for ``api`` at this rate: clients of one API share one budget."""
    with _LIMITERS_LOCK:
        key = (api, float(rate_per_s))
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(rate_per_s)
        return _LIMITERS[key]


def _seconds_until(value: str, now: datetime) -> float | None:
    """A header value as seconds from now: delta seconds, epoch seconds/ms, an HTTP date or ISO 8601."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number > 1e12:  # epoch milliseconds
            return number / 1000 - now.timestamp()
        if number > 1e9:  # epoch seconds (GitHub x-ratelimit-reset)
            return number - now.timestamp()
        return number  # delta seconds
    for parse in (parsedate_to_datetime, datetime.fromisoformat):
        try:
            when = parse(value)
        except (TypeError, ValueError, IndexError):
            continue
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return (when - now).total_seconds()
    return None


def retry_after_seconds(headers: Mapping[str, str], *, use_reset: bool, now: datetime | None = None) -> float | None:
    """The longest wait any of the vendor's headers asks for, or None if none says.

    ``Retry-After`` (seconds or HTTP date), Jira's ``Beta-Retry-After``, and — for rate-limit responses
    only, since GitHub sends it on every response — ``X-RateLimit-Reset`` (epoch seconds on GitHub,
    ISO 8601 on Jira).
    """
    now = now or datetime.now(UTC)
    names = ["retry-after", "beta-retry-after"] + (["x-ratelimit-reset"] if use_reset else [])
    waits = [wait for name in names if (raw := headers.get(name)) and (wait := _seconds_until(raw, now)) is not None]
    return max(0.0, *waits) if waits else None
