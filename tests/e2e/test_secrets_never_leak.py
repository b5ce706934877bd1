"""Marker API keys never appear in logs, persisted results, state, artifacts or error text — on success or failure."""

from __future__ import annotations

from pathlib import Path

from prefect.client.orchestration import get_client

from sandbox.server import RunningSandbox
from tests.e2e.cli_helpers import DATA, last_json, run_cli

OPENAI_MARKER = "sk-sandbox-openai-MARKER-q9z7"  # accepted by the simulator (it extends the sandbox key)
PINECONE_MARKER = "pcsk-MARKER-p7w2"
MARKERS = ("MARKER-q9z7", "MARKER-p7w2")


def _assert_clean(text: str, where: str) -> None:
    for marker in MARKERS:
        assert marker not in text, f"a secret leaked into {where}"


def _files_under(path: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in path.rglob("*") if p.is_file() and p.stat().st_size < 5e7)


def test_marker_keys_never_leak(prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **fresh_sandbox.env,
        "OPENAI_API_KEY": OPENAI_MARKER,
        "PINECONE_API_KEY": PINECONE_MARKER,
        "BACKFILL_HOME": str(home),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_STORE": "pinecone",
        "BACKFILL_EMBEDDER": "openai",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    ok = run_cli(["ingest", str(DATA), "--json"], env)
    assert ok.returncode == 0 and last_json(ok)["status"] == "verified", ok.stderr[-2000:]

    fresh_sandbox.control("pinecone/reset", {})  # an empty index, so the next run writes everything again
    fresh_sandbox.control("faults", {"pinecone": {"drop_write_ratio": 0.05}})
    dropped = run_cli(
        ["ingest", str(DATA.with_name("documents.jsonl")), "--json"], {**env, "BACKFILL_HOME": str(tmp_path / "h2")}
    )
    fresh_sandbox.control("faults", {"pinecone": {"drop_write_ratio": 0.0}})
    rejected = run_cli(["ingest", str(DATA), "--json"], {**env, "OPENAI_API_KEY": "sk-wrong-MARKER-q9z7"})
    assert dropped.returncode == 1 and "missing" in last_json(dropped)["error"]
    assert rejected.returncode == 1 and last_json(rejected)["status"] == "failed"

    for name, result in (
        ("the successful run", ok),
        ("the dropped-writes run", dropped),
        ("the rejected run", rejected),
    ):
        _assert_clean(result.stdout + result.stderr, f"the output of {name}")
    _assert_clean(_files_under(tmp_path), "files under BACKFILL_HOME (results, state, spool, LanceDB)")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
        logs = client.read_logs()
    assert artifacts, "the runs published no artifacts"
    _assert_clean("".join(str(a.data) + str(a.description) for a in artifacts), "Prefect artifacts")
    _assert_clean("".join(log.message for log in logs), "Prefect logs")
