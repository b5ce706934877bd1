"""``backfill bench ingest``: the ingest engine end to end against the simulators, with honest figures.

The OpenAI and Pinecone simulators run in a *separate process* (``sandbox.server.run_cli`` on a free port), so
this process holds only the pipeline: its peak RSS, CPU time and wall time are the pipeline's, and the
simulators' CPU time is reported apart. Documents are generated lazily and deterministically (``seed``), so
memory can only grow if the pipeline itself holds on to something.

Request counts are read from the sandbox's counters and compared with the minimum the vendors' batch limits
allow for the work actually done: embeddings ≤ 2,048 inputs and ≤ 300,000 tokens per request; upserts ≤ 1,000
records and ≤ 2 MB of JSON per request (sizes measured on the records actually written).
"""

from __future__ import annotations

import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from backfill.bench_docs import synthetic_documents
from core.settings import Settings
from ingest.embedders.openai_embedder import MAX_BATCH_INPUTS, MAX_BATCH_TOKENS
from ingest.factory import build_embedder, build_store
from ingest.pipeline import IngestOptions, IngestReport, run_ingest
from ingest.protocols import Match, Record, VectorStore
from ingest.wire import MAX_REQUEST_BYTES, MAX_UPSERT_RECORDS, record_json_bytes

__all__ = [
    "bench_ingest",
    "minimum_embedding_requests",
    "minimum_upsert_requests",
    "print_bench",
    "synthetic_documents",
]

# The minimums use the very limits the pipeline packs to (one definition each).
EMBED_MAX_INPUTS, EMBED_MAX_TOKENS = MAX_BATCH_INPUTS, MAX_BATCH_TOKENS
UPSERT_MAX_RECORDS, UPSERT_MAX_BYTES = MAX_UPSERT_RECORDS, MAX_REQUEST_BYTES
_SANDBOX_BOOT = "import sys; from sandbox.server import run_cli; run_cli(port=0, seed=int(sys.argv[1]))"
_SANDBOX_START_S = 60.0
_MB = 1024 * 1024

# --- minimum request counts ---------------------------------------------------------------------------------


def minimum_embedding_requests(inputs: int, tokens: int) -> int:
    """Fewest embeddings requests that can carry ``inputs`` texts of ``tokens`` tokens in total."""
    return max(math.ceil(inputs / EMBED_MAX_INPUTS), math.ceil(tokens / EMBED_MAX_TOKENS)) if inputs else 0


def minimum_upsert_requests(records: int, json_bytes: int) -> int:
    """Fewest upsert requests that can carry ``records`` records of ``json_bytes`` compact-JSON bytes in total."""
    return max(math.ceil(records / UPSERT_MAX_RECORDS), math.ceil(json_bytes / UPSERT_MAX_BYTES)) if records else 0


class _MeteredStore:
    """A ``VectorStore`` that measures the JSON size of every record it forwards and the time of every call.

    Time spent measuring sizes is kept apart (``metering_s``) so it can be taken out of the figures; call time
    is attributed to the pipeline step that made the call (set by ``_StepClock``).
    """

    def __init__(self, inner: VectorStore) -> None:
        self._inner = inner
        self.records = 0
        self.json_bytes = 0
        self.metering_s = 0.0
        self.metering_cpu_s = 0.0  # the same work in CPU seconds (wall time stretches when the machine is busy)
        self.step = ""
        self.call_s: dict[str, float] = defaultdict(float)  # "upsert" / "fetch in plan-batch" -> seconds

    def _timed(self, operation: str, started: float) -> None:
        self.call_s[f"{operation} in {self.step}"] += time.perf_counter() - started

    def upsert(self, records: Sequence[Record]) -> int:
        started, started_cpu = time.perf_counter(), time.thread_time()
        for record in records:
            self.json_bytes += record_json_bytes(record)  # the exact bytes the store sends
        self.records += len(records)
        self.metering_s += time.perf_counter() - started
        self.metering_cpu_s += time.thread_time() - started_cpu
        started = time.perf_counter()
        try:
            return self._inner.upsert(records)
        finally:
            self._timed("upsert", started)

    def fetch_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, object]]:
        started = time.perf_counter()
        try:
            return self._inner.fetch_metadata(ids)
        finally:
            self._timed("fetch", started)

    def list_ids(self, prefix: str) -> Iterator[str]:
        started = time.perf_counter()
        ids = list(self._inner.list_ids(prefix))  # one document's chunk ids: small
        self._timed("list", started)
        return iter(ids)

    def delete(self, ids: Iterable[str]) -> None:
        started = time.perf_counter()
        try:
            self._inner.delete(ids)
        finally:
            self._timed("delete", started)

    def update_metadata(self, metadata: Mapping[str, Mapping[str, object]]) -> int:
        started = time.perf_counter()
        try:
            return self._inner.update_metadata(metadata)
        finally:
            self._timed("update", started)

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        source: str | None = None,
        grants: Collection[str] | None = None,
        where: Mapping[str, str | bool] | None = None,
    ) -> list[Match]:
        return self._inner.query(vector, top_k, source, grants, where)

    def count(self) -> int:
        return self._inner.count()

    def finish(self) -> None:
        self._inner.finish()


class _StepClock:
    """The pipeline's ``step`` seam: wall time per step, and which step the store's calls belong to."""

    def __init__(self, store: _MeteredStore) -> None:
        self._store = store
        self.step_s: dict[str, float] = defaultdict(float)

    def __call__(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._store.step = name
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.step_s[name] += time.perf_counter() - started
                self._store.step = ""

        return timed


# --- the simulators, in their own process -------------------------------------------------------------------


@dataclass
class _SandboxProcess:
    process: subprocess.Popen[str]
    base_url: str
    env: dict[str, str]

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}/_control/{path}"
        response = httpx.get(url) if body is None else httpx.post(url, json=body, timeout=60.0)
        response.raise_for_status()
        return response.json()

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start_sandbox_process(seed: int) -> _SandboxProcess:
    """``run_cli(port=0)`` in a child process; its ``export K=V`` lines give the URLs and keys."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SANDBOX_BOOT, str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    env: dict[str, str] = {}
    deadline = time.monotonic() + _SANDBOX_START_S
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").strip().partition("=")
            env[key] = value.strip("'")
        elif line.startswith("# sandbox on "):
            return _SandboxProcess(process, line.split()[3], env)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the sandbox process did not start (no '# sandbox on' line)")


def _sandbox_settings(env: dict[str, str], dimensions: int, home: Path) -> Settings:
    return Settings(
        openai_api_key=env["OPENAI_API_KEY"],
        openai_base_url=env["OPENAI_BASE_URL"],
        pinecone_api_key=env["PINECONE_API_KEY"],
        pinecone_index_host=env["PINECONE_INDEX_HOST"],
        pinecone_namespace=env.get("PINECONE_NAMESPACE", "backfill"),
        embedding_model="text-embedding-3-small",
        embedding_dimensions=dimensions,
        backfill_store="pinecone",
        backfill_embedder="openai",
        backfill_home=home,
    )


# --- the benchmark ------------------------------------------------------------------------------------------


def bench_ingest(
    docs: int,
    *,
    dimensions: int = 1536,
    seed: int = 42,
    batch_docs: int | None = None,
    progress: Callable[[IngestReport], None] | None = None,
) -> dict[str, Any]:
    """Ingest ``docs`` synthetic documents into the simulated Pinecone through the simulated OpenAI.

    Returns a flat-ish dict of figures (see ``print_bench``); raises if the run does not verify. Peak RSS is
    this process's lifetime peak (``ru_maxrss``): run one size per process to compare sizes.
    """
    sandbox = _start_sandbox_process(seed)
    try:
        sandbox.control("reset", {})
        sandbox.control("pinecone/configure", {"dimension": dimensions})
        with tempfile.TemporaryDirectory(prefix="backfill-bench-") as home:
            settings = _sandbox_settings(sandbox.env, dimensions, Path(home))
            embedder = build_embedder(settings)
            store = _MeteredStore(build_store(settings, embedder.dimensions))
            options = IngestOptions() if batch_docs is None else IngestOptions(batch_docs=batch_docs)
            clock = _StepClock(store)
            documents = synthetic_documents(docs, seed)  # builds its paragraph pool now, outside the timing
            rss_start = psutil.Process().memory_info().rss
            sandbox_cpu_start = sandbox.cpu_seconds()
            cpu_start, worker_cpu_start = _own_cpu_seconds(), _worker_cpu_seconds()
            started = time.perf_counter()
            report = run_ingest(documents, embedder, store, options, progress, clock)
            wall = time.perf_counter() - started - store.metering_s
            # The chunking worker has exited (and been reaped) by now; the sandbox, also a child, has not.
            worker_cpu = _worker_cpu_seconds() - worker_cpu_start
            worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            cpu = _own_cpu_seconds() - cpu_start - store.metering_cpu_s + worker_cpu
            sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu_start
        counters = sandbox.control("counters")
    finally:
        sandbox.stop()
    figures = _figures(docs, dimensions, seed, options, report, store, counters, wall, cpu, sandbox_cpu, rss_start)
    figures["chunk_worker_cpu_s"] = round(worker_cpu, 2)
    figures["chunk_worker_peak_rss_mb"] = round(worker_rss / _MB, 1)
    figures["peak_rss_mb"] = round(figures["peak_rss_mb"] + worker_rss / _MB, 1)  # both processes' peaks
    figures["time_split_s"] = _time_split(clock, store, wall)
    return figures


def _time_split(clock: _StepClock, store: _MeteredStore, wall: float) -> dict[str, float]:
    """Where the wall time went: the pipeline's steps, with the store's calls taken out of them."""
    steps = dict(clock.step_s)
    steps["embed-and-upsert"] = steps.get("embed-and-upsert", 0.0) - store.metering_s
    split: dict[str, float] = {}
    for step, seconds in steps.items():
        calls = {key: value for key, value in store.call_s.items() if key.endswith(f" in {step}")}
        label = {"plan-batch": "chunk, metadata, tokens", "embed-and-upsert": "embed (OpenAI)"}.get(step, step)
        split[label] = seconds - sum(calls.values())
        split.update(calls)
    split["outside the steps (documents, dedupe)"] = wall - sum(steps.values())
    return {key: round(value, 2) for key, value in split.items() if round(value, 2)}


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_cpu_seconds() -> float:
    """CPU of this process's exited children: the ingest's chunking worker (ingest/chunk_ahead.py)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _requests(counters: dict[str, int], api: str, method: str, path: str) -> int:
    return int(counters.get(f"{api} {method} {path}", 0))


def _figures(
    docs: int,
    dimensions: int,
    seed: int,
    options: IngestOptions,
    report: IngestReport,
    store: _MeteredStore,
    sandbox_counters: dict[str, Any],
    wall: float,
    cpu: float,
    sandbox_cpu: float,
    rss_start: int,
) -> dict[str, Any]:
    counters: dict[str, int] = sandbox_counters["counters"]
    embeddings = _requests(counters, "openai", "POST", "/v1/embeddings")
    upserts = _requests(counters, "pinecone", "POST", "/vectors/upsert")
    min_embeddings = minimum_embedding_requests(report.embedded, report.tokens)
    min_upserts = minimum_upsert_requests(store.records, store.json_bytes)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {
        "docs": docs,
        "dimensions": dimensions,
        "seed": seed,
        "batch_docs": options.batch_docs,
        "status": report.status,
        "unique": report.unique,
        "chunks": report.chunks,
        "embedded": report.embedded,
        "upserted": report.upserted,
        "verified": report.verified,
        "deleted": report.deleted,
        "tokens": report.tokens,
        "upsert_json_bytes": store.json_bytes,
        "wall_s": round(wall, 3),
        "docs_per_s": round(docs / wall, 1) if wall else 0.0,
        "chunks_per_s": round(report.chunks / wall, 1) if wall else 0.0,
        "pipeline_cpu_s": round(cpu, 2),
        "sandbox_cpu_s": round(sandbox_cpu, 2),
        "pipeline_cpu_ms_per_chunk": round(1000 * cpu / report.chunks, 3) if report.chunks else 0.0,
        "sandbox_cpu_ms_per_chunk": round(1000 * sandbox_cpu / report.chunks, 3) if report.chunks else 0.0,
        "peak_rss_mb": round(peak_rss / _MB, 1),
        "start_rss_mb": round(rss_start / _MB, 1),
        "requests": {
            "embeddings": embeddings,
            "embeddings_min": min_embeddings,
            "embeddings_ratio": round(embeddings / min_embeddings, 3) if min_embeddings else 0.0,
            "upserts": upserts,
            "upserts_min": min_upserts,
            "upserts_ratio": round(upserts / min_upserts, 3) if min_upserts else 0.0,
            "fetches": _requests(counters, "pinecone", "GET", "/vectors/fetch"),
            "lists": _requests(counters, "pinecone", "GET", "/vectors/list"),
            "deletes": _requests(counters, "pinecone", "POST", "/vectors/delete"),
            "all": dict(sorted(counters.items())),
            "rejections": dict(sandbox_counters.get("rejections", {})),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews wall time
        },
    }


def print_bench(result: dict[str, Any]) -> None:
    """The figures as a short plain-text table on stdout."""
    req = result["requests"]
    rows = [
        ("documents", f"{result['docs']:,} ({result['unique']:,} unique)"),
        ("chunks", f"{result['chunks']:,} (embedded {result['embedded']:,}, verified {result['verified']:,})"),
        ("tokens", f"{result['tokens']:,}"),
        ("dimensions", f"{result['dimensions']} (batch_docs {result['batch_docs']})"),
        ("wall time", f"{result['wall_s']:.1f} s"),
        ("docs/s", f"{result['docs_per_s']:,.1f}"),
        ("chunks/s", f"{result['chunks_per_s']:,.1f}"),
        ("CPU", _cpu_cell(result)),
        ("peak RSS", _rss_cell(result)),
        ("embedding requests", _ratio_cell(req["embeddings"], req["embeddings_min"], req["embeddings_ratio"])),
        ("upsert requests", _ratio_cell(req["upserts"], req["upserts_min"], req["upserts_ratio"])),
        ("other requests", f"fetch {req['fetches']:,}, list {req['lists']:,}, delete {req['deletes']:,}"),
        ("rejections", ", ".join(f"{k} {v}" for k, v in req["rejections"].items()) or "none"),
        ("status", result["status"]),
    ]
    rows += [(f"  {label}", f"{seconds:.2f} s") for label, seconds in result.get("time_split_s", {}).items()]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def _rss_cell(result: dict[str, Any]) -> str:
    worker = result.get("chunk_worker_peak_rss_mb", 0.0)
    return (
        f"{result['peak_rss_mb']:,.1f} MB (pipeline process + chunking worker {worker:,.1f} MB; "
        f"at start {result['start_rss_mb']:,.1f} MB)"
    )


def _cpu_cell(result: dict[str, Any]) -> str:
    return (
        f"pipeline {result['pipeline_cpu_s']:.1f} s ({result['pipeline_cpu_ms_per_chunk']:.2f} ms/chunk, "
        f"chunking worker {result.get('chunk_worker_cpu_s', 0.0):.1f} s of it), "
        f"simulators {result['sandbox_cpu_s']:.1f} s ({result['sandbox_cpu_ms_per_chunk']:.2f} ms/chunk); "
        f"load {result['machine']['load_average_1m']}"
    )


def _ratio_cell(actual: int, minimum: int, ratio: float) -> str:
    return f"{actual:,} (minimum {minimum:,}, ratio {ratio:.3f})"
