"""Where a flow keeps its task results and its durable state, chosen from settings.

Local runs keep both under ``BACKFILL_HOME``. Deployments on managed workers (whose disks vanish) set
``BACKFILL_RESULTS_BLOCK`` to a saved filesystem block, normally prefect-aws ``s3-bucket/backfill-results``: task
results (the resume cache) and the per-source state then live in that bucket, so a run killed on one worker resumes
on another with nothing refetched and the watermark intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect.blocks.core import Block

from core.lease import Lease, LeaseStore, LocalLeaseStore, S3LeaseStore, describe_holder
from core.settings import Settings
from core.state import LocalStateBackend, SourceState, StateBackend

__all__ = ["BlockStateBackend", "result_storage", "source_lease", "state_backend"]

STATE_FOLDER = "backfill-state"
INDEX_KEY = f"{STATE_FOLDER}/_index.json"


def result_storage(settings: Settings) -> Path | str:
    """The result storage for cached fetch tasks: a block slug when configured, else a local folder."""
    if settings.backfill_results_block:
        return settings.backfill_results_block
    path = (settings.backfill_home / "results").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


class BlockStateBackend:
    """Source state as JSON files in a saved Prefect filesystem block (S3 bucket, or any WritableFileSystem).

    The lease (one run per source) needs an atomic create-if-absent: an S3 bucket gives it through conditional
    writes, a local filesystem block through ``flock``; other block types are refused with the reason.
    """

    def __init__(self, slug: str, block: Block | None = None) -> None:
        self.slug = slug
        self.block = block if block is not None else Block.load(slug)

    @staticmethod
    def _key(source: str) -> str:
        return f"{STATE_FOLDER}/{source}.json"

    def load(self, source: str) -> SourceState:
        raw = self._read(self._key(source))
        return SourceState(source=source) if raw is None else SourceState.model_validate_json(raw)

    def save(self, state: SourceState) -> None:
        self.block.write_path(self._key(state.source), state.model_dump_json(indent=2).encode())
        if state.source not in self.sources():
            self.register(state.source)

    def sources(self) -> list[str]:
        # A failed listing must raise: returning [] here would let ``register`` rewrite the index with one source.
        raw = self._read(INDEX_KEY)
        return [] if raw is None else sorted(json.loads(raw))

    def register(self, source: str) -> None:
        """Keep a small index of known sources (object stores have no cheap, uniform listing via blocks)."""
        known = set(self.sources()) | {source}
        self.block.write_path(INDEX_KEY, json.dumps(sorted(known)).encode())

    def lease_store(self, source: str) -> LeaseStore:
        block: Any = self.block
        if hasattr(block, "bucket_name") and hasattr(block, "credentials"):
            key = block._resolve_path(f"{STATE_FOLDER}/{source}.lease")
            return S3LeaseStore(block.credentials.get_client("s3"), block.bucket_name, key)
        basepath = getattr(block, "basepath", None)
        if isinstance(basepath, str) and "://" not in basepath:
            return LocalLeaseStore(Path(basepath) / STATE_FOLDER, source)
        raise TypeError(
            f"BACKFILL_RESULTS_BLOCK {self.slug!r} is a {type(block).__name__}: the one-run-per-source lease needs "
            "an S3 bucket block (conditional writes) or a local filesystem block"
        )

    def _read(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist; any other error (auth, network) raises."""
        try:
            return bytes(self.block.read_path(key))
        except FileNotFoundError:
            return None
        except Exception as exc:  # botocore's NoSuchKey/ClientError 404: absent
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404"} or "NoSuchKey" in type(exc).__name__:
                return None
            if isinstance(exc, ValueError) and "not exist" in str(exc).lower():
                return None
            raise


def source_lease(settings: Settings, backend: StateBackend, source: str) -> Lease:
    """The lease a flow run holds on ``source`` while it works (core/lease.py), named after the flow run."""
    from prefect.runtime import flow_run

    return Lease(
        backend.lease_store(source),
        source,
        describe_holder(flow_run.name or None),
        ttl_s=settings.backfill_lease_ttl_s,
        wait_s=settings.backfill_lease_wait_s,
    )


def state_backend(settings: Settings) -> StateBackend:
    """The durable state backend for this environment."""
    if settings.backfill_results_block:
        return BlockStateBackend(settings.backfill_results_block)
    return LocalStateBackend(settings.backfill_home)
