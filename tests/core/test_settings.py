"""Settings: defaults are the embedded default; a bad value fails naming the variable; secrets stay secret."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings, require


def test_defaults_are_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BACKFILL_STORE", "BACKFILL_EMBEDDER", "BACKFILL_HOME"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.backfill_store, settings.backfill_embedder) == ("lancedb", "local")
    assert str(settings.backfill_home) == ".backfill"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BACKFILL_STORE", "chroma"),
        ("EMBEDDING_DIMENSIONS", "-3"),
        ("JIRA_URL", "not a url"),
        ("PINECONE_NAMESPACE", ""),
        ("BACKFILL_RESULTS_BLOCK", "S3 Bucket!"),
    ],
)
def test_bad_setting_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_require_names_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    monkeypatch.delenv("PINECONE_INDEX_HOST", raising=False)
    with pytest.raises(SettingsError, match="PINECONE_API_KEY, PINECONE_INDEX_HOST"):
        require(load_settings(), "pinecone_api_key", "pinecone_index_host")


def test_tokens_never_show_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-MARKER-settings-123")
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "nope")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "MARKER" not in str(err.value)
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "64")
    settings = load_settings()
    assert "MARKER" not in repr(settings) and "MARKER" not in settings.model_dump_json()
