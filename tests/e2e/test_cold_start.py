"""The CLI's own Prefect server on a fresh machine: no ``PREFECT_API_URL``, an empty ``PREFECT_HOME``.

The demo itself runs that way in tests/e2e/test_demo.py (one run of the ~1-minute demo for the suite); here are the
ways the start can fail, each ending with exit code 2 and a message that says what to do, never a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import psutil

from backfill.prefect_server import STARTUP_TIMEOUT_ENV
from tests.e2e.cli_helpers import BACKFILL

ANNOUNCE = "starting one temporary Prefect server for this command"
PREFECT_START_LOG = "Starting temporary server on"  # logged by every SubprocessASGIServer.start, at INFO


def cold_start_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a new clone: no Prefect settings at all (no API URL, no profile), an empty PREFECT_HOME,
    no Backfill settings but a private BACKFILL_HOME. Prefect logs at INFO so each server start is visible."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BACKFILL_"))}
    home = tmp_path / "prefect-home"
    home.mkdir(exist_ok=True)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_LOGGING_LEVEL="INFO",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        BACKFILL_HOME=str(tmp_path / "backfill-home"),
        **extra,
    )
    return env


def run_cold(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BACKFILL, *args], env=env, capture_output=True, text=True, timeout=timeout)


def server_ports(stderr: str) -> list[int]:
    """The port of every temporary server Prefect started in the command (one line each)."""
    return [int(port) for port in re.findall(rf"{PREFECT_START_LOG} http://127\.0\.0\.1:(\d+)", stderr)]


def assert_no_server_left(port: int) -> None:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "uvicorn" in cmdline and str(port) in cmdline:
            raise AssertionError(f"the temporary server on port {port} outlived its command: pid {process.pid}")


def assert_clear_failure(result: subprocess.CompletedProcess[str], *phrases: str) -> str:
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


def test_a_server_that_does_not_start_in_time_fails_the_command_saying_what_to_do(tmp_path: Path) -> None:
    env = cold_start_env(tmp_path, **{STARTUP_TIMEOUT_ENV: "0.01"})
    result = run_cold(["demo"], env, timeout=120)
    error = assert_clear_failure(
        result, "did not answer within 0.01 s", "PREFECT_API_URL", STARTUP_TIMEOUT_ENV, env["PREFECT_HOME"]
    )
    assert "prefect server start" in error
    ports = server_ports(result.stderr)
    assert len(ports) == 1, result.stderr[-3000:]  # no second attempt, no flow started its own
    assert_no_server_left(ports[0])  # the half-started server was stopped, not left holding its port
    assert "jira: fetch" not in result.stdout  # nothing ran without an API


def test_an_unwritable_prefect_home_is_named_before_any_server_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = cold_start_env(tmp_path)
    env["PREFECT_HOME"] = str(blocker / "prefect-home")  # below a file: cannot be created, even by root
    result = run_cold(["demo"], env, timeout=120)
    assert_clear_failure(result, "PREFECT_HOME", str(blocker / "prefect-home"), "not writable", "PREFECT_API_URL")
    assert server_ports(result.stderr) == []


def test_an_invalid_startup_timeout_is_named(tmp_path: Path) -> None:
    result = run_cold(["demo"], cold_start_env(tmp_path, **{STARTUP_TIMEOUT_ENV: "soon"}), timeout=120)
    assert_clear_failure(result, STARTUP_TIMEOUT_ENV, "'soon'")
    assert server_ports(result.stderr) == []
