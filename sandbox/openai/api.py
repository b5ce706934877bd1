"""OpenAI embeddings simulator: ``POST /openai/v1/embeddings`` with the real limits, error bodies and headers.

Embeddings are a hashed bag of words over cl100k token ids (``sandbox.openai.vectors``): texts are encoded once
(the token count is needed anyway), token-array inputs are used as sent. Texts sharing words land near each
other, so semantic-ish queries work, and every vector is reproducible and cheap (numpy, no model).

Bodies are decoded with msgspec: ``input`` is kept raw, then decoded strictly as one of the four shapes the API
accepts (``[[int]]``, ``[str]``, ``str``, ``[int]``), so no Python walks the token ids to type-check them.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pybase64
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import fastjson
from sandbox.context import ApiSpec, SandboxContext
from sandbox.openai.vectors import ENCODING, embed_texts, embed_token_ids, first_unknown_token, flatten_token_ids

__all__ = ["MODELS", "SANDBOX_OPENAI_KEY", "OpenAIError", "build", "create_embeddings", "embed_texts"]

SANDBOX_OPENAI_KEY = "sk-sandbox-openai"
MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048
MAX_TOKENS_PER_INPUT = 8192
MAX_TOKENS_PER_REQUEST = 300_000
# Advertised quota (roughly a tier-2 organisation); only the request rate is enforced, by the fault layer.
LIMIT_REQUESTS_PER_MIN = 3000
LIMIT_TOKENS_PER_MIN = 1_000_000

_INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
_INVALID_JSON = (
    "We could not parse the JSON body of your request. "
    "(HINT: This likely means you aren't using your HTTP library correctly.)"
)


class _EmbeddingRequest(msgspec.Struct):
    """The body; fields other than ``input`` stay untyped so a wrong type gets OpenAI's message, not a parse error."""

    input: msgspec.Raw = msgspec.Raw()
    model: Any = None
    encoding_format: Any = "float"
    dimensions: Any = None
    user: Any = None


_BODY = msgspec.json.Decoder(_EmbeddingRequest)
# The accepted shapes of ``input``, tried in order, each turned into a list of inputs. msgspec refuses bools
# (and floats) where an int is expected, as OpenAI does.
_INPUT_SHAPES: tuple[tuple[msgspec.json.Decoder, Callable[[Any], list[Any]]], ...] = (
    (msgspec.json.Decoder(list[list[int]]), lambda value: value),
    (msgspec.json.Decoder(list[str]), lambda value: value),
    (msgspec.json.Decoder(str), lambda value: [value]),
    (msgspec.json.Decoder(list[int]), lambda value: [value]),
)


class OpenAIError(Exception):
    """A request OpenAI would refuse: carries the status and the ``error`` object of the body."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str,
        code: str | None,
        param: str | None = None,
        *,
        reason: str,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": type_, "param": param, "code": code}
        self.reason = reason  # the key counted in ctx.rejections


class _UsageWindow:
    """Requests and tokens of the last minute, for the x-ratelimit-* headers."""

    def __init__(self) -> None:
        self._events: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def record(self, tokens: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            self._events.append((now, tokens))
            while self._events and self._events[0][0] < now - 60:
                self._events.popleft()
            return len(self._events), sum(t for _, t in self._events)


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``12ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


def _ratelimit_headers(requests_used: int, tokens_used: int) -> dict[str, str]:
    remaining_requests = max(0, LIMIT_REQUESTS_PER_MIN - requests_used)
    remaining_tokens = max(0, LIMIT_TOKENS_PER_MIN - tokens_used)
    return {
        "x-ratelimit-limit-requests": str(LIMIT_REQUESTS_PER_MIN),
        "x-ratelimit-limit-tokens": str(LIMIT_TOKENS_PER_MIN),
        "x-ratelimit-remaining-requests": str(remaining_requests),
        "x-ratelimit-remaining-tokens": str(remaining_tokens),
        "x-ratelimit-reset-requests": _duration(60 * requests_used / LIMIT_REQUESTS_PER_MIN),
        "x-ratelimit-reset-tokens": _duration(60 * tokens_used / LIMIT_TOKENS_PER_MIN),
    }


def _too_many_inputs(count: int) -> OpenAIError:
    message = (
        f"Invalid 'input': array too long. Expected an array with maximum length {MAX_INPUTS}, "
        f"but got an array with length {count} instead."
    )
    return OpenAIError(
        400, message, "invalid_request_error", "array_above_max_length", "input", reason="too_many_inputs"
    )


def _decode_inputs(raw: msgspec.Raw) -> list[str] | list[list[int]]:
    """The inputs of ``str | [str] | [int] | [[int]]`` as a list; raises OpenAIError for anything else."""
    for decoder, as_list in _INPUT_SHAPES:
        try:
            return as_list(decoder.decode(raw))
        except msgspec.DecodeError:
            continue
    # None of the shapes: a non-empty array holds a wrong or mixed item, anything else is no input at all.
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        value = None
    if isinstance(value, list) and value:
        if len(value) > MAX_INPUTS:
            raise _too_many_inputs(len(value))
        raise OpenAIError(400, _INVALID_INPUT, "invalid_request_error", None, reason="empty_or_invalid_input")
    raise OpenAIError(400, _INVALID_INPUT, "invalid_request_error", None, reason="invalid_input")


def _token_ids(raw: msgspec.Raw) -> tuple[np.ndarray, np.ndarray, bool]:
    """All inputs' token ids back to back, each input's token count, and whether they came as ids (to vocabulary-check).

    Enforces the per-input limits; texts are encoded here (once: the count and the embedding share the ids).
    """
    items = _decode_inputs(raw)
    if not items:
        raise OpenAIError(400, _INVALID_INPUT, "invalid_request_error", None, reason="invalid_input")
    if len(items) > MAX_INPUTS:
        raise _too_many_inputs(len(items))
    if not all(items):  # an empty string or an empty token array
        raise OpenAIError(400, _INVALID_INPUT, "invalid_request_error", None, reason="empty_or_invalid_input")
    from_texts = isinstance(items[0], str)
    # Serial encoding: the batch API's thread pool only adds GIL contention inside the server.
    token_lists = [ENCODING.encode_ordinary(text) for text in items] if from_texts else items
    for index, tokens in enumerate(token_lists):
        if len(tokens) > MAX_TOKENS_PER_INPUT:
            message = f"Invalid 'input[{index}]': maximum input length is {MAX_TOKENS_PER_INPUT} tokens."
            raise OpenAIError(400, message, "invalid_request_error", None, f"input[{index}]", reason="input_too_long")
    try:
        ids, lengths = flatten_token_ids(token_lists)
    except OverflowError:  # an id beyond int64: certainly no token
        index, token = next((i, t) for i, tokens in enumerate(token_lists) for t in tokens if not -(2**63) <= t < 2**63)
        raise _unknown_token(index, token) from None
    return ids, lengths, not from_texts


def _unknown_token(index: int, token: int) -> OpenAIError:
    # OpenAI's exact wording for an id outside the vocabulary is unconfirmed; the shape is its usual 400.
    message = (
        f"Invalid 'input[{index}]': token id {token} is not in the vocabulary of the model's tokenizer "
        f"(cl100k_base, ids 0 to {ENCODING.n_vocab - 1})."
    )
    return OpenAIError(
        400, message, "invalid_request_error", "invalid_value", f"input[{index}]", reason="invalid_token_id"
    )


def _check_dimensions(model: str, dimensions: Any) -> int:
    native = MODELS[model]
    if dimensions is None:
        return native
    if not model.startswith("text-embedding-3"):
        message = "This model does not support specifying dimensions."
        raise OpenAIError(400, message, "invalid_request_error", None, reason="dimensions_unsupported")
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= native:
        message = f"Invalid value for 'dimensions' = {dimensions}. Must be between 1 and {native}."
        raise OpenAIError(
            400, message, "invalid_request_error", "invalid_value", "dimensions", reason="invalid_dimensions"
        )
    return dimensions


def create_embeddings(raw_body: bytes) -> tuple[dict[str, Any], int, bool]:
    """The response body of one embeddings request (from its raw JSON body), its token count, and whether the
    inputs were token-id arrays (not texts).

    Raises OpenAIError for anything OpenAI would refuse, malformed JSON included.
    """
    try:
        body = _BODY.decode(raw_body)
    except msgspec.DecodeError:  # malformed JSON, or JSON that is not an object
        raise OpenAIError(400, _INVALID_JSON, "invalid_request_error", None, reason="invalid_json") from None
    model = body.model
    if not isinstance(model, str) or model not in MODELS:
        message = f"The model `{model}` does not exist or you do not have access to it."
        raise OpenAIError(404, message, "invalid_request_error", "model_not_found", reason="model_not_found")
    encoding = body.encoding_format
    if encoding not in ("float", "base64"):
        message = f"Invalid value for 'encoding_format': {encoding!r}. Supported values are: 'float' and 'base64'."
        raise OpenAIError(
            400,
            message,
            "invalid_request_error",
            "invalid_value",
            "encoding_format",
            reason="invalid_encoding",
        )
    dimensions = _check_dimensions(model, body.dimensions)
    ids, lengths, token_inputs = _token_ids(body.input)
    total = len(ids)
    if total > MAX_TOKENS_PER_REQUEST:
        message = f"Requested {total} tokens, max {MAX_TOKENS_PER_REQUEST} tokens per request"
        raise OpenAIError(
            400, message, "max_tokens_per_request", "max_tokens_per_request", reason="max_tokens_per_request"
        )
    if token_inputs and (unknown := first_unknown_token(ids, lengths)) is not None:
        raise _unknown_token(*unknown)
    vectors = embed_token_ids(ids, lengths, dimensions)
    # float rows go out as float32 arrays: fastjson writes them directly (shortest float32 repr, same values).
    payload = _base64_rows(vectors) if encoding == "base64" else list(vectors)
    data = [{"object": "embedding", "index": i, "embedding": emb} for i, emb in enumerate(payload)]
    usage = {"prompt_tokens": total, "total_tokens": total}
    return {"object": "list", "data": data, "model": model, "usage": usage}, total, token_inputs


def _base64_rows(vectors: np.ndarray) -> list[str]:
    """Each row's little-endian float32 bytes in base64 (what OpenAI sends for ``encoding_format=base64``)."""
    little = np.ascontiguousarray(vectors, dtype="<f4")
    row_bytes = little.shape[1] * 4
    if row_bytes % 3:  # rows would need their own padding: encode them one by one
        return [pybase64.b64encode(row.tobytes()).decode("ascii") for row in little]
    # Rows of a multiple of 3 bytes encode to whole 4-char groups, so one encode of the matrix, cut per row,
    # is byte-identical to encoding every row alone.
    text = pybase64.b64encode(little.tobytes()).decode("ascii")
    width = row_bytes // 3 * 4
    return [text[start : start + width] for start in range(0, len(text), width)]


def _error_response(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": error}).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def build(ctx: SandboxContext) -> ApiSpec:
    usage = _UsageWindow()
    request_ids = itertools.count(1)

    def request_id() -> str:
        return f"req_{ctx.seed:04x}{next(request_ids):020x}"

    def reject(status: int, error: dict[str, Any], reason: str, extra: dict[str, str] | None = None) -> Response:
        ctx.reject("openai", reason)
        return _error_response(status, error, {"x-request-id": request_id(), **(extra or {})})

    async def embeddings(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return reject(
                401,
                {"message": message, "type": "invalid_request_error", "param": None, "code": None},
                "missing_api_key",
            )
        # The sandbox key, or any key that extends it (tests use marker keys to prove secrets never leak).
        if not auth[7:].strip().startswith(SANDBOX_OPENAI_KEY):
            # Never echo the key: secrets must not reach logs or exceptions.
            message = (
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
            )
            return reject(
                401,
                {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                },
                "invalid_api_key",
            )
        raw_body = await request.body()
        started = time.perf_counter()
        try:
            payload, tokens, token_inputs = await run_in_threadpool(create_embeddings, raw_body)
        except OpenAIError as exc:
            return reject(exc.status, exc.error, exc.reason)
        requests_used, tokens_used = usage.record(tokens)
        if token_inputs:  # which form a client sends is worth seeing in the counters
            ctx.count("openai", "POST", "/v1/embeddings with token-id inputs")
        headers = {
            "x-request-id": request_id(),
            "openai-model": payload["model"],
            "openai-processing-ms": str(round((time.perf_counter() - started) * 1000)),
            **_ratelimit_headers(requests_used, tokens_used),
        }
        return Response(fastjson.dumps(payload), media_type="application/json", headers=headers)

    def rate_limited(retry_after: float) -> Response:
        wait_ms = max(1, math.ceil(retry_after * 1000))
        message = (
            "Rate limit reached for text-embedding-3-small in organization org-sandbox on requests per min "
            f"(RPM): Limit {LIMIT_REQUESTS_PER_MIN}, Used {LIMIT_REQUESTS_PER_MIN}, Requested 1. "
            f"Please try again in {wait_ms}ms. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        error = {"message": message, "type": "requests", "param": None, "code": "rate_limit_exceeded"}
        headers = {
            "retry-after": f"{retry_after:.3f}".rstrip("0").rstrip("."),
            "retry-after-ms": str(wait_ms),
            "x-request-id": request_id(),
            **_ratelimit_headers(LIMIT_REQUESTS_PER_MIN, 0),
        }
        return _error_response(429, error, headers)

    def server_error() -> Response:
        error = {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        return _error_response(500, error, {"x-request-id": request_id()})

    app = Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])
    return ApiSpec(
        name="openai",
        prefix="/openai",
        app=app,
        rate_limited=rate_limited,
        server_error=server_error,
        requests_per_second=LIMIT_REQUESTS_PER_MIN / 60,
        burst=50,
        latency_ms=150.0,
        env=lambda base_url: {"OPENAI_BASE_URL": f"{base_url}/v1", "OPENAI_API_KEY": SANDBOX_OPENAI_KEY},
        control=None,
    )
