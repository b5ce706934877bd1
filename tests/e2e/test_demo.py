"""``backfill demo`` (what ``make demo`` runs): every existing source ends verified and fresh, offline."""

from __future__ import annotations

from pathlib import Path

from backfill.running import SOURCES
from tests.e2e.cli_helpers import run_cli


def test_demo_verifies_every_source_and_reports_them_fresh(prefect_server: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_cli(["demo"], {"BACKFILL_HOME": str(home), "PREFECT_API_URL": prefect_server}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for source in SOURCES:
        assert f"{source}: fetch" in out
        rows = [line for line in out.splitlines() if line.startswith(f"│ {source} ")]
        assert rows and "fresh" in rows[0], f"{source} is not reported fresh"
    assert out.count("verified:") == len(SOURCES)
    assert str(home.resolve()) in out.replace("\n", "")
    assert (home / "lancedb").is_dir()
