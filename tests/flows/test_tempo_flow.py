"""The Tempo flow against the sandbox: every worklog once with its Jira key, near-minimal requests, incremental."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.tempo import tempo_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import counters, exported, pinecone_ids, simulator_env


@pytest.fixture
def tempo_env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    env = simulator_env(fresh_sandbox)
    with exported(env):
        yield {**backfill_env, **env}


def _requests(sb: RunningSandbox, api: str, path: str) -> int:
    return sum(n for key, n in counters(sb).items() if key.startswith(f"{api} ") and key.endswith(path))


def test_full_tempo_backfill_resolves_keys_and_is_near_minimal(
    tempo_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    stats = fresh_sandbox.control("tempo/stats", {})
    summary = tempo_backfill(full=True)

    assert summary["status"] == "verified"
    docs = sorted({vid.rsplit("#", 1)[0] for vid in pinecone_ids(fresh_sandbox, "tempo:")})
    assert docs == sorted(f"tempo:{i}" for i in stats["worklog_ids"])
    worklog_pages = _requests(fresh_sandbox, "tempo", "/4/worklogs")
    bulkfetches = _requests(fresh_sandbox, "jira", "/rest/api/3/issue/bulkfetch")
    minimum = math.ceil(stats["worklogs"] / 5000) + math.ceil(len(stats["issue_ids"]) / 100)
    assert worklog_pages + bulkfetches <= 1.1 * minimum + 1  # +1: the auth check

    from ingest.factory import build_store

    store = build_store(load_settings(), 64)
    meta = store.fetch_metadata([f"{docs[0]}#0"])[f"{docs[0]}#0"]
    assert str(meta["issue_key"]).count("-") == 1 and meta["issue_key"] in str(meta["text"])


def test_backdated_worklog_edit_is_picked_up_by_the_next_incremental_run(
    tempo_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert tempo_backfill(full=True)["status"] == "verified"
    backend = LocalStateBackend(load_settings().backfill_home)
    before = backend.load("tempo").watermark
    changed = fresh_sandbox.control("tempo/backdate_worklog_edit", {})
    assert changed["startDate"] < changed["updatedAt"][:10]  # old work date, fresh update

    second = tempo_backfill()
    assert second["status"] == "verified" and second["embedded"] >= 1 and second["unique"] <= 3
    after = backend.load("tempo").watermark
    assert before is not None and after is not None and after > before
    assert tempo_backfill()["tokens"] == 0
