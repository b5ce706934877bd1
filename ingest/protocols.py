"""The two seams of the ingest engine: an Embedder and a VectorStore. The pipeline knows nothing else."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["Embedder", "Match", "Record", "VectorStore"]


@dataclass(frozen=True, slots=True)
class Record:
    """One vector with its flat metadata, as written to a store."""

    id: str
    values: list[float]
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match:
    """One search hit."""

    id: str
    score: float
    metadata: dict[str, object]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. Implementations bound their own batches and retry transient errors."""

    model: str
    dimensions: int
    max_chunk_tokens: int  # the chunk size that fits the model without silent truncation
    # What one embedding request may hold: the pipeline packs whole requests across document batches.
    max_batch_inputs: int
    max_batch_tokens: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``, in order."""
        ...

    def embed_array(
        self,
        texts: Sequence[str],
        token_counts: Sequence[int] | None = None,
        token_ids: Sequence[Sequence[int]] | None = None,
    ) -> Sequence[Sequence[float]]:
        """Vectors for ``texts`` as rows (a float32 array where the embedder can), given the chunker's cl100k
        token counts and ids when it has them (an embedder may use them or ignore them)."""
        ...


@runtime_checkable
class VectorStore(Protocol):
    """Where vectors live. Every call is scoped to the store's one explicit namespace."""

    def upsert(self, records: Sequence[Record]) -> int:
        """Write records; return how many the store acknowledged. Raises when any batch is rejected."""
        ...

    def update_metadata(self, metadata: Mapping[str, Mapping[str, object]]) -> int:
        """Set these fields on existing vectors (id → fields), keeping their values: no re-embedding. Fields not
        named keep their stored value. Returns how many ids were asked to change."""
        ...

    def fetch_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, object]]:
        """Metadata of the ids that exist (missing ids are simply absent)."""
        ...

    def list_ids(self, prefix: str) -> Iterator[str]:
        """Every vector id starting with ``prefix``."""
        ...

    def delete(self, ids: Iterable[str]) -> None:
        """Delete vectors by id (missing ids are ignored)."""
        ...

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        source: str | None = None,
        grants: Collection[str] | None = None,
        where: Mapping[str, str | bool] | None = None,
    ) -> list[Match]:
        """Nearest vectors, optionally only from one source and, given ``grants``, only those a reader holding
        them may see (``core/acl.py``; vectors without an acl never): the store fills ``top_k`` with visible ones.
        ``where`` keeps only chunks whose metadata field equals the value (or, for a list field, holds it)."""
        ...

    def count(self) -> int:
        """Number of vectors in the namespace."""
        ...

    def finish(self) -> None:
        """End-of-run housekeeping (e.g. LanceDB compaction)."""
        ...
