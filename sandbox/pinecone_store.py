"""The in-memory index behind the Pinecone simulator: namespaces, versions, visibility lag, LSNs, filters.

Visibility lag is modelled with versions: a write (or a delete's tombstone) becomes visible at
``time.monotonic() + lag``; until then readers see the previous version. LSNs are per namespace: every write
gets the next one, and a namespace's max indexed LSN is the newest write that readers can already see.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Namespace", "Store", "Version", "matches_filter"]


@dataclass(slots=True)
class Version:
    """One state of a record; ``values is None`` marks a deletion (tombstone)."""

    values: np.ndarray | None
    sparse: dict[str, Any] | None
    metadata: dict[str, Any] | None
    visible_at: float
    prev: Version | None = None


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

    def upsert(self, items: list[tuple[str, np.ndarray, dict | None, dict | None]], lag: float) -> int:
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
        values: np.ndarray | None,
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
        stacked = np.vstack([version.values for _, version in items]).astype(np.float32)
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
