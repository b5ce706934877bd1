"""Pruning against the sandbox: what was deleted at the source leaves the index, exactly, verified; the guard
refuses (and the run Fails) on a failed listing, a rejected token or too large a share; a resumed run cannot
bring a pruned document back from the fetch cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.jira import jira_backfill
from flows.notion import notion_backfill
from flows.prune import PruneRefused, prune
from flows.tempo import tempo_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import exported, pinecone_ids, simulator_env


@pytest.fixture
def env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    # A failed listing is refused after the HTTP layer's retries: keep them short.
    extra = {**simulator_env(fresh_sandbox), "BACKFILL_HTTP_MAX_ATTEMPTS": "2", "BACKFILL_HTTP_MAX_WAIT_S": "5"}
    with exported(extra):
        yield {**backfill_env, **extra}


def _docs(sb: RunningSandbox, prefix: str) -> set[str]:
    return {vid.rsplit("#", 1)[0] for vid in pinecone_ids(sb, prefix)}


def _live_issues(sb: RunningSandbox) -> set[str]:
    return {f"jira:{i}" for i in sb.control("jira/stats", {})["issue_ids"]}


def _state(source: str):  # type: ignore[no-untyped-def]
    return LocalStateBackend(load_settings().backfill_home).load(source)


def test_prune_removes_exactly_the_deleted_issues_and_a_rerun_nothing(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    before = _docs(fresh_sandbox, "jira:")
    deleted = {f"jira:{fresh_sandbox.control('jira/delete_issue', {})['id']}" for _ in range(3)}
    assert deleted <= before

    probes = _vectors(fresh_sandbox, [f"{doc_id}#0" for doc_id in deleted])
    assert {hit for values in probes for hit in _nearest(fresh_sandbox, values)} & deleted == deleted

    dry = prune(source="jira", dry_run=True)
    assert dry["status"] == "dry_run" and dry["stale"] == 3 and dry["deleted_documents"] == 0
    assert _docs(fresh_sandbox, "jira:") == before

    # One of them had also failed in a later run: pruning proves it gone, so it leaves the failure ledger.
    backend = LocalStateBackend(load_settings().backfill_home)
    state = backend.load("jira")
    ledgered = sorted(deleted)[0]
    now = datetime.now(UTC)
    state.settle_failures(asked=[], ingested=[], failed=[(ledgered, "bad", now), ("jira:kept", "bad", now)], now=now)
    backend.save(state)

    summary = prune(source="jira")
    assert summary["status"] == "pruned", summary
    assert (summary["stale"], summary["deleted_documents"], summary["failures_dropped"]) == (3, 3, 1)
    assert [f.id for f in _state("jira").failures] == ["jira:kept"]
    assert summary["verified_gone"] == summary["deleted_vectors"] > 0
    assert set(summary["stale_sample"]) == deleted
    assert _docs(fresh_sandbox, "jira:") == before - deleted == _live_issues(fresh_sandbox)
    for doc_id in deleted:
        assert pinecone_ids(fresh_sandbox, f"{doc_id}#") == []  # every chunk, not just the first
    # A search with each deleted document's own vector no longer finds it.
    assert not {hit for values in probes for hit in _nearest(fresh_sandbox, values)} & deleted

    again = prune(source="jira")
    assert again["status"] == "pruned" and again["stale"] == 0 and again["deleted_vectors"] == 0


def test_prune_removes_deleted_tempo_worklogs(env: dict[str, str], fresh_sandbox: RunningSandbox) -> None:
    assert tempo_backfill(full=True)["status"] == "verified"
    before = _docs(fresh_sandbox, "tempo:")
    deleted = {f"tempo:{fresh_sandbox.control('tempo/delete_worklog', {})['id']}" for _ in range(2)}
    summary = prune(source="tempo")
    assert summary["status"] == "pruned" and summary["deleted_documents"] == 2, summary
    assert _docs(fresh_sandbox, "tempo:") == before - deleted
    assert prune(source="tempo")["stale"] == 0


def test_a_resumed_run_cannot_bring_a_pruned_issue_back_from_the_fetch_cache(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    # A run fetches (and caches) every partition, then dies writing: its pending window stays resumable.
    fresh_sandbox.control("faults", {"pinecone": {"rate_5xx": 1.0, "fault_path": "/vectors/upsert"}})
    with pytest.raises(Exception):  # noqa: B017 - whatever the write error, the run must not complete
        jira_backfill(full=True, active_only=False)
    fresh_sandbox.control("faults", {"pinecone": {"rate_5xx": 0.0, "fault_path": None}})
    assert _state("jira").pending is not None
    deleted = {f"jira:{fresh_sandbox.control('jira/delete_issue', {})['id']}" for _ in range(3)}

    summary = prune(source="jira")
    assert summary["status"] == "pruned" and summary["pending_cleared"] is True
    resumed = jira_backfill(full=True, active_only=False)  # resume=True: would replay the cached partitions
    assert resumed["status"] == "verified"
    stored = _docs(fresh_sandbox, "jira:")
    assert not stored & deleted
    assert stored == _live_issues(fresh_sandbox)


def test_a_listing_answering_500_is_refused_and_deletes_nothing_even_forced(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    fresh_sandbox.control("jira/delete_issue", {})
    before = pinecone_ids(fresh_sandbox, "jira:")
    fresh_sandbox.control("faults", {"jira": {"rate_5xx": 1.0, "fault_path": "/search/jql"}})
    try:
        for force in (False, True):
            with pytest.raises(PruneRefused, match="listing failed") as refused:
                prune(source="jira", force=force)
            assert refused.value.summary.deleted_vectors == 0
    finally:
        fresh_sandbox.control("faults", {"jira": {"rate_5xx": 0.0, "fault_path": None}})
    assert sorted(pinecone_ids(fresh_sandbox, "jira:")) == sorted(before)


def test_a_listing_that_breaks_after_its_first_page_is_refused_even_forced(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    before = pinecone_ids(fresh_sandbox, "jira:")
    ids = sorted(fresh_sandbox.control("jira/stats", {})["issue_ids"])
    # Page 1 of the id listing answers half the issues and a next-page token; page 2 answers 500 every time.
    first = {"issues": [{"id": i} for i in ids[: len(ids) // 2]], "nextPageToken": "PAGE-TWO", "isLast": False}
    listing = {"api": "jira", "path_contains": "/search/jql", "body_contains": "ORDER BY key ASC"}
    fresh_sandbox.control("canned", {**listing, "body": json.dumps(first)})
    broken = {"errorMessages": ["Internal server error"], "errors": {}}
    fresh_sandbox.control(
        "canned", {**listing, "body_contains": "PAGE-TWO", "status": 500, "body": json.dumps(broken), "times": 50}
    )
    with pytest.raises(PruneRefused, match=r"listing failed.*\(ids\): server error HTTP 500") as refused:
        prune(source="jira", force=True)  # --force never passes a failed listing
    assert refused.value.summary.deleted_vectors == 0 and refused.value.summary.stale == 0
    assert sorted(pinecone_ids(fresh_sandbox, "jira:")) == sorted(before)


def test_a_rejected_token_is_refused_and_deletes_nothing(env: dict[str, str], fresh_sandbox: RunningSandbox) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    fresh_sandbox.control("jira/delete_issue", {})
    before = pinecone_ids(fresh_sandbox, "jira:")
    fresh_sandbox.control("jira/auth", {"fail": True})
    try:
        with pytest.raises(PruneRefused, match="JIRA_API_TOKEN"):
            prune(source="jira", force=True)
    finally:
        fresh_sandbox.control("jira/auth", {"fail": False})
    assert sorted(pinecone_ids(fresh_sandbox, "jira:")) == sorted(before)


def test_thirty_percent_missing_is_refused_until_forced(env: dict[str, str], fresh_sandbox: RunningSandbox) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    before = _docs(fresh_sandbox, "jira:")
    deleted = {f"jira:{fresh_sandbox.control('jira/delete_issue', {})['id']}" for _ in range(round(0.3 * len(before)))}
    with pytest.raises(PruneRefused, match="BACKFILL_PRUNE_MAX_SHARE") as refused:
        prune(source="jira")
    assert refused.value.summary.stale == len(deleted) and refused.value.summary.deleted_vectors == 0
    assert _docs(fresh_sandbox, "jira:") == before

    forced = prune(source="jira", force=True)
    assert forced["status"] == "pruned" and forced["forced"] and forced["deleted_documents"] == len(deleted)
    assert _docs(fresh_sandbox, "jira:") == before - deleted


def test_a_deleted_project_leaves_only_after_the_threshold_check(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    before = _docs(fresh_sandbox, "jira:")
    stats = fresh_sandbox.control("jira/stats", {})
    assert stats["projects"] >= 2
    victim = next(iter(sorted(before)))
    key = _project_of(fresh_sandbox, victim)
    gone = {f"jira:{i}" for i in fresh_sandbox.control("jira/delete_project", {"key": key})["ids"]}
    assert gone and victim in gone
    share = len(gone) / len(before)

    assert share > load_settings().backfill_prune_max_share  # a whole project is more than the default 10 %
    with pytest.raises(PruneRefused, match="BACKFILL_PRUNE_MAX_SHARE"):
        prune(source="jira")
    assert _docs(fresh_sandbox, "jira:") == before
    with exported({"BACKFILL_PRUNE_MAX_SHARE": f"{min(1.0, share + 0.01):.2f}"}):
        summary = prune(source="jira")  # within the (raised) threshold: no --force needed
    assert summary["status"] == "pruned" and summary["deleted_documents"] == len(gone)
    assert _docs(fresh_sandbox, "jira:") == before - gone


def _project_of(sb: RunningSandbox, doc_id: str) -> str:
    from pinecone import Pinecone

    index = Pinecone(api_key=sb.env["PINECONE_API_KEY"]).Index(host=sb.env["PINECONE_INDEX_HOST"])
    fetched = index.fetch(ids=[f"{doc_id}#0"], namespace=sb.env["PINECONE_NAMESPACE"])
    return str(fetched.vectors[f"{doc_id}#0"].metadata["project"])


def _index(sb: RunningSandbox):  # type: ignore[no-untyped-def]
    from pinecone import Pinecone

    return Pinecone(api_key=sb.env["PINECONE_API_KEY"]).Index(host=sb.env["PINECONE_INDEX_HOST"])


def _vectors(sb: RunningSandbox, ids: list[str]) -> list[list[float]]:
    fetched = _index(sb).fetch(ids=ids, namespace=sb.env["PINECONE_NAMESPACE"])
    return [list(fetched.vectors[i].values) for i in ids]


def _nearest(sb: RunningSandbox, values: list[float]) -> set[str]:
    """The documents of the 5 nearest vectors: what a search would return."""
    result = _index(sb).query(vector=values, top_k=5, namespace=sb.env["PINECONE_NAMESPACE"])
    return {match.id.rsplit("#", 1)[0] for match in result.matches}


def test_prune_removes_trashed_notion_pages(env: dict[str, str], fresh_sandbox: RunningSandbox) -> None:
    """Trash never shows up in Notion's search: pruning lists every live page (search, rows, the tree) instead."""
    page = fresh_sandbox.control("notion/add_page", {"title": "A page about to be trashed"})
    assert notion_backfill(full=True)["status"] == "verified"
    before = _docs(fresh_sandbox, "notion:")
    assert f"notion:{page['id']}" in before
    fresh_sandbox.control("notion/trash_page", {"page_id": page["id"]})
    summary = prune(source="notion")
    assert summary["status"] == "pruned" and summary["deleted_documents"] == 1, summary
    assert _docs(fresh_sandbox, "notion:") == before - {f"notion:{page['id']}"}
    assert prune(source="notion")["stale"] == 0
