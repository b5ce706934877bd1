"""The sandbox control API, the app's mounting and counting, and the server helper."""

from __future__ import annotations

import httpx
import pytest

from sandbox.app import API_MODULES, load_specs
from sandbox.context import SandboxContext
from sandbox.server import start_sandbox

PINECONE_HEADERS = {"Api-Key": "k", "X-Pinecone-Api-Version": "2026-04"}


def test_counters_use_api_method_and_raw_path(fresh_sandbox) -> None:
    base = fresh_sandbox.base_url
    httpx.post(f"{base}/describe_index_stats", json={}, headers=PINECONE_HEADERS)
    httpx.get(f"{base}/vectors/fetch", params={"ids": "a"}, headers=PINECONE_HEADERS)
    httpx.post(f"{fresh_sandbox.env['OPENAI_BASE_URL']}/embeddings", json={})  # 401, still counted
    httpx.get(f"{base}/_control/counters")  # control calls are not counted

    counters = fresh_sandbox.control("counters")
    assert counters["counters"] == {
        "pinecone POST /describe_index_stats": 1,
        "pinecone GET /vectors/fetch": 1,
        "openai POST /v1/embeddings": 1,
    }
    assert counters["rejections"] == {"openai missing_api_key": 1}


def test_reset_clears_counters_data_and_faults(sandbox) -> None:
    sandbox.control("pinecone/configure", {"dimension": 2})
    upsert = {"vectors": [{"id": "a", "values": [1.0, 0.0]}], "namespace": "ns"}
    httpx.post(f"{sandbox.base_url}/vectors/upsert", json=upsert, headers=PINECONE_HEADERS)
    sandbox.control("faults", {"profile": "flaky", "pinecone": {"rate_5xx": 1.0}})

    sandbox.control("reset")

    assert sandbox.control("counters")["counters"] == {}
    assert sandbox.control("faults")["profile"] == "none"
    assert sandbox.control("faults")["switches"]["pinecone"]["rate_5xx"] == 0.0
    stats = httpx.post(f"{sandbox.base_url}/describe_index_stats", json={}, headers=PINECONE_HEADERS).json()
    assert stats["totalVectorCount"] == 0
    assert stats["dimension"] == 1536  # back to the initial dimension


def test_clock_moves_and_resets(fresh_sandbox) -> None:
    start = fresh_sandbox.control("counters")["now"]
    moved = fresh_sandbox.control("clock", {"advance_seconds": 3600})["now"]
    assert moved > start
    assert fresh_sandbox.control("clock", {"set": "2027-01-01T00:00:00Z"})["now"] == "2027-01-01T00:00:00+00:00"
    assert fresh_sandbox.ctx.clock.now().year == 2027
    fresh_sandbox.control("reset")
    assert fresh_sandbox.control("counters")["now"] == start


def test_bad_control_requests(fresh_sandbox) -> None:
    base = f"{fresh_sandbox.base_url}/_control"
    assert httpx.post(f"{base}/faults", json={"profile": "chaotic"}).status_code == 400
    assert httpx.post(f"{base}/faults", json={"no-such-api": {"rate_429": 1}}).status_code == 400
    assert httpx.post(f"{base}/clock", json={}).status_code == 400
    assert httpx.post(f"{base}/openai/anything", json={}).status_code == 404  # openai has no control
    assert httpx.post(f"{base}/nope/reset", json={}).status_code == 404
    assert httpx.post(f"{base}/pinecone/explode", json={}).status_code == 400


def test_present_modules_are_mounted() -> None:
    specs = load_specs(SandboxContext())
    assert {"openai", "pinecone"} <= set(specs)
    assert set(specs) <= {name.removesuffix(".api") for name in API_MODULES}


def test_env_and_independent_instances() -> None:
    with start_sandbox(seed=1) as one, start_sandbox(seed=2) as two:
        assert one.port != two.port
        assert one.env["PINECONE_INDEX_HOST"] == one.base_url
        assert one.env["OPENAI_BASE_URL"] == f"{one.base_url}/openai/v1"
        for key in ("OPENAI_API_KEY", "PINECONE_API_KEY", "PINECONE_NAMESPACE"):
            assert one.env[key]
        one.control("faults", {"pinecone": {"rate_5xx": 1.0}})
        answer = httpx.post(f"{two.base_url}/describe_index_stats", json={}, headers=PINECONE_HEADERS)
        assert answer.status_code == 200  # faults are per instance


def test_stop_frees_the_port() -> None:
    sandbox = start_sandbox()
    sandbox.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{sandbox.base_url}/_control/counters", timeout=2)


def test_deleted_worklogs_and_projects_leave_every_listing_until_reset(fresh_sandbox) -> None:
    worklogs = set(fresh_sandbox.control("tempo/stats", {})["worklog_ids"])
    gone = fresh_sandbox.control("tempo/delete_worklog", {})["id"]
    assert gone in worklogs
    assert set(fresh_sandbox.control("tempo/stats", {})["worklog_ids"]) == worklogs - {gone}

    before = fresh_sandbox.control("jira/stats", {})
    base = f"{fresh_sandbox.env['JIRA_URL']}/rest/api/3"
    auth = (fresh_sandbox.env["JIRA_EMAIL"], fresh_sandbox.env["JIRA_API_TOKEN"])
    every = {"status": "live,archived"}
    projects = httpx.get(f"{base}/project/search", params=every, auth=auth).json()["values"]
    key = projects[0]["key"]
    issues = fresh_sandbox.control("jira/delete_project", {"key": key})["ids"]
    after = fresh_sandbox.control("jira/stats", {})
    assert after["projects"] == before["projects"] - 1
    assert set(after["issue_ids"]) == set(before["issue_ids"]) - set(issues)
    keys = [p["key"] for p in httpx.get(f"{base}/project/search", params=every, auth=auth).json()["values"]]
    assert key not in keys

    fresh_sandbox.control("reset")
    assert fresh_sandbox.control("jira/stats", {})["projects"] == before["projects"]
    assert set(fresh_sandbox.control("tempo/stats", {})["worklog_ids"]) == worklogs
