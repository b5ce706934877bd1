"""``backfill demo`` (what ``make demo`` runs) on a fresh machine: every existing source ends verified and fresh,
offline, with no ``PREFECT_API_URL`` and an empty ``PREFECT_HOME``, under the one Prefect server the command starts.
"""

from __future__ import annotations

import re
from pathlib import Path

from backfill.demo import demo_sources
from tests.e2e.test_cold_start import ANNOUNCE, assert_no_server_left, cold_start_env, run_cold, server_ports


def test_demo_on_a_fresh_machine_verifies_every_source_under_one_prefect_server(tmp_path: Path) -> None:
    env = cold_start_env(tmp_path)
    assert not any(Path(env["PREFECT_HOME"]).iterdir())
    result = run_cold(["demo"], env, timeout=600)
    out, err = result.stdout, result.stderr
    assert result.returncode == 0, out[-3000:] + err[-3000:]
    for source in (spec.name for spec in demo_sources()):
        assert f"{source}: fetch" in out
        rows = [line for line in out.splitlines() if line.startswith(f"│ {source} ")]
        assert rows and "fresh" in rows[0], f"{source} is not reported fresh"
    assert out.count("verified:") == len(demo_sources())
    home = Path(env["BACKFILL_HOME"])
    assert str(home.resolve()) in out.replace("\n", "")
    assert (home / "lancedb").is_dir()

    # One server for the whole command: announced once, started once by Prefect (every start logs this line, also
    # one a flow or a background worker would start by itself), on the announced port; stopped at the end.
    assert err.count(ANNOUNCE) == 1, err[-3000:]
    ports = server_ports(err)
    assert len(ports) == 1, err[-3000:]
    ready = re.search(r"temporary server ready at http://127\.0\.0\.1:(\d+)/api", err)
    assert ready and int(ready.group(1)) == ports[0], err[-3000:]
    assert "address already in use" not in err and "Timed out" not in err
    assert (Path(env["PREFECT_HOME"]) / "prefect.db").is_file()  # the empty home got the server's database
    assert_no_server_left(ports[0])
