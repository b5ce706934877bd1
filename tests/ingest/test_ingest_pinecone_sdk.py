"""The installed pinecone SDK still has the two private attributes Backfill relies on (ingest/stores/pinecone_sdk.py).

If an SDK upgrade moves them, runs keep working (slower read-back; the SDK's own retries) — so this test is what
says so, loudly, before anyone ships the upgrade.
"""

from __future__ import annotations

import dataclasses

from pinecone import Pinecone

from ingest.stores.pinecone_sdk import disable_sdk_retries, sdk_http_client


def _index() -> object:
    return Pinecone(api_key="pcsk-test").Index(host="https://example-index.svc.pinecone.io")


def test_the_sdk_still_exposes_its_data_plane_http_client() -> None:
    http = sdk_http_client(_index())
    assert http is not None, "pinecone SDK: Index._http is gone; update ingest/stores/pinecone_sdk.py"
    assert callable(getattr(http, "get", None)), "pinecone SDK: Index._http.get is gone"


def test_the_sdk_retries_can_still_be_switched_off() -> None:
    index = _index()
    assert disable_sdk_retries(index), "pinecone SDK: the transport's retry config moved; see pinecone_sdk.py"
    config = index._http._client._transport._config  # type: ignore[attr-defined]
    assert dataclasses.is_dataclass(config) and config.max_retries == 0
