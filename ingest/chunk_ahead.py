"""Chunking document batches ahead of the pipeline, in a worker process.

Chunking (tokenising every text with cl100k) is the largest CPU cost of an ingest and needs nothing but a
document's id, title and text. In the pipeline's own process it competes for the GIL with the HTTP and JSON
work of embedding, upserting and reading back; in a worker process it runs on another core while the main
process plans and writes the batches before it. Results come back in submission order, so the pipeline sees
exactly the chunks it would have made itself.

Only long runs use it (``chunked_batches`` starts the worker after ``START_AFTER_DOCS`` documents): starting
a Python process costs about a second of CPU, more than a short ingest's whole chunking. Until the worker has
started (imported its modules, loaded the cl100k tables) the pipeline goes on chunking batches itself, so a
slow start never stalls it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from ingest.chunking import Chunk, chunk_text
from ingest.document import Document
from ingest.tokens import encoder

__all__ = ["LOOKAHEAD_BATCHES", "START_AFTER_DOCS", "ChunkAhead", "available_cores", "chunked_batches"]

START_AFTER_DOCS = 1_000  # a run shorter than this chunks in-process
LOOKAHEAD_BATCHES = 3  # batches chunked ahead of the one being planned: bounds memory, hides latency
_Job = tuple[str, str, str]  # document id, title, text
_B = TypeVar("_B")


def available_cores() -> int:
    """Cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load_encoder() -> bool:
    encoder()  # once per worker, at start, not inside the first batch
    return True


def _chunk_jobs(jobs: list[_Job], max_tokens: int, model: str) -> list[list[Chunk]]:
    return [chunk_text(doc_id, title, text, max_tokens, model) for doc_id, title, text in jobs]


class ChunkAhead:
    """One worker process chunking submitted batches of documents, in order. Close it when done."""

    def __init__(self, max_tokens: int, model: str) -> None:
        # spawn, not fork: forking copies the caller's threads' held locks (HTTP pools, a Prefect run).
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        self._started = self._pool.submit(_load_encoder)
        self._max_tokens = max_tokens
        self._model = model

    @property
    def ready(self) -> bool:
        """Whether the worker has started; raises what made its start fail."""
        return self._started.done() and self._started.result()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Block until the worker has started (raises TimeoutError after ``timeout_s``)."""
        self._started.result(timeout=timeout_s)

    def submit(self, docs: Sequence[Document]) -> Future[list[list[Chunk]]]:
        jobs = [(doc.id, doc.title, doc.text) for doc in docs]
        return self._pool.submit(_chunk_jobs, jobs, self._max_tokens, self._model)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ChunkAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunked_batches(
    batches: Iterable[_B],
    docs_of: Callable[[_B], Sequence[Document]],
    max_tokens: int,
    model: str,
    parallel: bool,
    start_after_docs: int = START_AFTER_DOCS,
    start_worker: Callable[[int, str], ChunkAhead] = ChunkAhead,
) -> Generator[tuple[_B, list[list[Chunk]] | None], None, None]:
    """Each batch with its documents' chunks made ahead in a worker, or None: the caller chunks it itself.

    With ``parallel`` (and at least two cores), the worker starts once ``start_after_docs`` documents have gone
    by and, as soon as it is up, runs ``LOOKAHEAD_BATCHES`` ahead. It is stopped when the iteration ends or is
    closed.
    """
    use_worker = parallel and available_cores() >= 2
    pending: deque[tuple[_B, Future[list[list[Chunk]]]]] = deque()
    ahead: ChunkAhead | None = None
    try:
        seen = 0
        for batch in batches:
            if ahead is None and use_worker and seen >= start_after_docs:
                ahead = start_worker(max_tokens, model)
            seen += len(docs_of(batch))
            if ahead is None or not ahead.ready:
                yield batch, None
                continue
            pending.append((batch, ahead.submit(docs_of(batch))))
            if len(pending) > LOOKAHEAD_BATCHES:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        if ahead is not None:
            ahead.close()
