"""One run per source: the state lease, locally (flock) and on S3 (conditional writes, against moto)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.lease import Lease, LeaseBusy, LeaseInfo, LeaseLost, LocalLeaseStore, S3LeaseStore


def _lease(store: Any, holder: str, **kwargs: Any) -> Lease:
    return Lease(store, "jira", holder, **{"ttl_s": 30.0, "wait_s": 0.0, "poll_s": 0.05, **kwargs})


def test_a_second_run_is_told_who_holds_the_source(tmp_path: Path) -> None:
    store = LocalLeaseStore(tmp_path, "jira")
    with _lease(store, "run jira-full on box (pid 1)"):
        started = time.monotonic()
        with pytest.raises(LeaseBusy, match=r"jira is being run by run jira-full on box \(pid 1\) since") as err:
            _lease(store, "run jira-incremental", wait_s=0.3).acquire()
        assert time.monotonic() - started >= 0.3  # it waited, bounded
        assert "BACKFILL_LEASE_WAIT_S" in str(err.value)
    with _lease(store, "run jira-incremental"):  # released: free again
        pass
    assert not store.path.exists()


def test_the_second_run_gets_the_lease_when_the_first_finishes_within_the_wait(tmp_path: Path) -> None:
    store = LocalLeaseStore(tmp_path, "jira")
    first = _lease(store, "first")
    first.acquire()
    threading.Timer(0.3, first.release).start()
    with _lease(store, "second", wait_s=10.0):
        assert store.read() is not None and store.read()[0].holder == "second"  # type: ignore[index]


def test_an_expired_lease_is_taken_over_and_its_holder_can_no_longer_write(tmp_path: Path) -> None:
    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    store = LocalLeaseStore(tmp_path, "jira")
    stuck = _lease(store, "stuck", ttl_s=60.0, clock=lambda: now[0])
    stuck.acquire()
    stuck._stop.set()  # its renewer is gone, as in a frozen or vanished worker
    now[0] += timedelta(seconds=61)
    with _lease(store, "next", clock=lambda: now[0]), pytest.raises(LeaseLost, match="jira: this run lost its lease"):
        stuck.check()


def test_a_lease_whose_process_died_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    code = (
        "import sys, time; sys.path.insert(0, '.');"
        "from core.lease import Lease, LocalLeaseStore;"
        f"lease = Lease(LocalLeaseStore(__import__('pathlib').Path({str(tmp_path)!r}), 'jira'), 'jira', 'killed', "
        "ttl_s=3600); lease.acquire(); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    finally:
        proc.kill()
        proc.wait()
    store = LocalLeaseStore(tmp_path, "jira")
    assert store.read()[0].holder == "killed"  # type: ignore[index]
    with _lease(store, "after the kill"):  # no wait for the hour-long ttl
        pass


def test_the_lease_is_renewed_while_the_run_lives(tmp_path: Path) -> None:
    store = LocalLeaseStore(tmp_path, "jira")
    with _lease(store, "long run", ttl_s=6.0) as lease:
        first = store.read()[0].expires_at  # type: ignore[index]
        time.sleep(2.5)
        assert store.read()[0].expires_at > first  # type: ignore[index]
        lease.check()


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    client.create_bucket(Bucket="leases")
    try:
        yield client
    finally:
        server.stop()


def test_s3_lease_uses_conditional_writes(s3_client: Any) -> None:
    store = S3LeaseStore(s3_client, "leases", "backfill-state/jira.lease")
    with _lease(store, "worker A") as held:
        with pytest.raises(LeaseBusy, match="jira is being run by worker A"):
            _lease(store, "worker B").acquire()
        # A bare overwrite by someone else makes the holder's next conditional renewal fail: it knows it lost.
        info, _ = store.read()  # type: ignore[misc]
        s3_client.put_object(
            Bucket="leases", Key=store.key, Body=info.model_copy(update={"holder": "intruder"}).model_dump_json()
        )
        assert held._version is not None and store.replace(held._version, info) is None
    assert store.read() is not None  # not ours any more: release leaves the intruder's lease alone


def test_s3_expired_lease_is_taken_over(s3_client: Any) -> None:
    store = S3LeaseStore(s3_client, "leases", "backfill-state/tempo.lease")
    old = datetime(2020, 1, 1, tzinfo=UTC)
    dead = LeaseInfo(
        source="tempo", holder="vanished container", token="t", host="elsewhere", pid=1,
        acquired_at=old, expires_at=old + timedelta(minutes=2),
    )  # fmt: skip
    assert store.create(dead) is not None
    with Lease(store, "tempo", "new run", wait_s=0.0):
        assert store.read()[0].holder == "new run"  # type: ignore[index]
    assert store.read() is None
