"""Tokens enter a flow run's environment from Prefect Secret blocks **at run time**, never from the deployment.

Why: ``{{ prefect.blocks.secret.* }}`` in ``prefect.yaml`` job variables is resolved by ``prefect deploy`` and the
plain value is stored in the deployment, readable by anyone who can view it (Prefect issues #14088, #17432). So the
deployment carries no token; each flow calls ``load_secret_env()`` before ``load_settings()``, which copies the saved
Secret blocks into ``os.environ`` for the variables that are not already set.

Rules:

- A variable already set (non-empty) wins: a local shell, a test or a work-pool override is never replaced.
- A missing block is skipped silently: each source needs only its own token, and local CLI runs on the temporary
  server have no blocks at all (one API call, nothing logged).
- Any other failure raises ``SecretBlockError`` naming the block(s), never a value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    BlockDocumentFilter,
    BlockDocumentFilterName,
    BlockTypeFilter,
    BlockTypeFilterSlug,
)
from prefect.exceptions import MissingContextError
from prefect.logging import get_logger, get_run_logger

from connectors.registry import secret_env_blocks

__all__ = ["SECRET_ENV_BLOCKS", "SecretBlockError", "load_secret_env"]

# Environment variable → the Secret block it is read from, derived from the source registry (each source's tokens)
# plus the services' (OpenAI, Pinecone). `backfill alerts setup` writes these very blocks.
SECRET_ENV_BLOCKS: dict[str, str] = secret_env_blocks()

_SECRET_BLOCK_TYPE = "secret"


class SecretBlockError(RuntimeError):
    """A Secret block exists but could not be read or holds no usable token; the message names the block only."""


def load_secret_env(names: Mapping[str, str] = SECRET_ENV_BLOCKS) -> list[str]:
    """Set each unset env var in ``names`` (env var → Secret block name) from its saved Secret block.

    Returns the names of the variables set (never their values). Costs at most one API call, none when every
    variable is already set.
    """
    wanted = {var: block for var, block in names.items() if not os.environ.get(var)}
    if not wanted:
        return []
    values = _read_secret_blocks(sorted(set(wanted.values())))
    loaded = [var for var, block in wanted.items() if block in values]
    for var in loaded:
        os.environ[var] = values[wanted[var]]
    if loaded:
        _logger().info("environment from Secret blocks: %s", ", ".join(sorted(loaded)))
    return sorted(loaded)


def _read_secret_blocks(block_names: list[str]) -> dict[str, str]:
    """Block name → token for those of ``block_names`` that exist, in one filtered read of the workspace's blocks."""
    body = {
        "block_documents": BlockDocumentFilter(name=BlockDocumentFilterName(any_=block_names)).model_dump(mode="json"),
        "block_types": BlockTypeFilter(slug=BlockTypeFilterSlug(any_=[_SECRET_BLOCK_TYPE])).model_dump(mode="json"),
        "include_secrets": True,
        "limit": len(block_names),
    }
    try:
        with get_client(sync_client=True) as client:
            documents = client.request("POST", "/block_documents/filter", json=body).json()
    except Exception as exc:
        # The request carries no secret and error responses carry none either, so the cause is safe to chain.
        raise SecretBlockError(f"could not read Secret block(s) {', '.join(block_names)}: {exc}") from exc
    return {str(doc.get("name")): _token_of(doc) for doc in documents if doc.get("name") in block_names}


def _token_of(document: dict[str, Any]) -> str:
    """The block's value as a non-empty string; errors name the block and never show what it holds."""
    value = (document.get("data") or {}).get("value")
    if not isinstance(value, str) or not value.strip():
        raise SecretBlockError(
            f"Secret block {document.get('name')!r} does not hold a non-empty string token "
            "(re-create it with `backfill alerts setup`)"
        )
    return value


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run logger inside a flow or task (the line shows in the UI), else a module logger."""
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger(__name__)
