"""The connector contract's driver: read any registered source to the end against the sandbox, and judge it.

Every source that ``connectors.registry`` lists gets the suite in ``tests/connectors/test_contract.py`` for free;
nothing here names a source. What a source must offer is the ``Connector`` protocol (connectors/base.py) and
``make_connector(source, settings)``; what its sandbox must offer is an API named like the source with an
``auth`` control action (``POST /_control/<source>/auth {"fail": true}``) and the shared request counters.

The driver (after Onyx's ``load_everything_from_checkpoint_connector``): ``read`` drives ``fetch`` over a list
of partitions to the end, recording every item with the partition that yielded it, under an iteration cap so a
connector that never stops fails the test instead of hanging it. ``read_until_crash`` stops part-way through a
partition, as a worker that dies mid-fetch would. The judges (``coverage_problems``, ``document_problems``) return
readable problem lists, empty when the contract holds.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors import registry
from connectors.base import Connector, FetchFailure, Partition, RunNote, SkippedScope, Window, floor_minute
from core.planning import FULL_HISTORY_START
from core.settings import Settings
from ingest.document import Document
from sandbox.server import RunningSandbox

__all__ = [
    "MAX_ITEMS",
    "ContractWindows",
    "Read",
    "coverage_problems",
    "document_problems",
    "ghost_id",
    "http_requests",
    "open_connector",
    "read",
    "read_until_crash",
    "sample_ids",
    "sandbox_api",
    "source_names",
    "whole_window",
]

MAX_ITEMS = 100_000  # items one read may yield: far above the sandbox corpus, so hitting it means "never ends"
MAX_PARTITIONS = 10_000  # partitions one window may split into
_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})


def source_names() -> list[str]:
    """Every registered source, whether the registry is a tuple of names or a dict of specs keyed by name."""
    return list(registry.SOURCES)


def sandbox_api(source: str) -> str:
    """The sandbox API that replicates ``source`` (its control actions live under ``/_control/<api>/``)."""
    return source


@contextmanager
def open_connector(source: str, settings: Settings) -> Iterator[Connector]:
    """A connector from the registry, closed afterwards (its clients hold pooled sockets)."""
    connector = registry.make_connector(source, settings)
    try:
        yield connector
    finally:
        connector.close()


# -- windows -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractWindows:
    """The windows every source is read over, aligned to whole minutes.

    Minute alignment matters: Jira compares ``updated`` at minute precision, so it floors a window's start to
    the minute; on an aligned window that floor is the start itself and "covers exactly the window" is testable.
    """

    now: datetime

    @classmethod
    def of(cls, sandbox: RunningSandbox) -> ContractWindows:
        return cls(now=datetime.fromisoformat(sandbox.control("counters")["now"]).astimezone(UTC))

    @property
    def end(self) -> datetime:
        return floor_minute(self.now) + timedelta(minutes=1)  # past the sandbox clock: nothing is newer

    @property
    def full(self) -> Window:
        """Everything the source holds (a first run's window)."""
        return Window(start=FULL_HISTORY_START, end=self.end)

    @property
    def recent(self) -> Window:
        """A nightly run's window: the last 45 days (crosses a month boundary)."""
        return Window(start=floor_minute(self.now - timedelta(days=45)), end=self.end)

    @property
    def year(self) -> Window:
        """A long ad-hoc window that starts inside the data, not before it."""
        return Window(start=floor_minute(self.now - timedelta(days=400)), end=self.end)

    @property
    def ancient(self) -> Window:
        """Years before any data (a source may answer with no partitions at all)."""
        return Window(start=FULL_HISTORY_START, end=datetime(2010, 1, 1, tzinfo=UTC))

    def all(self) -> dict[str, Window]:
        return {"full": self.full, "recent": self.recent, "year": self.year, "ancient": self.ancient}


def whole_window(source: str, partitions: Sequence[Partition], window: Window) -> list[Partition]:
    """One partition per scope of ``partitions``, covering all of ``window``: the same data, read in one go."""
    scopes = sorted({p.scope for p in partitions})
    return [Partition(source=source, scope=scope, start=window.start, end=window.end) for scope in scopes]


# -- the driver --------------------------------------------------------------------------------------------


@dataclass
class Read:
    """Everything a read yielded, in order, with the partition that yielded it."""

    documents: list[tuple[Partition, Document]] = field(default_factory=list)
    failures: list[tuple[Partition, FetchFailure]] = field(default_factory=list)
    notices: list[tuple[Partition, SkippedScope | RunNote]] = field(default_factory=list)  # skipped scopes, notes
    partitions_done: list[Partition] = field(default_factory=list)

    @property
    def items(self) -> int:
        return len(self.documents) + len(self.failures)

    @property
    def doc_ids(self) -> set[str]:
        return {doc.id for _, doc in self.documents}

    @property
    def failure_ids(self) -> set[str]:
        return {failure.id for _, failure in self.failures}

    @property
    def ids(self) -> set[str]:
        """Every id the read returned, as a document or as a failure (both mean "it exists at the source")."""
        return self.doc_ids | self.failure_ids

    @property
    def updated(self) -> dict[str, datetime]:
        """Document id → ``updated_at`` (the newest, should an id repeat)."""
        found: dict[str, datetime] = {}
        for _, doc in self.documents:
            found[doc.id] = max(doc.updated_at, found.get(doc.id, doc.updated_at))
        return found

    def duplicates(self) -> dict[str, int]:
        """Ids yielded more than once (across partitions, documents and failures alike)."""
        counts = Counter([doc.id for _, doc in self.documents] + [f.id for _, f in self.failures])
        return {doc_id: n for doc_id, n in sorted(counts.items()) if n > 1}

    def merged(self, other: Read) -> Read:
        return Read(
            documents=[*self.documents, *other.documents],
            failures=[*self.failures, *other.failures],
            notices=[*self.notices, *other.notices],
            partitions_done=[*self.partitions_done, *other.partitions_done],
        )


def _record(result: Read, partition: Partition, item: object) -> None:
    if isinstance(item, Document):
        result.documents.append((partition, item))
    elif isinstance(item, FetchFailure):
        result.failures.append((partition, item))
    elif isinstance(item, SkippedScope | RunNote):
        result.notices.append((partition, item))
    else:
        raise AssertionError(f"fetch({partition.key}) yielded {type(item).__name__}, not a Document or FetchFailure")


def read(connector: Connector, partitions: Iterable[Partition], *, max_items: int = MAX_ITEMS) -> Read:
    """Fetch every partition to the end, in order; AssertionError past ``max_items`` (a fetch that never ends)."""
    result = Read()
    for partition in partitions:
        for item in connector.fetch(partition):
            _record(result, partition, item)
            if result.items > max_items:
                raise AssertionError(f"{partition.key}: more than {max_items} items; does the fetch ever end?")
        result.partitions_done.append(partition)
    return result


def read_until_crash(connector: Connector, partitions: Sequence[Partition], *, done: int, then: int) -> Read:
    """Fetch the first ``done`` partitions whole, then ``then`` items of the next one, and stop as a crash would.

    Returns only what a resumed run gets back: the finished partitions (the abandoned one is read again).
    """
    finished = read(connector, partitions[:done])
    if done < len(partitions):
        items = connector.fetch(partitions[done])
        try:
            for _, _item in zip(range(then), items, strict=False):
                pass
        finally:
            close = getattr(items, "close", None)  # a generator: run its cleanup, as interpreter shutdown would
            if close is not None:
                close()
    return finished


# -- judges --------------------------------------------------------------------------------------------------


def coverage_problems(
    source: str, partitions: Sequence[Partition], window: Window
) -> tuple[list[str], list[Partition]]:
    """What is wrong with ``partitions`` as a cover of ``window``, and the leading gaps that must hold no data.

    Per scope, sorted, the partitions must be contiguous ``[start, end)`` pieces ending at ``window.end``. The
    first may start after ``window.start`` (a source that skips to its oldest item); the returned gaps
    ``[window.start, first.start)`` of each such scope are for the caller to prove empty by reading them.
    """
    problems: list[str] = []
    gaps: list[Partition] = []
    if len(partitions) > MAX_PARTITIONS:
        problems.append(f"{len(partitions)} partitions, more than {MAX_PARTITIONS}")
    if len(set(partitions)) != len(partitions):
        problems.append("the same partition is listed twice")
    for p in partitions:
        if not isinstance(p, Partition):
            problems.append(f"{p!r} is not a Partition")
            return problems, gaps
        if p.source != source:
            problems.append(f"{p.key}: source {p.source!r}, expected {source!r}")
        if Partition.model_validate_json(p.model_dump_json()) != p:
            problems.append(f"{p.key}: does not survive a JSON round trip (it is a cache key)")
    by_scope: dict[str, list[Partition]] = {}
    for p in partitions:
        by_scope.setdefault(p.scope, []).append(p)
    for scope, pieces in sorted(by_scope.items()):
        pieces.sort()
        first, last = pieces[0], pieces[-1]
        # A source that rebuilds whole UTC days (Slack: one document per channel per day) starts at the midnight
        # before the window's start, never earlier: a partial day would overwrite a whole one.
        if first.start < window.start and first.start != _midnight(window.start):
            problems.append(f"scope {scope}: starts {first.start.isoformat()}, before the window's start")
        elif first.start > window.start:
            gaps.append(Partition(source=source, scope=scope, start=window.start, end=first.start))
        if last.end != window.end:
            problems.append(f"scope {scope}: ends {last.end.isoformat()}, not at the window's end")
        for before, after in itertools.pairwise(pieces):
            if before.end < after.start:
                problems.append(f"scope {scope}: gap {before.end.isoformat()}..{after.start.isoformat()}")
            elif before.end > after.start:
                problems.append(f"scope {scope}: {before.key} overlaps {after.key}")
    return problems, gaps


def _midnight(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def document_problems(source: str, result: Read) -> list[str]:
    """Ids not prefixed ``<source>:``, documents of another source, and documents outside their partition."""
    problems: list[str] = []
    for partition, doc in result.documents:
        if not doc.id.startswith(f"{source}:"):
            problems.append(f"{doc.id}: not prefixed {source}:")
        if doc.source != source:
            problems.append(f"{doc.id}: source {doc.source!r}")
        # A document belongs to the partition of its update time, or (a source that groups by when items were
        # made: a Slack thread under its parent's day, whose late replies make it newer than the partition) of
        # its creation time; never to a partition that holds neither.
        if not partition.contains(doc.updated_at) and not partition.contains(doc.created_at):
            problems.append(f"{doc.id}: updated {doc.updated_at.isoformat()}, outside {partition.key}")
    problems += [
        f"{f.id}: failure id not prefixed {source}:" for _, f in result.failures if f.id.partition(":")[0] != source
    ]
    return problems[:20]


# -- helpers -------------------------------------------------------------------------------------------------


def sample_ids(result: Read, n: int = 5) -> list[str]:
    """``n`` document ids spread over time: the oldest, the newest and evenly between."""
    ordered = sorted(result.updated.items(), key=lambda item: (item[1], item[0]))
    if len(ordered) <= n:
        return [doc_id for doc_id, _ in ordered]
    step = (len(ordered) - 1) / (n - 1)
    return list(dict.fromkeys(ordered[round(i * step)][0] for i in range(n)))


def ghost_id(real_id: str, taken: set[str]) -> str:
    """An id shaped like ``real_id`` that the source does not hold: its last run of digits turned into 9s."""
    match = list(re.finditer(r"\d+", real_id))
    if not match:
        candidate = f"{real_id}-gone"
    else:
        last = match[-1]
        candidate = real_id[: last.start()] + "9" * len(last.group()) + real_id[last.end() :]
    if candidate in taken:
        raise AssertionError(f"cannot make a ghost id from {real_id}: {candidate} exists")
    return candidate


def http_requests(before: Counter[str], after: Counter[str], api: str | None = None) -> int:
    """HTTP requests the sandbox served between two ``/_control/counters`` snapshots (of ``api``, or all).

    Counter keys are ``"<api> <METHOD> <path>"``; other tallies (``"jira JQL …"``, ``"<api> quota"``) are skipped.
    """
    total = 0
    for key, n in after.items():
        parts = key.split(" ", 2)
        if len(parts) == 3 and parts[1] in _HTTP_METHODS and (api is None or parts[0] == api):
            total += n - before.get(key, 0)
    return total
