"""The HTTP layer's retry policy: what is retried, how long each wait is, and when a request gives up.

``RetryPolicy`` is the knob (defaults from ``BACKFILL_HTTP_MAX_ATTEMPTS`` / ``BACKFILL_HTTP_MAX_WAIT_S``);
``CallRetry`` is one request's tenacity callbacks and its wait budget. A server's stated wait (``Retry-After``
and vendor reset headers) is honoured in full, never cut short: when it would pass what is left of the budget,
the request fails now, naming the budget and its setting, instead of retrying early or sleeping in vain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState, Retrying, wait_random_exponential

from connectors.errors import (
    ConnectorError,
    MalformedResponseError,
    RateLimitedError,
    RejectedRequestError,
    TransientError,
)
from connectors.ratelimit import RateLimiter
from core.settings import Settings

__all__ = ["MAX_ATTEMPTS_SETTING", "MAX_WAIT_SETTING", "CallRetry", "RetryPolicy"]

MAX_WAIT_SETTING = "BACKFILL_HTTP_MAX_WAIT_S"
MAX_ATTEMPTS_SETTING = "BACKFILL_HTTP_MAX_ATTEMPTS"
_DEFAULT_MAX_ATTEMPTS: int = Settings.model_fields["backfill_http_max_attempts"].default
_DEFAULT_MAX_WAIT_S: float = Settings.model_fields["backfill_http_max_wait_s"].default


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures. ``sleep`` is a seam: tests record waits instead of sleeping.

    The defaults are the settings' defaults; ``RetryPolicy.from_settings`` applies the configured values
    (``make_client`` does so when it is given no policy).
    """

    max_attempts: int = _DEFAULT_MAX_ATTEMPTS
    # An HTML page or a truncated body under HTTP 200 is usually a proxy or maintenance blip: retry it a little,
    # then fail with the excerpt. (Other 4xx are never retried.)
    malformed_attempts: int = 3
    # Everything one request may spend waiting (its own retries and the API's cool-down): a stated wait beyond
    # what is left of it fails now, not later. 600 s honours a Retry-After of 120 s four times.
    max_total_wait_s: float = _DEFAULT_MAX_WAIT_S
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RetryPolicy:
        """The policy configured by ``BACKFILL_HTTP_MAX_ATTEMPTS`` and ``BACKFILL_HTTP_MAX_WAIT_S``."""
        values: dict[str, Any] = {
            "max_attempts": settings.backfill_http_max_attempts,
            "max_total_wait_s": settings.backfill_http_max_wait_s,
        }
        return cls(**{**values, **overrides})


class CallRetry:
    """One request's retry state: tenacity's predicates and its wait budget.

    ``spent`` counts every second this request waited: its own retry waits and the API's cool-down (set by any
    thread's 429). Waiting out another thread's cool-down costs budget but no attempt.
    """

    def __init__(self, policy: RetryPolicy, limiter: RateLimiter | None) -> None:
        self.policy = policy
        self.limiter = limiter
        self.spent = 0.0
        self._over_budget: float | None = None  # the wait that would have passed the budget, when that stopped us

    def retrying(self) -> Retrying:
        return Retrying(
            retry=self._is_retriable,
            stop=self._should_stop,
            wait=self._wait_for,
            sleep=self._sleep,
            retry_error_callback=self._give_up,
        )

    def budget_left(self) -> float:
        return max(0.0, self.policy.max_total_wait_s - self.spent)

    def _sleep(self, seconds: float) -> None:
        self.spent += seconds
        self.policy.sleep(seconds)

    @staticmethod
    def _is_retriable(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError):
            return True
        return isinstance(exc, MalformedResponseError) and not isinstance(exc, RejectedRequestError)

    def _should_stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            return True
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, MalformedResponseError) and state.attempt_number >= self.policy.malformed_attempts:
            return True
        wanted = max(getattr(exc, "retry_after", None) or 0.0, self.limiter.cooldown.remaining() if self.limiter else 0)
        if self.spent + wanted > self.policy.max_total_wait_s:
            self._over_budget = wanted
            return True
        return False

    def _wait_for(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        wanted = getattr(exc, "retry_after", None)
        if wanted is not None:
            return max(0.0, wanted)  # the API's cool-down holds it too (set when the response was classified)
        backoff = wait_random_exponential(multiplier=self.policy.backoff_base_s, max=self.policy.backoff_max_s)
        wait = backoff(state)
        if isinstance(exc, RateLimitedError) and self.limiter is not None:
            self.limiter.cooldown.hold(wait)  # a 429 that names no wait still pauses every thread, for our backoff
        return wait

    def _give_up(self, state: RetryCallState) -> Any:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, ConnectorError)
        attempts = state.attempt_number
        if self._over_budget is not None:
            why = (
                f"gave up after {attempts} attempts: waiting {self._over_budget:.0f} s more would pass the "
                f"{self.policy.max_total_wait_s:g} s wait budget ({MAX_WAIT_SETTING}; {self.spent:.0f} s spent)"
            )
        elif attempts >= self.policy.max_attempts:
            why = f"gave up after {attempts} attempts, the limit ({MAX_ATTEMPTS_SETTING})"
        else:
            why = f"gave up after {attempts} attempts"
        exc.args = (f"{exc.args[0]} ({why})",)
        raise exc
