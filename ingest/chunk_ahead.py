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

import logging
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
_log = logging.getLogger(__name__)
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


class _Worker:
    """The worker as ``chunked_batches`` uses it: not there until it has started, and gone for good at its first
    failure (a container without /dev/shm, an out-of-memory kill): the run then chunks in-process, losing only
    speed, never a batch."""

    def __init__(self, start: Callable[[int, str], ChunkAhead], max_tokens: int, model: str) -> None:
        self._ahead: ChunkAhead | None = None
        self._failed = False
        try:
            self._ahead = start(max_tokens, model)
        except Exception as exc:  # whatever stops a process from starting: chunk in-process
            self._fail(exc)

    def submit(self, docs: Sequence[Document]) -> Future[list[list[Chunk]]] | None:
        """The batch's chunks to come, or None: the worker is not up (yet, or any more)."""
        try:
            if self._ahead is None or not self._ahead.ready:
                return None
            return self._ahead.submit(docs)
        except Exception as exc:  # a failed start or a dead worker: see _fail
            self._fail(exc)
            return None

    def result(self, future: Future[list[list[Chunk]]]) -> list[list[Chunk]] | None:
        try:
            return future.result()
        except Exception as exc:  # the caller chunks this batch itself (and meets any real error there)
            self._fail(exc)
            return None

    def _fail(self, exc: BaseException) -> None:
        if not self._failed:  # once: the batches still queued fail the same way
            self._failed = True
            _log.warning("chunking worker unavailable (%s: %s); chunking in-process", type(exc).__name__, exc)
        self.close()

    def close(self) -> None:
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            ahead.close()


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
    by and, as soon as it is up, runs ``LOOKAHEAD_BATCHES`` ahead. Batches come out in their order whoever
    chunked them. The worker is stopped when the iteration ends or is closed, and dropped if it fails.
    """
    use_worker = parallel and available_cores() >= 2
    pending: deque[tuple[_B, Future[list[list[Chunk]]] | None]] = deque()
    worker: _Worker | None = None
    try:
        seen = 0
        for batch in batches:
            if worker is None and use_worker and seen >= start_after_docs:
                worker = _Worker(start_worker, max_tokens, model)
            seen += len(docs_of(batch))
            pending.append((batch, worker.submit(docs_of(batch)) if worker is not None else None))
            # In order: a batch left to the caller waits behind any batch the worker still has.
            while pending and (len(pending) > LOOKAHEAD_BATCHES or pending[0][1] is None):
                yield _take(pending, worker)
        while pending:
            yield _take(pending, worker)
    finally:
        if worker is not None:
            worker.close()


def _take(
    pending: deque[tuple[_B, Future[list[list[Chunk]]] | None]], worker: _Worker | None
) -> tuple[_B, list[list[Chunk]] | None]:
    batch, future = pending.popleft()
    return batch, (worker.result(future) if future is not None and worker is not None else None)
