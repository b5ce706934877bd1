"""The managed-worker case (issue 5, acceptance 5): task results and source state on an S3 bucket.

A managed worker's disk vanishes with the run, so a crashed run must resume from the bucket alone. Here
``backfill run jira --full`` is SIGKILLed mid-fetch, then rerun with a fresh ``BACKFILL_HOME`` *and* a fresh
``PREFECT_HOME`` (same Prefect server): the partitions that had finished come back from the S3 cache (the sandbox
sees no second query for them), and the watermark and coverage end up in the bucket, where a third run on yet another
fresh home finds them and runs incrementally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from sandbox.server import RunningSandbox
from tests.deploy.conftest import PrefectServer
from tests.deploy.deploy_helpers import read_s3_json, s3_keys, save_s3_results_block
from tests.e2e.cli_helpers import BACKFILL
from tests.flows.flow_helpers import counters, own_sandbox, simulator_env

BUCKET = "backfill-managed-resume"
FULL_RUN = [BACKFILL, "run", "jira", "--full", "--include-archived", "--json"]
INCREMENTAL_RUN = [BACKFILL, "run", "jira", "--include-archived", "--json"]
OVERLAP = timedelta(minutes=30)  # flows/jira.py


def _partition_queries(sb: RunningSandbox) -> Counter[str]:
    """Requests per partition query (``jira JQL <jql>``; the one "oldest issue" probe, from 2000 = epoch ms
    946684800000, is not a partition)."""
    return Counter({k: n for k, n in counters(sb).items() if k.startswith("jira JQL ") and "946684800000" not in k})


def _embedding_started(sb: RunningSandbox) -> bool:
    return any("openai POST" in key for key in counters(sb))


def _fresh_machine(base: dict[str, str], root: Path, name: str) -> dict[str, str]:
    """The environment of a new managed container: same server and bucket, empty local disk."""
    return {**base, "BACKFILL_HOME": str(root / name / "backfill"), "PREFECT_HOME": str(root / name / "prefect")}


def _last_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_killed_run_resumes_from_the_bucket_on_a_fresh_machine(
    deploy_server: PrefectServer, moto_s3: str, tmp_path: Path
) -> None:
    folder = f"resume-{uuid.uuid4().hex[:8]}"
    slug = save_s3_results_block(moto_s3, BUCKET, folder, "backfill-results-managed")
    # Enough partitions, slow enough, that the kill lands between the first and the last partition.
    with own_sandbox(seed=11, scale=0.1, profile="none", overrides={"jira": {"latency_ms": 40.0}}) as sb:
        base = {
            **os.environ,
            **sb.env,
            **simulator_env(sb),
            "PREFECT_API_URL": deploy_server.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "BACKFILL_RESULTS_BLOCK": slug,
        }

        def cached_partitions() -> list[str]:
            return [k for k in s3_keys(moto_s3, BUCKET, f"{folder}/") if "/backfill-state/" not in k]

        first = _fresh_machine(base, tmp_path, "first")
        killed = subprocess.Popen(FULL_RUN, env=first, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while not cached_partitions():
            assert killed.poll() is None, "the run ended before any partition result reached the bucket"
            assert time.monotonic() < deadline, "no partition result reached the bucket"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert not _embedding_started(sb), "killed too late: the fetch had already finished"
        finished = len(cached_partitions())
        before = _partition_queries(sb)

        second = _fresh_machine(base, tmp_path, "second")
        summary = _last_json(subprocess.run(FULL_RUN, env=second, capture_output=True, text=True, timeout=600))
        assert summary["status"] == "verified"
        assert finished < summary["partitions"], "every partition had finished before the kill"
        # Partitions in flight at the kill are queried again; the finished ones come back from S3 as Cached.
        queried_again = {query for query, n in _partition_queries(sb).items() if n > before[query]}
        assert len(queried_again) <= summary["partitions"] - finished, (finished, before, queried_again)
        assert not (Path(second["BACKFILL_HOME"]) / "results").exists()  # nothing cached on the local disk

        state = read_s3_json(moto_s3, BUCKET, f"{folder}/backfill-state/jira.json")
        issues = sb.control("jira/stats", {})["issue_ids"]
        assert state["watermark"] is not None and state["pending"] is None
        assert state["coverage"]["documents"] == len(issues)
        assert state["coverage"]["last_run_status"] == "verified"

        third = _fresh_machine(base, tmp_path, "third")
        incremental = _last_json(
            subprocess.run(INCREMENTAL_RUN, env=third, capture_output=True, text=True, timeout=600)
        )
        assert incremental["status"] == "verified" and incremental["tokens"] == 0
        window_start = datetime.fromisoformat(str(incremental["window"][0]))  # type: ignore[index]
        assert window_start == datetime.fromisoformat(state["watermark"]) - OVERLAP  # the bucket's watermark
