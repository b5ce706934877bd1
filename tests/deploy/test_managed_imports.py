"""A managed worker can import what it runs: pyproject's core dependencies are enough for production.

A ``prefect:managed`` run starts in the official image pinned in prefect.yaml (a python image with pip, plus prefect
and its dependencies), installs the clone with its ``[project.dependencies]`` (no extras) and loads the entrypoint
named in prefect.yaml. These tests rebuild that set of distributions from the installed metadata and
pyproject.toml, then load every entrypoint (and the production embedder, store and S3 results) in a python whose
import system refuses any module of a distribution outside the set, and the ``sandbox`` package, which production
code never imports. An import added to a production module without its distribution in ``[project.dependencies]``
fails here, not on the first run in Prefect Cloud.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.deploy.deploy_helpers import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PREFECT_YAML = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
BASE_IMAGE = {"pip"}  # the python base image under prefect; nothing here may rely on setuptools being there
FIRST_PARTY = {"backfill", "core", "connectors", "ingest", "flows", "sandbox", "tests"}
NEVER_IN_PRODUCTION = ["sandbox"]  # first-party, installed with the clone, but only the application imports it

# Installs the guard, then runs the code given after it. argv[1]: allowed distributions; argv[2]: refused packages.
GUARD = r"""
import importlib.abc, importlib.metadata, json, re, sys

allowed = set(json.loads(sys.argv[1]))
refused = set(json.loads(sys.argv[2]))
for top, dists in importlib.metadata.packages_distributions().items():
    if not any(re.sub(r"[-_.]+", "-", d).lower() in allowed for d in dists):
        refused.add(top)


class NotOnAManagedWorker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in refused:
            raise ModuleNotFoundError(f"No module named {fullname!r} on a managed worker", name=top)
        return None


sys.meta_path.insert(0, NotOnAManagedWorker())
"""

# What a flow run loads: each entrypoint as the runner does, the production embedder and store as the factory
# builds them (imported lazily there), the tokenizer plugin, and prefect-aws for S3 results.
PRODUCTION = r"""
from prefect.flows import load_flow_from_entrypoint

for entrypoint in json.loads(sys.argv[3]):
    load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)

import prefect_aws
from prefect_aws import AwsCredentials, S3Bucket

import ingest.embedders.openai_embedder
import ingest.stores.pinecone
from core.settings import Settings
from ingest.factory import build_embedder, build_store
from ingest.tokens import count_tokens

settings = Settings(
    backfill_store="pinecone", backfill_embedder="openai", openai_api_key="sk-not-real",
    pinecone_api_key="pc-not-real", pinecone_index_host="https://index.invalid", pinecone_namespace="__default__",
)
embedder = build_embedder(settings)
store = build_store(settings, embedder.dimensions)
assert count_tokens("hello world") == 2
loaded = {
    name: module.__file__ for name, module in sys.modules.items()
    if name.partition(".")[0] in set(json.loads(sys.argv[4])) and getattr(module, "__file__", None)
}
print(json.dumps({"embedder": type(embedder).__name__, "store": type(store).__name__, "loaded": loaded}))
"""


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


@cache
def _requires(distribution: str) -> tuple[Requirement, ...]:
    try:
        return tuple(Requirement(line) for line in metadata.requires(distribution) or [])
    except metadata.PackageNotFoundError:
        return ()


def closure(requirements: Iterable[str]) -> set[str]:
    """Every distribution ``pip install`` of ``requirements`` brings in (extras followed, markers honoured)."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(Requirement(line), frozenset[str]()) for line in requirements]
    while pending:
        requirement, parent_extras = pending.pop()
        if not _applies(requirement, parent_extras):
            continue
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        found.add(name)
        pending += [(child, extras) for child in _requires(name)]
    return found


def core_requirements() -> list[str]:
    return list(PYPROJECT["project"]["dependencies"])


def managed_distributions() -> set[str]:
    """What a managed worker has after the pull step: the image (prefect's closure) plus our core closure."""
    return BASE_IMAGE | closure(["prefect"]) | closure(core_requirements()) | {"backfill"}


def entrypoints() -> list[str]:
    found = [deployment["entrypoint"] for deployment in PREFECT_YAML["deployments"]]
    assert found, "prefect.yaml names no entrypoint"
    return sorted(set(found))


def _run_guarded(code: str, allowed: set[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BACKFILL_", "PINECONE_", "OPENAI_"))},
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "BACKFILL_HOME": str(tmp_path / "backfill-home"),
    }
    env.pop("PREFECT_API_URL", None)
    args = [json.dumps(sorted(allowed)), json.dumps(NEVER_IN_PRODUCTION), json.dumps(entrypoints())]
    args.append(json.dumps(sorted(FIRST_PARTY)))
    return subprocess.run(
        [sys.executable, "-c", GUARD + code, *args],
        cwd=REPO_ROOT,  # the pull step's working directory is the clone
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _third_party_imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in a module, at any depth (function-level ones included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


def test_every_entrypoint_loads_with_only_the_core_dependencies(tmp_path: Path) -> None:
    allowed = managed_distributions()
    run = _run_guarded(PRODUCTION, allowed, tmp_path)
    assert run.returncode == 0, (
        "a production import needs a distribution a managed worker does not have; add it to "
        f"[project.dependencies] in pyproject.toml (or import it lazily where only the embedded default needs it):\n"
        f"{run.stderr[-4000:]}"
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert (result["embedder"], result["store"]) == ("OpenAIEmbedder", "PineconeStore")
    assert {"flows.jira", "flows.tempo", "flows.coverage"} <= set(result["loaded"])
    assert not any(name.partition(".")[0] == "sandbox" for name in result["loaded"])

    # Imports inside functions of the loaded modules run later, during the flow: each must be installed too.
    owners = metadata.packages_distributions()
    missing = {}
    for name, file in sorted(result["loaded"].items()):
        for module in _third_party_imports(Path(file)):
            dists = {canonicalize_name(d) for d in owners.get(module, [])}
            if not dists & allowed:
                missing.setdefault(module, []).append(name)
    assert not missing, (
        f"imported (inside functions too) by modules a managed run loads, but not on a managed worker: {missing}; "
        "add it to [project.dependencies] or move the import to a module only the embedded default loads"
    )


def test_the_guard_refuses_what_a_managed_worker_does_not_have(tmp_path: Path) -> None:
    allowed = managed_distributions()
    assert {"lancedb", "torch", "sentence-transformers", "psutil"}.isdisjoint(allowed)
    refuses_lancedb = _run_guarded("import lancedb\n", allowed, tmp_path)
    assert refuses_lancedb.returncode != 0 and "No module named 'lancedb' on a managed worker" in refuses_lancedb.stderr
    refuses_sandbox = _run_guarded("import sandbox.server\n", allowed, tmp_path)
    assert "No module named 'sandbox' on a managed worker" in refuses_sandbox.stderr

    # The embedded default, asked for on a production install, fails naming the extra it needs.
    lancedb_store = (
        "from core.settings import Settings\nfrom ingest.factory import build_store\n"
        "build_store(Settings(backfill_store='lancedb'), 384)\n"
    )
    run = _run_guarded(lancedb_store, allowed, tmp_path)
    assert "StoreError: BACKFILL_STORE=lancedb needs the 'embedded' extra" in run.stderr, run.stderr[-2000:]


def test_a_dependency_missing_from_the_core_list_fails_the_load(tmp_path: Path) -> None:
    # The bug this guards against: a hand-kept list without numpy and pybase64 broke every Jira and Tempo run.
    without = [r for r in core_requirements() if Requirement(r).name not in {"numpy", "pybase64"}]
    allowed = BASE_IMAGE | closure(["prefect"]) | closure(without) | {"backfill"}
    assert "numpy" not in allowed
    run = _run_guarded(PRODUCTION, allowed, tmp_path)
    assert run.returncode != 0 and "No module named 'numpy' on a managed worker" in run.stderr, run.stderr[-2000:]


def test_the_closure_follows_markers_and_extras() -> None:
    assert _applies(Requirement("x; extra == 'aws'"), ["aws"])
    assert not _applies(Requirement("x; extra == 'aws'"), [])
    assert not _applies(Requirement("x; python_version < '3'"), [])
    core = closure(core_requirements())
    assert {"prefect", "prefect-aws", "boto3", "pinecone", "openai", "numpy", "pybase64"} <= core
    assert "prefect-kubernetes" not in core  # an extra of prefect nobody asked for
    assert "lancedb" not in core and "torch" not in core


def test_the_image_is_the_prefect_this_project_supports() -> None:
    image = PREFECT_YAML["definitions"]["work_pools"]["managed"]["job_variables"]["image"]
    repository, _, tag = image.partition(":")
    version, _, python = tag.partition("-python")
    assert repository == "prefecthq/prefect", "managed pools run official Prefect images only"
    prefect_pin = next(Requirement(r) for r in core_requirements() if Requirement(r).name == "prefect")
    assert version in prefect_pin.specifier, f"{image} is outside pyproject's {prefect_pin}"
    assert version == metadata.version("prefect"), "the tests run another Prefect than the image"
    assert python in SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_the_pull_step_installs_the_core_dependencies_and_nothing_else_lists_them() -> None:
    install = PREFECT_YAML["pull"][1]["prefect.deployments.steps.run_shell_script"]["script"]
    assert "--no-deps" not in install and "pip install" in install and "[" not in install  # no extras
    assert "pip_packages" not in PREFECT_YAML["definitions"]["work_pools"]["managed"]["job_variables"]
