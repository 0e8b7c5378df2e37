"""Compacting dead workers' metrics files (``auth.metrics_files``) on real files as
``prometheus_client`` writes them: totals are kept exactly, live-only gauges are dropped, and a
scrape running while workers are compacted in another process counts each of them exactly once;
a compaction that fails leaves the worker's files where they are, still counted."""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from rowgate.auth.metrics_files import DEAD, REMEMBERED, SharedCollector, compact, worker_name
from rowgate.proxy.workers import MetricsDirectory

COUNTER = mmap_key("rowgate_requests", "rowgate_requests_total", ["method"], ["GET"], "Requests.")
BUCKET = mmap_key(
    "rowgate_duration_seconds", "rowgate_duration_seconds_bucket", ["group", "le"], ["api", "0.1"], "Time."
)
INF = mmap_key(
    "rowgate_duration_seconds", "rowgate_duration_seconds_bucket", ["group", "le"], ["api", "+Inf"], "Time."
)
SUM = mmap_key("rowgate_duration_seconds", "rowgate_duration_seconds_sum", ["group"], ["api"], "Time.")
HITS = mmap_key("rowgate_cache_hits", "rowgate_cache_hits", [], [], "Hits.")
SIZE = mmap_key("rowgate_cache_size", "rowgate_cache_size", [], [], "Size.")


def worker(directory: Path, name: str, count: int) -> None:
    """The files a worker leaves: ``count`` requests, 0.1 s each under 0.1 s and a ``+Inf`` one."""
    for kind, values in {
        "counter": {COUNTER: count},
        "histogram": {BUCKET: count, INF: 1, SUM: count * 0.1 + 2.5},
        "gauge_sum": {HITS: 2 * count},
        "gauge_livesum": {SIZE: 3},
    }.items():
        written = MmapedDict(str(directory / f"{kind}_{name}.db"))  # type: ignore[no-untyped-call]
        for key, value in values.items():
            written.write_value(key, float(value), 0.0)  # type: ignore[no-untyped-call]
        written.close()  # type: ignore[no-untyped-call]


def scrape(directory: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SharedCollector(directory))
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


REQUESTS = ("rowgate_requests_total", frozenset({("method", "GET")}))
FAST = ("rowgate_duration_seconds_bucket", frozenset({("group", "api"), ("le", "0.1")}))
ALL = ("rowgate_duration_seconds_bucket", frozenset({("group", "api"), ("le", "+Inf")}))
COUNT = ("rowgate_duration_seconds_count", frozenset({("group", "api")}))
SECONDS = ("rowgate_duration_seconds_sum", frozenset({("group", "api")}))
CACHE_HITS = ("rowgate_cache_hits", frozenset())
CACHE_SIZE = ("rowgate_cache_size", frozenset())


def test_compaction_keeps_every_total_and_drops_live_gauges(tmp_path: Path) -> None:
    names = [worker_name(slot, start) for start in range(1, 6) for slot in range(2)]
    for number, name in enumerate(names, 1):
        worker(tmp_path, name, number)
    before = scrape(tmp_path)
    assert before[REQUESTS] == sum(range(1, 11))
    assert before[CACHE_SIZE] == 3 * len(names)

    for name in names[:-2]:  # every worker but the two live ones dies
        compact(tmp_path, name)
    after = scrape(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [DEAD] + [f"{kind}_{name}.db" for name in names[-2:] for kind in KINDS]
    )
    for sample in (REQUESTS, FAST, ALL, COUNT, SECONDS, CACHE_HITS):
        assert after[sample] == before[sample], sample
    assert after[COUNT] == sum(range(1, 11)) + len(names)
    assert after[CACHE_SIZE] == 3 * 2  # the live workers' only


KINDS = ("counter", "histogram", "gauge_sum", "gauge_livesum")


def test_a_worker_that_never_counted_leaves_nothing(tmp_path: Path) -> None:
    compact(tmp_path, worker_name(0, 1))
    assert list(tmp_path.iterdir()) == []


def test_the_list_of_compacted_workers_is_bounded(tmp_path: Path) -> None:
    for start in range(1, REMEMBERED + 20):
        worker(tmp_path, worker_name(0, start), 1)
        compact(tmp_path, worker_name(0, start))
    assert [path.name for path in tmp_path.iterdir()] == [DEAD]
    assert scrape(tmp_path)[REQUESTS] == REMEMBERED + 19
    assert (tmp_path / DEAD).stat().st_size < 64 * 1024


def _compact_all(directory: Path, names: list[str]) -> None:
    for name in names:
        compact(directory, name)


def test_a_scrape_during_compaction_counts_each_worker_once(tmp_path: Path) -> None:
    names = [worker_name(0, start) for start in range(1, 301)]
    for name in names:
        worker(tmp_path, name, 1)
    expected = scrape(tmp_path)
    assert expected[REQUESTS] == len(names)

    compacting = multiprocessing.get_context("fork").Process(target=_compact_all, args=(tmp_path, names))
    compacting.start()
    scrapes = 0
    while compacting.is_alive() or scrapes == 0:
        seen = scrape(tmp_path)
        scrapes += 1
        for sample in (REQUESTS, COUNT, ALL, CACHE_HITS):
            assert seen[sample] == expected[sample], (sample, scrapes)
    compacting.join()
    assert compacting.exitcode == 0
    assert [path.name for path in tmp_path.iterdir()] == [DEAD]
    assert scrape(tmp_path)[REQUESTS] == len(names)
    assert scrapes > 1


def test_a_compaction_that_fails_leaves_the_worker_s_files_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = MetricsDirectory(tmp_path, io.StringIO())
    worker(tmp_path, worker_name(0, 1), 4)
    before = scrape(tmp_path)
    (tmp_path / f"{DEAD}.pending").mkdir()  # dead.json cannot be written
    directory.process_dead(worker_name(0, 1))
    assert "the metrics of worker 0-1 stay in files of their own" in caplog.text
    assert not (tmp_path / DEAD).exists()
    assert scrape(tmp_path) == before
    (tmp_path / f"{DEAD}.pending").rmdir()
    directory.process_dead(worker_name(0, 1))
    assert sorted(path.name for path in tmp_path.iterdir()) == [DEAD]
    assert scrape(tmp_path)[REQUESTS] == before[REQUESTS] == 4
