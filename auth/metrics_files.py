"""The workers' shared metrics directory: reading it for a scrape, and compacting a dead worker's
files into one file for every worker that died.

Each worker keeps its values in files of its own (``prometheus_client``'s multiprocess mode),
named after it: ``counter_<name>.db``, ``histogram_<name>.db``, ``gauge_sum_<name>.db``,
``gauge_livesum_<name>.db``.  A worker's name (``worker_name``) is its slot and its start number,
never reused while the supervisor lives (a pid may be).

When a worker dies the supervisor calls ``compact``: the values that outlive their worker
(counters, histograms, ``sum`` gauges) are added into ``dead.json``, the values of every worker
that died, and the worker's files are removed; those of live-only gauges (``livesum``...) are
removed without being kept, as ``prometheus_client.multiprocess.mark_process_dead`` does.  So the
directory holds the live workers' files and one more, however often workers are restarted.

A scrape running while a worker is compacted counts the dead worker exactly once:
``dead.json`` is replaced whole (written under another name, then renamed over), and it lists the
workers it includes.  ``collect`` reads every worker's file first and ``dead.json`` last, and skips
the files of workers that ``dead.json`` includes.  A worker's files are removed only after a
``dead.json`` including it took its name, so a file that vanished between the listing and the
reading belongs to a worker that the ``dead.json`` read afterwards includes, and a file read
before it was removed is skipped when that ``dead.json`` includes it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

#: The values of every worker that died, and the names of the last ``REMEMBERED`` of them.
DEAD: Final = "dead.json"

#: File kinds (the file name up to the worker's name) whose values outlive their worker and add up.
KEPT: Final = frozenset({"counter", "histogram", "summary", "gauge_sum"})

#: How many compacted workers ``dead.json`` names.  A name is needed only by a scrape that read
#: the worker's file before ``compact`` removed it; one lasting this many worker deaths would be
#: the only one to count a worker twice.
REMEMBERED: Final = 1024


def worker_name(slot: int, start: int) -> str:
    """The name of a worker's files: its slot and its start number (``0-3``: the third start of
    worker 0).  No ``_``: ``prometheus_client`` splits file names on it."""
    return f"{slot}-{start}"


@dataclass
class Dead:
    """``dead.json``: the workers it includes, and their values by file kind and key."""

    workers: list[str] = field(default_factory=list)
    values: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: Path) -> Dead:
        try:
            raw = json.loads((directory / DEAD).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        return cls(list(raw["workers"]), {kind: dict(values) for kind, values in raw["values"].items()})

    def write(self, directory: Path) -> None:
        """Replace ``dead.json`` whole: a reader opens either the old file or the new one."""
        pending = directory / f"{DEAD}.pending"
        pending.write_text(json.dumps({"workers": self.workers, "values": self.values}), encoding="utf-8")
        pending.rename(directory / DEAD)


def _split(file: Path) -> tuple[str, str]:
    """``(kind, worker name)`` of a worker's file: ``gauge_sum_0-3.db`` is ``("gauge_sum", "0-3")``."""
    kind, _, rest = file.name.rpartition("_")
    return kind, rest.removesuffix(".db")


def compact(directory: Path, name: str) -> None:
    """Add the values of the dead worker ``name`` that outlive it into ``dead.json``, then remove
    its files (live-only gauges are removed without being kept)."""
    files = sorted(directory.glob(f"*_{name}.db"))
    kept = [file for file in files if _split(file)[0] in KEPT]
    if kept:
        dead = Dead.read(directory)
        for file in kept:
            into = dead.values.setdefault(_split(file)[0], {})
            for key, value, _, _ in MmapedDict.read_all_values_from_file(str(file)):  # type: ignore[no-untyped-call]
                into[key] = into.get(key, 0.0) + value
        dead.workers = [*dead.workers, name][-REMEMBERED:]
        dead.write(directory)
    for file in files:
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


@dataclass
class _Read:
    kind: str
    worker: str
    values: list[tuple[str, float, float]]


class SharedCollector(Collector):
    """Every worker's values summed, those of workers that died included (``dead.json``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        read: list[_Read] = []
        for file in self.directory.glob("*.db"):
            kind, worker = _split(file)
            try:
                values = MmapedDict.read_all_values_from_file(str(file))  # type: ignore[no-untyped-call]
                read.append(_Read(kind, worker, [(key, value, stamp) for key, value, stamp, _ in values]))
            except FileNotFoundError:
                continue  # compacted since the listing: counted in the dead.json read below
        dead = Dead.read(self.directory)  # after every worker's file: see the module's docstring
        included = set(dead.workers)
        read = [entry for entry in read if entry.worker not in included]
        for kind, values in dead.values.items():
            read.append(_Read(kind, "dead", [(key, value, 0.0) for key, value in values.items()]))
        metrics = _metrics(read)
        return MultiProcessCollector._accumulate_metrics(metrics, True)  # type: ignore[no-any-return,no-untyped-call]


def _metrics(read: list[_Read]) -> dict[str, Metric]:
    """The samples as ``MultiProcessCollector._read_metrics`` makes them of files, before summing."""
    metrics: dict[str, Metric] = {}
    parsed: dict[str, Any] = {}
    for entry in read:
        typ, _, mode = entry.kind.partition("_")
        for key, value, stamp in entry.values:
            if key not in parsed:
                metric_name, name, labels, help_text = json.loads(key)
                parsed[key] = (metric_name, name, tuple(sorted(labels.items())), help_text)
            metric_name, name, labels_key, help_text = parsed[key]
            metric = metrics.get(metric_name)
            if metric is None:
                metric = metrics[metric_name] = Metric(metric_name, help_text, typ)
            # labels as a sorted tuple, as prometheus_client's reader leaves them until it sums
            if typ == "gauge":
                metric._multiprocess_mode = mode  # type: ignore[attr-defined]
                labels = (*labels_key, ("pid", entry.worker))
                metric.add_sample(name, labels, value, stamp)  # type: ignore[arg-type]
            else:
                metric.add_sample(name, labels_key, value)
    return metrics
