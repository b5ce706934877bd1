"""Limits, errors and request validation of the Pinecone simulator (used by ``sandbox/pinecone/ops.py``).

Every check words its rejection as the real data plane does and names the reason counted in the sandbox's
rejection counters. The msgspec structs describe the upsert body on the fast path (see ``pinecone_ops``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
from starlette.requests import Request

from sandbox import fastjson

__all__ = [
    "ALIAS_API_VERSION",
    "DEFAULT_ALIAS",
    "DEFAULT_DIMENSION",
    "MAX_IDS",
    "MAX_ID_LENGTH",
    "MAX_LIST_LIMIT",
    "MAX_METADATA_BYTES",
    "MAX_RECORDS_PER_UPSERT",
    "MAX_REQUEST_BYTES",
    "MAX_TOP_K",
    "OLDEST_API_VERSION",
    "PROXY_LIMIT_BYTES",
    "UPSERT_DECODER",
    "Item",
    "PineconeError",
    "RequestInfo",
    "check_ids",
    "checked_id",
    "clean_metadata",
    "dense_values",
    "invalid",
    "json_object",
    "sparse_values",
]

DEFAULT_DIMENSION = 1536
MAX_RECORDS_PER_UPSERT = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
PROXY_LIMIT_BYTES = 10 * 1024 * 1024  # UNCONFIRMED where the real proxy cuts in; above the 3 MB seen as a 400
MAX_METADATA_BYTES = 40_960
MAX_IDS = 1000
MAX_TOP_K = 10_000
MAX_LIST_LIMIT = 100
MAX_ID_LENGTH = 512
OLDEST_API_VERSION = "2025-01"
ALIAS_API_VERSION = "2025-04"  # first version accepting "__default__"
DEFAULT_ALIAS = "__default__"


class PineconeError(Exception):
    """A request the real data plane would refuse, with its HTTP status and gRPC code."""

    def __init__(self, status: int, grpc_code: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status, self.grpc_code, self.message, self.reason = status, grpc_code, message, reason


def invalid(message: str, reason: str) -> PineconeError:
    return PineconeError(400, 3, message, reason)


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a dict (``{}`` when empty); malformed JSON or a non-object is a 400."""
    if not raw.strip():
        return {}
    try:
        body = fastjson.loads(raw)
    except ValueError as exc:
        message = f"Failed to deserialize the JSON body into the target type: {exc}"
        raise PineconeError(400, 3, message, "json") from None
    if not isinstance(body, dict):
        raise PineconeError(400, 3, "Failed to deserialize the JSON body: expected an object", "json")
    return body


class _UpsertVector(msgspec.Struct, forbid_unknown_fields=True):
    """One record of an upsert body on the fast path. Raw fields are left as JSON text: ``values`` is checked
    with bytes operations, ``metadata`` is parsed by orjson (as on the reference path) only when present."""

    id: Any = None
    values: msgspec.Raw = msgspec.Raw()
    sparseValues: Any = None  # any sparse values send the request down the reference path
    metadata: msgspec.Raw = msgspec.Raw()


class _UpsertBody(msgspec.Struct, forbid_unknown_fields=True):
    vectors: list[_UpsertVector]
    namespace: Any = None


UPSERT_DECODER = msgspec.json.Decoder(_UpsertBody)
Item = tuple[str, bytes, dict[str, Any] | None, dict[str, Any] | None]  # id, values JSON, sparse, metadata


class RequestInfo:
    """What every handler needs from a request: API version and the namespace it resolves to."""

    def __init__(self, request: Request) -> None:
        self.version = request.headers.get("x-pinecone-api-version") or OLDEST_API_VERSION
        self.aliasing = self.version >= ALIAS_API_VERSION

    def namespace(self, raw: Any) -> str:
        """Internal namespace name: ``""`` for the default namespace."""
        if raw is None or raw == "":
            return ""
        if not isinstance(raw, str):
            raise invalid("Invalid namespace: must be a string", "namespace")
        if raw == DEFAULT_ALIAS:
            if not self.aliasing:
                raise invalid(f"Namespace name '{DEFAULT_ALIAS}' is reserved and cannot be used", "namespace")
            return ""
        if len(raw) > 512 or not raw.isascii():
            raise invalid("Namespace name must be 1-512 ASCII characters", "namespace")
        return raw

    def shown(self, name: str) -> str:
        return DEFAULT_ALIAS if name == "" and self.aliasing else name


def clean_metadata(metadata: Any, record_id: str) -> dict[str, Any] | None:
    """Validate flat metadata, strip nulls, enforce the size limit; None when nothing is left."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise invalid(f"Metadata for vector '{record_id}' must be an object", "metadata_type")
    cleaned: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None:
            continue  # the server strips nulls silently (NullHandling::Strip)
        flat = isinstance(value, str | bool | int | float)
        if flat or (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            cleaned[key] = value
        else:
            message = (
                f"Metadata value for field '{key}' of vector '{record_id}' must be a string, number, boolean "
                "or list of strings"
            )
            raise invalid(message, "metadata_type")
    size = len(fastjson.dumps(cleaned))
    if size > MAX_METADATA_BYTES:
        message = f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector"
        raise invalid(message, "metadata_too_large")
    return cleaned or None


def dense_values(values: Any, dimension: int, what: str) -> np.ndarray:
    if not isinstance(values, list) or not values or isinstance(values[0], bool | str):
        raise invalid(f"{what}: values must be a non-empty list of numbers", "values")
    try:
        array = np.asarray(values, dtype=np.float32)  # one conversion: this is the upsert hot path
    except (TypeError, ValueError):
        raise invalid(f"{what}: values must be a list of numbers", "values") from None
    if array.ndim != 1:
        raise invalid(f"{what}: values must be a flat list of numbers", "values")
    if array.shape[0] != dimension:
        message = f"Vector dimension {array.shape[0]} does not match the dimension of the index {dimension}"
        raise invalid(message, "dimension")
    return array


def sparse_values(sparse: Any, what: str) -> dict[str, Any] | None:
    if sparse is None:
        return None
    ok = (
        isinstance(sparse, dict)
        and isinstance(sparse.get("indices"), list)
        and isinstance(sparse.get("values"), list)
        and len(sparse["indices"]) == len(sparse["values"])
    )
    if not ok:
        raise invalid(f"{what}: sparseValues needs indices and values of equal length", "sparse")
    return {"indices": [int(i) for i in sparse["indices"]], "values": [float(v) for v in sparse["values"]]}


def checked_id(raw: Any) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_ID_LENGTH:
        raise invalid(f"Vector id must be a string of 1 to {MAX_ID_LENGTH} characters", "id")
    return raw


def check_ids(ids: Any, what: str) -> list[str]:
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise invalid(f"{what}: ids must be a list of strings", "ids")
    if len(ids) > MAX_IDS:
        raise invalid(f"{what}: the number of ids ({len(ids)}) exceeds the limit of {MAX_IDS}", "too_many_ids")
    return ids
