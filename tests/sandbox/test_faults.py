"""Fault profiles and quotas, observed from the client side over real HTTP."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from sandbox.server import start_sandbox

PINECONE_HEADERS = {"Api-Key": "k", "X-Pinecone-Api-Version": "2026-04"}
# The rates test wants the injected faults alone: no latency, no quota 429s mixed in.
QUIET = {"latency_ms": 0, "quota": False}


def _observe(base_url: str, requests: int) -> tuple[Counter[str], list[str]]:
    """Send cheap stats requests; classify each outcome."""
    seen: Counter[str] = Counter()
    sequence: list[str] = []
    with httpx.Client(base_url=base_url, headers=PINECONE_HEADERS, timeout=10) as client:
        for _ in range(requests):
            try:
                response = client.post("/describe_index_stats", json={})
            except httpx.TransportError:
                outcome = "reset"
            else:
                outcome = _classify(response)
            seen[outcome] += 1
            sequence.append(outcome)
    return seen, sequence


def _classify(response: httpx.Response) -> str:
    if response.status_code in (429, 503):
        return str(response.status_code)
    if "text/html" in response.headers.get("content-type", ""):
        return "html_200"
    try:
        response.json()
    except ValueError:
        return "truncated"
    return "ok"


def test_flaky_rates_match_configuration() -> None:
    with start_sandbox(seed=7, profile="flaky", overrides={"pinecone": QUIET}) as sb:
        seen, _ = _observe(sb.base_url, 1200)
        injected = sb.control("counters")["faults"]
    n = sum(seen.values())
    # Expected shares 10% / 5% / 2%; tolerances are ~4 standard deviations of a binomial at n=1200.
    assert abs(seen["429"] / n - 0.10) < 0.035
    assert abs(seen["503"] / n - 0.05) < 0.025
    assert abs(seen["reset"] / n - 0.02) < 0.016
    assert seen["reset"] == injected["pinecone reset"]  # every drop surfaced as a transport error
    assert seen["ok"] + seen["429"] + seen["503"] + seen["reset"] == n  # flaky never garbles bodies


def test_hostile_adds_garbled_bodies() -> None:
    overrides = {"pinecone": {**QUIET, "slow": 0}}
    with start_sandbox(seed=7, profile="hostile", overrides=overrides) as sb:
        seen, _ = _observe(sb.base_url, 600)
    assert seen["truncated"] > 0
    assert seen["html_200"] > 0
    assert seen["ok"] > 400


def test_same_seed_same_faults() -> None:
    runs = []
    for _ in range(2):
        with start_sandbox(seed=3, profile="flaky", overrides={"pinecone": QUIET}) as sb:
            runs.append(_observe(sb.base_url, 200)[1])
    assert runs[0] == runs[1]
    assert set(runs[0]) > {"ok"}


def test_overrides_change_one_api_only(fresh_sandbox) -> None:
    fresh_sandbox.control("faults", {"pinecone": {"rate_5xx": 1.0}})
    stats = httpx.post(f"{fresh_sandbox.base_url}/describe_index_stats", json={}, headers=PINECONE_HEADERS)
    embed = httpx.post(
        f"{fresh_sandbox.env['OPENAI_BASE_URL']}/embeddings",
        json={"model": "text-embedding-3-small", "input": "hi"},
        headers={"Authorization": f"Bearer {fresh_sandbox.env['OPENAI_API_KEY']}"},
    )
    assert stats.status_code == 503
    assert embed.status_code == 200
    assert httpx.get(f"{fresh_sandbox.base_url}/_control/counters").status_code == 200  # never faulted


def test_every_quota_answers_in_its_vendor_style(fresh_sandbox) -> None:
    """Switch each API's quota on with a bucket of one; the second request gets that vendor's 429."""
    specs = fresh_sandbox.app.state.specs
    for name in specs:
        fresh_sandbox.control("faults", {name: {"quota": True, "requests_per_second": 0.01, "burst": 1}})
    with httpx.Client(timeout=10) as client:
        for name, spec in specs.items():
            url = f"{fresh_sandbox.base_url}{spec.prefix}/quota-probe"
            client.get(url)  # takes the only token (whatever the route answers)
            limited = client.get(url)
            expected = spec.rate_limited(100.0)
            assert limited.status_code == expected.status_code, name
            media_type = expected.headers.get("content-type", "").split(";")[0]
            assert limited.headers.get("content-type", "").split(";")[0] == media_type, name
    rejections = fresh_sandbox.control("counters")["rejections"]
    assert all(rejections[f"{name} quota"] == 1 for name in specs)


def test_quota_429s_carry_retry_after(fresh_sandbox) -> None:
    fresh_sandbox.control("faults", {"pinecone": {"quota": True, "requests_per_second": 0.5, "burst": 2}})
    statuses = [
        httpx.post(f"{fresh_sandbox.base_url}/describe_index_stats", json={}, headers=PINECONE_HEADERS)
        for _ in range(3)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert 0 < float(statuses[2].headers["Retry-After"]) <= 2.0
    assert statuses[2].json()["code"] == 8


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault profile"):
        start_sandbox(profile="chaotic")
