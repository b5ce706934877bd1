"""Request validation and handlers of the Pinecone simulator; ``sandbox/pinecone_api.py`` does the HTTP.

See that module's docstring for the behaviour and switches.
"""

from __future__ import annotations

import base64
import math
import random
import threading
from typing import Any

import numpy as np
from starlette.requests import Request

from sandbox import fastjson
from sandbox.context import SandboxContext
from sandbox.pinecone_store import Namespace, Store, matches_filter

__all__ = [
    "DEFAULT_DIMENSION",
    "MAX_REQUEST_BYTES",
    "PROXY_LIMIT_BYTES",
    "PineconeError",
    "PineconeSim",
    "RequestInfo",
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


def _invalid(message: str, reason: str) -> PineconeError:
    return PineconeError(400, 3, message, reason)


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
            raise _invalid("Invalid namespace: must be a string", "namespace")
        if raw == DEFAULT_ALIAS:
            if not self.aliasing:
                raise _invalid(f"Namespace name '{DEFAULT_ALIAS}' is reserved and cannot be used", "namespace")
            return ""
        if len(raw) > 512 or not raw.isascii():
            raise _invalid("Namespace name must be 1-512 ASCII characters", "namespace")
        return raw

    def shown(self, name: str) -> str:
        return DEFAULT_ALIAS if name == "" and self.aliasing else name


def _clean_metadata(metadata: Any, record_id: str) -> dict[str, Any] | None:
    """Validate flat metadata, strip nulls, enforce the size limit; None when nothing is left."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise _invalid(f"Metadata for vector '{record_id}' must be an object", "metadata_type")
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
            raise _invalid(message, "metadata_type")
    size = len(fastjson.dumps(cleaned))
    if size > MAX_METADATA_BYTES:
        message = f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector"
        raise _invalid(message, "metadata_too_large")
    return cleaned or None


def _dense_values(values: Any, dimension: int, what: str) -> np.ndarray:
    if not isinstance(values, list) or not values or isinstance(values[0], bool | str):
        raise _invalid(f"{what}: values must be a non-empty list of numbers", "values")
    try:
        array = np.asarray(values, dtype=np.float32)  # one conversion: this is the upsert hot path
    except (TypeError, ValueError):
        raise _invalid(f"{what}: values must be a list of numbers", "values") from None
    if array.ndim != 1:
        raise _invalid(f"{what}: values must be a flat list of numbers", "values")
    if array.shape[0] != dimension:
        message = f"Vector dimension {array.shape[0]} does not match the dimension of the index {dimension}"
        raise _invalid(message, "dimension")
    return array


def _sparse_values(sparse: Any, what: str) -> dict[str, Any] | None:
    if sparse is None:
        return None
    ok = (
        isinstance(sparse, dict)
        and isinstance(sparse.get("indices"), list)
        and isinstance(sparse.get("values"), list)
        and len(sparse["indices"]) == len(sparse["values"])
    )
    if not ok:
        raise _invalid(f"{what}: sparseValues needs indices and values of equal length", "sparse")
    return {"indices": [int(i) for i in sparse["indices"]], "values": [float(v) for v in sparse["values"]]}


def _record_id(raw: Any) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_ID_LENGTH:
        raise _invalid(f"Vector id must be a string of 1 to {MAX_ID_LENGTH} characters", "id")
    return raw


def _check_ids(ids: Any, what: str) -> list[str]:
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _invalid(f"{what}: ids must be a list of strings", "ids")
    if len(ids) > MAX_IDS:
        raise _invalid(f"{what}: the number of ids ({len(ids)}) exceeds the limit of {MAX_IDS}", "too_many_ids")
    return ids


class PineconeSim:
    """Handlers of one simulated index. Every handler runs under ``lock``; the data is in ``store``."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.initial_dimension = int(ctx.settings.get("pinecone", {}).get("dimension", DEFAULT_DIMENSION))
        self.store = Store(self.initial_dimension)
        self.lock = threading.RLock()
        self.rng = random.Random(f"{ctx.seed}:pinecone-writes")

    # -- switches -------------------------------------------------------------------------------------------
    def _switch(self, name: str, default: Any = 0) -> Any:
        return self.ctx.settings.get("pinecone", {}).get(name, default)

    def _lag(self) -> float:
        return float(self._switch("visibility_lag_s", 0.0) or 0.0)

    # -- handlers (each returns (body, headers)) ------------------------------------------------------------
    def upsert(self, req: RequestInfo, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise _invalid("Invalid request: 'vectors' must be a non-empty list", "vectors")
        if len(vectors) > MAX_RECORDS_PER_UPSERT:
            message = (
                f"Request contains {len(vectors)} vectors, which exceeds the limit of "
                f"{MAX_RECORDS_PER_UPSERT} vectors per upsert request"
            )
            raise _invalid(message, "too_many_vectors")
        namespace = req.namespace(body.get("namespace"))
        items = []
        for raw in vectors:
            if not isinstance(raw, dict):
                raise _invalid("Invalid request: each vector must be an object", "vectors")
            record_id = _record_id(raw.get("id"))
            what = f"Vector '{record_id}'"
            values = _dense_values(raw.get("values"), self.store.dimension, what)
            sparse = _sparse_values(raw.get("sparseValues"), what)
            items.append((record_id, values, sparse, _clean_metadata(raw.get("metadata"), record_id)))
        answered = len(items)
        short = int(self._switch("short_upserted_count", 0) or 0)
        if short:
            items = items[: max(0, len(items) - short)]
            answered = len(items)
        drop = float(self._switch("drop_write_ratio", 0.0) or 0.0)
        if drop:
            items = [item for item in items if self.rng.random() >= drop]  # silently lost, still counted
        with self.lock:
            lsn = self.store.namespace(namespace).upsert(items, self._lag())
        return {"upsertedCount": answered}, {"x-pinecone-request-lsn": str(lsn)}

    def fetch(self, req: RequestInfo, ids: list[str], namespace_raw: str | None) -> dict[str, Any]:
        if not ids:
            raise _invalid("Invalid request: at least one id is required", "ids")
        _check_ids(ids, "Fetch")
        namespace = req.namespace(namespace_raw)
        vectors: dict[str, Any] = {}
        with self.lock:
            ns = self.store.namespaces.get(namespace)
            for record_id in ids:
                version = ns.get(record_id) if ns is not None else None
                if version is not None:
                    vectors[record_id] = _vector_body(record_id, version, include_values=True)
        usage = {"readUnits": max(1, math.ceil(len(vectors) / 10))}
        return {"vectors": vectors, "namespace": req.shown(namespace), "usage": usage}

    def query(self, req: RequestInfo, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        top_k = body.get("topK")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise _invalid(f"Invalid value for topK: must be between 1 and {MAX_TOP_K}", "top_k")
        namespace = req.namespace(body.get("namespace"))
        flt = body.get("filter")
        if flt is not None and not isinstance(flt, dict):
            raise _invalid("Invalid request: filter must be an object", "filter")
        include_values = bool(body.get("includeValues", False))
        include_metadata = bool(body.get("includeMetadata", False))
        with self.lock:
            ns = self.store.namespace(namespace)
            query_vector = self._query_vector(ns, body)
            matches = self._rank(ns, query_vector, flt or {}, top_k, include_values, include_metadata)
            indexed = ns.max_indexed_lsn()
        result = {"matches": matches, "namespace": req.shown(namespace), "usage": {"readUnits": 5}}
        return result, {"x-pinecone-max-indexed-lsn": str(indexed)}

    def _query_vector(self, ns: Namespace, body: dict[str, Any]) -> np.ndarray:
        if body.get("vector") is not None and body.get("id") is not None:
            raise _invalid("Invalid request: provide either 'vector' or 'id', not both", "query")
        if body.get("id") is not None:
            version = ns.get(str(body["id"]))
            if version is None:
                raise _invalid(f"Vector with id '{body['id']}' not found", "query_id")
            return version.values  # type: ignore[return-value]
        if body.get("vector") is None:
            raise _invalid("Invalid request: one of 'vector' or 'id' is required", "query")
        return _dense_values(body["vector"], self.store.dimension, "Query vector")

    def _rank(self, ns: Namespace, query: np.ndarray, flt: dict[str, Any], top_k: int,
              include_values: bool, include_metadata: bool) -> list[dict[str, Any]]:  # fmt: skip
        ids, matrix = ns.matrix()
        if not ids:
            return []
        norm = float(np.linalg.norm(query)) or 1.0
        scores = matrix @ (query.astype(np.float32) / norm)
        if flt:
            keep = np.array([matches_filter(ns.get(i).metadata, flt) for i in ids], dtype=bool)  # type: ignore[union-attr]
            scores = np.where(keep, scores, -np.inf)
        order = np.argsort(-scores, kind="stable")[:top_k]
        matches = []
        for index in order:
            if scores[index] == -np.inf:
                break
            version = ns.get(ids[index])
            if version is None:
                continue
            match: dict[str, Any] = {"id": ids[index], "score": float(scores[index])}
            match["values"] = version.values if include_values else []
            if include_metadata and version.metadata:
                match["metadata"] = version.metadata
            matches.append(match)
        return matches

    def describe_stats(self, req: RequestInfo, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("filter"):
            message = "Serverless and starter indexes do not support describing index stats with metadata filtering."
            raise _invalid(message, "stats_filter")
        with self.lock:
            counts = {req.shown(name): ns.count() for name, ns in self.store.namespaces.items()}
        namespaces = {name: {"vectorCount": count} for name, count in counts.items() if count}
        return {
            "namespaces": namespaces,
            "dimension": self.store.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(counts.values()),
            "metric": "cosine",
            "vectorType": "dense",
        }

    def delete(self, req: RequestInfo, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        namespace = req.namespace(body.get("namespace"))
        ids, delete_all, flt = body.get("ids"), bool(body.get("deleteAll", False)), body.get("filter")
        if sum(x is not None and x is not False for x in (ids, delete_all or None, flt)) != 1:
            raise _invalid("Invalid request: exactly one of ids, deleteAll or filter is required", "delete")
        with self.lock:
            ns = self.store.namespace(namespace)
            if ids is not None:
                targets = _check_ids(ids, "Delete")
            elif delete_all:
                targets = [record_id for record_id, _ in ns.visible_items()]
            else:
                if not isinstance(flt, dict) or not flt:
                    raise _invalid("Invalid request: filter must be a non-empty object", "filter")
                targets = [rid for rid, version in ns.visible_items() if matches_filter(version.metadata, flt)]
            lsn = ns.delete(targets, self._lag())
        return {}, {"x-pinecone-request-lsn": str(lsn)}

    def list_ids(self, req: RequestInfo, params: dict[str, str]) -> dict[str, Any]:
        namespace = req.namespace(params.get("namespace"))
        prefix = params.get("prefix") or ""
        try:
            limit = int(params.get("limit") or MAX_LIST_LIMIT)
        except ValueError:
            raise _invalid("Invalid value for limit", "list_limit") from None
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise _invalid(f"Invalid value for limit: must be between 1 and {MAX_LIST_LIMIT}", "list_limit")
        after = _decode_token(params.get("paginationToken"))
        with self.lock:
            ns = self.store.namespaces.get(namespace)
            page, more = ns.list_page(prefix, after, limit) if ns is not None else ([], False)
        body: dict[str, Any] = {
            "vectors": [{"id": record_id} for record_id in page],
            "namespace": req.shown(namespace),
            "usage": {"readUnits": 1},
        }
        if more and page:
            body["pagination"] = {"next": _encode_token(page[-1])}
        return body

    def update(self, req: RequestInfo, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        namespace = req.namespace(body.get("namespace"))
        record_id = _record_id(body.get("id"))
        values = body.get("values")
        dense = _dense_values(values, self.store.dimension, "Update") if values is not None else None
        sparse = _sparse_values(body.get("sparseValues"), "Update")
        metadata = _clean_metadata(body.get("setMetadata"), record_id)
        with self.lock:
            matched, lsn = self.store.namespace(namespace).update(record_id, dense, sparse, metadata, self._lag())
        return {"matchedRecords": matched}, {"x-pinecone-request-lsn": str(lsn)}

    # -- control --------------------------------------------------------------------------------------------
    def control(self, action: str, body: dict[str, Any]) -> Any:
        if action == "reset":
            with self.lock:
                self.store.reset(self.initial_dimension)
                self.rng = random.Random(f"{self.ctx.seed}:pinecone-writes")
            return {"ok": True, "dimension": self.store.dimension}
        if action == "configure":
            dimension = int(body.get("dimension", self.store.dimension))
            if not 1 <= dimension <= 20_000:
                raise ValueError("dimension must be between 1 and 20000")
            with self.lock:
                self.store.reset(dimension)
            return {"ok": True, "dimension": dimension}
        if action == "faults":
            with self.ctx.lock:
                self.ctx.settings.setdefault("pinecone", {}).update(body)
            return {"ok": True, "switches": dict(self.ctx.settings["pinecone"])}
        if action == "stats":
            with self.lock:
                counts = {name: len(ns.records) for name, ns in self.store.namespaces.items()}
            return {"dimension": self.store.dimension, "namespaces": counts}
        raise ValueError(f"unknown pinecone action {action!r}")


def _vector_body(record_id: str, version: Any, include_values: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": record_id}
    if include_values:
        body["values"] = version.values
    if version.sparse:
        body["sparseValues"] = version.sparse
    if version.metadata:
        body["metadata"] = version.metadata
    return body


def _encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise _invalid("Invalid pagination token", "pagination_token") from None
