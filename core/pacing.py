"""What a server asks us to wait, and one cool-down per API that every thread of the process honours.

Core (stdlib only, no I/O): the HTTP layer (``connectors/``) and the vendor-SDK retries (``ingest/``) both read
``Retry-After`` & co. through ``retry_after_seconds`` and record "API X is cooling down until T" in
``shared_cooldown(api)``, so one 429 pauses every thread sending to that API, not only the one that got it.

A cool-down is per process. Across processes, one run per source holds the source's state lease
(``core/lease.py``) and Prefect concurrency limits bound how many runs go at once; a second process that
meets the same 429 honours the same header on its own.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["Cooldown", "CooldownTooLong", "retry_after_seconds", "shared_cooldown"]


class CooldownTooLong(Exception):
    """The API cools down for longer than the caller may wait; ``remaining`` is how long, in seconds."""

    def __init__(self, remaining: float) -> None:
        super().__init__(f"cooling down for another {remaining:.1f} s")
        self.remaining = remaining


class Cooldown:
    """One API's "send nothing before T": set by any thread a server told to wait, honoured by every thread.

    ``hold`` only ever moves T later. ``clock`` and ``sleep`` are seams (a test's fake clock must advance
    when its ``sleep`` is called).
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._until = float("-inf")
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Nothing is sent for ``seconds`` from now (or until a later time already recorded)."""
        with self._lock:
            self._until = max(self._until, self._clock() + max(0.0, seconds))

    def remaining(self) -> float:
        """Seconds until the API may be called again (0 when it may be now)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self, max_wait_s: float = float("inf")) -> float:
        """Sleep until the cool-down is over, also when another thread extends it meanwhile; the seconds slept.

        Raises ``CooldownTooLong`` (having slept nothing more) when the end is further than ``max_wait_s`` away.
        """
        waited = 0.0
        before: float | None = None
        while (remaining := self.remaining()) > 0:
            now = self._clock()
            if now == before:  # a clock that did not move while we slept (a test's recorder): do not spin
                break
            if waited + remaining > max_wait_s:
                raise CooldownTooLong(remaining)
            self._sleep(remaining)
            waited += remaining
            before = now
        return waited


_COOLDOWNS: dict[str, Cooldown] = {}
_COOLDOWNS_LOCK = threading.Lock()


def shared_cooldown(api: str) -> Cooldown:
    """The process-wide cool-down of ``api`` (``"jira"``, ``"openai"``, ``"pinecone"``, …)."""
    with _COOLDOWNS_LOCK:
        if api not in _COOLDOWNS:
            _COOLDOWNS[api] = Cooldown()
        return _COOLDOWNS[api]


_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(value: str) -> float | None:
    """OpenAI's reset format (``12ms``, ``1.5s``, ``6m0s``) in seconds, or None."""
    value = value.strip()
    if not _DURATION.fullmatch(value):
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(value))


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


def retry_after_seconds(
    headers: Mapping[str, str], *, use_reset: bool = False, now: datetime | None = None
) -> float | None:
    """The wait a response asks for, in seconds (≥ 0), or None when it states none.

    Stated waits, the longest wins: ``retry-after-ms`` (OpenAI), ``Retry-After`` (seconds or an HTTP date),
    Jira's ``Beta-Retry-After``. With ``use_reset`` (rate-limit responses only: GitHub sends reset headers on
    every response), ``X-RateLimit-Reset`` (epoch seconds on GitHub, ISO 8601 on Jira) joins them (Jira's
    rule: the larger); OpenAI's ``x-ratelimit-reset-requests``/``-tokens`` (durations such as ``6m0s``) say when
    the whole bucket is full again, so they count only when nothing else states a wait, and only for a limit
    whose ``x-ratelimit-remaining-*`` is 0 (both when neither says).
    """
    now = now or datetime.now(UTC)
    lower = {name.lower(): value for name, value in headers.items()}
    waits: list[float] = []
    if raw_ms := lower.get("retry-after-ms"):
        with contextlib.suppress(ValueError):
            waits.append(float(raw_ms) / 1000)
    names = ["retry-after", "beta-retry-after"] + (["x-ratelimit-reset"] if use_reset else [])
    waits += [wait for name in names if (raw := lower.get(name)) and (wait := _seconds_until(raw, now)) is not None]
    if not waits and use_reset:
        kinds = [kind for kind in ("requests", "tokens") if lower.get(f"x-ratelimit-remaining-{kind}") == "0"]
        for kind in kinds or ["requests", "tokens"]:
            if (raw := lower.get(f"x-ratelimit-reset-{kind}")) and (wait := _duration(raw)) is not None:
                waits.append(wait)
    return max(0.0, *waits) if waits else None
