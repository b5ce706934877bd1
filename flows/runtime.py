"""Where a flow keeps its task results and its durable state, chosen from settings.

Local runs keep both under ``BACKFILL_HOME``. Deployments on managed workers (whose disks vanish) set
``BACKFILL_RESULTS_BLOCK`` to a saved filesystem block, normally prefect-aws ``s3-bucket/backfill-results``: task
results (the resume cache) and the per-source state then live in that bucket, so a run killed on one worker resumes
on another with nothing refetched and the watermark intact.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect.blocks.core import Block

from backfill.settings import Settings
from backfill.state import LocalStateBackend, SourceState, StateBackend

__all__ = ["BlockStateBackend", "result_storage", "state_backend"]


def result_storage(settings: Settings) -> Path | str:
    """The result storage for cached fetch tasks: a block slug when configured, else a local folder."""
    if settings.backfill_results_block:
        return settings.backfill_results_block
    path = (settings.backfill_home / "results").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


class BlockStateBackend:
    """Source state as JSON files in a saved Prefect filesystem block (S3 bucket, or any WritableFileSystem)."""

    def __init__(self, slug: str) -> None:
        self.block = Block.load(slug)

    @staticmethod
    def _key(source: str) -> str:
        return f"backfill-state/{source}.json"

    def load(self, source: str) -> SourceState:
        try:
            raw = self.block.read_path(self._key(source))
        except (FileNotFoundError, ValueError, OSError):
            return SourceState(source=source)
        except Exception as exc:  # botocore's NoSuchKey/ClientError: absent state is a first run
            if "NoSuchKey" in type(exc).__name__ or "404" in str(exc) or "Not Found" in str(exc):
                return SourceState(source=source)
            raise
        return SourceState.model_validate_json(raw)

    def save(self, state: SourceState) -> None:
        self.block.write_path(self._key(state.source), state.model_dump_json(indent=2).encode())
        if state.source not in self.sources():
            self.register(state.source)

    def sources(self) -> list[str]:
        index_key = "backfill-state/_index.json"
        try:
            return sorted(json.loads(self.block.read_path(index_key)))
        except Exception:
            return []

    def register(self, source: str) -> None:
        """Keep a small index of known sources (object stores have no cheap, uniform listing via blocks)."""
        known = set(self.sources()) | {source}
        self.block.write_path("backfill-state/_index.json", json.dumps(sorted(known)).encode())


def state_backend(settings: Settings) -> StateBackend:
    """The durable state backend for this environment."""
    if settings.backfill_results_block:
        return BlockStateBackend(settings.backfill_results_block)
    return LocalStateBackend(settings.backfill_home)
