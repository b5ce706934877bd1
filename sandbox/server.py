"""Serve the sandbox on 127.0.0.1 with uvicorn in a background thread.

    with start_sandbox(seed=42, profile="none") as sb:
        os.environ.update(sb.env)            # every *_API_URL / token / key the settings need
        sb.control("reset")                  # POST /_control/reset
        sb.control("counters")               # GET  /_control/counters
        sb.control("pinecone/configure", {"dimension": 8})

``run_cli(port, scale, seed, profile)`` is what ``backfill sandbox`` calls: it prints ``export K=V`` lines, then
the sandbox's clock and which windows select its data (``# `` comment lines), and blocks until interrupted.

The sandbox's clock is not the wall clock: it starts at ``sandbox.context.EPOCH`` (2026-11-01 12:00 UTC) so that the
same seed gives the same corpus, and every source's items are dated over the 730 days before it. The CLI's and the
flows' windows end at the *real* now, so ``--days-back 3`` selects nothing once the real date has passed the
sandbox's clock; ``RunningSandbox.now``, ``.data_range`` and ``.clock_note()`` say so.
"""

from __future__ import annotations

import math
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn

from sandbox.app import build_app
from sandbox.context import EPOCH, SandboxContext
from sandbox.jira.corpus import SPAN_DAYS

__all__ = ["DATA_SPAN", "SANDBOX_KEYS", "RunningSandbox", "clock_note", "run_cli", "serve_forever", "start_sandbox"]

# Fixed fake credentials: the simulators accept exactly these (OpenAI) or any non-empty key (Pinecone).
SANDBOX_KEYS = {
    "OPENAI_API_KEY": "sk-sandbox-openai",
    "PINECONE_API_KEY": "pcsk-sandbox-pinecone",
}
SANDBOX_NAMESPACE = "backfill"
_START_TIMEOUT_S = 10.0
# Pinecone fetch/delete put up to 1000 ids of up to 512 chars in the query string; h11's default cap is 16 KB.
_MAX_REQUEST_HEAD_BYTES = 2 * 1024 * 1024
# Every source's corpus (sandbox/<api>/corpus.py) dates its items over the 730 days before the clock's start; items the
# control API adds are stamped with the clock's current time.
DATA_SPAN = timedelta(days=SPAN_DAYS)


@dataclass
class RunningSandbox:
    """A sandbox being served. Stop it with ``stop()`` or use it as a context manager."""

    base_url: str
    port: int
    ctx: SandboxContext
    env: dict[str, str]
    app: Any
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    started_at: datetime = EPOCH  # the clock at start: the corpus is dated from it

    @property
    def now(self) -> datetime:
        """The sandbox's clock (fixed at its start unless the control API moves it), not the wall clock."""
        return self.ctx.clock.now()

    @property
    def data_range(self) -> tuple[datetime, datetime]:
        """``(earliest, latest)`` update time of the sandbox's items: the 730 days before its clock's start, up to
        the clock (where items added through the control API are stamped)."""
        return self.started_at - DATA_SPAN, max(self.started_at, self.now)

    def clock_note(self, wall_clock: datetime | None = None) -> list[str]:
        """What ``backfill sandbox`` prints about the clock: its time, the data's range, and which windows select
        data, since the CLI's and the flows' windows end at the real now (``wall_clock``, default: now)."""
        return clock_note(self.now, self.data_range, wall_clock or datetime.now(UTC))

    def control(self, path: str, body: dict[str, Any] | None = None, method: str | None = None) -> Any:
        """Call ``/_control``: ``control("reset")``, ``control("pinecone/configure", {"dimension": 8})``.

        ``counters`` and ``faults`` default to GET when no body is given; everything else is a POST.
        """
        path = path.removeprefix("/").removeprefix("_control/")
        verb = method or ("GET" if path == "counters" or (path == "faults" and body is None) else "POST")
        response = httpx.request(
            verb, f"{self.base_url}/_control/{path}", json=None if verb == "GET" else body or {}, timeout=30.0
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10.0)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_sandbox(
    seed: int = 42,
    scale: float = 0.01,
    profile: str = "none",
    port: int = 0,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> RunningSandbox:
    """Serve the sandbox on 127.0.0.1:``port`` (a free port when 0); returns once it accepts requests."""
    ctx = SandboxContext(seed=seed, scale=scale)
    app = build_app(ctx, profile=profile, overrides=overrides)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it, h11's separate header and body writes meet the client's
    # delayed ACK and every response takes ~40 ms on loopback.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        h11_max_incomplete_event_size=_MAX_REQUEST_HEAD_BYTES,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("sandbox server failed to start")
        time.sleep(0.005)
    base_url = f"http://127.0.0.1:{bound_port}"
    return RunningSandbox(
        base_url=base_url,
        port=bound_port,
        ctx=ctx,
        env=_environment(base_url, app.state.specs),
        app=app,
        _server=server,
        _thread=thread,
        started_at=ctx.clock.now(),
    )


def clock_note(now: datetime, data_range: tuple[datetime, datetime], wall_clock: datetime) -> list[str]:
    """Lines saying the sandbox's clock, its data's date range and the windows that select that data.

    Windows (``--days-back``, ``--since``, an incremental run) end at ``wall_clock``, the real now: only the part of
    a window before ``latest`` overlaps the data.
    """
    earliest, latest = data_range
    since = max(earliest, latest - timedelta(days=60)).date()
    lines = [
        f"sandbox clock: {_utc(now)} (fixed: not this machine's clock); "
        f"its items were updated from {_utc(earliest)} to {_utc(latest)}"
    ]
    if wall_clock > latest:
        gap = math.ceil((wall_clock - latest) / timedelta(days=1))
        example = math.ceil((wall_clock.date() - since) / timedelta(days=1))
        lines.append(
            f"windows that select data: --full, or --since {since.isoformat()} (any date before {latest.date()}); "
            f"--days-back N counts back from today, so it reaches the data only when N >= {gap} "
            f"(--days-back {example} = --since {since.isoformat()}): a shorter one selects nothing and ends verified"
        )
    else:
        lines.append(
            f"windows that select data: --full, --since {since.isoformat()} or --days-back N; items dated after "
            f"this machine's clock ({_utc(wall_clock)}) fall outside every window, which ends at the real now"
        )
    return lines


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _environment(base_url: str, specs: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for spec in specs.values():
        env.update(spec.env(base_url + spec.prefix))
    env.update(SANDBOX_KEYS)
    env.update(
        OPENAI_BASE_URL=f"{base_url}/openai/v1",
        PINECONE_INDEX_HOST=base_url,
        PINECONE_NAMESPACE=SANDBOX_NAMESPACE,
    )
    return env


def serve_forever(port: int = 8765, scale: float = 0.01, seed: int = 42, profile: str = "none") -> None:
    """Serve until Ctrl-C (no output)."""
    sandbox = start_sandbox(seed=seed, scale=scale, profile=profile, port=port)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


def run_cli(port: int = 8765, scale: float = 0.01, seed: int = 42, profile: str = "none") -> None:
    """For ``backfill sandbox``: print ``export K=V`` lines for a shell, then serve until Ctrl-C."""
    sandbox = start_sandbox(seed=seed, scale=scale, profile=profile, port=port)
    for key, value in sorted(sandbox.env.items()):
        print(f"export {key}={shlex.quote(value)}", flush=True)
    for line in sandbox.clock_note():
        print(f"# {line}", flush=True)
    print(f"# sandbox on {sandbox.base_url} (profile={profile}, seed={seed}, scale={scale}); Ctrl-C stops it")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
