"""One run per source: a lease on the source's state, held for the whole run, from any entry point.

Two runs of one source (a scheduled sync and an ad-hoc backfill, two CLI runs, a retry that overlaps its
crashed predecessor) would both rewrite the same state file, and the last writer would win. Prefect's
concurrency limits cannot see a CLI run on its own temporary server, so the state itself carries the lock.

A lease is a small JSON record next to the state (``<source>.lease``) naming its holder and when it expires.
It is taken with an atomic create-if-absent, renewed by a background thread every third of its time to live,
and replaced only with a compare-and-swap: a local file under ``flock`` on one machine, an S3 object written
with ``If-None-Match``/``If-Match`` preconditions for managed workers. A holder that died (SIGKILL, a vanished
container) stops renewing: its lease expires after ``ttl`` (or at once, on the same host, when its process is
gone), and the next run takes it over. The state is only saved while the lease is still ours
(``Lease.check``), so a run that lost its lease can never overwrite its successor's state.

Nothing here imports Prefect.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

__all__ = [
    "Lease",
    "LeaseBusy",
    "LeaseInfo",
    "LeaseLost",
    "LeaseStore",
    "LocalLeaseStore",
    "S3LeaseStore",
    "describe_holder",
]


class LeaseBusy(RuntimeError):
    """Another run holds the source's lease and did not release it within the wait."""


class LeaseLost(RuntimeError):
    """This run's lease expired or was taken over: it must not write the source's state any more."""


class LeaseInfo(BaseModel):
    """Who holds a source's lease, since when, until when."""

    source: str
    holder: str  # a readable description: flow run name, host, pid
    token: str  # unique per acquisition: the compare-and-swap version
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        return f"{self.holder} since {self.acquired_at.isoformat(timespec='seconds')}"


class LeaseStore(Protocol):
    """Atomic operations on one source's lease record. ``version`` is opaque (a token or an ETag)."""

    def create(self, info: LeaseInfo) -> str | None:
        """Write ``info`` if no lease exists; its version, or None when one already exists."""
        ...

    def read(self) -> tuple[LeaseInfo, str] | None: ...

    def replace(self, version: str, info: LeaseInfo) -> str | None:
        """Write ``info`` only if the stored lease still has ``version``; the new version or None."""
        ...

    def delete(self, version: str) -> None:
        """Remove the lease if it still has ``version``."""
        ...


class LocalLeaseStore:
    """A lease file in a local folder; every read-modify-write happens under an exclusive ``flock``."""

    def __init__(self, directory: Path, source: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{source}.lease"
        self._lock_path = self.directory / f".{source}.lease.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_unlocked(self) -> tuple[LeaseInfo, str] | None:
        try:
            info = LeaseInfo.model_validate_json(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # a torn or foreign file is no lease: it is replaced
        return info, info.token + info.expires_at.isoformat()

    def _write_unlocked(self, info: LeaseInfo) -> str:
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        with tmp.open("w") as fh:
            fh.write(info.model_dump_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        return info.token + info.expires_at.isoformat()

    def create(self, info: LeaseInfo) -> str | None:
        with self._locked():
            if self._read_unlocked() is not None:
                return None
            return self._write_unlocked(info)

    def read(self) -> tuple[LeaseInfo, str] | None:
        with self._locked():
            return self._read_unlocked()

    def replace(self, version: str, info: LeaseInfo) -> str | None:
        with self._locked():
            current = self._read_unlocked()
            if current is not None and current[1] != version:
                return None
            return self._write_unlocked(info)

    def delete(self, version: str) -> None:
        with self._locked():
            current = self._read_unlocked()
            if current is not None and current[1] == version:
                self.path.unlink(missing_ok=True)


class S3LeaseStore:
    """A lease object in an S3 bucket, written with conditional PUTs (``If-None-Match: *`` / ``If-Match``)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key

    @staticmethod
    def _precondition_failed(exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}

    def create(self, info: LeaseInfo) -> str | None:
        try:
            out = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=info.model_dump_json().encode(), IfNoneMatch="*"
            )
        except Exception as exc:
            if self._precondition_failed(exc):
                return None
            raise
        return str(out["ETag"])

    def read(self) -> tuple[LeaseInfo, str] | None:
        try:
            out = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404"}:
                return None
            raise
        body = out["Body"].read()
        try:
            return LeaseInfo.model_validate_json(body), str(out["ETag"])
        except ValueError:
            return None

    def replace(self, version: str, info: LeaseInfo) -> str | None:
        try:
            out = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=info.model_dump_json().encode(), IfMatch=version
            )
        except Exception as exc:
            if self._precondition_failed(exc):
                return None
            raise
        return str(out["ETag"])

    def delete(self, version: str) -> None:
        current = self.read()
        if current is not None and current[1] == version:
            self.client.delete_object(Bucket=self.bucket, Key=self.key)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Lease:
    """Hold a source's lease for a ``with`` block: acquire (waiting up to ``wait_s``), renew, release.

    ``LeaseBusy`` says who holds it; ``check()`` raises ``LeaseLost`` once it is no longer ours.
    """

    store: LeaseStore
    source: str
    holder: str
    ttl_s: float = 120.0
    wait_s: float = 300.0
    poll_s: float = 2.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._version: str | None = None
        self._info: LeaseInfo | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._mutex = threading.Lock()

    # -- acquire / release ------------------------------------------------------------------------------

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_s
        while True:
            info = self._new_info()
            version = self.store.create(info)
            if version is None:
                version = self._take_over_if_abandoned(info)
            if version is not None:
                self._version, self._info = version, info
                self._start_renewing()
                return
            current = self.store.read()
            if time.monotonic() >= deadline:
                who = current[0].describe() if current else "another run"
                until = ""
                if current:
                    until = f"; its lease runs until {current[0].expires_at.isoformat(timespec='seconds')}"
                raise LeaseBusy(
                    f"{self.source} is being run by {who}{until}. Waited {self.wait_s:g}s "
                    "(BACKFILL_LEASE_WAIT_S); try again when it has finished."
                )
            self.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        with self._mutex:
            if self._version is not None and self._lost is None:
                self.store.delete(self._version)
            self._version = None

    def check(self) -> None:
        """Raise ``LeaseLost`` if the lease is no longer ours (call before every state write)."""
        with self._mutex:
            if self._lost is None and self._info is not None and self.clock() >= self._info.expires_at:
                self._lost = "it expired before it could be renewed"
            if self._lost is not None:
                raise LeaseLost(f"{self.source}: this run lost its lease ({self._lost}); state not written")

    # -- internals ---------------------------------------------------------------------------------------

    def _new_info(self) -> LeaseInfo:
        now = self.clock()
        return LeaseInfo(
            source=self.source,
            holder=self.holder,
            token=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            acquired_at=now,
            expires_at=now + timedelta(seconds=self.ttl_s),
        )

    def _take_over_if_abandoned(self, info: LeaseInfo) -> str | None:
        current = self.store.read()
        if current is None:
            return self.store.create(info)
        held, version = current
        dead_here = held.host == info.host and held.pid != info.pid and not _pid_alive(held.pid)
        if held.expires_at <= self.clock() or dead_here:
            return self.store.replace(version, info)
        return None

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease-{self.source}", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            with self._mutex:
                if self._info is None or self._version is None or self._lost is not None:
                    return
                renewed = self._info.model_copy(update={"expires_at": self.clock() + timedelta(seconds=self.ttl_s)})
                try:
                    version = self.store.replace(self._version, renewed)
                except Exception as exc:  # a blip: keep the old expiry, try again next time
                    if self.clock() >= self._info.expires_at:
                        self._lost = f"renewal failed: {type(exc).__name__}"
                    continue
                if version is None:
                    self._lost = "another run took it over"
                    return
                self._version, self._info = version, renewed


def describe_holder(run_name: str | None) -> str:
    """``run <name> on <host> (pid N)``: what a waiting run is told."""
    where = f"{socket.gethostname()} (pid {os.getpid()})"
    return f"run {run_name} on {where}" if run_name else f"a run on {where}"
