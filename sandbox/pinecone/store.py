"""The in-memory index behind the Pinecone simulator: namespaces, versions, visibility lag, LSNs, filters.

Visibility lag is modelled with versions: a write (or a delete's tombstone) becomes visible at
``time.monotonic() + lag``; until then readers see the previous version. LSNs are per namespace: every write
gets the next one, and a namespace's max indexed LSN is the newest write that readers can already see.

Dense values are kept as their compact JSON text (``b"[0.1,-2e-5,...]"``), not as float32 arrays: an upsert
then never turns 1,536 numbers per record into Python floats, and fetch splices the text into its answer
(``orjson.Fragment``) instead of formatting floats again. They are parsed to float32 only when a query needs
them (``Version.vector``, kept per version, so a query after a write parses only the new records; the ranking
matrix is cached between writes as before). The text is ~1.5x the size of float32, fine for a simulator; a
queried namespace also keeps the float32 copy.

Trade-off, on purpose: real Pinecone stores float32 and returns its rounding; this store returns the numbers as
sent. Their float32 values are always the same (ranking uses them); the text is the same too for a client that
sends the shortest float32 text (our pipeline), and a client that sends float32 values as doubles (the SDK fed
float32 arrays) gets back exactly the doubles it sent. Only float64 values beyond float32 precision come back
unrounded. Values given as Python numbers (update, and upserts that needed the reference validation) are stored
as the float32 JSON of their array, so every stored record has the same form.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox import fastjson

__all__ = ["Namespace", "Store", "Version", "array_json", "compact_values_json", "matches_filter", "parse_values"]

_JSON_WHITESPACE = b" \t\r\n"
# A number of 309+ digits (orjson refuses it as infinite) spans 37 whole aligned 8-byte words without a comma.
_LONG_NUMBER_WORDS = b"\x01" * 37


def compact_values_json(raw: bytes, dimension: int) -> bytes | None:
    """``raw`` without whitespace when it is the JSON text of exactly ``dimension`` plain numbers, else None.

    ``raw`` must be syntactically valid JSON (msgspec checked it), so only its shape is left to prove, with
    memchr-speed bytes searches and a few vectorised numpy passes (~25 us for 1,536 values; never a Python float).
    None means "not provably fine": the caller then judges the request the reference way, which words every
    rejection. Numbers orjson could refuse as infinite (a positive exponent, a run of 309+ digits) also give
    None, so every stored text parses later, as the reference path would have parsed it.
    """
    compact = raw.strip(_JSON_WHITESPACE)
    if b" " in compact or b"\n" in compact or b"\t" in compact or b"\r" in compact:
        compact = compact.translate(None, _JSON_WHITESPACE)
    if len(compact) < 3 or compact[0] != 0x5B or compact[-1] != 0x5D or compact.find(b"[", 1) != -1:
        return None  # not an array, empty, or nested
    # Inside valid JSON, anything but a number shows a string, an object or a literal (true, false, null).
    if b'"' in compact or b"{" in compact or b"t" in compact or b"f" in compact or b"n" in compact:
        return None
    commas = np.frombuffer(compact, dtype=np.uint8) == 0x2C
    if np.count_nonzero(commas) + 1 != dimension or _has_positive_exponent(compact):
        return None
    words_without_comma = (commas[: commas.size - commas.size % 8].view(np.uint64) == 0).tobytes()
    return None if _LONG_NUMBER_WORDS in words_without_comma else compact


def _has_positive_exponent(text: bytes) -> bool:
    # Float32 text only has negative exponents (small values), and few: a find loop beats a full-text pass.
    for mark in (b"e", b"E"):
        at = text.find(mark)
        while at != -1:
            if text[at + 1] != 0x2D:  # "-"
                return True
            at = text.find(mark, at + 1)
    return False


def array_json(values: np.ndarray) -> bytes:
    """The stored form of values that arrived as Python numbers: the JSON of their float32 array."""
    return fastjson.dumps(np.ascontiguousarray(values, dtype=np.float32))


def parse_values(raw: bytes) -> np.ndarray:
    """Stored values text as float32, rounded as the reference path rounds (JSON number -> double -> float32)."""
    return np.array(fastjson.loads(raw), dtype=np.float32)


@dataclass(slots=True)
class Version:
    """One state of a record; ``values`` is compact JSON text (see module docstring), None for a deletion."""

    values: bytes | None
    sparse: dict[str, Any] | None
    metadata: dict[str, Any] | None
    visible_at: float
    prev: Version | None = None
    parsed: np.ndarray | None = None  # ``values`` as float32, once a query needed them

    def vector(self) -> np.ndarray:
        """The values as float32, parsed on first use and kept: only queries pay, and only once per write."""
        if self.parsed is None:
            self.parsed = parse_values(self.values)  # type: ignore[arg-type]
        return self.parsed


class Namespace:
    """Records of one namespace with their pending (not yet visible) versions."""

    def __init__(self) -> None:
        self.records: dict[str, Version] = {}
        self.lsn = 0
        self._pending_lsns: deque[tuple[int, float]] = deque()
        self._indexed_lsn = 0
        self._lagged_until = 0.0  # after this instant every stored version is visible
        self._dirty = False  # tombstones or version chains waiting to be tidied
        self._sorted_ids: list[str] | None = None
        self._matrix: tuple[list[str], np.ndarray] | None = None

    # -- writes ---------------------------------------------------------------------------------------------
    def _next_lsn(self, visible_at: float) -> int:
        self.lsn += 1
        self._pending_lsns.append((self.lsn, visible_at))
        self._lagged_until = max(self._lagged_until, visible_at)
        self._sorted_ids = None
        self._matrix = None
        return self.lsn

    def upsert(self, items: list[tuple[str, bytes, dict | None, dict | None]], lag: float) -> int:
        """Write ``(id, values, sparse, metadata)`` records; returns the write's LSN."""
        now = time.monotonic()
        visible_at = now + lag
        for record_id, values, sparse, metadata in items:
            prev = self._visible_head(record_id, now) if lag > 0 else None
            self.records[record_id] = Version(values, sparse, metadata, visible_at, prev)
        if lag > 0:
            self._dirty = True
        return self._next_lsn(visible_at)

    def delete(self, ids: list[str], lag: float) -> int:
        now = time.monotonic()
        visible_at = now + lag
        for record_id in ids:
            if lag > 0:
                head = self._visible_head(record_id, now)
                if head is not None or record_id in self.records:
                    self.records[record_id] = Version(None, None, None, visible_at, head)
                    self._dirty = True
            else:
                self.records.pop(record_id, None)
        return self._next_lsn(visible_at)

    def update(
        self,
        record_id: str,
        values: bytes | None,
        sparse: dict | None,
        set_metadata: dict | None,
        lag: float,
    ) -> tuple[int, int]:
        """Partial update of one record; returns (matched records, LSN)."""
        now = time.monotonic()
        current = self.get(record_id, now)
        if current is None:
            return 0, self._next_lsn(now)
        metadata = dict(current.metadata or {})
        metadata.update(set_metadata or {})
        new_values = values if values is not None else current.values
        self.upsert([(record_id, new_values, sparse or current.sparse, metadata or None)], lag)
        return 1, self.lsn

    # -- reads ----------------------------------------------------------------------------------------------
    def _visible_head(self, record_id: str, now: float) -> Version | None:
        version = self.records.get(record_id)
        while version is not None and version.visible_at > now:
            version = version.prev
        if version is not None:
            version.prev = None  # older versions can never be seen again
        return version

    def get(self, record_id: str, now: float | None = None) -> Version | None:
        version = self._visible_head(record_id, time.monotonic() if now is None else now)
        return version if version is not None and version.values is not None else None

    def _tidy(self, now: float) -> None:
        if self._dirty and now >= self._lagged_until:
            self.records = {k: v for k, v in self.records.items() if v.values is not None}
            for version in self.records.values():
                version.prev = None
            self._dirty = False
            self._sorted_ids = None
            self._matrix = None

    def visible_items(self, now: float | None = None) -> Iterator[tuple[str, Version]]:
        now = time.monotonic() if now is None else now
        self._tidy(now)
        if not self._dirty:
            yield from self.records.items()
            return
        for record_id in list(self.records):
            version = self.get(record_id, now)
            if version is not None:
                yield record_id, version

    def count(self) -> int:
        now = time.monotonic()
        self._tidy(now)
        if not self._dirty:
            return len(self.records)
        return sum(1 for _ in self.visible_items(now))

    def sorted_ids(self) -> list[str]:
        now = time.monotonic()
        self._tidy(now)
        if self._dirty:
            return sorted(record_id for record_id, _ in self.visible_items(now))
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.records)
        return self._sorted_ids

    def list_page(self, prefix: str, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to ``limit`` ids starting with ``prefix`` and greater than ``after``; and whether more exist."""
        ids = self.sorted_ids()
        start = bisect.bisect_right(ids, after) if after is not None else bisect.bisect_left(ids, prefix)
        start = max(start, bisect.bisect_left(ids, prefix))
        page: list[str] = []
        for index in range(start, len(ids)):
            if not ids[index].startswith(prefix):
                return page, False
            if len(page) == limit:
                return page, True
            page.append(ids[index])
        return page, False

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """Ids and their unit-normalised vectors, cached between writes (cosine = dot product)."""
        now = time.monotonic()
        self._tidy(now)
        if self._matrix is not None and not self._dirty:
            return self._matrix
        items = list(self.visible_items(now))
        ids = [record_id for record_id, _ in items]
        if not items:
            return ids, np.zeros((0, 0), dtype=np.float32)
        stacked = np.vstack([version.vector() for _, version in items])
        norms = np.linalg.norm(stacked, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result = (ids, stacked / norms)
        if not self._dirty:
            self._matrix = result
        return result

    def max_indexed_lsn(self) -> int:
        now = time.monotonic()
        while self._pending_lsns and self._pending_lsns[0][1] <= now:
            self._indexed_lsn = self._pending_lsns.popleft()[0]
        return self._indexed_lsn


class Store:
    """All namespaces of one index. Callers hold ``lock`` around every call (the server is threaded)."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.namespaces: dict[str, Namespace] = {}

    def namespace(self, name: str) -> Namespace:
        ns = self.namespaces.get(name)
        if ns is None:
            ns = self.namespaces[name] = Namespace()
        return ns

    def reset(self, dimension: int) -> None:
        self.dimension = dimension
        self.namespaces.clear()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _compare(stored: Any, operator: str, operand: Any) -> bool:
    if operator == "$exists":
        return (stored is not None) == bool(operand)
    if stored is None:
        return operator in ("$ne", "$nin")
    values = _as_list(stored)  # a list field matches when any element does
    if operator == "$eq":
        return operand in values
    if operator == "$ne":
        return operand not in values
    if operator == "$in":
        return any(v in operand for v in values)
    if operator == "$nin":
        return not any(v in operand for v in values)
    numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if operator == "$gt":
        return any(v > operand for v in numeric)
    if operator == "$gte":
        return any(v >= operand for v in numeric)
    if operator == "$lt":
        return any(v < operand for v in numeric)
    if operator == "$lte":
        return any(v <= operand for v in numeric)
    raise ValueError(f"unsupported filter operator {operator}")


def matches_filter(metadata: dict[str, Any] | None, flt: dict[str, Any]) -> bool:
    """Pinecone's filter language: $eq/$ne/$in/$nin/$gt/$gte/$lt/$lte/$exists per field, $and, $or."""
    metadata = metadata or {}
    for key, condition in flt.items():
        if key == "$and":
            if not all(matches_filter(metadata, sub) for sub in condition):
                return False
        elif key == "$or":
            if not any(matches_filter(metadata, sub) for sub in condition):
                return False
        elif isinstance(condition, dict):
            if not all(_compare(metadata.get(key), op, operand) for op, operand in condition.items()):
                return False
        elif not _compare(metadata.get(key), "$eq", condition):
            return False
    return True
