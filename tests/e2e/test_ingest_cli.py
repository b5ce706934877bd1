"""``backfill ingest`` and ``backfill search`` end to end, on the embedded default and on the simulators."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.server import RunningSandbox
from tests.e2e.cli_helpers import DATA, last_json, run_cli

# Five hand-written questions and the document that answers each (tests/data/make_documents.py).
QUERIES = {
    "how do I rotate the TLS certificate on the ingress": "kb:tls-rotation",
    "how many vacation days carry over to next year": "kb:pto-policy",
    "reimburse travel expenses with receipts": "kb:expenses",
    "promote the replica when the primary database fails": "kb:pg-failover",
    "laptop setup for a new hire": "kb:laptop",
}


def _ingest_search_rerun(env: dict[str, str]) -> None:
    first = run_cli(["ingest", str(DATA), "--json"], env)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = last_json(first)
    assert summary["status"] == "verified" and summary["documents"] == 201
    assert summary["verified"] == summary["upserted"] == summary["embedded"] == summary["chunks"]

    for query, wanted in QUERIES.items():
        found = run_cli(["search", query, "--top-k", "3", "--json"], env)
        assert found.returncode == 0, found.stderr[-2000:]
        assert wanted in [hit["doc_id"] for hit in last_json(found)], query

    again = last_json(run_cli(["ingest", str(DATA), "--json"], env))
    assert (again["status"], again["tokens"], again["upserted"]) == ("verified", 0, 0)


def test_embedded_default_lancedb_and_local_model(prefect_server: str, tmp_path: Path) -> None:
    env = {
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_STORE": "lancedb",
        "BACKFILL_EMBEDDER": "local",
    }
    _ingest_search_rerun(env)


def test_pinecone_and_openai_simulators(prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path) -> None:
    env = {
        **fresh_sandbox.env,
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_STORE": "pinecone",
        "BACKFILL_EMBEDDER": "openai",
    }
    _ingest_search_rerun(env)
    rejected = fresh_sandbox.control("counters")["rejections"]
    assert not rejected, f"the simulators refused requests over their limits: {rejected}"


def test_dry_run_counts_tokens_and_writes_nothing(prefect_server: str, tmp_path: Path) -> None:
    env = {"BACKFILL_HOME": str(tmp_path / "home"), "PREFECT_API_URL": prefect_server}
    result = run_cli(["ingest", str(DATA), "--dry-run", "--json"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = last_json(result)
    assert summary["status"] == "dry_run" and summary["tokens"] > 50_000 and summary["upserted"] == 0
    assert not (tmp_path / "home" / "lancedb").exists() or summary["embedded"] == 0


def test_max_tokens_stops_cleanly_with_what_was_written_verified(
    prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    env = {
        **fresh_sandbox.env,
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_STORE": "pinecone",
        "BACKFILL_EMBEDDER": "openai",
    }
    result = run_cli(["ingest", str(DATA), "--max-tokens", "20000", "--json"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = last_json(result)
    assert summary["status"] == "budget_stopped" and 0 < summary["tokens"] <= 20_000
    assert summary["verified"] == summary["upserted"]


def test_bad_line_fails_before_anything_is_written(prefect_server: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = [*DATA.read_text().splitlines()[:5], '{"id": "kb:x", "source": "kb"}']
    bad.write_text("\n".join(lines) + "\n")
    env = {"BACKFILL_HOME": str(tmp_path / "home"), "PREFECT_API_URL": prefect_server}
    result = run_cli(["ingest", str(bad)], env)
    assert result.returncode == 2
    assert "bad.jsonl:6: invalid document" in result.stderr and "text" in result.stderr
    assert not (tmp_path / "home" / "lancedb").exists()


@pytest.mark.parametrize(("variable", "value"), [("BACKFILL_STORE", "chroma"), ("EMBEDDING_DIMENSIONS", "x")])
def test_bad_setting_fails_naming_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    result = run_cli(["ingest", str(DATA)], {variable: value, "BACKFILL_HOME": str(tmp_path / "home")})
    assert result.returncode == 2 and variable in result.stderr
