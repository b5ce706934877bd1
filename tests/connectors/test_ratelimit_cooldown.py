"""One cool-down per API: a 429's wait pauses every thread and client of that API in the process."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from connectors.errors import RateLimitedError, TransientError
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.ratelimit import RateLimiter, shared_limiter
from core.pacing import Cooldown, CooldownTooLong, retry_after_seconds
from tests.connectors.fake_clock import FakeClock

BASE = "https://api.example.test"


def _client(api: str, handler, *, limiter: RateLimiter | None = None, **policy: object) -> ApiClient:
    retry = RetryPolicy(**policy)  # type: ignore[arg-type]
    return make_client(api, BASE, None, transport=httpx.MockTransport(handler), retry=retry, limiter=limiter)


def test_four_threads_send_nothing_until_the_cooldown_ends() -> None:
    api = f"storm-{uuid.uuid4().hex[:8]}"  # a fresh process-wide limiter: nothing shared with other tests
    cool_s, per_thread = 0.5, 60
    sent: list[tuple[float, str, int]] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            first = not sent
            sent.append((time.monotonic(), threading.current_thread().name, 429 if first else 200))
        if first:
            return httpx.Response(429, headers={"Retry-After": str(cool_s)})
        time.sleep(0.005)  # a fast server: without a shared cool-down, 3 threads send ~250 requests in 0.5 s
        return httpx.Response(200, json={})

    def worker() -> None:
        client = _client(api, handler)  # one client per thread, like parallel partitions: same API, same limiter
        for _ in range(per_thread):
            client.get_json("GET", "/items")

    threads = [threading.Thread(target=worker, name=f"w{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    limited_at = sent[0][0]
    # Requests already on the wire when the 429 came back are allowed a few milliseconds; after that, nothing
    # from any thread until the cool-down is over.
    early = [(round(t - limited_at, 3), name) for t, name, _ in sent[1:] if limited_at + 0.1 < t < limited_at + cool_s]
    assert early == []
    assert [status for _, _, status in sent].count(429) == 1
    assert len(sent) == 4 * per_thread + 1  # the one retry; nobody else was refused or retried
    assert {name for t, name, _ in sent if t >= limited_at + cool_s} == {"w0", "w1", "w2", "w3"}


def test_waiting_out_another_requests_cooldown_costs_no_attempt() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock.now, sleep=clock.sleep)  # shared by both clients, like one API's
    first = _client("api", lambda r: httpx.Response(429, headers={"Retry-After": "30"}), limiter=limiter,
                    max_attempts=1, sleep=clock.sleep)  # fmt: skip
    with pytest.raises(RateLimitedError):
        first.get_json("GET", "/a")  # gives up at once, but the API now cools down for 30 s
    seen: list[float] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(clock.now())
        return httpx.Response(200, json={"ok": 1})

    second = _client("api", ok, limiter=limiter, max_attempts=1, sleep=clock.sleep)
    assert second.get_json("GET", "/b") == {"ok": 1}  # one attempt was enough: the wait was not one
    assert clock.slept == [30.0] and seen == [1_030.0]


def test_a_cooldown_beyond_the_budget_fails_before_sending() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock.now, sleep=clock.sleep)
    limiter.cooldown.hold(300)
    requests: list[httpx.Request] = []
    client = _client("api", requests.append, limiter=limiter, max_total_wait_s=100, sleep=clock.sleep)
    with pytest.raises(RateLimitedError) as caught:
        client.get_json("GET", "/x")
    assert requests == [] and clock.slept == []
    message = str(caught.value)
    assert "cooling down for another 300 s" in message
    assert "100 s wait budget" in message and "BACKFILL_HTTP_MAX_WAIT_S" in message


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (503, {"Retry-After": "7"}),
        (403, {"x-ratelimit-remaining": "0", "retry-after": "7"}),  # GitHub's quota 403
        (429, {"Retry-After": "7"}),
    ],
)
def test_every_stated_wait_becomes_the_apis_cooldown(status: int, headers: dict[str, str]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock.now, sleep=clock.sleep)
    client = _client("api", lambda r: httpx.Response(status, headers=headers), limiter=limiter, max_attempts=1)
    with pytest.raises(TransientError):  # RateLimitedError for the 429 and the 403
        client.get_json("GET", "/x")
    assert limiter.cooldown.remaining() == 7.0


def test_a_429_without_a_stated_wait_pauses_the_api_for_the_backoff() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock.now, sleep=clock.sleep)
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(clock.now())
        return httpx.Response(429) if len(calls) == 1 else httpx.Response(200, json={})

    held: list[float] = []

    def sleep(seconds: float) -> None:
        held.append(limiter.cooldown.remaining())  # what every other thread would wait, as this one sleeps
        clock.sleep(seconds)

    _client("api", handler, limiter=limiter, sleep=sleep, backoff_base_s=4.0).get_json("GET", "/x")
    assert len(clock.slept) == 1 and 0 < clock.slept[0] <= 8.0
    assert held == pytest.approx(clock.slept) and calls[1] == calls[0] + clock.slept[0]


def test_all_limiters_of_an_api_share_its_cooldown_whatever_their_rate() -> None:
    api = f"shared-{uuid.uuid4().hex[:8]}"
    assert shared_limiter(api, 2.0) is shared_limiter(api, 2.0)
    assert shared_limiter(api, 2.0).cooldown is shared_limiter(api, None).cooldown
    assert shared_limiter(api, None).cooldown is not shared_limiter(f"{api}-other", None).cooldown


def test_a_cooldown_extended_while_waiting_is_waited_out() -> None:
    clock = FakeClock()
    built: list[Cooldown] = []

    def sleep_and_extend(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.slept) == 1:
            built[0].hold(5)  # another thread's 429 arrives while we sleep

    cooldown = Cooldown(clock=clock.now, sleep=sleep_and_extend)
    built.append(cooldown)
    cooldown.hold(10)
    assert cooldown.wait() == 15.0 and clock.slept == [10.0, 5.0]
    cooldown.hold(3)
    cooldown.hold(1)  # a shorter wait never shortens the cool-down
    with pytest.raises(CooldownTooLong) as caught:
        cooldown.wait(max_wait_s=2)
    assert caught.value.remaining == 3.0 and clock.slept == [10.0, 5.0]


def test_acquire_checks_the_cooldown_again_after_queueing_for_a_token() -> None:
    clock = FakeClock()
    built: list[RateLimiter] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.slept) == 1:
            built[0].cooldown.hold(20)  # set while this caller queued for its token

    limiter = RateLimiter(1.0, burst=1, clock=clock.now, sleep=sleep)
    built.append(limiter)
    limiter.acquire()  # the only token
    assert limiter.acquire() == 21.0 and clock.slept == [1.0, 20.0]


def test_retry_after_headers_of_every_vendor() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "1"}, now=now) == 1.5
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, now=now) == 30
    # OpenAI's reset durations: only on a rate-limit response, only when nothing states a wait, and only for the
    # exhausted limit (both when neither says).
    openai = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0s"}
    openai |= {"x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "6m0s"}
    assert retry_after_seconds(openai, use_reset=True, now=now) == 60
    assert retry_after_seconds(openai, use_reset=False, now=now) is None
    assert retry_after_seconds({**openai, "retry-after-ms": "176"}, use_reset=True, now=now) == 0.176
    both = {"x-ratelimit-reset-requests": "12ms", "x-ratelimit-reset-tokens": "1.5s"}
    assert retry_after_seconds(both, use_reset=True, now=now) == 1.5
    assert retry_after_seconds({"x-ratelimit-reset-tokens": "soon"}, use_reset=True, now=now) is None
