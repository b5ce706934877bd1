"""One contract suite for every registered source, against the sandbox over real HTTP (STYLE.md habit 13).

Each check is one test, parametrized by ``connectors.registry.SOURCES``: a source joins the suite by
registering. The driver and the judges live in ``tests/connectors/contract.py``.

1. partitions cover a window without gaps or overlaps     5. bad credentials raise AuthError naming the setting
2. ids are unique, prefixed and stable across reads       6. failures are re-fetched; a gone id is not returned
3. reading by partitions equals one read of the window    7. the page cap is never hit; list_ids agrees with a read
4. a resumed fetch equals a full one                      8. check() passes with good credentials
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import pytest

from connectors.base import Connector, FetchFailure, Partition, Window
from connectors.errors import AuthError, PaginationError
from core.settings import Settings, load_settings
from ingest.document import Document
from sandbox.server import RunningSandbox
from tests.connectors.contract import (
    ContractWindows,
    Read,
    coverage_problems,
    document_problems,
    ghost_id,
    http_requests,
    open_connector,
    read,
    read_until_crash,
    sample_ids,
    sandbox_api,
    source_names,
    whole_window,
)

Open = Callable[[], AbstractContextManager[Connector]]


@pytest.fixture(params=source_names())
def source(request: pytest.FixtureRequest) -> str:
    """Every registered source: registering one is all it takes to be held to the contract."""
    return str(request.param)


@pytest.fixture
def settings(sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The sandbox's settings, with a fast retry policy and no client-side pacing (profile "none" has no quota)."""
    monkeypatch.setenv("BACKFILL_HTTP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("BACKFILL_HTTP_MAX_WAIT_S", "5")
    for name in Settings.model_fields:
        if name.endswith("_rate_per_s"):
            monkeypatch.setenv(name.upper(), "1000")
    return load_settings()


@pytest.fixture
def connect(source: str, settings: Settings) -> Open:
    """Opens a fresh connector for ``source`` each call (``with connect() as connector:``)."""
    return lambda: open_connector(source, settings)


@pytest.fixture
def windows(fresh_sandbox: RunningSandbox) -> ContractWindows:
    return ContractWindows.of(fresh_sandbox)


def _full_read(connector: Connector, windows: ContractWindows) -> tuple[list[Partition], Read]:
    partitions = connector.partitions(windows.full)
    assert partitions, "the sandbox holds data, yet the full window has no partitions"
    return partitions, read(connector, partitions)


# 1 ------------------------------------------------------------------------------------------------------------


def test_partitions_cover_the_window(source: str, connect: Open, windows: ContractWindows) -> None:
    with connect() as connector:
        scopes = sorted({p.scope for p in connector.partitions(windows.full)})
        assert scopes, "the full window has no partitions"
        for name, window in windows.all().items():
            partitions = connector.partitions(window)
            if not partitions:  # allowed only when the window holds nothing (e.g. Jira: no issue that old)
                held = read(
                    connector, [Partition(source=source, scope=s, start=window.start, end=window.end) for s in scopes]
                )
                assert not held.ids, f"{name} window: no partitions, yet it holds {sorted(held.ids)[:5]}"
                continue
            problems, gaps = coverage_problems(source, partitions, window)
            assert not problems, f"{name} window {window}: {problems}"
            # A cover that starts late is only right when nothing older exists in its scope.
            older = read(connector, gaps)
            assert not older.ids, f"{name} window: the cover starts late, skipping {sorted(older.ids)[:5]}"


# 2 ------------------------------------------------------------------------------------------------------------


def test_ids_are_unique_and_stable(source: str, connect: Open, windows: ContractWindows) -> None:
    with connect() as connector:
        _, first = _full_read(connector, windows)
    with connect() as connector:
        _, second = _full_read(connector, windows)
    assert first.doc_ids, "a full read returned no documents"
    assert not first.duplicates(), f"ids read twice in one window: {list(first.duplicates().items())[:10]}"
    assert not document_problems(source, first), document_problems(source, first)
    assert first.ids == second.ids, f"a second read differs: {sorted(first.ids ^ second.ids)[:10]}"
    assert first.updated == second.updated


# 3 ------------------------------------------------------------------------------------------------------------


def test_reading_by_partitions_equals_one_read(source: str, connect: Open, windows: ContractWindows) -> None:
    with connect() as connector:
        for window in (windows.full, windows.year, windows.recent):
            partitions = connector.partitions(window)
            by_partitions = read(connector, partitions)
            at_once = read(connector, whole_window(source, partitions, window))
            assert not document_problems(source, by_partitions), document_problems(source, by_partitions)
            assert not by_partitions.duplicates(), f"{window}: overlapping partitions: {by_partitions.duplicates()}"
            missing, extra = at_once.ids - by_partitions.ids, by_partitions.ids - at_once.ids
            assert not missing and not extra, (
                f"{window}: partitions miss {sorted(missing)[:5]}, add {sorted(extra)[:5]}"
            )
            assert by_partitions.updated == at_once.updated, f"{window}: updated_at differs"


# 4 ------------------------------------------------------------------------------------------------------------


def test_resumed_fetch_equals_a_full_one(source: str, connect: Open, windows: ContractWindows) -> None:
    with connect() as connector:
        partitions, full = _full_read(connector, windows)
    half = len(partitions) // 2
    with connect() as crashed:
        assert crashed.partitions(windows.full) == partitions, "partitions differ between connectors: no cache hits"
        before = read_until_crash(crashed, partitions, done=half, then=3)
    with connect() as resumed:
        again = resumed.partitions(windows.full)
        assert again == partitions, "a resumed run plans other partitions: its finished ones are not found in the cache"
        rest = read(resumed, [p for p in again if p not in before.partitions_done])
    union = before.merged(rest)
    assert not union.duplicates(), f"a resumed run reads ids twice: {list(union.duplicates().items())[:10]}"
    assert union.ids == full.ids, f"resumed ≠ full: {sorted(union.ids ^ full.ids)[:10]}"
    assert union.updated == full.updated


# 5 ------------------------------------------------------------------------------------------------------------


def _rejected(sandbox: RunningSandbox, source: str, call: Callable[[], object]) -> tuple[AuthError, int]:
    before = Counter(sandbox.control("counters")["counters"])
    with pytest.raises(AuthError) as caught:
        call()
    after = Counter(sandbox.control("counters")["counters"])
    return caught.value, http_requests(before, after)


def test_bad_credentials_raise_auth_error_naming_the_setting(
    source: str, connect: Open, windows: ContractWindows, fresh_sandbox: RunningSandbox
) -> None:
    api = sandbox_api(source)
    fresh_sandbox.control(f"{api}/auth", {"fail": True})
    try:
        with connect() as connector:
            checked, check_requests = _rejected(fresh_sandbox, source, connector.check)
        with connect() as connector:
            fetched, fetch_requests = _rejected(
                fresh_sandbox, source, lambda: read(connector, connector.partitions(windows.recent))
            )
    finally:
        fresh_sandbox.control(f"{api}/auth", {"fail": False})
    for error, requests in ((checked, check_requests), (fetched, fetch_requests)):
        named = [key for key in fresh_sandbox.env if key.startswith(f"{source.upper()}_") and key in str(error)]
        assert named, f"AuthError does not name a {source.upper()}_* setting: {error}"
        assert all(fresh_sandbox.env[key] not in str(error) for key in named), "the secret leaked into the error"
        assert error.source == source
        assert 1 <= requests <= 2, f"AuthError after {requests} requests (retried?): {error}"


# 6 ------------------------------------------------------------------------------------------------------------


def test_failures_are_refetched_and_gone_ids_are_not(source: str, connect: Open, windows: ContractWindows) -> None:
    with connect() as connector:
        _, full = _full_read(connector, windows)
    failed = sample_ids(full)
    gone = ghost_id(failed[0], full.ids)
    later = windows.recent  # a later run retries them first; its own window's partitions read the rest
    with connect() as connector:
        plan = connector.refetch_partitions([*failed, gone], windows.full.start, later)
        plan += connector.partitions(later)
        again = read(connector, plan)
    assert set(failed) <= again.ids, f"failures never read again: {sorted(set(failed) - again.ids)}"
    assert gone not in again.ids, f"{gone} does not exist at the source, yet it was returned"
    assert not document_problems(source, again), document_problems(source, again)


# 7 ------------------------------------------------------------------------------------------------------------


def test_page_cap_is_never_hit(source: str, connect: Open, windows: ContractWindows) -> None:
    with connect() as connector:
        try:
            partitions, full = _full_read(connector, windows)
            listed = {doc_id for scope in sorted({p.scope for p in partitions}) for doc_id in connector.list_ids(scope)}
        except PaginationError as exc:  # the HTTP layer's page cap or repeated-request guard
            pytest.fail(f"a full read hit the page guard: {exc}")
    # Pruning deletes what list_ids does not return: it must hold every document a read returns.
    assert full.doc_ids <= listed, (
        f"read but not listed (pruning would delete them): {sorted(full.doc_ids - listed)[:10]}"
    )
    assert listed <= full.ids, f"listed but never read by a full window: {sorted(listed - full.ids)[:10]}"


# 8 ------------------------------------------------------------------------------------------------------------


def test_check_passes_with_good_credentials(source: str, connect: Open, fresh_sandbox: RunningSandbox) -> None:
    before = Counter(fresh_sandbox.control("counters")["counters"])
    with connect() as connector:
        assert connector.check() is None
    requests = http_requests(before, Counter(fresh_sandbox.control("counters")["counters"]))
    assert 1 <= requests <= 2, f"check() sent {requests} requests; it should be one cheap call"


# The driver and judges themselves: a contract that cannot fail proves nothing. --------------------------------

_T0 = datetime(2025, 1, 1, tzinfo=UTC)
_T1 = datetime(2025, 2, 1, tzinfo=UTC)
_T2 = datetime(2025, 3, 1, tzinfo=UTC)
_T3 = datetime(2025, 4, 1, tzinfo=UTC)


def _p(start: datetime, end: datetime, scope: str = "all", source: str = "demo") -> Partition:
    return Partition(source=source, scope=scope, start=start, end=end)


class _Endless:
    """A connector whose fetch never ends, and whose documents may carry a foreign prefix."""

    source = "demo"

    def __init__(self, prefix: str = "demo") -> None:
        self.prefix = prefix

    def fetch(self, partition: Partition) -> Iterator[Document | FetchFailure]:
        n = 0
        while True:
            n += 1
            yield Document(
                id=f"{self.prefix}:{n}",
                source="demo",
                title="",
                text="x",
                url="",
                created_at=_T0,
                updated_at=partition.start,
            )


def test_judges_flag_gaps_overlaps_and_short_covers() -> None:
    window = Window(start=_T0, end=_T3)
    assert coverage_problems("demo", [_p(_T0, _T1), _p(_T1, _T3)], window) == ([], [])
    for bad, expected in (
        ([_p(_T0, _T1), _p(_T2, _T3)], "gap"),
        ([_p(_T0, _T2), _p(_T1, _T3)], "overlaps"),
        ([_p(_T0, _T2)], "not at the window's end"),
        ([_p(_T0, _T3, source="other")], "expected 'demo'"),
        ([_p(_T0, _T3), _p(_T0, _T3)], "listed twice"),
    ):
        problems, _ = coverage_problems("demo", bad, window)
        assert any(expected in problem for problem in problems), (bad, problems)
    problems, gaps = coverage_problems("demo", [_p(_T1, _T3, scope="a"), _p(_T0, _T3, scope="b")], window)
    assert problems == [] and gaps == [_p(_T0, _T1, scope="a")]
    problems, _ = coverage_problems("demo", [_p(_T0, _T3)], Window(start=_T1, end=_T3))
    assert any("before the window's start" in problem for problem in problems)


def test_driver_caps_an_endless_fetch_and_stops_mid_partition() -> None:
    connector = _Endless()
    with pytest.raises(AssertionError, match="more than 50 items"):
        read(connector, [_p(_T0, _T1)], max_items=50)  # type: ignore[arg-type]
    partial = read_until_crash(connector, [_p(_T0, _T1), _p(_T1, _T2)], done=0, then=5)  # type: ignore[arg-type]
    assert partial.items == 0 and partial.partitions_done == []
    stray = Read(documents=[(_p(_T1, _T2), doc) for doc in [*_take(_Endless("other"), 1), *_take(_Endless(), 1)]])
    problems = document_problems("demo", stray)
    assert any("not prefixed demo:" in p for p in problems) and any("outside" in p for p in problems)
    twice = Read(documents=[(_p(_T0, _T1), doc) for doc in _take(_Endless(), 2) * 2])
    assert twice.duplicates() == {"demo:1": 2, "demo:2": 2}


def _take(connector: _Endless, n: int) -> list[Document]:
    items = connector.fetch(_p(_T0, _T1))
    return [item for _, item in zip(range(n), items, strict=False) if isinstance(item, Document)]
