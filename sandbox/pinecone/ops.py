"""Request validation and handlers of the Pinecone simulator; ``sandbox/pinecone/api.py`` does the HTTP.

See that module's docstring for the behaviour and switches.

Upsert bodies take a fast path first: msgspec decodes them into typed structs whose dense ``values`` stay raw
JSON text (proved to be ``dimension`` plain numbers with bytes operations, see
``pinecone_store.compact_values_json``), so 1,536 floats per record are never made into Python objects. The fast
path only ever *accepts*: anything it cannot vouch for (a shape msgspec refuses, an unknown field, a bad id, odd
values, sparse values, ...) sends the request down the reference path (orjson + the checks below), so every
rejection keeps its exact message, reason and record.
"""

from __future__ import annotations

import base64
import math
import random
import threading
from typing import Any

import numpy as np

from sandbox import fastjson
from sandbox.context import SandboxContext
from sandbox.pinecone.checks import (
    DEFAULT_DIMENSION,
    MAX_LIST_LIMIT,
    MAX_RECORDS_PER_UPSERT,
    MAX_REQUEST_BYTES,
    MAX_TOP_K,
    PROXY_LIMIT_BYTES,
    UPSERT_DECODER,
    Item,
    PineconeError,
    RequestInfo,
    check_ids,
    checked_id,
    clean_metadata,
    dense_values,
    invalid,
    json_object,
    sparse_values,
)
from sandbox.pinecone.store import (
    Namespace,
    Store,
    array_json,
    compact_values_json,
    matches_filter,
)

__all__ = [
    "DEFAULT_DIMENSION",
    "MAX_REQUEST_BYTES",
    "PROXY_LIMIT_BYTES",
    "PineconeError",
    "PineconeSim",
    "RequestInfo",
    "json_object",
]


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
    def upsert(self, req: RequestInfo, raw: bytes) -> tuple[dict[str, Any], dict[str, str]]:
        """Upsert from the raw request body: fast path when it can vouch for every record, reference otherwise."""
        prepared = self._fast_upsert_items(req, raw)
        namespace, items = prepared if prepared is not None else self._upsert_items(req, json_object(raw))
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

    def _fast_upsert_items(self, req: RequestInfo, raw: bytes) -> tuple[str, list[Item]] | None:
        """The namespace and records of an upsert every record of which is provably acceptable; else None.

        Every field is judged by the same checks as on the reference path, and values by their text; None leaves
        the judgement (and the wording of any rejection) to ``_upsert_items``. Nothing is written here.
        """
        try:
            body = UPSERT_DECODER.decode(raw)
            if not body.vectors or len(body.vectors) > MAX_RECORDS_PER_UPSERT:
                return None
            namespace = req.namespace(body.namespace)
            items: list[Item] = []
            for vector in body.vectors:
                record_id = checked_id(vector.id)
                values = compact_values_json(bytes(vector.values), self.store.dimension)
                if values is None or vector.sparseValues is not None:
                    return None
                metadata = fastjson.loads(memoryview(vector.metadata)) if vector.metadata else None
                items.append((record_id, values, None, clean_metadata(metadata, record_id)))
        except Exception:  # msgspec, orjson, PineconeError, RecursionError: all are the reference path's to word
            return None
        return namespace, items

    def _upsert_items(self, req: RequestInfo, body: dict[str, Any]) -> tuple[str, list[Item]]:
        """The reference validation of an upsert body parsed by orjson: raises the request's first problem."""
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise invalid("Invalid request: 'vectors' must be a non-empty list", "vectors")
        if len(vectors) > MAX_RECORDS_PER_UPSERT:
            message = (
                f"Request contains {len(vectors)} vectors, which exceeds the limit of "
                f"{MAX_RECORDS_PER_UPSERT} vectors per upsert request"
            )
            raise invalid(message, "too_many_vectors")
        namespace = req.namespace(body.get("namespace"))
        items: list[Item] = []
        for raw in vectors:
            if not isinstance(raw, dict):
                raise invalid("Invalid request: each vector must be an object", "vectors")
            record_id = checked_id(raw.get("id"))
            what = f"Vector '{record_id}'"
            values = array_json(dense_values(raw.get("values"), self.store.dimension, what))
            sparse = sparse_values(raw.get("sparseValues"), what)
            items.append((record_id, values, sparse, clean_metadata(raw.get("metadata"), record_id)))
        return namespace, items

    def fetch(self, req: RequestInfo, ids: list[str], namespace_raw: str | None) -> dict[str, Any]:
        if not ids:
            raise invalid("Invalid request: at least one id is required", "ids")
        check_ids(ids, "Fetch")
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
            raise invalid(f"Invalid value for topK: must be between 1 and {MAX_TOP_K}", "top_k")
        namespace = req.namespace(body.get("namespace"))
        flt = body.get("filter")
        if flt is not None and not isinstance(flt, dict):
            raise invalid("Invalid request: filter must be an object", "filter")
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
            raise invalid("Invalid request: provide either 'vector' or 'id', not both", "query")
        if body.get("id") is not None:
            version = ns.get(str(body["id"]))
            if version is None:
                raise invalid(f"Vector with id '{body['id']}' not found", "query_id")
            return version.vector()
        if body.get("vector") is None:
            raise invalid("Invalid request: one of 'vector' or 'id' is required", "query")
        return dense_values(body["vector"], self.store.dimension, "Query vector")

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
            match["values"] = fastjson.Fragment(version.values) if include_values else []
            if include_metadata and version.metadata:
                match["metadata"] = version.metadata
            matches.append(match)
        return matches

    def describe_stats(self, req: RequestInfo, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("filter"):
            message = "Serverless and starter indexes do not support describing index stats with metadata filtering."
            raise invalid(message, "stats_filter")
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
            raise invalid("Invalid request: exactly one of ids, deleteAll or filter is required", "delete")
        with self.lock:
            ns = self.store.namespace(namespace)
            if ids is not None:
                targets = check_ids(ids, "Delete")
            elif delete_all:
                targets = [record_id for record_id, _ in ns.visible_items()]
            else:
                if not isinstance(flt, dict) or not flt:
                    raise invalid("Invalid request: filter must be a non-empty object", "filter")
                targets = [rid for rid, version in ns.visible_items() if matches_filter(version.metadata, flt)]
            lsn = ns.delete(targets, self._lag())
        return {}, {"x-pinecone-request-lsn": str(lsn)}

    def list_ids(self, req: RequestInfo, params: dict[str, str]) -> dict[str, Any]:
        namespace = req.namespace(params.get("namespace"))
        prefix = params.get("prefix") or ""
        try:
            limit = int(params.get("limit") or MAX_LIST_LIMIT)
        except ValueError:
            raise invalid("Invalid value for limit", "list_limit") from None
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise invalid(f"Invalid value for limit: must be between 1 and {MAX_LIST_LIMIT}", "list_limit")
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
        record_id = checked_id(body.get("id"))
        values = body.get("values")
        dense = array_json(dense_values(values, self.store.dimension, "Update")) if values is not None else None
        sparse = sparse_values(body.get("sparseValues"), "Update")
        metadata = clean_metadata(body.get("setMetadata"), record_id)
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
        body["values"] = fastjson.Fragment(version.values)  # stored JSON text, spliced into the answer as is
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
        raise invalid("Invalid pagination token", "pagination_token") from None
