"""Checking many files in worker processes, each file isolated from its neighbours.

Every worker checks one file at a time (the next one already waits in its pipe), so a
file that crashes its worker (a plugin's segfault) or hangs it (an endless loop, past
the time limit) is known exactly. It is retried alone in a fresh process after the
batch, and if it fails again it becomes an error row with the cause; the files around
it are untouched. Results come back in the order the files were given, whatever the
number of jobs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from graphgrad.api import Graph, load
from graphgrad.checking.shrink import SECONDS, TRIES, ShrinkResult, shrink
from graphgrad.checking.verify import FileReport, check_graph
from graphgrad.checking.workers import ProcessWorker
from graphgrad.errors import GraphFileError, GraphgradError
from graphgrad.format.source import Document, Limits
from graphgrad.graph.dag import build_graph, graph_from_text
from graphgrad.plugins.manager import (
    PluginBundle,
    PluginRef,
    installed_plugins,
    load_registry,
    unpack_plugins,
)


@dataclass(frozen=True)
class BatchOptions:
    """How each file is checked."""

    checker: str | None = None
    plugins: tuple[PluginRef, ...] = ()
    """Paths and module names; on a Dask worker, the modules unpacked from the client's files."""
    limits: Limits = Limits()
    timeout: float = 120.0
    seed: int | None = None
    """``check --seed``: replaces each file's ``seed:``."""
    overrides: tuple[tuple[str, float], ...] = ()
    """``check --eps/--rtol/--atol``: (key, value) pairs that win over the file's
    ``check:`` (cli.md), as ``--checker`` wins over ``check.checker``."""
    shrink: bool = False
    """``check --shrink``: a failed file's report carries the shrunk graph (``report.shrink``)."""
    shrink_seconds: float = SECONDS
    shrink_tries: int = TRIES


def check_file(path: str, options: BatchOptions, text: str | None = None) -> FileReport:
    """Load and check one file in this process; an invalid file is an error report.

    ``text`` is the file's text when it was read elsewhere (on the machine that sent it
    to a Dask worker): messages still name ``path``."""
    start = time.perf_counter()
    try:
        if text is None:
            graph = load(path, plugins=options.plugins, limits=options.limits, seed=options.seed)
        else:
            graph = _load_text(path, text, options)
        if options.overrides:
            graph = _overridden(graph, dict(options.overrides))
        report = check_graph(graph, checker=options.checker, file=path)
        if options.shrink:
            report.shrink = shrunk(graph, report, options, path)
        return report
    except GraphFileError as exc:
        report = FileReport(path, os.path.splitext(os.path.basename(path))[0], "error")
        report.error = [str(i) for i in exc.issues]
    except GraphgradError as exc:
        report = FileReport(path, os.path.splitext(os.path.basename(path))[0], "error")
        report.error = [f"{path}: {exc}"]
    except Exception as exc:  # a plugin's checker or gate that raises: one row, not a dead worker
        report = FileReport(path, os.path.splitext(os.path.basename(path))[0], "error")
        where = f"checker '{options.checker}'" if options.checker else "the check"
        report.error = [
            f"{path}: {where} raised {type(exc).__name__}: {exc} (a bug in a plugin's checker or gate: "
            "fix it, or pick another with --checker)"
        ]
    report.seconds = time.perf_counter() - start
    return report


def shrunk(graph: Graph, report: FileReport, options: BatchOptions, path: str) -> dict:
    """``report``'s failure shrunk (``shrink.ShrinkResult.as_dict``); a gate that raises
    while a candidate runs ends the search with the reason, never the file's report."""
    try:
        result = shrink(
            graph,
            report,
            checker=options.checker,
            seconds=options.shrink_seconds,
            tries=options.shrink_tries,
            source=path,
        )
    except GraphgradError as exc:
        result = ShrinkResult(False, f"shrinking stopped: {exc}")
    return result.as_dict()


def _overridden(graph: Graph, overrides: dict[str, float]) -> Graph:
    """The graph rebuilt with the command line's seed and check settings in its data."""
    data = dict(graph._data)
    if "seed" in overrides:
        data["seed"] = int(overrides.pop("seed"))
    data["check"] = {**(data.get("check") or {}), **overrides}
    definition = build_graph(
        Document(data=data, path=graph.definition.path), graph.registry, graph.limits, name=graph.name
    )
    return Graph.from_definition(definition, graph.registry, graph.limits, data=data)


def _load_text(path: str, text: str, options: BatchOptions) -> Graph:
    registry = load_registry(options.plugins)
    stem = os.path.splitext(os.path.basename(path))[0]
    definition, data = graph_from_text(text, path, registry, options.limits, name=stem, seed=options.seed)
    return Graph.from_definition(definition, registry, options.limits, data=data)


def check_files(
    paths: Sequence[str],
    options: BatchOptions,
    *,
    jobs: int | None = None,
    on_result: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """Check every file with ``jobs`` worker processes (default: the number of cores)."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths) or 1))
    results: dict[int, FileReport] = {}
    crashed = _Pool(jobs, options).run(list(enumerate(paths)), results, on_result)
    for index, first_cause in crashed:
        retry = _Pool(1, options).run([(index, paths[index])], results, None)
        if retry:
            _, cause = retry[0]
            results[index] = crash_report(paths[index], first_cause, cause)
        if on_result:
            on_result(results[index])
    return [results[i] for i in range(len(paths))]


def crash_report(path: str, first: str, second: str) -> FileReport:
    """The error row of a file whose check killed or hung its worker twice."""
    report = FileReport(path, os.path.splitext(os.path.basename(path))[0], "error")
    report.error = [f"{path}: {second} (retried alone after: {first})"]
    return report


def _worker(conn: Connection, options: BatchOptions) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        task = conn.recv()
        if task is None:
            return
        index, path = task
        conn.send((index, check_file(path, options)))


AHEAD = 2
"""Tasks in a worker's pipe at once: the next file is already there when one finishes,
so a worker never waits for this process to be scheduled (on 2 busy cores that wait
cost --jobs 2 a quarter of its speed-up)."""


@dataclass
class _Slot:
    worker: ProcessWorker
    tasks: deque[tuple[int, str]] = field(default_factory=deque)
    started: float = 0.0
    """When the first task in ``tasks`` began: it was sent to an idle worker then, or the
    task before it came back then. A worker does its tasks in order."""


class _Pool:
    """Workers with up to ``AHEAD`` tasks each; returns the tasks whose worker died or
    hung. The task a worker was doing when it died or ran out of time is the first it
    had not answered; the ones behind it never started and go back in the queue."""

    def __init__(self, size: int, options: BatchOptions):
        self.size = size
        self.options = options
        methods = mp.get_all_start_methods()
        self.context = mp.get_context("fork" if "fork" in methods else "spawn")

    def _spawn(self) -> _Slot:
        return _Slot(ProcessWorker(self.context, _worker, self.options))

    def run(self, tasks, results, on_result) -> list[tuple[int, str]]:
        pending = list(reversed(tasks))
        slots = [self._spawn() for _ in range(min(self.size, len(tasks)))]
        failed: list[tuple[int, str]] = []
        try:
            while True:
                for i, slot in enumerate(slots):
                    if not slot.tasks and pending and not slot.worker.alive():
                        slots[i] = slot = self._spawn()
                    while pending and len(slot.tasks) < AHEAD:
                        task = pending.pop()
                        if not slot.tasks:
                            slot.started = time.monotonic()
                        slot.tasks.append(task)
                        try:
                            slot.worker.conn.send(task)
                        except OSError:  # it died: its pipe reads EOF below and _receive says why
                            break
                busy = [s for s in slots if s.tasks]
                if not busy:
                    return failed
                ready = wait([s.worker.conn for s in busy], timeout=self._next_deadline(busy))
                for slot in busy:
                    if slot.worker.conn in ready:
                        self._receive(slot, results, on_result, failed, pending)
                    elif time.monotonic() - slot.started > self.options.timeout:
                        cause = f"timed out after {self.options.timeout:g} s"
                        failed.append((slot.tasks.popleft()[0], cause))
                        slot.worker.kill()
                        self._requeue(slot, pending)
        except KeyboardInterrupt:
            for slot in slots:  # answers already in the pipes are files already checked
                while slot.tasks and slot.worker.conn.poll(0):
                    self._receive(slot, results, on_result, failed, pending)
            raise
        finally:
            for slot in slots:
                slot.worker.stop()

    @staticmethod
    def _requeue(slot: _Slot, pending: list) -> None:
        while slot.tasks:
            pending.append(slot.tasks.pop())

    def _next_deadline(self, busy: list[_Slot]) -> float:
        now = time.monotonic()
        return max(0.01, min(s.started + self.options.timeout - now for s in busy))

    def _receive(self, slot: _Slot, results, on_result, failed, pending) -> None:
        try:
            index, report = slot.worker.conn.recv()
        except (EOFError, OSError):
            failed.append((slot.tasks.popleft()[0], slot.worker.death()))
            slot.worker.conn.close()
            self._requeue(slot, pending)
            return
        slot.tasks.popleft()
        slot.started = time.monotonic()
        results[index] = report
        if on_result:
            on_result(report)


@dataclass(frozen=True)
class RemoteSetup:
    """What a checking process on another machine needs before its first file."""

    checker: str | None
    plugins: PluginBundle
    limits: Limits
    entry_points: tuple[str, ...] = ()
    """The graphgrad plugins installed where the batch was started: one that is missing
    here is named in the error row of a file whose op is unknown."""
    seed: int | None = None
    overrides: tuple[tuple[str, float], ...] = ()


def serve(fd: int) -> None:
    """A checking process (a Dask worker's child): a :class:`RemoteSetup`, answered with
    "ready" once its plugins are loaded, then ``(path, text)`` pairs, each answered with
    its FileReport; it ends when its socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    setup: RemoteSetup = conn.recv()
    with tempfile.TemporaryDirectory(prefix="graphgrad-plugins-") as folder:
        failure = None
        options = BatchOptions(setup.checker, (), setup.limits, seed=setup.seed, overrides=setup.overrides)
        try:
            plugins = tuple(unpack_plugins(setup.plugins, folder))
            options = BatchOptions(
                setup.checker, plugins, setup.limits, seed=setup.seed, overrides=setup.overrides
            )
            load_registry(options.plugins)
        except GraphgradError as exc:
            failure = str(exc)
        missing = sorted(set(setup.entry_points) - set(installed_plugins()))
        conn.send("ready")
        while True:
            try:
                path, text = conn.recv()
            except (EOFError, OSError):
                return
            if failure is None:
                report = check_file(path, options, text)
            else:
                report = FileReport(path, os.path.splitext(os.path.basename(path))[0], "error")
                report.error = [f"{path}: {failure} (on {socket.gethostname()})"]
            if missing and report.status == "error" and any("unknown op" in e for e in report.error or []):
                names = ", ".join(missing)
                report.error.append(
                    f"{path}: note: plugin(s) {names} are installed where the batch started but not on "
                    f"the worker at {socket.gethostname()}: install them on every worker"
                )
            conn.send(report)
