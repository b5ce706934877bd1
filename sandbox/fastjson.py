"""JSON for the hot simulator paths: orjson when present (it writes numpy float32 arrays natively, with the
shortest float32 repr, as Pinecone does), the standard library otherwise.

orjson comes with Prefect; the fallback keeps the sandbox importable without it, only slower.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["dumps", "loads"]

try:
    import orjson
except ModuleNotFoundError:  # pragma: no cover - orjson is a Prefect dependency
    orjson = None  # type: ignore[assignment]


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; numpy arrays and scalars allowed."""
    if orjson is not None:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raises ValueError on malformed input (orjson.JSONDecodeError is a ValueError)."""
    if orjson is not None:
        return orjson.loads(raw)
    return json.loads(raw)
