"""The two places Backfill reaches past the ``pinecone`` SDK's public surface, kept here and nowhere else.

1. ``sdk_http_client``: the data-plane ``Index`` keeps its HTTP client in ``_http``. Read-back and hash look-ups
   fetch through it and decode the body themselves, skipping the ~1,536 ``values`` per record the SDK's decoder
   would turn into Python floats (most of a read-back's CPU).
2. ``disable_sdk_retries``: ``Index`` retries 408/429/5xx inside its transport (``_http._client._transport._config``)
   with a 60 s cap on ``Retry-After`` and no shared cool-down; Backfill's own policy must be the only one.

Both degrade instead of breaking a run when a new SDK moves them (the slower public fetch; the SDK's retries), and
tests/ingest/test_ingest_pinecone_sdk.py fails loudly on the installed SDK if either attribute is gone, so an
upgrade is noticed before it silently costs speed or retry correctness.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["disable_sdk_retries", "sdk_http_client"]


def sdk_http_client(index: Any) -> Any | None:
    """The ``Index``'s own HTTP client (auth, base URL, typed errors), or None on an SDK without it."""
    return getattr(index, "_http", None)


def disable_sdk_retries(index: Any) -> bool:
    """Switch off the ``Index`` transport's own retries; True when it was done."""
    transport = getattr(getattr(sdk_http_client(index), "_client", None), "_transport", None)
    config = getattr(transport, "_config", None)
    if transport is None or not dataclasses.is_dataclass(config) or not hasattr(config, "max_retries"):
        return False
    transport._config = dataclasses.replace(config, max_retries=0)  # type: ignore[type-var]
    return True
