"""Resume: ``backfill run jira`` SIGKILLed mid-fetch, mid-embed and mid-upsert; the rerun completes exactly once
and does not fetch again the partitions that had finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import counters, jql_windows, own_sandbox, pinecone_ids, simulator_env

BACKFILL = str(Path(sys.executable).with_name("backfill"))
FULL_RUN = [BACKFILL, "run", "jira", "--full", "--include-archived", "--json"]


def _fetch_windows(sb: RunningSandbox) -> set[str]:
    # The one "oldest issue" probe spans from 2000 (epoch ms 946684800000); every other JQL is a partition.
    return {w for w in jql_windows(counters(sb)) if "946684800000" not in w}


def _seen(sb: RunningSandbox, needle: str) -> int:
    return sum(n for key, n in counters(sb).items() if needle in key)


PHASES: dict[str, Callable[[RunningSandbox, Path], bool]] = {
    # at least one partition finished (its cached result is on disk) and embedding has not started
    "mid-fetch": lambda sb, home: any((home / "results").glob("*")) and _seen(sb, "openai POST") == 0,
    "mid-embed": lambda sb, home: _seen(sb, "openai POST") > 0,
    "mid-upsert": lambda sb, home: _seen(sb, "pinecone POST /vectors/upsert") > 0,
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_killed_run_resumes_without_refetching_or_duplicating(phase: str, prefect_server: str, tmp_path: Path) -> None:
    slow = {"jira": {"latency_ms": 120.0}, "openai": {"latency_ms": 150.0}, "pinecone": {"latency_ms": 60.0}}
    with own_sandbox(seed=11, scale=0.1, profile="none", overrides=slow) as sb:
        home = tmp_path / "home"
        env = {
            **os.environ,
            **sb.env,
            **simulator_env(sb),
            "BACKFILL_HOME": str(home),
            "PREFECT_API_URL": prefect_server,
        }
        killed = subprocess.Popen(FULL_RUN, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while not PHASES[phase](sb, home):
            assert killed.poll() is None, f"the run ended before reaching {phase}"
            assert time.monotonic() < deadline, f"never reached {phase}"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        finished = len(list((home / "results").glob("*")))
        before = _fetch_windows(sb)

        rerun = subprocess.run(FULL_RUN, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        summary = json.loads(rerun.stdout.strip().splitlines()[-1])
        assert summary["status"] == "verified"

        refetched = _fetch_windows(sb) - before
        all_partitions = summary["partitions"]
        assert len(refetched) <= all_partitions - finished  # finished partitions came back from the cache
        issue_ids = sb.control("jira/stats", {})["issue_ids"]
        vector_ids = pinecone_ids(sb, "jira:")
        assert len(vector_ids) == len(set(vector_ids))
        assert sorted({v.rsplit("#", 1)[0] for v in vector_ids}) == sorted(f"jira:{i}" for i in issue_ids)

        again = subprocess.run(FULL_RUN, env=env, capture_output=True, text=True, timeout=600)
        third = json.loads(again.stdout.strip().splitlines()[-1])
        assert third["tokens"] == 0 and third["chunks"] == len(vector_ids)  # nothing left over, nothing missing


NOTION_RUN = [BACKFILL, "run", "notion", "--full", "--json"]
NOTION_PHASES: dict[str, Callable[[RunningSandbox, Path], bool]] = {
    # Notion reads one partition (search is not time-filtered): killed mid-fetch, nothing is cached yet
    "mid-fetch": lambda sb, home: _seen(sb, "notion GET /v1/blocks/") > 20 and _seen(sb, "openai POST") == 0,
    # the partition finished (cached) and vectors are being written: the rerun must not read Notion again
    "mid-upsert": lambda sb, home: _seen(sb, "pinecone POST /vectors/upsert") > 0,
}


@pytest.mark.parametrize("phase", list(NOTION_PHASES))
def test_killed_notion_run_resumes_exactly_once(phase: str, prefect_server: str, tmp_path: Path) -> None:
    slow = {"notion": {"latency_ms": 15.0}, "openai": {"latency_ms": 150.0}, "pinecone": {"latency_ms": 60.0}}
    with own_sandbox(seed=11, scale=0.04, profile="none", overrides=slow) as sb:
        home = tmp_path / "home"
        env = {
            **os.environ,
            **sb.env,
            **simulator_env(sb),
            "BACKFILL_HOME": str(home),
            "PREFECT_API_URL": prefect_server,
        }
        killed = subprocess.Popen(NOTION_RUN, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while not NOTION_PHASES[phase](sb, home):
            assert killed.poll() is None, f"the run ended before reaching {phase}"
            assert time.monotonic() < deadline, f"never reached {phase}"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        searched = _seen(sb, "notion POST /v1/search")

        rerun = subprocess.run(NOTION_RUN, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        summary = json.loads(rerun.stdout.strip().splitlines()[-1])
        assert summary["status"] == "verified"
        if phase == "mid-upsert":  # the finished partition came back from the cache
            assert _seen(sb, "notion POST /v1/search") == searched
        pages = sb.control("notion/stats", {})["page_ids"]
        vector_ids = pinecone_ids(sb, "notion:")
        assert len(vector_ids) == len(set(vector_ids))
        assert sorted({v.rsplit("#", 1)[0] for v in vector_ids}) == sorted(f"notion:{p}" for p in pages)


def test_killed_slack_run_resumes_without_refetching_or_duplicating(prefect_server: str, tmp_path: Path) -> None:
    """Slack, killed mid-fetch: every partition fetch asks ``conversations.info`` once, which counts the refetches."""
    from tests.flows.slack_helpers import channels, expected_documents

    run = [BACKFILL, "run", "slack", "--full", "--json"]
    with own_sandbox(seed=11, scale=0.05, profile="none", overrides={"slack": {"latency_ms": 120.0}}) as sb:
        home = tmp_path / "home"
        env = {
            **os.environ,
            **sb.env,
            **simulator_env(sb),
            "BACKFILL_HOME": str(home),
            "PREFECT_API_URL": prefect_server,
        }
        killed = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while not PHASES["mid-fetch"](sb, home):
            assert killed.poll() is None, "the run ended before reaching mid-fetch"
            assert time.monotonic() < deadline, "never reached mid-fetch"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        finished = len(list((home / "results").glob("*")))
        before = _seen(sb, "conversations.info")

        rerun = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        summary = json.loads(rerun.stdout.strip().splitlines()[-1])
        assert summary["status"] == "verified"
        assert _seen(sb, "conversations.info") - before <= summary["partitions"] - finished
        vector_ids = pinecone_ids(sb, "slack:")
        assert len(vector_ids) == len(set(vector_ids))
        readable = {c["id"] for c in channels(sb) if c["is_member"] and not c["is_archived"]}
        assert {v.rsplit("#", 1)[0] for v in vector_ids} == set(expected_documents(sb, readable))
