"""OpenAI and Pinecone retries: never sooner than the server asked, one cool-down per API, one wait budget."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from core.pacing import Cooldown, shared_cooldown
from ingest.embedders import OpenAIEmbedder
from ingest.errors import EmbeddingError, StoreError
from ingest.retrying import RetryBudgetExceeded, TransientRetry
from ingest.stores.pinecone import PineconeStore
from sandbox.server import RunningSandbox
from tests.connectors.fake_clock import FakeClock
from tests.ingest.ingest_helpers import make_settings


def _sent(sb: RunningSandbox, api: str) -> int:
    return sum(n for key, n in sb.control("counters")["counters"].items() if key.startswith(f"{api} "))


def _injected_429s(sb: RunningSandbox, api: str) -> int:
    return sb.control("counters")["faults"].get(f"{api} rate_429", 0)


def test_openai_429_retry_after_is_waited_in_full(sb: RunningSandbox, settings) -> None:
    sb.control("faults", {"openai": {"rate_429": 0.5, "retry_after": 1.0}})  # retry-after: 1, retry-after-ms: 1000
    embedder = OpenAIEmbedder(settings)
    started = time.monotonic()
    calls = 0
    while not _injected_429s(sb, "openai") and calls < 10:
        assert len(embedder.embed([f"text {calls}"])) == 1
        calls += 1
    elapsed = time.monotonic() - started
    injected = _injected_429s(sb, "openai")
    assert injected >= 1
    assert elapsed >= injected * 1.0  # every retry came a full second after its 429, never sooner
    assert _sent(sb, "openai") == calls + injected


def test_pinecone_429_retry_after_is_waited_in_full(sb: RunningSandbox, settings) -> None:
    store = PineconeStore(settings)
    sb.control("faults", {"pinecone": {"rate_429": 0.5, "retry_after": 1.0}})
    started = time.monotonic()
    calls = 0
    while not _injected_429s(sb, "pinecone") and calls < 10:
        assert store.count() == 0
        calls += 1
    elapsed = time.monotonic() - started
    injected = _injected_429s(sb, "pinecone")
    assert injected >= 1
    assert elapsed >= injected * 1.0
    assert _sent(sb, "pinecone") == calls + injected


def test_the_pinecone_sdk_does_not_retry_behind_our_back(sb: RunningSandbox, settings) -> None:
    # pinecone 10.2's data plane retries 429s itself (4 attempts, Retry-After capped at 60 s); the store turns
    # that off so its own policy is the only one. Two attempts must mean two requests, not eight.
    store = PineconeStore(settings, attempts=2)
    sb.control("faults", {"pinecone": {"rate_429": 1.0, "retry_after": 0.05}})
    with pytest.raises(StoreError, match="describe_index_stats"):
        store.count()
    assert _sent(sb, "pinecone") == 2


def test_a_wait_beyond_the_budget_fails_at_once_naming_the_setting(sb: RunningSandbox, tmp_path: Path) -> None:
    settings = make_settings(sb, tmp_path, backfill_http_max_wait_s=0.5)
    for api in ("openai", "pinecone"):
        shared_cooldown(api).wait()  # a cool-down an earlier test left would fail us before the first request
    sb.control("faults", {"openai": {"rate_429": 1.0, "retry_after": 1.0}, "pinecone": {"rate_429": 1.0}})
    sb.control("faults", {"pinecone": {"retry_after": 1.0}})
    started = time.monotonic()
    with pytest.raises(EmbeddingError) as embedding:
        OpenAIEmbedder(settings).embed(["hello"])
    with pytest.raises(StoreError) as store:
        PineconeStore(settings).count()
    assert time.monotonic() - started < 1.0  # nothing slept: a 1 s wait does not fit a 0.5 s budget
    for caught in (embedding, store):
        message = str(caught.value)
        assert "0.5 s wait budget" in message and "BACKFILL_HTTP_MAX_WAIT_S" in message, message
        assert "429" in message
    assert _sent(sb, "openai") == 1 and _sent(sb, "pinecone") == 1


def test_a_stated_wait_is_never_cut_short() -> None:
    # The old policy capped Retry-After at 60 s and so retried a 90 s wait after 60.
    clock = FakeClock()
    answers: list[Exception | str] = [_Limited(90.0), "ok"]
    retry = _retry(clock, Cooldown(clock=clock.now, sleep=clock.sleep), attempts=3, max_wait_s=600)
    assert retry(lambda: _answer(answers)) == "ok"
    assert clock.slept == [90.0]


def test_one_calls_429_holds_every_other_call_to_the_api() -> None:
    clock = FakeClock()
    api = Cooldown(clock=clock.now, sleep=clock.sleep)
    with pytest.raises(_Limited):  # gives up (one attempt), and the API cools down for 30 s
        _retry(clock, api, attempts=1, max_wait_s=600)(lambda: _answer([_Limited(30.0)]))
    called_at: list[float] = []
    another_batch = _retry(clock, api, attempts=1, max_wait_s=600)
    assert another_batch(lambda: called_at.append(clock.now()) or "ok") == "ok"
    assert clock.slept == [30.0] and called_at == [1_030.0]  # waited out, and it cost no attempt


def test_another_calls_cooldown_beyond_the_budget_fails_before_calling() -> None:
    clock = FakeClock()
    api = Cooldown(clock=clock.now, sleep=clock.sleep)
    api.hold(900)
    called: list[bool] = []
    with pytest.raises(RetryBudgetExceeded, match=r"cooling down for another 900 s.*600 s wait budget"):
        _retry(clock, api, attempts=3, max_wait_s=600)(lambda: called.append(True))
    assert called == [] and clock.slept == []


class _Limited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"429, retry after {wait}")
        self.wait = wait


def _answer(answers: list[Exception | str]) -> str:
    answer = answers.pop(0)
    if isinstance(answer, Exception):
        raise answer
    return answer


def _retry(clock: FakeClock, cooldown: Cooldown, *, attempts: int, max_wait_s: float) -> TransientRetry:
    """A TransientRetry on the fake clock; those given the same ``cooldown`` are calls to one API."""
    return TransientRetry(
        f"fake-{uuid.uuid4().hex[:6]}",
        "Fake",
        lambda exc: isinstance(exc, _Limited),
        lambda exc: exc.wait if isinstance(exc, _Limited) else None,
        attempts=attempts,
        max_wait_s=max_wait_s,
        cooldown=cooldown,
        sleep=clock.sleep,
    )
