"""``backfill prune SOURCE`` as an operator runs it: a dry run deletes nothing, a real one deletes exactly what the
source lost (exit 0); a refused prune exits non-zero with the reason and deletes nothing; --force passes the
threshold."""

from __future__ import annotations

from sandbox.server import RunningSandbox
from tests.e2e.cli_helpers import last_json, run_cli
from tests.flows.flow_helpers import pinecone_ids, simulator_env


def test_prune_cli_dry_run_refusal_force_and_exit_codes(
    backfill_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    env = {**backfill_env, **simulator_env(fresh_sandbox), "BACKFILL_PRUNE_MAX_SHARE": "0.02"}
    ran = run_cli(["run", "tempo", "--full", "--json"], env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    before = set(pinecone_ids(fresh_sandbox, "tempo:"))
    deleted = {f"tempo:{fresh_sandbox.control('tempo/delete_worklog', {})['id']}" for _ in range(3)}

    dry = run_cli(["prune", "tempo", "--dry-run", "--json"], {**env, "BACKFILL_PRUNE_MAX_SHARE": "0.5"})
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert last_json(dry)["status"] == "dry_run" and set(last_json(dry)["stale_sample"]) == deleted

    refused = run_cli(["prune", "tempo", "--json"], env)  # 3 of the documents is more than 2 %
    assert refused.returncode == 1
    report = last_json(refused)
    assert report["status"] == "refused" and "BACKFILL_PRUNE_MAX_SHARE" in report["reason"]
    assert set(pinecone_ids(fresh_sandbox, "tempo:")) == before

    forced = run_cli(["prune", "tempo", "--force"], env)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "pruned" in forced.stdout
    assert {v.rsplit("#", 1)[0] for v in pinecone_ids(fresh_sandbox, "tempo:")} == {
        v.rsplit("#", 1)[0] for v in before
    } - deleted
