"""One retry policy for the vendor SDKs: transient errors only, honouring the server's Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

__all__ = ["MAX_RETRY_AFTER_S", "retry_after_seconds", "transient_retrying"]

MAX_RETRY_AFTER_S = 60.0


def retry_after_seconds(headers: object) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``), or None."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    millis = get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def _wait(retry_after: Callable[[BaseException], float | None], base: float, cap: float):
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after(exc) if exc is not None else None
        if asked is not None:
            return min(max(asked, 0.0), MAX_RETRY_AFTER_S)
        backoff = min(cap, base * 2 ** (state.attempt_number - 1))
        return backoff * random.uniform(0.5, 1.0)  # jitter so concurrent workers do not retry in lockstep

    return wait


def transient_retrying(
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None],
    attempts: int = 6,
    base_wait_s: float = 0.5,
    max_wait_s: float = 20.0,
) -> Retrying:
    """A tenacity ``Retrying`` that retries ``is_transient`` errors and re-raises the last one at the end."""
    return Retrying(
        retry=retry_if_exception(is_transient),
        wait=_wait(retry_after, base_wait_s, max_wait_s),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
