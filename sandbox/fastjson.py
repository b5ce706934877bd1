"""JSON for the hot simulator paths, by orjson (a declared dependency): it writes numpy float32 arrays natively,
with the shortest float32 text, as Pinecone does, and splices ``Fragment``s (already-encoded JSON, such as the
Pinecone simulator's stored values) into its output without re-formatting them.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["Fragment", "dumps", "loads"]

Fragment = orjson.Fragment


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON bytes; numpy arrays and scalars and ``Fragment``s allowed."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises ValueError on malformed input (orjson.JSONDecodeError is a ValueError)."""
    return orjson.loads(raw)
