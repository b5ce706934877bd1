"""Pinecone through the official SDK: explicit namespace everywhere, bounded batches, every response checked.

The predecessor's silent losses came from here: a namespace mismatch between writes and reads, 40 KB
metadata rejections logged as "upserted", partially failed batches. So: the namespace is always passed
explicitly (the default namespace as ``"__default__"``, never ``""``); upsert batches are bounded by 1,000
records AND by 2 MB of JSON; each batch's ``upsertedCount`` must equal what was sent; transient errors
(429/5xx/connection) retry with tenacity, 400s don't.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import msgspec
import orjson
from pinecone import Pinecone, Vector
from pinecone.errors import (
    ApiError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    RateLimitError,
    UnauthorizedError,
)

from core.acl import pinecone_filter
from core.settings import Settings, require
from ingest.errors import StoreError, UpsertShortfall, sample
from ingest.protocols import Match, Record
from ingest.retrying import RetryBudgetExceeded, TransientRetry, retry_after_seconds
from ingest.stores.pinecone_sdk import disable_sdk_retries, sdk_http_client
from ingest.wire import (
    ENVELOPE_BYTES,
    MAX_REQUEST_BYTES,
    MAX_UPSERT_RECORDS,
    record_json,
    upsert_request_ends,
    values_json,
)

__all__ = ["MAX_REQUEST_BYTES", "MAX_UPSERT_RECORDS", "PineconeStore"]

MAX_IDS_PER_CALL = 1_000  # fetch and delete
_T = TypeVar("_T")


class _FetchedVector(msgspec.Struct):
    """A fetched record as far as the pipeline needs it: ``values`` is skipped, never turned into floats."""

    metadata: dict[str, Any] | None = None


class _FetchBody(msgspec.Struct):
    vectors: dict[str, _FetchedVector] = {}


_FETCH_DECODER = msgspec.json.Decoder(_FetchBody)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PineconeConnectionError | PineconeTimeoutError):
        return True
    return isinstance(exc, ApiError) and (exc.status_code in (408, 429) or exc.status_code >= 500)


def _retry_after(exc: BaseException) -> float | None:
    """The wait the response asked for: ``Retry-After`` in seconds *or as an HTTP date* (the SDK's
    ``RateLimitError.retry_after`` drops dates), on a 429 or a 5xx."""
    if not isinstance(exc, ApiError) or not exc.headers:
        return None
    return retry_after_seconds(exc.headers, use_reset=isinstance(exc, RateLimitError))


class PineconeStore:
    """``VectorStore`` on one namespace (``PINECONE_NAMESPACE``) of a Pinecone index."""

    def __init__(self, settings: Settings, concurrency: int = 4, attempts: int | None = None) -> None:
        require(settings, "pinecone_api_key", "pinecone_index_host")
        assert settings.pinecone_api_key is not None and settings.pinecone_index_host is not None
        self.namespace = settings.pinecone_namespace
        self._secret = settings.pinecone_api_key.get_secret_value()
        client = Pinecone(api_key=self._secret)
        self._index = client.Index(host=settings.pinecone_index_host)
        disable_sdk_retries(self._index)  # one policy: Retry-After in full, a shared cool-down, one budget
        self._concurrency = max(1, concurrency)
        self._retry = TransientRetry(
            "pinecone",
            "Pinecone",
            _is_transient,
            _retry_after,
            attempts=attempts or settings.backfill_http_max_attempts,
            max_wait_s=settings.backfill_http_max_wait_s,
            base_wait_s=1.0,
        )

    # --- writes ---------------------------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record]) -> int:
        batches = list(self._upsert_batches(records))
        if len(batches) <= 1:
            return sum(self._upsert_batch(batch) for batch in batches)
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(batches))) as pool:
            futures = [pool.submit(self._upsert_batch, batch) for batch in batches]
            outcomes = [_outcome(future) for future in futures]  # wait for every batch before judging
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if errors:
            raise errors[0]
        return sum(int(outcome) for outcome in outcomes)  # type: ignore[arg-type]

    def _upsert_batches(self, records: Sequence[Record]) -> Iterator[list[Vector]]:
        """Requests of ≤ 1,000 records and ≤ 2 MB, sized on the very bytes the SDK will send.

        Each record's values are serialised once (``values_json``: shortest float32 text) and handed to the SDK
        as an ``orjson.Fragment``, which its orjson encoder copies verbatim: no float is formatted twice, and the
        size measured here is the size sent.
        """
        vectors: list[Vector] = []
        sizes: list[int] = []
        for record in records:
            raw = values_json(record.values)
            size = len(record_json(record, raw)) + 1
            if size + ENVELOPE_BYTES > MAX_REQUEST_BYTES:
                raise StoreError(f"record {record.id} alone is {size} bytes of JSON (limit {MAX_REQUEST_BYTES})")
            fragment = orjson.Fragment(raw)
            vectors.append(Vector(id=record.id, values=fragment, metadata=record.metadata))  # type: ignore[arg-type]
            sizes.append(size)
        start = 0
        for end in upsert_request_ends(sizes):
            yield vectors[start:end]
            start = end

    def _upsert_batch(self, batch: list[Vector]) -> int:
        response = self._call(
            "upsert", lambda: self._index.upsert(vectors=batch, namespace=self.namespace, show_progress=False)
        )
        acknowledged = int(response.upserted_count)
        if acknowledged != len(batch):
            ids = [item.id for item in batch]
            raise UpsertShortfall(
                f"Pinecone acknowledged {acknowledged} of {len(batch)} upserted records "
                f"(short by {len(batch) - acknowledged}) in namespace {self.namespace!r}; "
                f"batch sample {sample(ids)}",
                missing=ids,
            )
        return acknowledged

    def delete(self, ids: Iterable[str]) -> None:
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), MAX_IDS_PER_CALL):
            batch = unique[start : start + MAX_IDS_PER_CALL]
            self._call("delete", lambda b=batch: self._index.delete(ids=b, namespace=self.namespace))

    def update_metadata(self, metadata: Mapping[str, Mapping[str, object]]) -> int:
        """``update(id=, set_metadata=)`` per id: the named fields change, the vector stays (no re-embedding)."""
        items = list(metadata.items())

        def update(item: tuple[str, Mapping[str, object]]) -> None:
            vid, fields = item
            self._call(
                "update", lambda: self._index.update(id=vid, set_metadata=dict(fields), namespace=self.namespace)
            )

        if len(items) <= 1:
            for item in items:
                update(item)
        else:
            with ThreadPoolExecutor(max_workers=min(self._concurrency, len(items))) as pool:
                list(pool.map(update, items))
        return len(items)

    # --- reads ----------------------------------------------------------------------------------------------

    def fetch_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, object]]:
        unique = list(dict.fromkeys(ids))
        pages = [unique[start : start + MAX_IDS_PER_CALL] for start in range(0, len(unique), MAX_IDS_PER_CALL)]
        found: dict[str, dict[str, object]] = {}
        if len(pages) <= 1:
            for page in pages:
                found.update(self._fetch_page(page))
            return found
        # Pages in parallel: the server answers one while this process decodes another.
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(pages))) as pool:
            for result in pool.map(self._fetch_page, pages):
                found.update(result)
        return found

    def _fetch_page(self, ids: list[str]) -> dict[str, dict[str, object]]:
        return self._call("fetch", lambda: self._fetch_metadata_page(ids))

    def _fetch_metadata_page(self, ids: list[str]) -> dict[str, dict[str, object]]:
        """Metadata of the ``ids`` found, through the SDK's HTTP client (auth, retries, typed errors).

        A fetch always returns every vector's values: ~1,536 numbers per record that hash look-ups and the
        read-back never use. The SDK's own decoder would build a Python float for each (most of the pipeline's
        CPU in a read-back), so when the SDK exposes its HTTP client the body is decoded here, skipping values.
        """
        http = sdk_http_client(self._index)
        if http is None:  # an SDK without the client we rely on: its own (slower) decoding
            response = self._index.fetch(ids=ids, namespace=self.namespace)
            return {vid: dict(vector.metadata or {}) for vid, vector in response.vectors.items()}
        params: dict[str, Any] = {"ids": ids, "namespace": self.namespace} if self.namespace else {"ids": ids}
        content = http.get("/vectors/fetch", params=params).content
        try:
            body = _FETCH_DECODER.decode(content)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise StoreError(f"Pinecone fetch returned an unexpected body ({exc}): {content[:200]!r}") from None
        return {vid: vector.metadata or {} for vid, vector in body.vectors.items()}

    def list_ids(self, prefix: str) -> Iterator[str]:
        token: str | None = None
        while True:
            page = self._call("list", lambda t=token: self._list_page(prefix, t))
            yield from (item.id for item in page.vectors)
            next_token = page.pagination.next if page.pagination else None
            if not next_token:
                return
            if next_token == token:  # a server that repeats its cursor would loop forever
                raise StoreError(f"Pinecone list repeated pagination token for prefix {prefix!r}")
            token = next_token

    def _list_page(self, prefix: str, token: str | None) -> Any:
        kwargs: dict[str, Any] = {"prefix": prefix, "limit": 100, "namespace": self.namespace}
        if token:
            kwargs["pagination_token"] = token
        return self._index.list_paginated(**kwargs)

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        source: str | None = None,
        grants: Collection[str] | None = None,
        where: Mapping[str, str | bool] | None = None,
    ) -> list[Match]:
        kwargs: dict[str, Any] = {
            "vector": [float(v) for v in vector],  # plain floats: a float32 array row would not serialise
            "top_k": top_k,
            "namespace": self.namespace,
            "include_metadata": True,
        }
        conditions: dict[str, Any] = {}
        if source is not None:
            conditions["source"] = {"$eq": source}
        for key, value in (where or {}).items():
            # A string field equal to it, or a list field holding it; a flag by $eq ($in takes strings and numbers).
            conditions[key] = {"$eq": value} if isinstance(value, bool) else {"$in": [value]}
        if grants is not None:
            conditions.update(pinecone_filter(grants))  # the reader's filter in the query: top_k is all visible
        if conditions:
            kwargs["filter"] = conditions
        response = self._call("query", lambda: self._index.query(**kwargs))
        return [Match(m.id, float(m.score), dict(m.metadata or {})) for m in response.matches]

    def count(self) -> int:
        stats = self._call("describe_index_stats", lambda: self._index.describe_index_stats())
        summary = (stats.namespaces or {}).get(self.namespace)
        return int(summary.vector_count) if summary else 0

    def finish(self) -> None:
        """Nothing to compact: Pinecone manages its own storage."""

    # --- one error policy -----------------------------------------------------------------------------------

    def _call(self, operation: str, fn: Callable[[], _T]) -> _T:
        try:
            return self._retry(fn)
        except RetryBudgetExceeded as exc:
            last = f"{exc.last}; " if exc.last is not None else ""
            message = f"{last}{exc}".replace(self._secret, "***") if self._secret else f"{last}{exc}"
            raise StoreError(f"Pinecone {operation} failed in namespace {self.namespace!r}: {message[:400]}") from None
        except UnauthorizedError:
            raise StoreError(f"Pinecone rejected PINECONE_API_KEY (401) during {operation}") from None
        except PineconeError as exc:
            message = str(exc).replace(self._secret, "***") if self._secret else str(exc)
            raise StoreError(f"Pinecone {operation} failed in namespace {self.namespace!r}: {message[:300]}") from None


def _outcome(future: Any) -> object:
    try:
        return future.result()
    except BaseException as exc:  # collected, then the first is re-raised once every batch has finished
        return exc
