"""One retry policy for the vendor SDKs (OpenAI, Pinecone): transient errors only, never sooner than asked.

Both SDKs have their own retries switched off (``OpenAI(max_retries=0)``; the Pinecone data plane's, see
``ingest/stores/pinecone.py``), so the waits here are the only ones: a wait the server states (``Retry-After``,
``retry-after-ms``, OpenAI's ``x-ratelimit-reset-*``, read by ``core.pacing.retry_after_seconds``) is
honoured in full and becomes the API's cool-down, which every thread of the process waits out before its next
request. A stated wait beyond what is left of the request's budget (``BACKFILL_HTTP_MAX_WAIT_S``) fails now with
``RetryBudgetExceeded`` instead of retrying early.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from core.pacing import Cooldown, CooldownTooLong, retry_after_seconds, shared_cooldown

__all__ = ["MAX_WAIT_SETTING", "RetryBudgetExceeded", "TransientRetry", "retry_after_seconds"]

MAX_WAIT_SETTING = "BACKFILL_HTTP_MAX_WAIT_S"
_T = TypeVar("_T")


class RetryBudgetExceeded(Exception):
    """A wait the server asked for would pass the request's wait budget: give up now, not later.

    ``last`` is the vendor error that asked for the wait (None when another request's cool-down did).
    """

    def __init__(self, message: str, last: BaseException | None = None) -> None:
        super().__init__(message)
        self.last = last


class TransientRetry:
    """Call a function, retrying ``is_transient`` errors; the same object may serve many calls and threads.

    ``api`` names the shared cool-down (``"openai"``, ``"pinecone"``) and ``label`` the API in messages.
    ``attempts`` and ``max_wait_s`` bound each call (``BACKFILL_HTTP_MAX_ATTEMPTS``, ``BACKFILL_HTTP_MAX_WAIT_S``);
    the waits a server did not state back off exponentially with jitter, up to ``max_backoff_s``.
    """

    def __init__(
        self,
        api: str,
        label: str,
        is_transient: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None],
        *,
        attempts: int,
        max_wait_s: float,
        base_wait_s: float = 0.5,
        max_backoff_s: float = 20.0,
        cooldown: Cooldown | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self.is_transient = is_transient
        self.retry_after = retry_after
        self.attempts = max(1, attempts)
        self.max_wait_s = max_wait_s
        self.base_wait_s = base_wait_s
        self.max_backoff_s = max_backoff_s
        self.cooldown = cooldown or shared_cooldown(api)
        self._sleep = sleep

    def __call__(self, fn: Callable[..., _T], *args: object) -> _T:
        spent = [0.0]  # seconds this call waited: its own retry waits and the API's cool-down

        def attempt() -> _T:
            try:
                spent[0] += self.cooldown.wait(self.max_wait_s - spent[0])
            except CooldownTooLong as exc:
                raise RetryBudgetExceeded(
                    f"{self.label} is cooling down for another {exc.remaining:.0f} s (a server asked another "
                    f"request to wait), beyond what is left of the {self.max_wait_s:g} s wait budget "
                    f"({MAX_WAIT_SETTING}; {spent[0]:.0f} s spent)"
                ) from None
            try:
                return fn(*args)
            except Exception as exc:
                asked = self.retry_after(exc) if self.is_transient(exc) else None
                if asked:
                    self.cooldown.hold(asked)  # every thread waits it out, not only this call
                raise

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = self.retry_after(exc) if exc is not None else None
            if asked is not None:
                return max(asked, 0.0)  # in full: never sooner than the server said
            backoff = min(self.max_backoff_s, self.base_wait_s * 2 ** (state.attempt_number - 1))
            return backoff * random.uniform(0.5, 1.0)  # jitter so concurrent workers do not retry in lockstep

        def over_budget(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            asked = (self.retry_after(exc) if exc is not None else None) or 0.0
            return spent[0] + max(asked, self.cooldown.remaining()) > self.max_wait_s

        def give_up(state: RetryCallState) -> _T:
            exc = state.outcome.exception() if state.outcome else None
            assert exc is not None
            if state.attempt_number < self.attempts:  # stopped by the budget, not by the attempts
                asked = max(self.retry_after(exc) or 0.0, self.cooldown.remaining())
                raise RetryBudgetExceeded(
                    f"gave up after {state.attempt_number} attempts: the server asked to wait {asked:.0f} s more, "
                    f"beyond the {self.max_wait_s:g} s wait budget ({MAX_WAIT_SETTING}; {spent[0]:.0f} s spent)",
                    last=exc,
                ) from exc
            raise exc

        def sleep(seconds: float) -> None:
            spent[0] += seconds
            self._sleep(seconds)

        retrying = Retrying(
            retry=retry_if_exception(self.is_transient),
            wait=wait,
            stop=stop_after_attempt(self.attempts) | over_budget,
            sleep=sleep,
            retry_error_callback=give_up,
        )
        return retrying(attempt)
