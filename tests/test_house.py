"""The house rules, checked: a source is one registry entry plus its own files; floors only point down.

- every registered source has a ``<source>-sync``/``<source>-backfill`` pair in prefect.yaml running its flow, a
  weekly ``<source>-prune`` running the shared prune flow for it, and a section in docs/SOURCES.md;
- no ``if source == "…"`` outside a source's own modules;
- ``connectors/`` and ``ingest/`` never import ``flows/``, the application or ``sandbox/``; ``flows/`` never imports
  the application; nothing but the application imports ``sandbox/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from connectors.registry import SOURCES

ROOT = Path(__file__).resolve().parents[1]
APPLICATION = {
    "backfill.cli", "backfill.commands_ops", "backfill.running", "backfill.demo", "backfill.bench",
    "backfill.bench_docs", "backfill.bench_sandbox", "backfill.searching", "backfill.prefect_server",
    "backfill.reporting",
}  # fmt: skip


def _deployments() -> dict[str, dict[str, object]]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_source_has_its_sync_and_backfill_deployments(source: str) -> None:
    deployments = _deployments()
    for kind in ("sync", "backfill"):
        name = f"{source}-{kind}"
        assert name in deployments, f"prefect.yaml lacks the {name} deployment of registered source {source}"
        assert deployments[name]["entrypoint"] == SOURCES[source].flow, f"{name} does not run {SOURCES[source].flow}"


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_source_has_its_prune_deployment(source: str) -> None:
    deployment = _deployments().get(f"{source}-prune")
    assert deployment is not None, f"prefect.yaml lacks the {source}-prune deployment of registered source {source}"
    assert deployment["entrypoint"] == "flows.prune:prune"
    assert deployment["parameters"] == {"source": source}
    assert "backfill" in deployment["tags"]  # a refusal fails the run: the failure automation must post it


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_source_has_its_docs_section(source: str) -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "docs" / "SOURCES.md").read_text(), flags=re.MULTILINE)
    display = SOURCES[source].display
    assert any(h.startswith(display) for h in headings), f"docs/SOURCES.md has no '## {display} …' section"


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]


def _own_modules(path: Path) -> bool:
    """A source's own modules may name it: connectors/<source>*.py, flows/<source>.py, sandbox/."""
    stem = path.stem.split("_")[0]
    return stem in SOURCES and path.parent.name in {"connectors", "flows"}


def test_no_code_branches_on_a_source_name_outside_its_own_modules() -> None:
    names = "|".join(SOURCES)
    pattern = re.compile(r"""\bsource\s*(==|!=|in)\s*\(?\s*["'](""" + names + r""")["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _python_files("core", "backfill", "connectors", "ingest", "flows")
        if not _own_modules(path)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders, "branches on a source name outside its own modules:\n" + "\n".join(offenders)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(folders: tuple[str, ...], forbidden: set[str]) -> list[str]:
    found = []
    for path in _python_files(*folders):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_connectors_and_ingest_import_neither_flows_the_application_nor_the_sandbox() -> None:
    assert not _violations(("connectors", "ingest"), {"flows", "sandbox", "prefect", *APPLICATION})


def test_flows_do_not_import_the_application_or_the_sandbox() -> None:
    assert not _violations(("flows",), {"sandbox", *APPLICATION})


def test_core_imports_no_other_floor() -> None:
    assert not _violations(("core",), {"connectors", "ingest", "flows", "sandbox", "prefect", "backfill"})


def test_the_import_rules_can_fail() -> None:
    """The checker itself sees a forbidden import (so the two tests above cannot pass vacuously)."""
    assert _violations(("backfill",), {"sandbox"}), "backfill/ (the application) imports sandbox: must be seen"
