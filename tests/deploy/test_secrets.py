"""Tokens come from Secret blocks at run time (flows/secret_env.py), and no deployment stores one.

Against the session's real local Prefect server (conftest ``deploy_server``); each test restores ``os.environ``.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from prefect import flow
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from flows.alerts import SECRET_BLOCKS
from flows.secret_env import SECRET_ENV_BLOCKS, SecretBlockError, load_secret_env
from tests.deploy.conftest import PrefectServer
from tests.deploy.deploy_helpers import FAKE_TOKENS

ALPHA_VALUE = "alpha-token-value-not-real"
BETA_VALUE = "beta-token-value-not-real"
TEST_NAMES = {
    "BACKFILL_TEST_ALPHA": "backfill-test-alpha",
    "BACKFILL_TEST_BETA": "backfill-test-beta",
    "BACKFILL_TEST_GAMMA": "backfill-test-no-such-block",
}


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Put ``os.environ`` back as it was: load_secret_env sets variables that did not exist before the test."""
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    os.environ.update(before)


@pytest.fixture
def test_blocks(deploy_server: PrefectServer, restore_environ: None) -> dict[str, str]:
    """Two saved Secret blocks (alpha, beta); the third name in TEST_NAMES has no block. Their variables unset."""
    Secret(value=ALPHA_VALUE).save("backfill-test-alpha", overwrite=True)
    Secret(value=BETA_VALUE).save("backfill-test-beta", overwrite=True)
    for name in TEST_NAMES:
        os.environ.pop(name, None)
    return TEST_NAMES


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/api"


def test_blocks_fill_unset_variables_and_a_missing_block_is_skipped(test_blocks: dict[str, str]) -> None:
    loaded = load_secret_env(test_blocks)
    assert loaded == ["BACKFILL_TEST_ALPHA", "BACKFILL_TEST_BETA"]
    assert os.environ["BACKFILL_TEST_ALPHA"] == ALPHA_VALUE
    assert os.environ["BACKFILL_TEST_BETA"] == BETA_VALUE
    assert "BACKFILL_TEST_GAMMA" not in os.environ


def test_a_variable_already_set_wins_over_its_block(test_blocks: dict[str, str]) -> None:
    os.environ["BACKFILL_TEST_BETA"] = "set-by-the-operator"
    os.environ["BACKFILL_TEST_ALPHA"] = ""  # empty counts as unset: an empty token is never a usable one
    assert load_secret_env(test_blocks) == ["BACKFILL_TEST_ALPHA"]
    assert os.environ["BACKFILL_TEST_BETA"] == "set-by-the-operator"
    assert os.environ["BACKFILL_TEST_ALPHA"] == ALPHA_VALUE


def test_nothing_is_read_when_every_variable_is_set(test_blocks: dict[str, str]) -> None:
    for name in test_blocks:
        os.environ[name] = "already-set"
    # Pointed at a closed port: any API call would fail, so success proves none was made.
    with temporary_settings(updates={PREFECT_API_URL: _closed_port_url(), PREFECT_CLIENT_MAX_RETRIES: 0}):
        assert load_secret_env(test_blocks) == []


def test_no_blocks_at_all_is_quiet(
    deploy_server: PrefectServer, restore_environ: None, caplog: pytest.LogCaptureFixture
) -> None:
    # The local CLI case: a server without any of the blocks. Nothing set, nothing logged, no error.
    names = {"BACKFILL_TEST_NONE_1": "backfill-test-none-1", "BACKFILL_TEST_NONE_2": "backfill-test-none-2"}
    caplog.set_level(logging.DEBUG)
    assert load_secret_env(names) == []
    assert not set(names) & set(os.environ)
    assert not [r for r in caplog.records if r.name.endswith("flows.secret_env")]


def test_values_never_reach_the_result_or_the_logs(
    test_blocks: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    @flow(name="backfill-test-secret-env")
    def load_in_a_flow() -> list[str]:
        return load_secret_env(test_blocks)

    caplog.set_level(logging.DEBUG)
    loaded = load_in_a_flow()
    assert loaded == ["BACKFILL_TEST_ALPHA", "BACKFILL_TEST_BETA"]
    assert "BACKFILL_TEST_ALPHA" in caplog.text  # the run log names what was loaded ...
    for value in (ALPHA_VALUE, BETA_VALUE):  # ... and never what it holds
        assert value not in caplog.text
        assert value not in repr(loaded)


def test_a_block_that_holds_no_string_raises_naming_it_not_its_value(
    deploy_server: PrefectServer, restore_environ: None
) -> None:
    Secret(value={"token": "dict-secret-not-real"}).save("backfill-test-dict", overwrite=True)
    os.environ.pop("BACKFILL_TEST_DICT", None)
    with pytest.raises(SecretBlockError) as raised:
        load_secret_env({"BACKFILL_TEST_DICT": "backfill-test-dict"})
    assert "backfill-test-dict" in str(raised.value)
    assert "dict-secret-not-real" not in str(raised.value)
    assert "BACKFILL_TEST_DICT" not in os.environ


def test_an_unreachable_api_raises_naming_the_blocks(restore_environ: None) -> None:
    os.environ.pop("BACKFILL_TEST_ALPHA", None)
    unreachable = {PREFECT_API_URL: _closed_port_url(), PREFECT_CLIENT_MAX_RETRIES: 0}
    with temporary_settings(updates=unreachable), pytest.raises(SecretBlockError, match="backfill-test-alpha"):
        load_secret_env({"BACKFILL_TEST_ALPHA": "backfill-test-alpha"})


def test_the_default_table_loads_what_alerts_setup_saved(alerts_setup: dict[str, Any], restore_environ: None) -> None:
    for name in SECRET_ENV_BLOCKS:
        os.environ.pop(name, None)
    loaded = load_secret_env()
    assert loaded == sorted(field.upper() for field in FAKE_TOKENS)
    for field, value in FAKE_TOKENS.items():
        assert os.environ[field.upper()] == value


def test_the_env_table_matches_the_blocks_alerts_setup_writes() -> None:
    written_by_setup = {field.upper(): block for block, field in SECRET_BLOCKS.items()}
    assert written_by_setup == SECRET_ENV_BLOCKS


def test_no_deployment_stores_a_secret_value(deployed: subprocess.CompletedProcess[str]) -> None:
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments()
    assert deployments
    for deployment in deployments:
        stored = deployment.model_dump_json()  # job variables, pull steps, parameters, description: everything
        for value in FAKE_TOKENS.values():
            assert value not in stored, f"{deployment.name} stores a secret value"
        assert not set(SECRET_ENV_BLOCKS) & set(deployment.job_variables.get("env", {}))
    for value in FAKE_TOKENS.values():
        assert value not in deployed.stdout + deployed.stderr
