"""Permissions through the flows against the sandbox: every Jira and Tempo document carries its acl, a changed
security level re-writes the acl with no embedding, and ``backfill search --as`` shows a principal only what it
may see (never a document without an acl)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.settings import load_settings
from flows.jira import jira_backfill
from flows.tempo import tempo_backfill
from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.pipeline import IngestOptions, run_ingest
from sandbox.server import RunningSandbox
from tests.e2e.cli_helpers import last_json, run_cli
from tests.flows.flow_helpers import DIMENSIONS, counters, exported, pinecone_ids, simulator_env


@pytest.fixture
def env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    extra = simulator_env(fresh_sandbox)
    with exported(extra):
        yield {**backfill_env, **extra}


def _stored(sb: RunningSandbox, prefix: str) -> dict[str, dict[str, object]]:
    store = build_store(load_settings(), DIMENSIONS)
    return store.fetch_metadata(pinecone_ids(sb, prefix))


def _embedding_requests(sb: RunningSandbox) -> int:
    return sum(n for key, n in counters(sb).items() if "embeddings" in key)


def test_every_jira_chunk_carries_its_project_and_a_security_change_is_rewritten_without_embedding(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True)["status"] == "verified"
    stored = _stored(fresh_sandbox, "jira:")
    assert stored
    for metadata in stored.values():
        acl = metadata["acl"]
        assert isinstance(acl, list) and f"jira:project:{metadata['project']}" in acl
        assert metadata["acl_scope"] == f"jira:project:{metadata['project']}"
        level = metadata["security_level"]
        assert metadata["acl_security"] == ("none" if level == "none" else f"jira:security:{level}")
    open_issue = next(m for m in stored.values() if m["security_level"] == "none")
    before = _embedding_requests(fresh_sandbox)

    fresh_sandbox.control("jira/set_security", {"key": open_issue["key"], "level": "Staff only"})
    summary = jira_backfill()

    assert summary["status"] == "verified" and summary["tokens"] == 0 and summary["embedded"] == 0
    assert _embedding_requests(fresh_sandbox) == before
    chunks = _stored(fresh_sandbox, f"{open_issue['doc_id']}#")
    assert chunks and all("jira:security:Staff only" in m["acl"] for m in chunks.values())  # type: ignore[operator]


def test_every_tempo_chunk_carries_its_jira_issues_project_and_security_or_fails_closed(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    secured = fresh_sandbox.control("tempo/stats", {})["issue_ids"][0]
    fresh_sandbox.control("jira/set_security", {"key": secured, "level": "Staff only"})
    assert tempo_backfill(full=True)["status"] == "verified"
    stored = _stored(fresh_sandbox, "tempo:")
    assert stored and any(m["issue_id"] == secured for m in stored.values())
    for metadata in stored.values():
        key = metadata.get("issue_key")
        expected = [f"jira:project:{str(key).rsplit('-', 1)[0]}"] if key else ["tempo:restricted"]
        if metadata["issue_id"] == secured:  # the worklog shows its issue's summary: it stays under its level
            expected.append("jira:security:Staff only")
        assert metadata["acl"] == expected and metadata["acl_scope"] == expected[0]


def test_search_as_a_principal_shows_only_what_it_holds_and_never_a_document_without_acl(
    env: dict[str, str], fresh_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    secured = sorted(fresh_sandbox.control("jira/stats", {})["issue_ids"])[:5]
    for issue_id in secured:
        fresh_sandbox.control("jira/set_security", {"key": str(issue_id), "level": "Staff only"})
    assert jira_backfill(full=True)["status"] == "verified"
    projects = sorted({str(m["project"]) for m in _stored(fresh_sandbox, "jira:").values()})
    everything = [f"jira:project:{p}" for p in projects] + ["jira:security:Staff only"]
    grants = {"staff": everything, "one": [f"jira:project:{projects[0]}"], "outsider": ["jira:project:NOPE"]}
    (tmp_path / "grants.json").write_text(json.dumps(grants))
    # A document without an acl whose text is the query itself: the nearest of all to an unfiltered search.
    query = "quarterly roadmap for the payments platform"
    settings = load_settings()
    now = datetime.now(UTC)
    unlabelled = Document(id="jira:999999", source="jira", text=query, created_at=now, updated_at=now)
    options = IngestOptions(verify_timeout_s=10.0, verify_poll_s=0.2)
    store = build_store(settings, DIMENSIONS)
    assert run_ingest([unlabelled], OpenAIEmbedder(settings), store, options).status == "verified"
    cli_env = {**env, "BACKFILL_GRANTS_FILE": str(tmp_path / "grants.json")}

    def search(*extra: str) -> list[dict[str, object]]:
        result = run_cli(["search", query, "--top-k", "30", "--json", *extra], cli_env)
        assert result.returncode == 0, result.stderr[-2000:]
        return last_json(result)

    assert search()[0]["doc_id"] == "jira:999999"
    staff = search("--as", "staff")
    assert len(staff) == 30 and all(hit["doc_id"] != "jira:999999" for hit in staff)
    assert any("jira:security:Staff only" in hit["acl"] for hit in staff)  # type: ignore[operator]
    one = search("--as", "one")
    assert len(one) == 30 and all(hit["acl"] == [f"jira:project:{projects[0]}"] for hit in one)
    secured_docs = {f"jira:{i}" for i in secured}
    assert not secured_docs & {hit["doc_id"] for hit in one}
    assert search("--as", "outsider") == []
    unknown = run_cli(["search", query, "--as", "mallory"], cli_env)
    assert unknown.returncode != 0 and "mallory" in unknown.stderr + unknown.stdout
