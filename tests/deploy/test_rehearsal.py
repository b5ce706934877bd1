"""docs/DEPLOYMENT.md's local rehearsal, followed step by step: its commands are read from the doc and run.

The rehearsal's block of commands is parsed into numbered steps. Each command runs in ``bash`` from the repository
root with the environment the doc's ``export`` lines build up, like a terminal would, except where a step needs
something a test cannot have or must not share:

- step 1 ``backfill sandbox``: run as written, on a free port (``--port 0``); its ``export`` lines are "pasted";
- step 2 ``prefect server start``: a server of this module's own (free port, own PREFECT_HOME), not the session's:
  the rehearsal redeploys every deployment and pauses every schedule, which the other modules must not see;
- step 5a, the alert receiver: run as written, on a free port instead of 8099; its output is what it received;
- step 7, the worker's throwaway venv: not created (it needs the network); the worker is the doc's command with the
  test venv's ``prefect`` first on PATH and pip told to install the clone aside, offline and without dependencies
  (``PIP_TARGET``, ``PIP_NO_INDEX``, ``PIP_NO_DEPS``), as tests/deploy/test_worker_runs.py does;
- ports and ``/tmp/backfill-rehearsal`` are replaced by this module's own.

The worker's environment holds nothing but the Prefect API and pip's switches: every setting a run uses comes from
the deployment (templated from the deploy shell) and every token from a Secret block.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings

from core.settings import Settings
from sandbox.server import DATA_SPAN, RunningSandbox, clock_note
from tests.deploy.conftest import PrefectServer, running_prefect_server
from tests.deploy.deploy_helpers import PREFECT_BIN, REPO_ROOT, free_port

DOC = REPO_ROOT / "docs" / "DEPLOYMENT.md"
DOC_ROOT = "/tmp/backfill-rehearsal"
DOC_API_URL = "http://127.0.0.1:4200/api"
DOC_RECEIVER_PORT = "8099"
STEP = re.compile(r"^# (\d+[a-z]?)\. (.*)$")
RUN_TIMEOUT = 300


@dataclass
class Step:
    number: str
    title: str
    commands: list[str] = field(default_factory=list)


def rehearsal_steps(text: str | None = None) -> dict[str, Step]:
    """The numbered steps of the rehearsal's ```bash block in docs/DEPLOYMENT.md, with their commands."""
    text = DOC.read_text() if text is None else text
    section = text.split("## Local rehearsal (no Cloud)", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("\n```", 1)[0]
    steps: dict[str, Step] = {}
    current: Step | None = None
    for line in block.splitlines():
        if match := STEP.match(line):
            current = steps.setdefault(match[1], Step(match[1], match[2]))
        elif line.strip() and not line.lstrip().startswith("#"):
            assert current is not None, f"a command before the first numbered step: {line!r}"
            current.commands.append(line.strip())
    return steps


def _clean_environ() -> dict[str, str]:
    """This process's environment without any Backfill, Prefect or AWS setting: a fresh terminal."""
    settings = {name.upper() for name in Settings.model_fields}
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BACKFILL_", "PREFECT_", "AWS_", "PIP_")) and key not in settings
    }


class Shell:
    """A terminal: runs each command in bash, keeping the environment its ``export`` lines build."""

    def __init__(self, env: dict[str, str], substitutions: dict[str, str], log: Path) -> None:
        self.env = env
        self.substitutions = substitutions
        self.log = log

    def expand(self, command: str) -> str:
        for doc_value, ours in self.substitutions.items():
            command = command.replace(doc_value, ours)
        return command

    def run(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        env_file = self.log.with_suffix(".env")
        script = f'{self.expand(command)}\nstatus=$?\nenv -0 > {shlex.quote(str(env_file))}\nexit "$status"\n'
        result = subprocess.run(
            ["bash", "-c", script], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        with self.log.open("a") as out:
            out.write(f"$ {command}\n(rc={result.returncode})\n{result.stdout}{result.stderr}\n")
        if env_file.exists():
            pairs = (item.partition("=") for item in env_file.read_text().split("\0") if "=" in item)
            self.env = {key: value for key, _, value in pairs}
        return result

    def ok(self, command: str) -> subprocess.CompletedProcess[str]:
        result = self.run(command)
        assert result.returncode == 0, f"$ {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result


@dataclass
class Rehearsal:
    steps: dict[str, Step]
    shell: Shell
    server: PrefectServer
    sandbox_env: dict[str, str]
    sandbox_notes: list[str]
    worker_log: Path
    receiver_log: Path

    def alerts(self) -> list[dict[str, Any]]:
        """The JSON bodies step 5a's receiver has printed so far (one per line)."""
        lines = self.receiver_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _start_sandbox(command: str, stack: ExitStack, log: Path) -> tuple[dict[str, str], list[str]]:
    """Step 1 as written, on a free port: its ``export`` lines and its ``#`` notes (clock, windows)."""
    assert command == "backfill sandbox", command
    proc = subprocess.Popen(
        [str(PREFECT_BIN.with_name("backfill")), "sandbox", "--port", "0"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=REPO_ROOT, start_new_session=True,
    )  # fmt: skip
    stack.callback(_stop, proc)
    env: dict[str, str] = {}
    notes: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").strip().partition("=")
            env[key] = shlex.split(value)[0]
        elif line.startswith("# sandbox on "):
            return env, notes
        elif line.startswith("# "):
            notes.append(line[2:].strip())
    raise AssertionError(f"`backfill sandbox` did not start:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _start_receiver(command: str, shell: Shell, log: Path, stack: ExitStack) -> None:
    """Step 5a as written (on this module's port): a one-line HTTP server printing each POST body."""
    assert command.startswith('python -c "import http.server') and f", {DOC_RECEIVER_PORT})" in command, command
    proc = subprocess.Popen(
        ["bash", "-c", shell.expand(command)],
        cwd=REPO_ROOT, env=shell.env, stdout=log.open("w"), stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    stack.callback(_stop, proc)


def _start_worker(command: str, shell: Shell, root: Path, stack: ExitStack) -> Path:
    """Step 7's worker: the doc's command with the test venv's prefect and pip installing the clone aside."""
    prefix = f"PREFECT_API_URL={DOC_API_URL} PATH={DOC_ROOT}/worker-venv/bin:$PATH "
    assert command.startswith(prefix) and command.endswith("prefect worker start --pool local"), command
    env = {
        **_clean_environ(),
        "PREFECT_API_URL": shell.substitutions[DOC_API_URL],
        "PATH": f"{PREFECT_BIN.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(root / "worker-prefect-home"),
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "2",
        # What the throwaway venv is for, without the network: the pull step installs the clone aside.
        "PIP_TARGET": str(root / "pip-target"),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's inverted spelling: this *disables* build isolation
        "PIP_NO_DEPS": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    log = root / "worker.log"
    proc = subprocess.Popen(
        shlex.split(command.removeprefix(prefix)),
        cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    stack.callback(_stop, proc)
    return log


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    """Steps 1-7 of the rehearsal: sandbox, server, exports, results block, pool, alerts setup, receiver, deploy,
    worker."""
    steps = rehearsal_steps()
    assert [*steps] == ["1", "2", "3", "4", "5", "5a", "6", "7", "8", "9", "10"], [*steps]
    root = tmp_path_factory.mktemp("rehearsal")
    with ExitStack() as stack:
        # 1. the sandbox
        (sandbox_command,) = steps["1"].commands
        sandbox_env, notes = _start_sandbox(sandbox_command, stack, root / "sandbox.log")
        # 2. the server
        assert steps["2"].commands == ["prefect server start"]
        (root / "server-home").mkdir()
        server = stack.enter_context(running_prefect_server(root / "server-home"))
        # 3. a terminal with the sandbox's exports pasted in; then the doc's own exports (steps 3-6)
        env = {**_clean_environ(), **sandbox_env, "PREFECT_HOME": str(root / "cli-prefect-home")}
        env["PATH"] = f"{PREFECT_BIN.parent}{os.pathsep}{env.get('PATH', '')}"  # the development venv, activated
        receiver_port = str(free_port())
        substitutions = {
            DOC_ROOT: str(root),
            DOC_API_URL: server.api_url,
            f"127.0.0.1:{DOC_RECEIVER_PORT}/": f"127.0.0.1:{receiver_port}/",  # SLACK_WEBHOOK_URL
            f"'127.0.0.1', {DOC_RECEIVER_PORT})": f"'127.0.0.1', {receiver_port})",  # the receiver's address
        }
        shell = Shell(env, substitutions, root / "shell.log")
        for number in ("3", "4", "5", "6"):
            for command in steps[number].commands:
                shell.ok(command)
        # 5a. the alert receiver
        (receiver,) = steps["5a"].commands
        _start_receiver(receiver, shell, root / "receiver.log", stack)
        # 7. the worker (its venv is not made: see the module docstring)
        venv, pip, worker = steps["7"].commands
        assert venv == f"python -m venv {DOC_ROOT}/worker-venv"
        assert pip == f"{DOC_ROOT}/worker-venv/bin/pip install 'prefect==3.9.1'"
        worker_log = _start_worker(worker, shell, root, stack)
        yield Rehearsal(steps, shell, server, sandbox_env, notes, worker_log, root / "receiver.log")


def _client_of(rehearsal: Rehearsal) -> Any:
    return temporary_settings(updates={PREFECT_API_URL: rehearsal.server.api_url})


def _flow_run(rehearsal: Rehearsal, output: str) -> FlowRun:
    match = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert match, output
    with _client_of(rehearsal), get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(match[1]))


def _artifacts(rehearsal: Rehearsal, flow_run_id: UUID) -> list[Any]:
    with _client_of(rehearsal), get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


def test_the_sandbox_says_its_clock_and_the_window_the_rehearsal_uses_selects_its_data(rehearsal: Rehearsal) -> None:
    clock, windows = rehearsal.sandbox_notes
    assert clock.startswith("sandbox clock: 2026-11-01 12:00 UTC (fixed: not this machine's clock)")
    earliest, latest = re.findall(r"(\d{4}-\d{2}-\d{2}) \d{2}:\d{2} UTC", clock)[1:]
    assert (earliest, latest) == ("2024-11-01", "2026-11-01")
    assert windows.startswith("windows that select data: --full")
    (run,) = rehearsal.steps["8"].commands
    since = date.fromisoformat(re.search(r"since=(\S+)", run)[1])  # type: ignore[index]
    assert date.fromisoformat(earliest) <= since < date.fromisoformat(latest)


def test_the_deployments_take_the_sandbox_from_the_deploy_shell_and_their_crons_are_paused(
    rehearsal: Rehearsal,
) -> None:
    with _client_of(rehearsal), get_client(sync_client=True) as client:
        deployments = client.read_deployments()
        scheduled = client.read_flow_runs()
    assert len(deployments) == 10  # sync, backfill and prune per source, and coverage
    for deployment in deployments:
        env = deployment.job_variables["env"]
        assert env["OPENAI_BASE_URL"] == rehearsal.sandbox_env["OPENAI_BASE_URL"]
        assert env["JIRA_URL"] == rehearsal.sandbox_env["JIRA_URL"]
        assert env["BACKFILL_RESULTS_BLOCK"] == "local-file-system/backfill-results"
        stored = deployment.model_dump_json()
        tokens = [name for name in rehearsal.sandbox_env if name.endswith(("_TOKEN", "_KEY"))]
        assert tokens and not [name for name in tokens if rehearsal.sandbox_env[name] in stored], deployment.name
        assert not [schedule for schedule in deployment.schedules if schedule.active], deployment.name
    assert not [run.name for run in scheduled if run.state_name == "Scheduled"]


@dataclass
class Ran:
    result: subprocess.CompletedProcess[str]
    run: FlowRun


def _run_step(rehearsal: Rehearsal, number: str) -> Ran:
    (command,) = rehearsal.steps[number].commands
    result = rehearsal.shell.run(command, timeout=RUN_TIMEOUT)
    return Ran(result, _flow_run(rehearsal, result.stdout + result.stderr))


@pytest.fixture(scope="module")
def completed(rehearsal: Rehearsal) -> Ran:
    """Step 8: a run of the ad-hoc Jira deployment over a window inside the sandbox's data."""
    return _run_step(rehearsal, "8")


def test_a_deployed_run_completes_with_the_data_verified(rehearsal: Rehearsal, completed: Ran) -> None:
    run, result = completed.run, completed.result
    assert result.returncode == 0, f"{run.state}\n{result.stdout[-2000:]}\n{_tail(rehearsal.worker_log)}"
    assert run.state is not None and run.state.is_completed()
    reports = [a for a in _artifacts(rehearsal, run.id) if a.type == "table" and a.key == "jira-run-report"]
    assert reports
    (row,) = json.loads(reports[0].data)
    assert row["status"] == "verified", row
    assert row["documents"] > 0 and row["verified"] > 0, row  # the window reached the sandbox's data


def test_a_run_made_to_fail_alerts_naming_the_run_and_its_error(rehearsal: Rehearsal) -> None:
    failed = _run_step(rehearsal, "9")
    run, result = failed.run, failed.result
    assert result.returncode == 1, f"{run.state}\n{result.stdout[-2000:]}\n{_tail(rehearsal.worker_log)}"
    assert run.state is not None and run.state.is_failed(), run.state
    deadline = time.monotonic() + 60
    while not (posts := [p for p in rehearsal.alerts() if f"/{run.name} is Failed" in p.get("title", "")]):
        assert time.monotonic() < deadline, f"no alert for {run.name}; step 5a received {rehearsal.alerts()}"
        time.sleep(0.2)
    post = posts[0]
    assert post["title"].startswith(f"Backfill jira-backfill/{run.name} is Failed")
    assert "Jira projects not found, archived or not visible to the JIRA_API_TOKEN: NOPE" in post["message"]
    for name, value in rehearsal.sandbox_env.items():
        if name.endswith(("_TOKEN", "_KEY")):
            assert value not in json.dumps(post), name


def test_status_shows_the_coverage_the_run_left_in_the_local_block(rehearsal: Rehearsal, completed: Ran) -> None:
    (command,) = rehearsal.steps["10"].commands
    assert command == "backfill status"
    result = rehearsal.shell.run(f"{command} --json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = {row["source"]: row for row in json.loads(result.stdout)["sources"]}
    assert report["jira"]["documents"] > 0, report
    assert report["tempo"]["status"] == "never", report


def test_the_sandbox_exposes_its_clock_and_data_range(fresh_sandbox: RunningSandbox) -> None:
    assert fresh_sandbox.now == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert fresh_sandbox.data_range == (datetime(2024, 11, 1, 12, 0, tzinfo=UTC), fresh_sandbox.now)
    assert fresh_sandbox.clock_note()[0] == (
        "sandbox clock: 2026-11-01 12:00 UTC (fixed: not this machine's clock); "
        "its items were updated from 2024-11-01 12:00 UTC to 2026-11-01 12:00 UTC"
    )


@pytest.mark.parametrize(
    ("wall_clock", "says"),
    [
        (datetime(2026, 12, 3, 4, 26, tzinfo=UTC), "reaches the data only when N >= 32 (--days-back 92 = --since"),
        (datetime(2026, 11, 2, 0, 0, tzinfo=UTC), "reaches the data only when N >= 1 (--days-back 61 = --since"),
        (datetime(2026, 6, 1, tzinfo=UTC), "items dated after this machine's clock (2026-06-01 00:00 UTC) fall"),
    ],
)
def test_the_sandbox_says_which_windows_select_its_data(wall_clock: datetime, says: str) -> None:
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    note = clock_note(start, (start - DATA_SPAN, start), wall_clock)
    assert says in note[1]
    assert "--since 2026-09-02" in note[1]
