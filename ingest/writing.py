"""Writing whole requests: planned chunks → embeddings → upserts, carried across document batches.

The pipeline plans document batches of any size; requests to the vendors should be full whatever the batch
size. ``Writer`` keeps planned chunks until they fill whole embedding requests, hands each group to
``write_requests`` (one Prefect task per group when wrapped) in a worker thread while the next batches are
planned, and carries embedded records that would only partly fill an upsert request on to the next group.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ingest.chunking import Chunk
from ingest.errors import VerificationFailed
from ingest.protocols import Embedder, Record, VectorStore
from ingest.wire import record_json_bytes, upsert_request_ends, with_wire_json

__all__ = [
    "BatchResult",
    "PlannedChunk",
    "WriteResult",
    "Writer",
    "WrittenHashes",
    "whole_embedding_requests",
    "write_requests",
]


@dataclass(frozen=True)
class PlannedChunk:
    """A chunk that must be (re-)embedded, with the metadata it will be stored with."""

    chunk: Chunk
    metadata: dict[str, object]

    @property
    def tokens(self) -> int:
        return self.chunk.tokens


@dataclass
class BatchResult:
    embedded: int = 0
    upserted: int = 0
    tokens: int = 0
    written: dict[str, str] = field(default_factory=dict)  # id -> content_hash, what verify must find


@dataclass
class WriteResult(BatchResult):
    carried: list[Record] = field(default_factory=list)  # embedded, not yet sent: less than one upsert request


def write_requests(
    chunks: Sequence[PlannedChunk],
    carried: Sequence[Record],
    embedder: Embedder,
    store: VectorStore,
    final: bool = False,
) -> WriteResult:
    """Embed ``chunks`` and upsert them after ``carried`` in whole upsert requests; keep the rest unless ``final``.

    ``chunks`` should be whole embedding requests (``whole_embedding_requests``). Records that would only
    partly fill a last upsert request come back in ``carried`` for the next call, so every request but the
    run's very last is full. The store raises if any record is not acknowledged.
    """
    records = list(carried)
    if chunks:
        vectors = _embed(embedder, chunks)
        if len(vectors) != len(chunks):
            raise VerificationFailed(f"embedder returned {len(vectors)} vectors for {len(chunks)} chunks")
        # Values carry their wire JSON: sizing them here and sending them in the store format them once.
        records += [
            Record(planned.chunk.id, with_wire_json(vector), planned.metadata)  # type: ignore[arg-type]
            for planned, vector in zip(chunks, vectors, strict=True)
        ]
    cut = len(records) if final else _whole_upsert_requests(records)
    send, keep = records[:cut], records[cut:]
    upserted = store.upsert(send) if send else 0
    return WriteResult(
        embedded=len(chunks),
        upserted=upserted,
        tokens=sum(planned.tokens for planned in chunks),
        written={record.id: str(record.metadata["content_hash"]) for record in send},
        carried=keep,
    )


def _embed(embedder: Embedder, chunks: Sequence[PlannedChunk]) -> Sequence[Sequence[float]]:
    # float32 rows, with the token counts and ids chunking already made: no Python float per value, no
    # recount, and the API need not tokenise the texts again.
    texts = [planned.chunk.text for planned in chunks]
    counts = [planned.tokens for planned in chunks]
    ids = [planned.chunk.token_ids for planned in chunks]
    return embedder.embed_array(texts, counts, ids)


def _whole_upsert_requests(records: Sequence[Record]) -> int:
    """How many leading records fill whole upsert requests (the greedy packing the store will redo)."""
    ends = upsert_request_ends([record_json_bytes(record) for record in records])
    return ends[-2] if len(ends) >= 2 else 0


def whole_embedding_requests(chunks: Sequence[PlannedChunk], max_inputs: int, max_tokens: int) -> int:
    """How many leading chunks fill whole embedding requests (a request ends when the next chunk won't fit)."""
    end = inputs = tokens = 0
    for position, planned in enumerate(chunks):
        if inputs and (inputs >= max_inputs or tokens + planned.tokens > max_tokens):
            end, inputs, tokens = position, 0, 0
        inputs += 1
        tokens += planned.tokens
    if inputs >= max_inputs or tokens >= max_tokens:  # the last one happens to be exactly full
        end = len(chunks)
    return end


class WrittenHashes(Mapping[str, str]):
    """id → content_hash of everything written, what ``verify`` must find: the one structure that grows with
    the run. Hashes are kept as 32 raw bytes instead of 64-character strings (~50 bytes less per chunk)."""

    def __init__(self) -> None:
        self._hashes: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> str:
        return self._hashes[key].hex()

    def __iter__(self) -> Iterator[str]:
        return iter(self._hashes)

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, key: object) -> bool:
        return key in self._hashes

    def update_from(self, written: Mapping[str, str]) -> None:
        for key, content_hash in written.items():
            self._hashes[key] = bytes.fromhex(content_hash)

    def discard(self, key: str) -> None:
        self._hashes.pop(key, None)


class Writer:
    """Carries planned chunks until they fill whole embedding requests; writes them one group in flight.

    Memory stays bounded: less than one embedding request of chunks waits here, less than one upsert request
    of records is carried between groups, and one group (about one embedding request of vectors) is in flight.
    """

    def __init__(self, write_step: Callable[..., WriteResult], embedder: Embedder, store: VectorStore) -> None:
        self._write = write_step
        self._embedder = embedder
        self._store = store
        self.embedded = 0
        self.upserted = 0
        self._max_inputs = embedder.max_batch_inputs
        self._max_tokens = embedder.max_batch_tokens
        self.written = WrittenHashes()
        self._pending: list[PlannedChunk] = []
        self._carried: list[Record] = []
        self._unsent_docs: set[str] = set()  # docs with chunks pending, carried or in flight
        self._in_flight: Future[WriteResult] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write")

    def add(self, chunks: Sequence[PlannedChunk]) -> None:
        self._pending.extend(chunks)
        self._unsent_docs.update(planned.chunk.doc_id for planned in chunks)
        cut = whole_embedding_requests(self._pending, self._max_inputs, self._max_tokens)
        if cut:
            group, self._pending = self._pending[:cut], self._pending[cut:]
            self._collect()  # one group in flight at a time: memory stays bounded
            self._submit(group, final=False)

    def forget(self, doc_ids: set[str]) -> None:
        """Drop unsent chunks of ``doc_ids``: a newer copy of those documents is about to be planned."""
        if not doc_ids & self._unsent_docs:
            return
        self._collect()  # the older copy must be either written (the plan then sees it) or not sent at all
        self._pending = [planned for planned in self._pending if planned.chunk.doc_id not in doc_ids]
        self._carried = [record for record in self._carried if record.metadata.get("doc_id") not in doc_ids]
        self._unsent_docs = {planned.chunk.doc_id for planned in self._pending} | {
            str(record.metadata.get("doc_id")) for record in self._carried
        }

    def drop_written(self, ids: Sequence[str]) -> None:
        for stale in ids:
            self.written.discard(stale)

    def flush(self) -> None:
        """Send everything still waiting (the run's only partial requests) and wait for it."""
        self._collect()
        if self._pending or self._carried:
            self._merge(self._write(self._pending, self._carried, self._embedder, self._store, True))
        self._pending, self._carried, self._unsent_docs = [], [], set()

    def close(self) -> None:
        """Wait for the worker; a write still in flight here means the run is already failing."""
        self._pool.shutdown(wait=True)

    def _submit(self, group: list[PlannedChunk], final: bool) -> None:
        carried, self._carried = self._carried, []
        self._unsent_docs.update(planned.chunk.doc_id for planned in group)  # in flight counts as unsent
        # The caller's context goes with it, so a Prefect task started in the thread belongs to the flow run.
        context = contextvars.copy_context()
        args = (group, carried, self._embedder, self._store, final)
        self._in_flight = self._pool.submit(context.run, self._write, *args)

    def _collect(self) -> None:
        if self._in_flight is None:
            return
        future, self._in_flight = self._in_flight, None
        self._merge(future.result())

    def _merge(self, result: WriteResult) -> None:
        self.embedded += result.embedded
        self.upserted += result.upserted
        self.written.update_from(result.written)
        self._carried = result.carried + self._carried
        self._unsent_docs = {planned.chunk.doc_id for planned in self._pending} | {
            str(record.metadata.get("doc_id")) for record in self._carried
        }
