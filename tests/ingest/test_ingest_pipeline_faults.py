"""run_ingest against a misbehaving Pinecone: lost writes fail loudly, slow visibility is waited for."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.embedders import OpenAIEmbedder
from ingest.errors import EmbeddingError, UpsertShortfall, VerificationFailed
from ingest.pipeline import IngestOptions, run_ingest
from ingest.stores import PineconeStore
from sandbox.server import RunningSandbox
from tests.ingest.ingest_helpers import make_settings
from tests.ingest.test_ingest_pipeline import _corpus, _doc, _paragraphs

MARKER_OPENAI = "sk-MARKER-openai-4242-never-print"
MARKER_PINECONE = "pcsk-MARKER-pinecone-4242-never-print"


def _engine(sb: RunningSandbox, home: Path, **overrides: object) -> tuple[OpenAIEmbedder, PineconeStore]:
    settings = make_settings(sb, home, **overrides)
    return OpenAIEmbedder(settings), PineconeStore(settings)


def _many_chunks() -> list:
    return [_doc(n, _paragraphs(n, 30)) for n in range(40)]  # ~300 chunks


def test_one_percent_of_dropped_writes_fails_naming_count_and_sample(sb: RunningSandbox, tmp_path: Path) -> None:
    sb.control("faults", {"pinecone": {"drop_write_ratio": 0.01}})
    embedder, store = _engine(sb, tmp_path, pinecone_api_key=MARKER_PINECONE)
    options = IngestOptions(batch_docs=10, verify_timeout_s=1.0, verify_poll_s=0.2)
    with pytest.raises(VerificationFailed) as caught:
        run_ingest(_many_chunks(), embedder, store, options)
    error = caught.value
    assert error.missing and f"{len(error.missing)} of " in str(error)
    assert error.missing[0] in str(error)  # a sample of the missing ids is named
    assert error.report.status == "failed" and error.report.missing == len(error.missing)
    assert MARKER_PINECONE not in str(error)


def test_a_short_upserted_count_fails_the_run(sb: RunningSandbox, tmp_path: Path) -> None:
    sb.control("faults", {"pinecone": {"short_upserted_count": 1}})
    embedder, store = _engine(sb, tmp_path)
    with pytest.raises(UpsertShortfall, match=r"short by 1"):
        run_ingest(_corpus(4), embedder, store, IngestOptions(verify_timeout_s=1.0))


def test_three_seconds_of_visibility_lag_is_waited_out(sb: RunningSandbox, tmp_path: Path) -> None:
    sb.control("faults", {"pinecone": {"visibility_lag_s": 3.0}})
    embedder, store = _engine(sb, tmp_path)
    report = run_ingest(_corpus(6), embedder, store, IngestOptions(verify_timeout_s=15.0, verify_poll_s=0.5))
    assert report.status == "verified" and report.verified == report.upserted > 0 and report.missing == 0


def test_a_bad_openai_key_fails_without_printing_it(sb: RunningSandbox, tmp_path: Path) -> None:
    embedder, store = _engine(sb, tmp_path, openai_api_key=MARKER_OPENAI, pinecone_api_key=MARKER_PINECONE)
    with pytest.raises(EmbeddingError) as caught:
        run_ingest(_corpus(2), embedder, store, IngestOptions())
    text = f"{caught.value!s} {caught.value!r} {caught.value.__cause__!r} {caught.value.__context__!r}"
    assert MARKER_OPENAI not in text and MARKER_PINECONE not in text
