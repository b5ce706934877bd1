"""The Pinecone data-plane simulator, driven by the official ``pinecone`` SDK and by raw HTTP."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import orjson
import pinecone
import pytest
from pinecone import Pinecone

DIM = 8
SPECS = ("pinecone/db_data_2025-10.trimmed.oas.yaml", "pinecone/db_data_2026-04.trimmed.oas.yaml")
NEW_API = {"X-Pinecone-Api-Version": "2026-04", "Api-Key": "test-key"}
OLD_API = {"X-Pinecone-Api-Version": "2025-01", "Api-Key": "test-key"}


def _vec(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(DIM).tolist()


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def sb(fresh_sandbox):
    fresh_sandbox.control("pinecone/configure", {"dimension": DIM})
    return fresh_sandbox


@pytest.fixture
def index(sb):
    with (
        Pinecone(api_key=sb.env["PINECONE_API_KEY"]) as client,
        client.Index(host=sb.env["PINECONE_INDEX_HOST"]) as idx,
    ):
        yield idx


@pytest.fixture
def http(sb):
    with httpx.Client(base_url=sb.base_url, headers=NEW_API, timeout=30) as client:
        yield client


def test_sdk_round_trip(index) -> None:
    sent = _vec(1)
    vectors = [("doc#0", sent, {"source": "jira", "tags": ["a", "b"], "n": 3, "gone": None}), ("doc#1", _vec(2))]
    assert index.upsert(vectors=vectors, namespace="ns").upserted_count == 2

    fetched = index.fetch(ids=["doc#0", "doc#1", "missing"], namespace="ns")
    assert set(fetched.vectors) == {"doc#0", "doc#1"}
    record = fetched.vectors["doc#0"]
    assert record.metadata == {"source": "jira", "tags": ["a", "b"], "n": 3}  # null stripped
    assert np.array_equal(np.float32(record.values), np.float32(sent))  # stored as float32

    result = index.query(vector=sent, top_k=2, namespace="ns", include_metadata=True)
    assert result.matches[0].id == "doc#0"
    assert result.matches[0].score == pytest.approx(1.0, abs=1e-5)

    assert [item.id for page in index.list(namespace="ns") for item in page.vectors] == ["doc#0", "doc#1"]
    stats = index.describe_index_stats()
    assert stats.dimension == DIM and stats.total_vector_count == 2
    index.delete(ids=["doc#0"], namespace="ns")
    assert set(index.fetch(ids=["doc#0", "doc#1"], namespace="ns").vectors) == {"doc#1"}


def test_query_filters(index) -> None:
    index.upsert(
        vectors=[
            ("j1", _vec(1), {"source": "jira", "labels": ["x"]}),
            ("j2", _vec(2), {"source": "jira", "labels": ["y"]}),
            ("s1", _vec(3), {"source": "slack", "labels": ["x"]}),
        ],
        namespace="ns",
    )

    def ids(flt: dict) -> set[str]:
        return {m.id for m in index.query(vector=_vec(9), top_k=10, namespace="ns", filter=flt).matches}

    assert ids({"source": {"$eq": "jira"}}) == {"j1", "j2"}
    assert ids({"source": "slack"}) == {"s1"}
    assert ids({"source": {"$in": ["slack", "notion"]}}) == {"s1"}
    assert ids({"labels": {"$in": ["x"]}}) == {"j1", "s1"}
    assert ids({"$and": [{"source": "jira"}, {"labels": "y"}]}) == {"j2"}


def test_ids_with_spaces_and_slashes_round_trip(index) -> None:
    odd = ["a b+c", "x/y z", "plain"]
    index.upsert(vectors=[(i, _vec(n)) for n, i in enumerate(odd)], namespace="ns")
    assert set(index.fetch(ids=odd, namespace="ns").vectors) == set(odd)


def test_wire_shapes_and_lsn_headers(http, vendor_schema) -> None:
    upsert = http.post("/vectors/upsert", json={"vectors": [{"id": "a", "values": _vec(1)}], "namespace": "ns"})
    second = http.post("/vectors/upsert", json={"vectors": [{"id": "b", "values": _vec(2)}], "namespace": "ns"})
    assert upsert.json() == {"upsertedCount": 1}
    assert int(second.headers["x-pinecone-request-lsn"]) > int(upsert.headers["x-pinecone-request-lsn"])
    query = http.post("/query", json={"vector": _vec(1), "topK": 1, "namespace": "ns", "includeMetadata": True})
    assert int(query.headers["x-pinecone-max-indexed-lsn"]) >= int(second.headers["x-pinecone-request-lsn"])
    assert set(query.json()) == {"matches", "namespace", "usage"}
    fetch = http.get("/vectors/fetch", params={"ids": ["a", "b"], "namespace": "ns"})
    listing = http.get("/vectors/list", params={"namespace": "ns", "limit": 1})
    assert "next" in listing.json()["pagination"]
    stats = http.post("/describe_index_stats", json={})
    delete = http.post("/vectors/delete", json={"ids": ["a"], "namespace": "ns"})
    assert "x-pinecone-request-lsn" in delete.headers
    bad = http.post("/vectors/upsert", json={"vectors": [{"id": "c", "values": [1.0]}], "namespace": "ns"})
    assert bad.status_code == 400
    for spec in SPECS:
        vendor_schema(spec, "UpsertResponse").validate(upsert.json())
        vendor_schema(spec, "QueryResponse").validate(query.json())
        vendor_schema(spec, "FetchResponse").validate(fetch.json())
        vendor_schema(spec, "ListResponse").validate(listing.json())
        vendor_schema(spec, "IndexDescription").validate(stats.json())
        vendor_schema(spec, "DeleteResponse").validate(delete.json())
        vendor_schema(spec, "rpcStatus").validate(bad.json())
    assert bad.json() == {
        "code": 3,
        "message": f"Vector dimension 1 does not match the dimension of the index {DIM}",
        "details": [],
    }


def test_list_pagination_with_prefix(index) -> None:
    index.upsert(vectors=[(f"jira:{n:03d}#0", _vec(n)) for n in range(250)], namespace="ns")
    index.upsert(vectors=[(f"slack:{n:03d}#0", _vec(n)) for n in range(5)], namespace="ns")
    pages = list(index.list(namespace="ns", prefix="jira:", limit=100))
    assert [len(page.vectors) for page in pages] == [100, 100, 50]
    listed = [item.id for page in pages for item in page.vectors]
    assert listed == sorted(f"jira:{n:03d}#0" for n in range(250))


def test_too_many_records_fails_whole_request(index, sb) -> None:
    vectors = [(f"v{n}", _vec(n)) for n in range(1001)]
    with pytest.raises(pinecone.ApiError) as caught:
        index.upsert(vectors=vectors, namespace="ns")
    assert caught.value.status_code == 400
    assert "exceeds the limit of 1000" in str(caught.value)
    assert index.describe_index_stats().total_vector_count == 0
    assert sb.control("counters")["rejections"] == {"pinecone too_many_vectors": 1}


def test_request_size_limits(index, http) -> None:
    padding = "x" * 30_000  # big metadata, under the per-record limit
    with pytest.raises(pinecone.ApiError, match="exceeds the maximum supported size of 2MB") as caught:
        index.upsert(vectors=[(f"v{n}", _vec(n), {"pad": padding}) for n in range(80)], namespace="ns")
    assert caught.value.status_code == 400
    with pytest.raises(pinecone.PayloadTooLargeError):
        index.upsert(vectors=[(f"v{n}", _vec(n), {"pad": padding}) for n in range(400)], namespace="ns")
    index.upsert(vectors=[(f"v{n}", _vec(n), {"pad": padding}) for n in range(60)], namespace="ns")  # ~1.8 MB


def test_metadata_over_40960_bytes_fails_whole_request(index, http) -> None:
    fits = {"text": "é" * 20_474 + "a"}  # é is 2 bytes in UTF-8: {"text":"…"} is exactly 40,960 bytes
    too_big = {"text": "é" * 20_475}
    index.upsert(vectors=[("fits", _vec(1), fits)], namespace="ns")
    with pytest.raises(pinecone.ApiError, match="Metadata size is 40961 bytes, which exceeds the limit of 40960"):
        index.upsert(vectors=[("ok", _vec(2)), ("big", _vec(3), too_big)], namespace="ns")
    assert set(index.fetch(ids=["fits", "ok", "big"], namespace="ns").vectors) == {"fits"}


def test_metadata_types(http) -> None:
    nested = {"vectors": [{"id": "a", "values": _vec(1), "metadata": {"obj": {"k": 1}}}], "namespace": "ns"}
    numbers = {"vectors": [{"id": "a", "values": _vec(1), "metadata": {"ids": [1, 2]}}], "namespace": "ns"}
    for body in (nested, numbers):
        response = http.post("/vectors/upsert", json=body)
        assert response.status_code == 400
        assert response.json()["code"] == 3


def test_dimension_mismatch(index) -> None:
    with pytest.raises(pinecone.ApiError, match="Vector dimension 3 does not match the dimension of the index 8"):
        index.upsert(vectors=[("a", [0.1, 0.2, 0.3])], namespace="ns")


def test_id_and_top_k_limits(http) -> None:
    too_many = http.get("/vectors/fetch", params={"ids": [f"id-{n}" for n in range(1001)], "namespace": "ns"})
    assert too_many.status_code == 400 and too_many.json()["code"] == 3
    ok = http.get("/vectors/fetch", params={"ids": [f"id-{n:050d}" for n in range(1000)], "namespace": "ns"})
    assert ok.status_code == 200  # a 55 KB query string is accepted (h11's default cap is 16 KB)
    delete = http.post("/vectors/delete", json={"ids": [str(n) for n in range(1001)], "namespace": "ns"})
    assert delete.status_code == 400
    top_k = http.post("/query", json={"vector": _vec(1), "topK": 10_001, "namespace": "ns"})
    assert top_k.status_code == 400
    listing = http.get("/vectors/list", params={"namespace": "ns", "limit": 101})
    assert listing.status_code == 400


def test_api_key_required(sb, vendor_schema) -> None:
    response = httpx.post(f"{sb.base_url}/describe_index_stats", json={})
    assert response.status_code == 401
    vendor_schema(SPECS[1], "rpcStatus").validate(response.json())
    with Pinecone(api_key="any-key-works") as client, client.Index(host=sb.base_url) as index:
        assert index.describe_index_stats().dimension == DIM


def test_default_namespace_aliasing(http, index) -> None:
    index.upsert(vectors=[("d1", _vec(1))])  # SDK omits namespace "" on upsert
    aliased = http.get("/vectors/fetch", params={"ids": ["d1"], "namespace": "__default__"})
    assert set(aliased.json()["vectors"]) == {"d1"}
    assert aliased.json()["namespace"] == "__default__"
    assert http.post("/describe_index_stats", json={}).json()["namespaces"] == {"__default__": {"vectorCount": 1}}
    assert index.describe_index_stats().namespaces["__default__"].vector_count == 1

    old_stats = httpx.post(f"{http.base_url}/describe_index_stats", json={}, headers=OLD_API).json()
    assert old_stats["namespaces"] == {"": {"vectorCount": 1}}
    old_alias = httpx.get(
        f"{http.base_url}/vectors/fetch", params={"ids": "d1", "namespace": "__default__"}, headers=OLD_API
    )
    assert old_alias.status_code == 400


def test_visibility_lag(index, sb) -> None:
    sb.control("faults", {"pinecone": {"visibility_lag_s": 0.3}})
    response = index.upsert(vectors=[("late", _vec(1))], namespace="ns")
    written_lsn = response.response_info.lsn_committed
    assert index.fetch(ids=["late"], namespace="ns").vectors == {}
    first_query = index.query(vector=_vec(1), top_k=1, namespace="ns")
    assert first_query.matches == []
    assert first_query.response_info.lsn_reconciled < written_lsn

    _wait_until(lambda: "late" in index.fetch(ids=["late"], namespace="ns").vectors)
    later = index.query(vector=_vec(1), top_k=1, namespace="ns")
    assert [m.id for m in later.matches] == ["late"]
    assert later.response_info.lsn_reconciled >= written_lsn

    index.delete(ids=["late"], namespace="ns")
    assert "late" in index.fetch(ids=["late"], namespace="ns").vectors  # deletes lag too
    _wait_until(lambda: index.describe_index_stats().total_vector_count == 0)


def test_drop_write_ratio_answers_full_count(index, sb) -> None:
    sb.control("pinecone/faults", {"drop_write_ratio": 0.5})
    ids = [f"d{n}" for n in range(200)]
    assert index.upsert(vectors=[(i, _vec(n)) for n, i in enumerate(ids)], namespace="ns").upserted_count == 200
    stored = len(index.fetch(ids=ids, namespace="ns").vectors)
    assert 50 < stored < 150


def test_short_upserted_count(index, sb) -> None:
    sb.control("faults", {"pinecone": {"short_upserted_count": 3}})
    ids = [f"s{n}" for n in range(10)]
    assert index.upsert(vectors=[(i, _vec(n)) for n, i in enumerate(ids)], namespace="ns").upserted_count == 7
    assert set(index.fetch(ids=ids, namespace="ns").vectors) == set(ids[:7])


def test_injected_429_and_5xx_in_pinecone_style(sb, index, vendor_schema) -> None:
    # The SDK's data plane always retries 3 times, honouring Retry-After: keep it tiny so the test stays fast.
    sb.control("faults", {"pinecone": {"rate_429": 1.0, "retry_after": 0.01}})
    with pytest.raises(pinecone.RateLimitError) as caught:
        index.describe_index_stats()
    assert caught.value.retry_after == pytest.approx(0.01)
    assert sb.control("counters")["faults"] == {"pinecone rate_429": 4}
    # 5xx retries back off for seconds in the SDK, so check the wire answer directly.
    sb.control("faults", {"pinecone": {"rate_429": 0.0, "rate_5xx": 1.0}})
    raw = httpx.post(f"{sb.base_url}/describe_index_stats", json={}, headers=NEW_API)
    assert raw.status_code == 503
    vendor_schema(SPECS[1], "rpcStatus").validate(raw.json())


# -- upsert fast path (msgspec, values kept as JSON text) and its reference fallback ---------------------------


def _float32_json(seed: int) -> bytes:
    values = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)  # shortest float32 text, as our pipeline sends


def _upsert_raw(http: httpx.Client, body: bytes) -> httpx.Response:
    return http.post("/vectors/upsert", content=body, headers={"Content-Type": "application/json"})


def test_fetch_and_query_return_float32_text_exactly_as_sent(http) -> None:
    texts = {f"r{n}": _float32_json(n) for n in range(3)}
    records = [{"id": i, "values": orjson.Fragment(t), "metadata": {"n": 1}} for i, t in texts.items()]
    assert _upsert_raw(http, orjson.dumps({"vectors": records, "namespace": "ns"})).json() == {"upsertedCount": 3}

    fetched = http.get("/vectors/fetch", params={"ids": list(texts), "namespace": "ns"})
    for record_id, text in texts.items():
        assert b'"values":' + text in fetched.content  # spliced, not re-formatted
        assert np.array_equal(
            np.float32(fetched.json()["vectors"][record_id]["values"]), np.float32(orjson.loads(text))
        )
    by_id = http.post("/query", json={"id": "r1", "topK": 1, "namespace": "ns", "includeValues": True})
    assert by_id.json()["matches"][0]["id"] == "r1"
    assert by_id.json()["matches"][0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert b'"values":' + texts["r1"] in by_id.content


def test_values_with_whitespace_and_doubles_are_stored_compact(http) -> None:
    sent = _vec(4)  # Python doubles: more digits than float32 holds
    body = json.dumps({"vectors": [{"id": "w", "values": sent}], "namespace": "ns"}, indent=2).encode()
    assert b"\n" in body and _upsert_raw(http, body).status_code == 200
    fetched = http.get("/vectors/fetch", params={"ids": "w", "namespace": "ns"})
    assert fetched.json()["vectors"]["w"]["values"] == sent  # the numbers as sent (float32-equal to Pinecone's)
    assert b" " not in fetched.content.split(b'"values":')[1].split(b"]")[0]


def test_values_only_the_reference_path_accepts_are_stored_as_float32(http) -> None:
    # A positive exponent, sparse values and an unknown field each send the request down the reference path.
    exponent = [1e5, 2.5, -3e3, 4, 5, 6, 7, 8.0]
    body = b'{"vectors":[{"id":"e","values":[1E+5,2.5,-3e3,4,5,6,7,8.0],"sparseValues":{"indices":[3],"values":[0.5]}}'
    body += b',{"id":"u","values":[1,2,3,4,5,6,7,8],"extra":true}],"namespace":"ns"}'
    assert _upsert_raw(http, body).json() == {"upsertedCount": 2}
    fetched = http.get("/vectors/fetch", params={"ids": ["e", "u"], "namespace": "ns"}).json()["vectors"]
    assert fetched["e"]["values"] == exponent
    assert fetched["e"]["sparseValues"] == {"indices": [3], "values": [0.5]}
    assert fetched["u"]["values"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    update = http.post("/vectors/update", json={"id": "u", "values": [0.1] * DIM, "namespace": "ns"})
    assert update.json() == {"matchedRecords": 1}
    updated = http.get("/vectors/fetch", params={"ids": "u", "namespace": "ns"})
    assert b'"values":[' + b",".join([b"0.1"] * DIM) + b"]" in updated.content  # float32 text of the update


ONES = [1.0] * DIM
BAD_VALUES = [
    (b'"values":[]', "Vector 'a': values must be a non-empty list of numbers", "values"),
    (b'"values":null', "Vector 'a': values must be a non-empty list of numbers", "values"),
    (b'"metadata":{}', "Vector 'a': values must be a non-empty list of numbers", "values"),
    (b'"values":"12345678"', "Vector 'a': values must be a non-empty list of numbers", "values"),
    (b'"values":["1",2,3,4,5,6,7,8]', "Vector 'a': values must be a non-empty list of numbers", "values"),
    (b'"values":[true,2,3,4,5,6,7,8]', "Vector 'a': values must be a non-empty list of numbers", "values"),
    (b'"values":[1,"x",3,4,5,6,7,8]', "Vector 'a': values must be a list of numbers", "values"),
    (b'"values":[1,[2],3,4,5,6,7,8]', "Vector 'a': values must be a list of numbers", "values"),
    (b'"values":[[1,2,3,4],[5,6,7,8]]', "Vector 'a': values must be a flat list of numbers", "values"),
    (b'"values":[1,2,3]', f"Vector dimension 3 does not match the dimension of the index {DIM}", "dimension"),
    (
        b'"values":[1,2,3,4,5,6,7,8,9]',
        f"Vector dimension 9 does not match the dimension of the index {DIM}",
        "dimension",
    ),
]


@pytest.mark.parametrize(("field", "message", "reason"), BAD_VALUES)
def test_bad_values_are_refused_with_the_reference_wording(sb, http, field, message, reason) -> None:
    response = _upsert_raw(http, b'{"vectors":[{"id":"a",' + field + b'}],"namespace":"ns"}')
    assert response.status_code == 400
    assert response.json() == {"code": 3, "message": message, "details": []}
    assert sb.control("counters")["rejections"] == {f"pinecone {reason}": 1}


def test_first_bad_record_is_the_one_named(sb, http) -> None:
    ok, short = orjson.dumps(ONES), b"[1,2]"
    body = b'{"vectors":[{"id":"a","values":' + ok + b'},{"id":"b","values":' + short
    body += b'},{"id":7,"values":' + ok + b"}]}"
    response = _upsert_raw(http, body)
    assert response.json()["message"] == f"Vector dimension 2 does not match the dimension of the index {DIM}"
    swapped = body.replace(b'"id":"b","values":' + short, b'"id":"b","values":' + ok)
    assert _upsert_raw(http, swapped).json()["message"] == "Vector id must be a string of 1 to 512 characters"
    assert http.post("/describe_index_stats", json={}).json()["totalVectorCount"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"vectors":[{"id":"a","values":[1,2,3,4,5,6,7,1e999]}]}',  # a double overflow orjson refuses
        b'{"vectors":[{"id":"a","values":[1,2,3,4,5,6,7,8]}]} trailing',
        b'{"vectors":[{"id":"a","values":[1,2,3,4,5,6,7,8,]}]}',
        b'{"vectors":[{"id":"a","values":[1,2,3,4,5,6,7,NaN]}]}',
        b'{"vectors":[{"id":"a","values":[1,2,3,4,5,6,7,8],"metadata":{"x":1e400}}]}',
    ],
)
def test_malformed_json_is_a_deserialize_error(sb, http, body) -> None:
    response = _upsert_raw(http, body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Failed to deserialize the JSON body into the target type: ")
    assert sb.control("counters")["rejections"] == {"pinecone json": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "Failed to deserialize the JSON body: expected an object"),
        (b'{"vectors":{}}', "Invalid request: 'vectors' must be a non-empty list"),
        (b'{"vectors":[]}', "Invalid request: 'vectors' must be a non-empty list"),
        (b'{"vectors":[1]}', "Invalid request: each vector must be an object"),
    ],
)
def test_wrong_shapes_keep_their_messages(http, body, message) -> None:
    response = _upsert_raw(http, body)
    assert response.status_code == 400 and response.json()["message"] == message
