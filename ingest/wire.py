"""Upsert requests on the wire: the JSON of one record and the bounds of one request (1,000 records, 2 MB).

Shared by the pipeline, which sends the store only whole requests' worth of records (carrying the rest to the
next call), and by the Pinecone store, which packs exactly the same requests from exactly the same sizes.
Values are serialised once, by orjson straight from float32: the shortest text that round-trips each float32
(what Pinecone stores), with no Python float per value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson

from ingest.protocols import Record

__all__ = [
    "ENVELOPE_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_UPSERT_RECORDS",
    "record_json",
    "record_json_bytes",
    "upsert_request_ends",
    "values_json",
    "with_wire_json",
]

MAX_UPSERT_RECORDS = 1_000
MAX_REQUEST_BYTES = 2_000_000  # the documented cap is 2 MB; stay under it whichever way "MB" is counted
ENVELOPE_BYTES = 1_024  # {"vectors":[...],"namespace":"..."} around the records


class _SizedValues(np.ndarray):
    """float32 values that remember their wire JSON, so sizing them and sending them formats them once."""

    wire_json: bytes


def values_json(values: Sequence[float] | np.ndarray) -> bytes:
    """``[v0,v1,...]`` with each value as the shortest text that round-trips it as float32."""
    cached = getattr(values, "wire_json", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    array = np.ascontiguousarray(values, dtype=np.float32)
    return orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)


def with_wire_json(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The values as a float32 array carrying its ``values_json`` (the same numbers: any store can use it)."""
    array = np.ascontiguousarray(values, dtype=np.float32).view(_SizedValues)
    array.wire_json = orjson.dumps(np.asarray(array), option=orjson.OPT_SERIALIZE_NUMPY)
    return array


def record_json(record: Record, values: bytes) -> bytes:
    """The record exactly as it goes on the wire (``values`` from ``values_json``), compact UTF-8 JSON."""
    return orjson.dumps({"id": record.id, "values": orjson.Fragment(values), "metadata": record.metadata})


def record_json_bytes(record: Record) -> int:
    """Size of the record in an upsert request body, with its separating comma."""
    return len(record_json(record, values_json(record.values))) + 1


def upsert_request_ends(sizes: Sequence[int]) -> list[int]:
    """Greedy packing of records of ``sizes`` bytes into requests: the end index of each request, in order.

    A request ends when the next record would pass 1,000 records or 2 MB (envelope included).
    """
    ends: list[int] = []
    start, request_bytes = 0, ENVELOPE_BYTES
    for position, size in enumerate(sizes):
        if position > start and (position - start >= MAX_UPSERT_RECORDS or request_bytes + size > MAX_REQUEST_BYTES):
            ends.append(position)
            start, request_bytes = position, ENVELOPE_BYTES
        request_bytes += size
    if start < len(sizes):
        ends.append(len(sizes))
    return ends
