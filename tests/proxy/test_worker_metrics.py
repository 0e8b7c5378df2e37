"""``/metrics`` under ``rowgate serve --workers 2``: whichever worker answers a scrape shows every
worker's counts (never one worker's), counts survive killed workers exactly while the directory
the workers share them through stays the same size however often they are killed, and it is
private, removed at exit, and removed at the next start when a killed supervisor left it behind.
One worker, or metrics turned off, makes no directory."""

from __future__ import annotations

import json
import os
import signal
import stat
import tempfile
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rowgate.auth.metrics_files import DEAD
from rowgate.errors import ServiceUnavailable
from rowgate.proxy.workers import MetricsDirectory
from tests.proxy.workerkit import Served, call, serving, signed_in, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAILED = ("rowgate_signins_total", frozenset({("outcome", "failed")}))
JWKS = "/.well-known/jwks.json"
JWKS_COUNT = ("rowgate_request_duration_seconds_count", frozenset({("group", "well_known")}))
JWKS_ALL = ("rowgate_request_duration_seconds_bucket", frozenset({("group", "well_known"), ("le", "+Inf")}))
JWKS_SUM = ("rowgate_request_duration_seconds_sum", frozenset({("group", "well_known")}))
SIGNIN = "/v1/auth/email/signin"
CACHE_HITS = ("rowgate_token_cache_hits", frozenset())
CACHE_MISSES = ("rowgate_token_cache_misses", frozenset())
CACHE_SIZE = ("rowgate_token_cache_size", frozenset())


def scrape(served: Served) -> Samples:
    status, text = call(f"{served.url}/metrics")
    assert status == 200, text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def answered_by(served: Served, path: str, since: int) -> set[int]:
    return {e.get("worker", 0) for e in served.logs()[since:] if e.get("path") == path}


def fail_sign_ins(served: Served, at_least: int) -> int:
    """Failed sign-ins (unknown addresses) on new connections until both workers have refused
    some and there were ``at_least``; how many were made."""
    since, made = len(served.logs()), 0
    while made < at_least or answered_by(served, SIGNIN, since) != {0, 1}:
        body = {"email": f"nobody{made}-{time.monotonic_ns()}@example.com", "password": "Wrong-password-1"}
        assert call(f"{served.url}{SIGNIN}", body)[0] == 401
        made += 1
        assert made < 200, "the sign-ins never reached both workers"
    return made


def ask_keys(served: Served, at_least: int) -> int:
    """``GET /.well-known/jwks.json`` as ``fail_sign_ins``."""
    since, made = len(served.logs()), 0
    while made < at_least or answered_by(served, JWKS, since) != {0, 1}:
        assert call(f"{served.url}{JWKS}")[0] == 200
        made += 1
        assert made < 400, "the requests never reached both workers"
    return made


def every_scrape(served: Served) -> list[Samples]:
    """Scrapes on new connections until each worker has answered at least two of them."""
    since, scrapes = len(served.logs()), []

    def answered(worker: int) -> int:
        return sum(
            1 for e in served.logs()[since:] if e.get("path") == "/metrics" and e.get("worker") == worker
        )

    while len(scrapes) < 4 or min(answered(0), answered(1)) < 2:
        scrapes.append(scrape(served))
        assert len(scrapes) < 200, "the scrapes never reached both workers"
    return scrapes


def until(condition: object, what: str, timeout: float = 60) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("rowgate-metrics-*"))


def test_every_scrape_sums_every_workers_counts_and_a_killed_worker_loses_none(
    fresh_database: str, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = write_config(tmp_path, fresh_database)
    with serving(config, environ={"TMPDIR": str(tmp)}) as served:
        [folder] = folders(tmp)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert folder.stat().st_uid == os.getuid()
        signins, keys = fail_sign_ins(served, 6), ask_keys(served, 20)

        for samples in every_scrape(served):
            assert samples[FAILED] == signins
            assert samples[JWKS_COUNT] == keys  # the histogram, summed over the workers
            assert samples[JWKS_ALL] == keys
            assert samples[JWKS_SUM] > 0

        victim, since = served.workers()[0], len(served.logs())
        os.kill(victim, signal.SIGKILL)
        until(lambda: len(served.workers()) == 2 and victim not in served.workers(), "a new worker")
        until(lambda: any("serving on port" in e["msg"] for e in served.logs()[since:]), "it serves")
        [dead] = json.loads((folder / DEAD).read_text())["workers"]  # its counts are kept ...
        assert list(folder.glob(f"*_{dead}.db")) == []  # ... its own files are not

        for samples in every_scrape(served):
            assert samples[FAILED] == signins
            assert samples[JWKS_COUNT] == keys

        more_signins, more_keys = fail_sign_ins(served, 2), ask_keys(served, 5)
        for samples in every_scrape(served):
            assert samples[FAILED] == signins + more_signins
            assert samples[JWKS_COUNT] == samples[JWKS_ALL] == keys + more_keys
    assert served.process.returncode == 0
    assert folders(tmp) == []


def kill_and_wait(served: Served, victim: int) -> None:
    """SIGKILL the worker ``victim``; until its replacement serves."""
    since = len(served.logs())
    os.kill(victim, signal.SIGKILL)
    until(lambda: victim not in served.workers() and len(served.workers()) == 2, "a new worker")
    until(lambda: any("serving on port" in e["msg"] for e in served.logs()[since:]), "it serves")


def test_workers_killed_again_and_again_leave_a_bounded_folder_and_exact_totals(
    fresh_database: str, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = write_config(tmp_path, fresh_database)
    with serving(config, environ={"TMPDIR": str(tmp)}) as served:
        [folder] = folders(tmp)
        signins = keys = 0
        sizes = []
        for round_ in range(6):
            signins += fail_sign_ins(served, 2)
            keys += ask_keys(served, 3)
            kill_and_wait(served, served.workers()[round_ % 2])
            samples = scrape(served)
            assert samples[FAILED] == signins
            assert samples[JWKS_COUNT] == samples[JWKS_ALL] == keys
            sizes.append(sorted(path.name for path in folder.iterdir()))
        # the lock, the dead workers' file and each live worker's counter, histogram and two gauges
        assert all(len(names) <= 1 + 1 + 2 * 4 for names in sizes), sizes
        assert all(DEAD in names for names in sizes)
        for samples in every_scrape(served):
            assert samples[FAILED] == signins
            assert samples[JWKS_COUNT] == samples[JWKS_ALL] == keys
        assert any("worker 1 was killed by SIGKILL" in e["msg"] for e in served.logs())
    assert served.process.returncode == 0
    assert folders(tmp) == []


def test_the_app_figures_of_every_worker_are_summed(fresh_database: str, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = write_config(tmp_path, fresh_database)
    with serving(config, environ={"TMPDIR": str(tmp)}) as served:
        token = signed_in(served.url, "ada@example.com")
        since, asked = len(served.logs()), 0
        while asked < 10 or answered_by(served, "/v1/auth/me", since) != {0, 1}:
            assert call(f"{served.url}/v1/auth/me", token=token)[0] == 200
            asked += 1
            assert asked < 400, "the requests never reached both workers"

        def verified(samples: Samples) -> float:  # each request verified its token once
            return samples[CACHE_HITS] + samples[CACHE_MISSES]

        # the other worker writes its figures every second: until then a scrape may show less
        until(lambda: verified(scrape(served)) == asked, "every worker's figures written")
        for samples in every_scrape(served):
            assert verified(samples) == asked
            assert samples[CACHE_MISSES] == 2  # once per worker
            assert samples[CACHE_SIZE] == 2  # the token, cached by each worker
        for name in (
            "rowgate_revocations_pending",
            "rowgate_client_disconnects_total",
            "rowgate_header_timeouts_total",
            "rowgate_slow_connections",
        ):
            assert (name, frozenset()) in samples

        victim = served.workers()[0]
        os.kill(victim, signal.SIGKILL)
        until(lambda: len(served.workers()) == 2 and victim not in served.workers(), "a new worker")
        until(lambda: scrape(served)[CACHE_SIZE] == 1, "the dead worker's cache no longer counted")
        assert verified(scrape(served)) == asked  # what it verified still is


def test_a_killed_supervisors_folder_goes_at_the_next_start(fresh_database: str, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = write_config(tmp_path, fresh_database)
    with serving(config, environ={"TMPDIR": str(tmp)}) as served:
        [left] = folders(tmp)
        workers = served.workers()
        served.process.kill()
        served.process.wait()
        until(lambda: not any(_alive(pid) for pid in workers), "the workers exited")
    assert folders(tmp) == [left]
    with serving(config, environ={"TMPDIR": str(tmp)}) as served:
        [folder] = folders(tmp)
        assert folder != left
        assert any(e["msg"] == f"removed {left}, left by a rowgate that was killed" for e in served.logs())


@pytest.mark.parametrize(("workers", "metrics"), [(1, True), (2, False)], ids=["one worker", "metrics off"])
def test_one_worker_or_metrics_off_make_no_folder(
    fresh_database: str, tmp_path: Path, workers: int, metrics: bool
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = write_config(tmp_path, fresh_database, server={"metrics": metrics})
    with serving(config, workers=workers, environ={"TMPDIR": str(tmp)}) as served:
        status, body = call(f"{served.url}/metrics")
        if metrics:
            assert status == 200
            assert fail_sign_ins_once(served) == 1.0
        else:  # not served by rowgate: the route is off, as before
            assert status != 200
            assert "rowgate_requests_total" not in str(body)
        assert folders(tmp) == []


def fail_sign_ins_once(served: Served) -> float:
    before = scrape(served).get(FAILED, 0.0)
    body = {"email": "nobody@example.com", "password": "Wrong-password-1"}
    assert call(f"{served.url}{SIGNIN}", body)[0] == 401
    return scrape(served)[FAILED] - before


def _alive(pid: int) -> bool:
    try:
        return b"zombie" not in Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        return False


def test_a_temporary_folder_that_cannot_be_written_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(ServiceUnavailable) as raised:
        MetricsDirectory.create()
    assert raised.value.code == "metrics_directory"
    assert raised.value.detail.startswith(
        f"the workers cannot share their metrics: no directory can be made in {tmp_path / 'missing'}"
    )
    assert "set TMPDIR to a writable folder, or server.metrics: false" in raised.value.detail
