"""Running the ``backfill`` console script as a subprocess, the way an operator does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BACKFILL = str(Path(sys.executable).with_name("backfill"))
DATA = Path(__file__).parents[1] / "data" / "documents.jsonl"


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BACKFILL, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def last_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The one JSON object a ``--json`` command prints last on stdout."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr: {result.stderr[-3000:]}"
    return json.loads(lines[-1])
