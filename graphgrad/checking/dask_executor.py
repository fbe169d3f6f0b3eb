"""Checking a batch on a Dask cluster: the only module that imports dask and distributed.

The files are read here (a worker need not see this machine's disk) and sent in chunks,
one Dask task per chunk. A task hands its files one at a time to a checking process of
its own (a fresh Python, kept for the next task), so a file that crashes that process
or runs past ``--timeout`` is known exactly and costs the Dask worker nothing: the task
reports the file as crashed and goes on with a new process. Such a file is checked once
more in a task of its own; if it fails again it is an error row worded as in a local
batch. A task lost with its worker is rerun by the scheduler; one that fails outright
(``KilledWorker``) has its files retried one by one the same way. Rows are reported as
the chunks arrive and returned in the order of the files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from distributed import Client, LocalCluster, as_completed

from graphgrad.checking.batch import BatchOptions, RemoteSetup, crash_report
from graphgrad.checking.verify import FileReport
from graphgrad.checking.workers import SubprocessWorker
from graphgrad.errors import GraphFileError, GraphgradError
from graphgrad.format.source import read_text
from graphgrad.plugins.manager import installed_plugins, pack_plugins

CONNECT_TIMEOUT = 5.0
"""Seconds to reach a scheduler before giving up with its address named."""
WORKERS_TIMEOUT = 60.0
"""Seconds to wait for a scheduler that has no worker yet (a cluster still starting)."""
CHUNK_MAX = 32
"""Most files in one task: a Dask task costs about a millisecond of scheduling, more than
checking a small file, so small files travel together; a batch still gets at least
eight tasks per worker thread, so that the load evens out."""
STARTUP_TIMEOUT = 120.0
"""Seconds a checking process may take to start and load its plugins (not --timeout's)."""


class DaskError(GraphgradError):
    """The cluster cannot be used: unreachable, or without workers."""


@dataclass(frozen=True)
class _Spec:
    setup: RemoteSetup
    timeout: float
    key: str
    """A digest of ``setup``: checking processes are kept per setup."""


def check_files_dask(
    paths: Sequence[str],
    options: BatchOptions,
    *,
    scheduler: str | None = None,
    jobs: int | None = None,
    on_result: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """Check every file on the Dask scheduler at ``scheduler``, or on a local cluster of
    ``jobs`` worker processes started and stopped here; the same rows as ``check_files``."""
    results: dict[int, FileReport] = {}

    def done(index: int, report: FileReport) -> None:
        results[index] = report
        if on_result:
            on_result(report)

    items = []
    for index, path in enumerate(paths):
        try:
            items.append((index, path, read_text(path, options.limits)))
        except GraphFileError as exc:  # unreadable, too big, not UTF-8: as check_file says it
            report = FileReport(path, os.path.splitext(os.path.basename(path))[0], "error")
            report.error = [str(i) for i in exc.issues]
            done(index, report)
    if items:
        with _client(scheduler, jobs) as client:
            _run(client, items, _spec(options), done)
    return [results[i] for i in range(len(paths))]


def _spec(options: BatchOptions) -> _Spec:
    setup = RemoteSetup(
        options.checker,
        pack_plugins(str(p) for p in options.plugins),
        options.limits,
        installed_plugins(),
        options.seed,
        options.overrides,
    )
    key = hashlib.sha256(pickle.dumps(setup)).hexdigest()[:16]
    return _Spec(setup, options.timeout, key)


@contextmanager
def _client(scheduler: str | None, jobs: int | None) -> Iterator[Client]:
    if scheduler is None:
        workers = jobs or os.cpu_count() or 1
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskError(
            f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT:g} s ({exc}); "
            "start one with `dask scheduler` or give its address as --scheduler tcp://HOST:PORT"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise DaskError(
                f"the Dask scheduler at {scheduler} has had no worker for {WORKERS_TIMEOUT:g} s; "
                f"start one with `dask worker {scheduler}`"
            ) from None
        yield client


def _threads(client: Client) -> int:
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(w.get("nthreads", 1) for w in workers.values()))


def _run(client: Client, items: list, spec: _Spec, done: Callable[[int, FileReport], None]) -> None:
    size = max(1, min(CHUNK_MAX, len(items) // (8 * _threads(client))))
    batch = uuid.uuid4().hex[:8]
    chunks: dict[str, list] = {}
    first: dict[int, str] = {}
    count = 0

    def submit(chunk: list) -> object:
        nonlocal count
        count += 1
        future = client.submit(_check_chunk, chunk, spec, key=f"graphgrad-check-{batch}-{count}", pure=False)
        chunks[future.key] = chunk
        return future

    def crashed(item: tuple, cause: str) -> None:
        index, path, _ = item
        if index in first:
            done(index, crash_report(path, first.pop(index), cause))
        else:
            first[index] = cause
            running.add(submit([item]))

    running = as_completed([submit(items[i : i + size]) for i in range(0, len(items), size)])
    for future in running:
        chunk = chunks.pop(future.key)
        if future.status != "finished":
            exc = future.exception()
            for item in chunk:
                crashed(item, f"its Dask task failed: {type(exc).__name__}: {exc}")
            continue
        by_index = {item[0]: item for item in chunk}
        for index, outcome in future.result():
            if isinstance(outcome, FileReport):
                first.pop(index, None)
                done(index, outcome)
            else:
                crashed(by_index[index], outcome)
        future.release()


# On a worker: checking processes kept between tasks, per setup.

_idle: dict[str, list[SubprocessWorker]] = {}
_lock = threading.Lock()
IDLE_MAX = 8
"""Most checking processes a worker keeps waiting for the next task."""
CHILD = "from graphgrad.checking.batch import serve; serve({fd})"


def _acquire(spec: _Spec) -> SubprocessWorker:
    with _lock:
        waiting = _idle.get(spec.key, [])
        while waiting:
            child = waiting.pop()
            if child.alive():
                return child
    child = SubprocessWorker(CHILD)
    child.conn.send(spec.setup)
    if not child.conn.poll(STARTUP_TIMEOUT):
        child.kill()
        raise GraphgradError(f"a checking process did not start within {STARTUP_TIMEOUT:g} s")
    child.conn.recv()  # "ready"; EOFError if it died loading the plugins
    return child


def _release(spec: _Spec, child: SubprocessWorker) -> None:
    with _lock:
        _idle.setdefault(spec.key, []).append(child)
        extra = sum(len(v) for v in _idle.values()) - IDLE_MAX
        stale = [(k, c) for k, v in _idle.items() if k != spec.key for c in v][: max(0, extra)]
        for key, old in stale:
            _idle[key].remove(old)
    for _, old in stale:
        old.stop()


AHEAD = 2
"""Files in a checking process's socket at once, as in a local batch: the next one is
there when one finishes. Only small files go ahead: two large messages crossing in one
socket pair could each wait for the other to be read."""
AHEAD_BYTES = 32_768


def _check_chunk(chunk: list, spec: _Spec) -> list[tuple[int, FileReport | str]]:
    """A Dask task: each file's report, or why its checking process died or was killed."""
    out: list[tuple[int, FileReport | str]] = []
    pending = deque(chunk)
    sent: deque = deque()
    child = None
    started = 0.0
    try:
        while pending or sent:
            if child is None:
                child = _acquire(spec)
            try:
                while pending and (not sent or (len(sent) < AHEAD and len(pending[0][2]) < AHEAD_BYTES)):
                    item = pending.popleft()
                    if not sent:
                        started = time.monotonic()
                    sent.append(item)
                    child.conn.send(item[1:])
            except OSError:
                pass  # it died: the answer it does not give says how
            try:
                if child.conn.poll(max(0.0, started + spec.timeout - time.monotonic())):
                    report = child.conn.recv()
                    out.append((sent.popleft()[0], report))
                    started = time.monotonic()
                    continue
                cause = f"timed out after {spec.timeout:g} s"
            except (EOFError, OSError):
                cause = child.death()
            child.kill()
            child = None
            out.append((sent.popleft()[0], cause))
            pending.extendleft(reversed(sent))  # never started: checked by the next process
            sent.clear()
    finally:
        if child is not None:
            _release(spec, child)
    return out
