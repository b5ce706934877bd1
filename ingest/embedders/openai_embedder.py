"""OpenAI embeddings through the official SDK, in batches the API accepts, concurrently, one retry policy.

Any OpenAI-compatible server works through ``OPENAI_BASE_URL`` (the sandbox, a proxy, a self-hosted model).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import openai
import orjson
import pybase64
from openai import OpenAI

from core.settings import Settings, require
from ingest.errors import EmbeddingError
from ingest.retrying import RetryBudgetExceeded, TransientRetry, retry_after_seconds
from ingest.tokens import count_tokens

__all__ = ["MAX_BATCH_INPUTS", "MAX_BATCH_TOKENS", "MAX_INPUT_TOKENS", "OpenAIEmbedder"]

MAX_BATCH_INPUTS = 2_048
MAX_BATCH_TOKENS = 300_000
MAX_INPUT_TOKENS = 8_192
CHUNK_TOKENS = 512  # retrieval quality, not the 8,192 limit, sets the chunk size
# OpenAI's embedding models, all tokenised with cl100k_base: for these the chunker's token ids can be sent
# instead of the text (the API accepts arrays of token ids; the embedding is the same).
_NATIVE_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        if body.get("code") == "insufficient_quota":  # a 429 that waiting cannot cure
            return False
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def _retry_after(exc: BaseException) -> float | None:
    """``retry-after-ms`` / ``retry-after``; on a 429 that states neither, the exhausted limit's reset."""
    response = getattr(exc, "response", None)  # the SDK's own httpx (openai 3 vendors it as httpx2): duck-typed
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    return retry_after_seconds(headers, use_reset=getattr(response, "status_code", None) == 429)


def _parse_body(content: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise EmbeddingError(f"OpenAI returned a body that is not JSON: {content[:200]!r}") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise EmbeddingError(f"OpenAI returned an unexpected body: {content[:200]!r}")
    return body


def _as_uint32(ids: Sequence[int]) -> np.ndarray:
    """Token ids as a uint32 array, which orjson writes without a Python int per id (no copy from array('I'))."""
    if isinstance(ids, array) and ids.typecode == "I" and ids.itemsize == 4:
        return np.frombuffer(ids, dtype=np.uint32)
    return np.asarray(ids, dtype=np.uint32)


def _decode_rows(embeddings: list[Any], dimensions: int) -> np.ndarray:
    """The batch's embeddings as one float32 matrix.

    Each is base64 of little-endian float32 (what we ask for) or a list of floats. When every base64 row is a
    whole number of 4-character groups without padding (a row of a multiple of 3 bytes, e.g. 1,536 × 4), the
    rows joined are one valid base64 text: one decode for the batch instead of one per row.
    """
    width = dimensions * 4 // 3 * 4
    whole_groups = dimensions * 4 % 3 == 0
    if whole_groups and all(isinstance(row, str) and len(row) == width for row in embeddings):
        joined = "".join(embeddings)
        if "=" not in joined:  # padding inside the text would end the decode early
            flat = np.frombuffer(pybase64.b64decode(joined), dtype="<f4")
            if flat.size == len(embeddings) * dimensions:  # else a row held junk: the per-row path says which
                return flat.reshape(len(embeddings), dimensions).astype(np.float32, copy=False)
    return np.stack([_decode(row, dimensions) for row in embeddings])


def _decode(embedding: object, dimensions: int) -> np.ndarray:
    """One embedding as float32: base64 of little-endian float32, or a list of floats."""
    if isinstance(embedding, str):
        vector = np.frombuffer(pybase64.b64decode(embedding), dtype="<f4")
    else:
        vector = np.asarray(embedding, dtype=np.float32)
    if vector.shape != (dimensions,):
        raise EmbeddingError(f"OpenAI returned a vector of {vector.size} values, expected {dimensions}")
    return vector


class OpenAIEmbedder:
    """``Embedder`` backed by ``/v1/embeddings``. ``tokens_used`` sums ``usage.prompt_tokens``."""

    max_chunk_tokens = CHUNK_TOKENS

    def __init__(
        self,
        settings: Settings,
        concurrency: int = 4,
        max_batch_inputs: int = MAX_BATCH_INPUTS,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        attempts: int | None = None,
    ) -> None:
        require(settings, "openai_api_key")
        self.model = settings.embedding_model
        self._send_token_ids = settings.openai_send_token_ids and self.model in _NATIVE_DIMENSIONS
        self._send_dimensions = settings.embedding_dimensions
        self.dimensions = settings.embedding_dimensions or _NATIVE_DIMENSIONS.get(self.model, 1536)
        self._secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        base_url = str(settings.openai_base_url).rstrip("/") if settings.openai_base_url else None
        # max_retries=0: the SDK's own retries would wait on their own (per thread, Retry-After capped at 60 s
        # in openai 1.x); TransientRetry is the one policy: waits in full, shared cool-down, one budget.
        self._client = OpenAI(api_key=self._secret, base_url=base_url, max_retries=0, timeout=120.0)
        self._concurrency = max(1, concurrency)
        self.max_batch_inputs = min(max_batch_inputs, MAX_BATCH_INPUTS)
        self.max_batch_tokens = min(max_batch_tokens, MAX_BATCH_TOKENS)
        self.concurrency = self._concurrency
        self._retry = TransientRetry(
            "openai",
            "OpenAI",
            _is_transient,
            _retry_after,
            attempts=attempts or settings.backfill_http_max_attempts,
            max_wait_s=settings.backfill_http_max_wait_s,
        )
        self._lock = threading.Lock()
        self.tokens_used = 0
        self.requests = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``, in order."""
        return self.embed_array(texts).tolist()

    def embed_array(
        self,
        texts: Sequence[str],
        token_counts: Sequence[int] | None = None,
        token_ids: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        """Vectors for ``texts`` as one float32 array (one row per text, in order).

        float32 is what the API sends (base64) and what Pinecone stores: no Python float per value, a sixth of
        the memory. ``token_counts`` (cl100k, one per text) saves counting again when the caller has them;
        ``token_ids`` (the cl100k ids of each text) are sent instead of the texts to OpenAI's own models, so
        the server does not tokenise them again. Any other model (a self-hosted one behind OPENAI_BASE_URL
        has its own tokenizer) gets the texts.
        """
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        counts = list(token_counts) if token_counts is not None else [count_tokens(text) for text in texts]
        if len(counts) != len(texts):
            raise ValueError(f"{len(counts)} token counts for {len(texts)} texts")
        batches = list(self._batches(self._inputs(texts, counts, token_ids), counts))
        if len(batches) == 1:
            return self._embed_batch(batches[0])
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(batches))) as pool:
            results = list(pool.map(self._embed_batch, batches))  # map keeps batch order; errors propagate
        return np.concatenate(results)

    def _inputs(
        self, texts: Sequence[str], counts: Sequence[int], token_ids: Sequence[Sequence[int]] | None
    ) -> Sequence[str | np.ndarray]:
        """What goes in ``input``: token id lists when the model is OpenAI's and every text's ids are known."""
        if token_ids is None or not self._send_token_ids or len(token_ids) != len(texts):
            return texts
        if any(len(ids) != count or not ids for ids, count in zip(token_ids, counts, strict=True)):
            return texts  # ids that do not match the counts are not the texts' ids: send what we know is right
        return [_as_uint32(ids) for ids in token_ids]

    def _batches(self, inputs: Sequence[str | np.ndarray], counts: Sequence[int]) -> Iterator[list[str | np.ndarray]]:
        """Consecutive batches within both the input-count and the summed-token bound."""
        batch: list[str | np.ndarray] = []
        batch_tokens = 0
        for position, (item, tokens) in enumerate(zip(inputs, counts, strict=True)):
            if len(item) == 0 or tokens > MAX_INPUT_TOKENS:
                # Chunking guarantees this; an empty or oversized input would fail its whole batch with a 400.
                raise EmbeddingError(f"input {position} has {tokens} tokens (must be 1..{MAX_INPUT_TOKENS})")
            if batch and (len(batch) >= self.max_batch_inputs or batch_tokens + tokens > self.max_batch_tokens):
                yield batch
                batch, batch_tokens = [], 0
            batch.append(item)
            batch_tokens += tokens
        if batch:
            yield batch

    def _embed_batch(self, batch: list[str | np.ndarray]) -> np.ndarray:
        try:
            response = self._retry(self._create, batch)
        except openai.OpenAIError as exc:
            raise EmbeddingError(self._describe(exc, len(batch))) from None
        except RetryBudgetExceeded as exc:
            last = self._describe(exc.last, len(batch)) if isinstance(exc.last, openai.OpenAIError) else None
            what = last or f"OpenAI embeddings failed for a batch of {len(batch)} inputs (model {self.model})"
            raise EmbeddingError(f"{what} ({exc})") from None
        body = _parse_body(response.content)
        data = sorted(body["data"], key=lambda item: item["index"])  # order by index, never by arrival
        if len(data) != len(batch) or [item["index"] for item in data] != list(range(len(batch))):
            raise EmbeddingError(f"OpenAI returned {len(data)} embeddings for {len(batch)} inputs")
        with self._lock:
            self.tokens_used += int((body.get("usage") or {}).get("prompt_tokens", 0))
        return _decode_rows([item["embedding"] for item in data], self.dimensions)

    def _create(self, batch: list[str | np.ndarray]) -> Any:
        """One request through the SDK's client (auth, status checks, typed errors); the raw response back.

        The typed ``embeddings.create`` would walk every input in Python and serialise with the standard
        library (~50 ms for a request of 1,000 token arrays) and build a pydantic object per embedding; the
        client's generic ``post`` sends the body orjson made and returns the raw response, which
        ``_parse_body`` reads.
        """
        with self._lock:
            self.requests += 1
        # base64 asked for explicitly: little-endian float32 as is, not a list of Python floats per vector.
        payload: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "base64"}
        if self._send_dimensions:
            payload["dimensions"] = self._send_dimensions
        body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)  # token ids as uint32 arrays, natively
        return self._client.post("/embeddings", cast_to=httpx.Response, content=body)

    def _describe(self, exc: openai.OpenAIError, inputs: int) -> str:
        """A message about the failure that can be logged: status and reason, never the key."""
        if isinstance(exc, openai.AuthenticationError):
            return "OpenAI rejected OPENAI_API_KEY (401); check the key and OPENAI_BASE_URL"
        status = f" {exc.status_code}" if isinstance(exc, openai.APIStatusError) else ""
        message = str(getattr(exc, "message", "") or type(exc).__name__)
        if self._secret:
            message = message.replace(self._secret, "***")
        return f"OpenAI embeddings failed{status} for a batch of {inputs} inputs (model {self.model}): {message[:300]}"
