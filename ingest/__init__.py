"""Source-agnostic ingest engine: Documents → chunks → embeddings → vectors → verified. No Prefect here.

Heavy backends (torch, lancedb, the vendor SDKs) are imported only by the modules that need them, so importing
``ingest`` stays light.
"""

from ingest.chunking import Chunk, chunk_document
from ingest.dedupe import Deduper
from ingest.document import Document, chunk_id, doc_id_of_chunk
from ingest.errors import (
    EmbeddingError,
    IngestError,
    MetadataTooLarge,
    PaginationBugSuspected,
    StoreError,
    UpsertShortfall,
    VerificationFailed,
)
from ingest.factory import build_embedder, build_store
from ingest.metadata import MAX_METADATA_BYTES, chunk_metadata, metadata_size
from ingest.pipeline import (
    BatchPlan,
    BatchResult,
    IngestOptions,
    IngestReport,
    VerifyResult,
    delete_stale,
    plan_batch,
    run_ingest,
    update_metadata,
    verify,
)
from ingest.protocols import Embedder, Match, Record, VectorStore
from ingest.tokens import count_tokens, estimate_cost_usd

__all__ = [
    "MAX_METADATA_BYTES",
    "BatchPlan",
    "BatchResult",
    "Chunk",
    "Deduper",
    "Document",
    "Embedder",
    "EmbeddingError",
    "IngestError",
    "IngestOptions",
    "IngestReport",
    "Match",
    "MetadataTooLarge",
    "PaginationBugSuspected",
    "Record",
    "StoreError",
    "UpsertShortfall",
    "VectorStore",
    "VerificationFailed",
    "VerifyResult",
    "build_embedder",
    "build_store",
    "chunk_document",
    "chunk_id",
    "chunk_metadata",
    "count_tokens",
    "delete_stale",
    "doc_id_of_chunk",
    "estimate_cost_usd",
    "metadata_size",
    "plan_batch",
    "run_ingest",
    "update_metadata",
    "verify",
]
