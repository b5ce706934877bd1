"""A source joins everything by its registry entry alone: the toy source (tests/toy, a GitHub-issues connector over
the sandbox) is registered only through ``BACKFILL_EXTRA_SOURCES=tests.toy.spec:TOY`` (CLI subprocesses) or
``SOURCES["toy"] = TOY`` (in-process), and then runs through ``backfill run``, ``backfill status``, the coverage
flow, the demo and the connector contract suite like a built-in source.

The CLI runs once per module (``toy_run``) into the Pinecone and OpenAI simulators, for speed.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from backfill.demo import demo_sources
from connectors import registry
from connectors.base import Connector
from connectors.errors import AuthError
from core.settings import Settings, SettingsError, load_settings
from ingest.document import doc_id_of_chunk
from sandbox.server import RunningSandbox
from tests.connectors import test_contract as suite
from tests.connectors.contract import ContractWindows, http_requests, open_connector, read
from tests.e2e.cli_helpers import BACKFILL, last_json
from tests.flows.flow_helpers import pinecone_ids, simulator_env
from tests.toy.connector import REPO, ToyConnector
from tests.toy.spec import TOY

ROOT = Path(__file__).resolve().parents[1]
TOY_REF = "tests.toy.spec:TOY"
# Another source that would load GITHUB_TOKEN from another Secret block than the toy does.
_CLASHING = replace(TOY, name="toy2", secrets={"GITHUB_TOKEN": "other"})


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``backfill ARGS`` with ``env`` over this process's environment, minus BACKFILL_SOURCES (status lists the
    registered sources only when it is unset)."""
    base = {key: value for key, value in os.environ.items() if key != "BACKFILL_SOURCES"}
    return subprocess.run([BACKFILL, *args], env={**base, **env}, capture_output=True, text=True, timeout=300)


def _row(report: dict[str, Any], source: str) -> dict[str, Any]:
    rows = [row for row in report["sources"] if row["source"] == source]
    assert rows, f"{source} is not listed: {[row['source'] for row in report['sources']]}"
    return rows[0]


@dataclass(frozen=True)
class ToyRun:
    env: dict[str, str]  # what the CLI ran with (the plugin variable, the sandbox, the simulators, a private home)
    status_before: dict[str, Any]
    summary: dict[str, Any]
    status_after: dict[str, Any]
    vector_ids: list[str]  # the toy's vectors in the Pinecone simulator right after the run
    live_ids: set[str]  # the toy documents the sandbox holds


def _plugin_env(sb: RunningSandbox, prefect_server: str, home: Path) -> dict[str, str]:
    """The CLI's environment: the toy registered by the plugin variable alone, the sandbox, the fast simulators."""
    return {
        **sb.env,
        **simulator_env(sb),
        "BACKFILL_HOME": str(home),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_EXTRA_SOURCES": TOY_REF,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


@pytest.fixture(scope="module")
def toy_run(sandbox: RunningSandbox, prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> ToyRun:
    """``backfill status --json``, ``backfill run toy --full --json``, ``backfill status --json``, as subprocesses."""
    sandbox.control("reset")
    env = _plugin_env(sandbox, prefect_server, tmp_path_factory.mktemp("toy") / "home")
    before = _cli(["status", "--json"], env)
    assert before.returncode == 0, before.stderr[-3000:]
    run = _cli(["run", "toy", "--full", "--json"], env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    vector_ids = pinecone_ids(sandbox, "toy:")
    after = _cli(["status", "--json"], env)
    assert after.returncode == 0, after.stderr[-3000:]
    settings = Settings(github_api_url=sandbox.env["GITHUB_API_URL"], github_token=sandbox.env["GITHUB_TOKEN"])
    connector = ToyConnector(settings)
    try:
        live = set(connector.list_ids(REPO))
    finally:
        connector.close()
    return ToyRun(env, last_json(before), last_json(run), last_json(after), vector_ids, live)


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> str:
    """The toy in this process's registry for the test (what BACKFILL_EXTRA_SOURCES does in a fresh process)."""
    monkeypatch.setitem(registry.SOURCES, TOY.name, TOY)
    return TOY.name


# -- backfill run, status, coverage ------------------------------------------------------------------------------


def test_backfill_run_toy_verifies_every_issue_into_the_store(toy_run: ToyRun) -> None:
    summary = toy_run.summary
    assert summary["status"] == "verified", summary
    assert toy_run.live_ids and summary["documents"] == len(toy_run.live_ids)
    assert {doc_id_of_chunk(vector_id) for vector_id in toy_run.vector_ids} == toy_run.live_ids
    assert summary["verified"] == len(toy_run.vector_ids)
    assert summary["partitions"] > 1  # yearly partitions: the pipeline fetched several and merged them


def test_backfill_status_lists_toy_by_its_entry_and_fresh_after_the_run(toy_run: ToyRun) -> None:
    before = _row(toy_run.status_before, "toy")  # no state yet: listed only because it is registered
    assert (before["status"], before["threshold_hours"]) == ("never", TOY.freshness_hours)
    after = _row(toy_run.status_after, "toy")
    assert (after["status"], after["threshold_hours"]) == ("fresh", TOY.freshness_hours)
    assert after["documents"] == toy_run.summary["documents"] and after["vectors"] == len(toy_run.vector_ids)
    assert after["last_run_status"] == "verified" and toy_run.status_after["stale"] == []


def test_the_coverage_flow_reports_toy_fresh(
    toy_run: ToyRun, toy_registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.coverage import coverage

    for key, value in toy_run.env.items():
        if key not in ("BACKFILL_EXTRA_SOURCES", "PYTHONPATH"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("BACKFILL_SOURCES", raising=False)
    row = _row(coverage(), toy_registered)
    assert (row["status"], row["threshold_hours"]) == ("fresh", TOY.freshness_hours)
    assert row["documents"] == toy_run.summary["documents"]


# -- the demo --------------------------------------------------------------------------------------------------


def test_the_demo_selects_toy_once_registered(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert TOY not in demo_sources()
    monkeypatch.setitem(registry.SOURCES, TOY.name, TOY)
    assert TOY in demo_sources()
    # The demo exports each selected entry's env from its own sandbox: every variable must be one the sandbox sets.
    assert set(TOY.env) <= set(sandbox.env)


def test_backfill_demo_runs_toy_verified_and_fresh(
    prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    # The demo serves the source APIs from its own sandbox; embeddings and vectors go to this one's simulators.
    result = _cli(["demo"], _plugin_env(fresh_sandbox, prefect_server, tmp_path / "home"))
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    ran = re.search(r"^toy: fetch.*\n\s+verified: (\d+) documents", out, flags=re.MULTILINE)
    assert ran, out[-3000:]
    rows = [line for line in out.splitlines() if line.startswith("│ toy ")]
    assert rows and "fresh" in rows[0] and f"{TOY.freshness_hours:g}h" in rows[0], out[-3000:]
    vector_docs = {doc_id_of_chunk(vector_id) for vector_id in pinecone_ids(fresh_sandbox, "toy:")}
    assert len(vector_docs) == int(ran.group(1)) > 0


# -- the connector contract -------------------------------------------------------------------------------------

Open = Callable[[], AbstractContextManager[Connector]]

# The suite's checks, run for "toy" as they are for every built-in source. Check 5 (bad credentials) is below: the
# suite assumes a source's sandbox API and settings are named after the source (``/_control/toy/auth``, ``TOY_*``),
# which a toy over the GitHub replica with GITHUB_TOKEN is not.
CHECKS: list[Callable[..., None]] = [
    suite.test_partitions_cover_the_window,
    suite.test_ids_are_unique_and_stable,
    suite.test_reading_by_partitions_equals_one_read,
    suite.test_resumed_fetch_equals_a_full_one,
    suite.test_failures_are_refetched_and_gone_ids_are_not,
    suite.test_page_cap_is_never_hit,
    suite.test_check_passes_with_good_credentials,
]


@pytest.fixture
def settings(sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """As the suite's own fixture: the sandbox's settings with a fast retry policy (the toy is not paced)."""
    monkeypatch.setenv("BACKFILL_HTTP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("BACKFILL_HTTP_MAX_WAIT_S", "5")
    return load_settings()


@pytest.fixture
def connect(toy_registered: str, settings: Settings) -> Open:
    return lambda: open_connector(toy_registered, settings)


@pytest.fixture
def windows(fresh_sandbox: RunningSandbox) -> ContractWindows:
    return ContractWindows.of(fresh_sandbox)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("test_"))
def test_the_contract_holds_for_toy(
    check: Callable[..., None],
    toy_registered: str,
    connect: Open,
    windows: ContractWindows,
    fresh_sandbox: RunningSandbox,
) -> None:
    given = {"source": toy_registered, "connect": connect, "windows": windows, "fresh_sandbox": fresh_sandbox}
    check(**{name: given[name] for name in inspect.signature(check).parameters})


def test_bad_credentials_raise_auth_error_naming_the_toy_token(
    connect: Open, windows: ContractWindows, fresh_sandbox: RunningSandbox
) -> None:
    calls: list[Callable[[Connector], object]] = [
        lambda c: c.check(),
        lambda c: read(c, c.partitions(windows.recent)),
    ]
    fresh_sandbox.control("github/auth", {"fail": True})
    try:
        for call in calls:
            before = Counter(fresh_sandbox.control("counters")["counters"])
            with connect() as connector, pytest.raises(AuthError) as caught:
                call(connector)
            requests = http_requests(before, Counter(fresh_sandbox.control("counters")["counters"]))
            error = str(caught.value)
            assert [var for var in TOY.secrets if var in error], f"AuthError names none of {list(TOY.secrets)}: {error}"
            assert all(fresh_sandbox.env[var] not in error for var in TOY.secrets), "the token leaked into the error"
            assert caught.value.source == "toy" and 1 <= requests <= 2, (caught.value.source, requests)
    finally:
        fresh_sandbox.control("github/auth", {"fail": False})


# -- the plugin hook itself ---------------------------------------------------------------------------------------


def test_the_plugin_hook_loads_a_spec_and_names_the_variable_when_it_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TOY.name not in registry.SOURCES  # this process was started without BACKFILL_EXTRA_SOURCES
    assert registry.load_extra_sources(f" {TOY_REF} ,") == {"toy": TOY}
    assert registry.load_extra_sources("") == {}
    for raw, why in (
        ("tests.toy.spec", "not a 'module:ATTR'"),
        ("tests.toy.nowhere:TOY", "ModuleNotFoundError"),
        ("tests.toy.spec:NOPE", "AttributeError"),
        ("tests.toy.spec:SourceSpec", "not a SourceSpec"),
        (f"{TOY_REF},{TOY_REF}", "'toy' is already registered"),
        (f"{TOY_REF},{__name__}:_CLASHING", "GITHUB_TOKEN already loads from Secret block 'toy-token'"),
    ):
        with pytest.raises(SettingsError, match="BACKFILL_EXTRA_SOURCES") as caught:
            registry.load_extra_sources(raw)
        assert why in str(caught.value), caught.value
    monkeypatch.setitem(registry.SOURCES, TOY.name, TOY)
    with pytest.raises(SettingsError, match="'toy' is already registered"):
        registry.load_extra_sources(TOY_REF)


def test_a_fresh_process_fails_at_start_naming_the_variable() -> None:
    env = {"BACKFILL_EXTRA_SOURCES": "tests.toy.spec:NOPE", "PYTHONPATH": str(ROOT)}
    bad = _cli(["status", "--json"], env)
    assert bad.returncode != 0 and "BACKFILL_EXTRA_SOURCES: 'tests.toy.spec:NOPE' does not resolve" in bad.stderr
