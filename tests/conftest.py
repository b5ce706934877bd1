"""Shared test fixtures: one sandbox served over real HTTP on 127.0.0.1 for the whole session.

Fixtures:

- ``sandbox`` (session): a ``sandbox.server.RunningSandbox`` with profile ``none``, seed 42, scale 0.01, on a free
  port. ``sandbox.base_url``, ``sandbox.env`` (every env var the settings need: ``*_API_URL``, tokens,
  ``OPENAI_BASE_URL``, ``PINECONE_INDEX_HOST`` …), ``sandbox.control(path, body)``. It is shared: a test that
  changes state (corpus, faults, clock, Pinecone data/dimension) should use ``fresh_sandbox`` instead.
- ``fresh_sandbox`` (function): the same sandbox after ``POST /_control/reset`` (counters, clock, fault profile
  and overrides, and every API's corpus/index back to the start). Use it whenever a test counts requests or
  mutates anything.
- ``sandbox_env`` (function): ``fresh_sandbox.env`` exported into ``os.environ`` for the test (pytest's
  ``monkeypatch`` restores it), for code that reads settings from the environment.
- ``vendor_schema`` (session): ``vendor_schema(spec_file, schema_name)`` returns a jsonschema validator for a
  component schema of a vendor spec (``$ref``s resolved), e.g.
  ``vendor_schema("openai/openai_embeddings.trimmed.openapi.json", "CreateEmbeddingResponse").validate(body)``.
  Specs are read from ``$BACKFILL_SPECS_DIR``, else ``tests/specs/``.

- ``prefect_server`` (session): one real Prefect server (``prefect_test_harness``: temp DB, loopback) for flow
  tests; yields its API URL, which subprocess tests pass as ``PREFECT_API_URL`` so no CLI call starts its own.
- ``backfill_env`` (function): the sandbox's environment plus a private ``BACKFILL_HOME`` and the Prefect API URL,
  exported for in-process flows.

For a sandbox with another profile or overrides, start your own: ``with start_sandbox(profile="flaky") as sb:``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings as hypothesis_settings
from jsonschema import Draft202012Validator
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.server import RunningSandbox, start_sandbox

# Property tests explore new examples on every local run; CI replays a fixed set (derandomized, no example
# database), so a red CI always means a change, never a lucky draw. A failure found locally prints its example.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

_SPEC_DIRS = (
    os.environ.get("BACKFILL_SPECS_DIR", ""),
    str(Path(__file__).parent / "specs"),
)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with start_sandbox(seed=42, scale=0.01, profile="none") as running:
        yield running


@pytest.fixture
def fresh_sandbox(sandbox: RunningSandbox) -> RunningSandbox:
    sandbox.control("reset")
    return sandbox


@pytest.fixture
def sandbox_env(fresh_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in fresh_sandbox.env.items():
        monkeypatch.setenv(key, value)
    return fresh_sandbox.env


@cache
def _load_spec(spec_file: str) -> dict[str, Any]:
    for directory in _SPEC_DIRS:
        path = Path(directory) / spec_file
        if directory and path.is_file():
            text = path.read_text()
            return yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    raise FileNotFoundError(f"vendor spec {spec_file} not found in any of {[d for d in _SPEC_DIRS if d]}")


@pytest.fixture(scope="session")
def vendor_schema() -> Callable[[str, str], Draft202012Validator]:
    def validator(spec_file: str, schema_name: str) -> Draft202012Validator:
        spec = _load_spec(spec_file)
        if schema_name not in spec.get("components", {}).get("schemas", {}):
            raise KeyError(f"{schema_name} is not a component schema of {spec_file}")
        uri = f"urn:spec:{spec_file}"
        registry = Registry().with_resource(uri, Resource.from_contents(spec, default_specification=DRAFT202012))
        return Draft202012Validator({"$ref": f"{uri}#/components/schemas/{schema_name}"}, registry=registry)

    return validator


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def backfill_env(
    prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The sandbox's environment plus a private BACKFILL_HOME, exported for in-process flows and subprocesses."""
    env = {
        **fresh_sandbox.env,
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
