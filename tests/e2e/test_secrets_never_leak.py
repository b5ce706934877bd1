"""Marker API keys never appear in logs, persisted results, state, artifacts or error text — on success or failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


JIRA_MARKER = "sandbox-jira-api-token-MARKER-j4x8"  # accepted by the sandbox (it extends the sandbox token)
TEMPO_MARKER = "sandbox-tempo-api-token-MARKER-t3k6"
SOURCE_MARKERS = ("MARKER-j4x8", "MARKER-t3k6", *MARKERS)


def test_marker_tokens_never_leak_from_source_runs(
    prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Full Jira and Tempo runs — verified, with a failed record, and rejected — leave no token anywhere."""
    env = {
        **fresh_sandbox.env,
        "JIRA_API_TOKEN": JIRA_MARKER,
        "TEMPO_API_TOKEN": TEMPO_MARKER,
        "OPENAI_API_KEY": OPENAI_MARKER,
        "PINECONE_API_KEY": PINECONE_MARKER,
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_STORE": "pinecone",
        "BACKFILL_EMBEDDER": "openai",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    fresh_sandbox.control("pinecone/reset", {})
    jira = run_cli(["run", "jira", "--full", "--include-archived", "--json"], env)
    assert jira.returncode == 0 and last_json(jira)["status"] == "verified", jira.stderr[-2000:]
    broken = fresh_sandbox.control("tempo/stats", {})["worklog_ids"][0]
    fresh_sandbox.control("tempo/break_worklog", {"id": broken})
    tempo = run_cli(["run", "tempo", "--full", "--json"], env)
    assert tempo.returncode == 1 and f"tempo:{broken}" in last_json(tempo)["error"]
    wrong = run_cli(["run", "jira", "--days-back", "2", "--json"], {**env, "JIRA_API_TOKEN": "bad-MARKER-j4x8"})
    assert wrong.returncode != 0 and "JIRA_API_TOKEN" in last_json(wrong)["error"]

    for name, result in (("the Jira run", jira), ("the Tempo run", tempo), ("the rejected run", wrong)):
        for marker in SOURCE_MARKERS:
            assert marker not in result.stdout + result.stderr, f"a secret leaked into the output of {name}"
    files = _files_under(tmp_path)
    with get_client(sync_client=True) as client:
        artifacts = "".join(str(a.data) + str(a.description) for a in _every(client.read_artifacts))
        logs = "".join(log.message for log in _every(client.read_logs))
    assert artifacts and logs
    for marker in SOURCE_MARKERS:
        assert marker not in files, "a secret leaked into files under BACKFILL_HOME (results, state, spool)"
        assert marker not in artifacts, "a secret leaked into Prefect artifacts"
        assert marker not in logs, "a secret leaked into Prefect logs"


SLACK_MARKER = "xoxb-sandbox-0000000000-backfill-MARKER-s5m1"  # accepted: it extends the sandbox token
NOTION_MARKER = "secret_sandboxNotionIntegrationToken0000000000MARKER-n2v9"
CHAT_MARKERS = ("MARKER-s5m1", "MARKER-n2v9", *MARKERS)


def test_marker_tokens_never_leak_from_slack_and_notion_runs(
    prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Slack and Notion runs — verified, and rejected (Slack's ``ok:false`` in a 200, Notion's 401) — leave no token
    in the output, the files under BACKFILL_HOME, Prefect's artifacts or its logs."""
    env = {
        **fresh_sandbox.env,
        "SLACK_BOT_TOKEN": SLACK_MARKER,
        "NOTION_TOKEN": NOTION_MARKER,
        "OPENAI_API_KEY": OPENAI_MARKER,
        "PINECONE_API_KEY": PINECONE_MARKER,
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_STORE": "pinecone",
        "BACKFILL_EMBEDDER": "openai",
        "SLACK_RATE_PER_S": "500",
        "NOTION_RATE_PER_S": "500",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    fresh_sandbox.control("pinecone/reset", {})
    slack = run_cli(["run", "slack", "--full", "--include-archived", "--json"], env)
    assert slack.returncode == 0 and last_json(slack)["status"] == "verified", slack.stderr[-2000:]
    notion = run_cli(["run", "notion", "--full", "--json"], env)
    assert notion.returncode == 0 and last_json(notion)["status"] == "verified", notion.stderr[-2000:]
    bad_slack = run_cli(["run", "slack", "--json"], {**env, "SLACK_BOT_TOKEN": "xoxb-bad-MARKER-s5m1"})
    assert bad_slack.returncode != 0 and "SLACK_BOT_TOKEN" in last_json(bad_slack)["error"]
    bad_notion = run_cli(["run", "notion", "--json"], {**env, "NOTION_TOKEN": "secret_bad-MARKER-n2v9"})
    assert bad_notion.returncode != 0 and "NOTION_TOKEN" in last_json(bad_notion)["error"]

    runs = (("Slack", slack), ("Notion", notion), ("rejected Slack", bad_slack), ("rejected Notion", bad_notion))
    for name, result in runs:
        for marker in CHAT_MARKERS:
            assert marker not in result.stdout + result.stderr, f"a secret leaked into the output of the {name} run"
    files = _files_under(tmp_path)
    with get_client(sync_client=True) as client:
        artifacts = "".join(str(a.data) + str(a.description) for a in _every(client.read_artifacts))
        logs = "".join(log.message for log in _every(client.read_logs))
    for marker in CHAT_MARKERS:
        assert marker not in files, "a secret leaked into files under BACKFILL_HOME (results, state, spool)"
        assert marker not in artifacts, "a secret leaked into Prefect artifacts"
        assert marker not in logs, "a secret leaked into Prefect logs"


def _every(read: Any) -> list[Any]:
    """Every record of a paged Prefect read (logs, artifacts), not just the first page."""
    items: list[Any] = []
    while page := read(limit=200, offset=len(items)):
        items.extend(page)
    return items
