"""One Prefect API for a whole CLI command.

With ``PREFECT_API_URL`` set (a ``prefect server start`` somewhere, or Prefect Cloud) this does nothing. Without it,
Prefect would start a temporary local server on the first API call of the process, give it 20 s
(``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``) and, when a cold first start (database creation and migrations
in an empty ``PREFECT_HOME`` on a slow machine) needs longer, fail that flow and leave the half-started server
behind, so the next flow's server collides with it on the same port. Instead, :func:`prefect_api_for_command` starts
exactly one temporary server before any flow runs, waits for it as long as a cold start needs
(``BACKFILL_PREFECT_STARTUP_TIMEOUT_S``, default 300 s), points the whole process at it, and stops it when the
command ends. When it cannot start, :class:`PrefectServerError` says what to do.

Entering it again inside itself (the demo runs several flows, each through ``run_source_flow``) reuses the server.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_STARTUP_TIMEOUT_S", "STARTUP_TIMEOUT_ENV", "PrefectServerError", "prefect_api_for_command"]

STARTUP_TIMEOUT_ENV = "BACKFILL_PREFECT_STARTUP_TIMEOUT_S"
# A cold first start took ~13 s on an idle 2-vCPU box (reference/prefect_facts.md §1); under load (the demo loads
# torch and the sandbox meanwhile), on slow disks or in CI it can take several times that. Waiting costs nothing when
# the server is quick: the wait ends at its first healthy answer.
DEFAULT_STARTUP_TIMEOUT_S = 300.0

_WHAT_TO_DO = (
    "To fix it: point Backfill at a running Prefect server (run `prefect server start` in another shell, then "
    "`export PREFECT_API_URL=http://127.0.0.1:4200/api`) or at Prefect Cloud; or give the temporary server more time "
    f"with {STARTUP_TIMEOUT_ENV}=<seconds>; and check that PREFECT_HOME ({{home}}) is writable and its disk has room."
)


class PrefectServerError(RuntimeError):
    """No Prefect API for this command: the temporary server could not start. The message says what to do."""


@contextmanager
def prefect_api_for_command(announce: bool = True) -> Iterator[str]:
    """Make sure this process talks to one Prefect API until the block ends; yields its URL.

    ``PREFECT_API_URL`` set: used as it is. Otherwise one temporary local server is started (its database lives in
    ``PREFECT_HOME``), the process's Prefect settings point at it, and it is stopped (after Prefect's log and event
    workers have flushed to it) when the block ends. ``announce`` prints one line to stderr when a server starts.

    Raises:
        PrefectServerError: the server did not answer within the startup timeout, exited, or cannot be started.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_SERVER_EPHEMERAL_ENABLED

    url = PREFECT_API_URL.value()
    if url:
        yield str(url)
        return
    home = Path(PREFECT_HOME.value()).expanduser()
    if not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        raise PrefectServerError(
            "PREFECT_API_URL is not set and Prefect's temporary server is disabled "
            "(PREFECT_SERVER_EPHEMERAL_ENABLED=false in the environment or the active profile). "
            + _WHAT_TO_DO.format(home=home)
        )
    timeout = _startup_timeout()
    _check_writable(home)
    with _temporary_server(home, timeout, announce) as api_url:
        yield api_url


def _startup_timeout() -> float:
    """Seconds to wait for the temporary server: ``BACKFILL_PREFECT_STARTUP_TIMEOUT_S``, default 300."""
    raw = os.environ.get(STARTUP_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_STARTUP_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise PrefectServerError(f"invalid configuration: {STARTUP_TIMEOUT_ENV}={raw!r}: expected seconds > 0")
    return value


def _check_writable(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        raise PrefectServerError(
            f"PREFECT_HOME ({home}) is not writable, so Prefect's temporary server cannot keep its database there: "
            f"{exc.strerror or exc}. Set PREFECT_HOME to a writable folder, or set PREFECT_API_URL to a running "
            "Prefect server."
        ) from None


@contextmanager
def _temporary_server(home: Path, timeout: float, announce: bool) -> Iterator[str]:
    import prefect.context
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

    ensure_logging_setup()  # as `import prefect` would: Prefect's own lines about the server (start, stop) show
    if announce:
        _say(
            f"Prefect: no PREFECT_API_URL, so starting one temporary Prefect server for this command "
            f"(database in {home}; a first start creates it; waiting up to {timeout:g} s, {STARTUP_TIMEOUT_ENV})"
        )
    server = SubprocessASGIServer(port=_free_port())
    # Prefect's own code asks ``SubprocessASGIServer()`` (the instance under the key None) for the temporary server
    # when it finds no API URL in its settings (e.g. in a worker thread); make that this one, as the test harness does.
    prior_default = SubprocessASGIServer._instances.get(None)
    SubprocessASGIServer._instances[None] = server
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            try:
                server.start(timeout=timeout)  # type: ignore[arg-type]  # annotated int, used as seconds
            except Exception as exc:
                raise PrefectServerError(_start_failure(server, exc, timeout, home)) from None
            if announce:
                _say(f"Prefect: temporary server ready at {server.api_url} after {time.monotonic() - started:.1f} s")
            stack.enter_context(
                temporary_settings(
                    # The same patience for any server Prefect would still start by itself (an int setting).
                    updates={
                        PREFECT_API_URL: server.api_url,
                        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: math.ceil(timeout),
                    }
                )
            )
            # Threads and contexts copied before this point read the process-global settings: point those too.
            stack.enter_context(
                prefect.context._temporary_global_settings_context(prefect.context.get_settings_context())
            )
            try:
                yield server.api_url
            finally:
                _drain_workers()
    finally:
        server.stop()
        if prior_default is not None:
            SubprocessASGIServer._instances[None] = prior_default
        else:
            SubprocessASGIServer._instances.pop(None, None)


def _start_failure(server: Any, exc: Exception, timeout: float, home: Path) -> str:
    process = server.server_process
    if process is not None and process.poll() is not None:
        what = f"Prefect's temporary server exited with code {process.returncode} while starting (its output is above)"
    elif "Timed out" in str(exc):
        what = f"Prefect's temporary server did not answer within {timeout:g} s"
    else:
        what = f"Prefect's temporary server could not start ({type(exc).__name__}: {str(exc)[:500]})"
    return f"{what}. " + _WHAT_TO_DO.format(home=home)


def _drain_workers() -> None:
    """Flush Prefect's log and event workers to the server before it stops (else they log connection errors).

    Best effort: the command's outcome is already decided, and a flush that fails must not change it.
    """
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # never started
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    with suppress(Exception):
        run_coro_as_sync(drain())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
