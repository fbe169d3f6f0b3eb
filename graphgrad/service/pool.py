"""Worker processes for the HTTP service: CPU-heavy work off the event loop.

Each worker handles one request at a time; at most ``workers`` compute at once. A
request waits for a turn only while the queue is short; past that it is refused at once
(the service answers 503). A computation past its time limit, or whose client has gone,
has its worker killed, not abandoned. Dead workers are replaced in the background, never
on a request's path: the pool keeps ``spares`` started processes beyond ``workers``, so
the next request takes a warm one. New workers are forked from a forkserver that has
already imported graphgrad and built the registry (``service_preload``), so a
replacement is ready in milliseconds, not the half second of a fresh interpreter.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import signal
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from graphgrad.checking.workers import ProcessWorker
from graphgrad.format.source import Limits

NICENESS = 10
"""Workers run at a lower priority than the event loop, so that /healthz and the
refusals (413, 503) stay quick while every core computes."""

PRELOAD_ENV = "GRAPHGRAD_SERVICE_PRELOAD"
"""The plugins whose registry the forkserver builds before forking workers (JSON)."""

EVENTS = ("abandoned", "crashed", "timed_out", "restarted", "failed_starts")
"""What the pool counts: requests whose client went away, computations that crashed or
ran out of time, workers replaced, and replacements that did not start."""

START_TIMEOUT = 120.0
"""Seconds a new worker may take to import and report ready."""


class Saturated(Exception):
    """Every worker is busy and the queue is full."""


class TimedOut(Exception):
    """A computation ran past its time limit; its worker was killed."""


class WorkerDied(Exception):
    """A worker process ended while computing (a crashing plugin)."""


@dataclass(frozen=True)
class PoolSettings:
    """Sizes and limits of the worker pool."""

    workers: int = 2
    queue: int = 16
    timeout: float = 30.0
    plugins: tuple[str, ...] = ()
    limits: Limits = Limits()
    spares: int = 2
    max_response: int = 32 * 1024 * 1024


def _serve(conn: Connection, settings: PoolSettings) -> None:
    """A worker's loop: receive (kind, body, options), send back (status, payload)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.nice(NICENESS)
    from graphgrad.service.tasks import handle

    handle("warm-up", b"", {}, settings)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(handle(*task, settings))


async def _readable(conn: Connection, timeout: float | None) -> bool:
    """Wait, on the event loop, until the pipe has data or its other end closed."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(True))
    try:
        async with asyncio.timeout(timeout):
            return await ready
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


class _Worker(ProcessWorker):
    async def ready(self, timeout: float) -> None:
        """Wait for the worker's "ready" without holding a thread."""
        if not await _readable(self.conn, timeout) or await asyncio.to_thread(self.conn.recv) != "ready":
            raise RuntimeError("a service worker did not start")

    async def call(self, task: tuple, timeout: float) -> Any:
        """Send a task and wait for its answer; the wait is cancellable (the pool then
        kills this worker) and holds no thread."""
        try:
            await asyncio.to_thread(self.conn.send, task)
        except (OSError, ValueError):
            raise WorkerDied from None
        if not await _readable(self.conn, timeout):
            raise TimedOut
        try:
            return await asyncio.to_thread(self.conn.recv)
        except (EOFError, OSError):
            raise WorkerDied from None

    def kill_now(self) -> None:
        """SIGKILL without waiting; the process is reaped later (``reap``)."""
        try:
            self.process.kill()
        except (OSError, ValueError):
            pass

    def reap(self) -> None:
        self.process.join(timeout=5)
        self.conn.close()


def _context() -> Any:
    """A forkserver where the platform has one (Linux, macOS), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        context = mp.get_context("forkserver")
        context.set_forkserver_preload(["graphgrad.service.preload"])
        return context
    return mp.get_context("spawn")


class WorkerPool:
    """``workers`` computing at once, ``spares`` warm processes beyond them, a bounded
    queue, a time limit per task, and cancellation when a request is abandoned."""

    def __init__(self, settings: PoolSettings):
        self.settings = settings
        self.context = _context()
        self.idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self.turns = asyncio.Semaphore(settings.workers)
        self.waiting = 0
        self.running = 0
        self.starting = 0
        self.workers: list[_Worker] = []
        self.counts: Counter[str] = Counter()
        self._background: set[asyncio.Task] = set()
        self._stopping = False

    @property
    def target(self) -> int:
        return self.settings.workers + self.settings.spares

    async def start(self) -> None:
        """Start every process (workers and spares) and wait until they are ready."""
        os.environ[PRELOAD_ENV] = json.dumps(list(self.settings.plugins))
        self.starting += self.target
        await asyncio.gather(*(self._start_one() for _ in range(self.target)))
        if self.idle.qsize() < self.settings.workers:
            raise RuntimeError("the service's workers did not start")

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._background):
            task.cancel()
        for worker in list(self.workers):
            await asyncio.to_thread(worker.stop)

    def stats(self) -> dict[str, int]:
        """What /healthz reports: the pool's state and what happened to requests."""
        return {
            "workers": self.settings.workers,
            "processes": len(self.workers),
            "idle": self.idle.qsize(),
            "starting": self.starting,
            "running": self.running,
            "queued": self.waiting,
            **{k: self.counts[k] for k in EVENTS},
        }

    async def submit(self, task: tuple) -> Any:
        """Run a task on a worker; raises Saturated, TimedOut or WorkerDied.

        Cancelling it (the client went away) drops a queued task at once and kills the
        worker of a running one; either way the turn goes to the next request."""
        if self.turns.locked() and self.waiting >= self.settings.queue:
            raise Saturated
        self.waiting += 1
        try:
            await self.turns.acquire()
        except asyncio.CancelledError:
            self.counts["abandoned"] += 1
            raise
        finally:
            self.waiting -= 1
        try:
            return await self._run(task)
        finally:
            self.turns.release()

    async def _run(self, task: tuple) -> Any:
        self._replenish()
        while True:
            try:
                worker = await self.idle.get()  # a spare is normally waiting: no process start here
            except asyncio.CancelledError:
                self.counts["abandoned"] += 1
                raise
            if worker.alive():
                break
            self._retire(worker)  # died while idle (the OOM killer, a signal): not this task's fault
        self.running += 1
        try:
            result = await worker.call(task, self.settings.timeout)
        except BaseException as exc:
            kind = {TimedOut: "timed_out", WorkerDied: "crashed"}.get(type(exc), "abandoned")
            self.counts[kind] += 1
            self._retire(worker)
            raise
        finally:
            self.running -= 1
        self.idle.put_nowait(worker)
        return result

    def _retire(self, worker: _Worker) -> None:
        """Kill a worker and replace it, both in the background."""
        worker.kill_now()
        self.workers = [w for w in self.workers if w is not worker]
        self._spawn_task(asyncio.to_thread(worker.reap))
        self.counts["restarted"] += 1
        self._replenish()

    def _replenish(self) -> None:
        """Start processes until workers + spares are alive or starting."""
        if self._stopping:
            return
        for _ in range(self.target - len(self.workers) - self.starting):
            self.starting += 1  # counted now, so that the next call does not start it again
            self._spawn_task(self._start_one())

    def _spawn_task(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _start_one(self) -> bool:
        """Start one process (already counted in ``starting``); False (and counted) if it
        did not come up."""
        worker = None
        try:
            worker = await asyncio.to_thread(_Worker, self.context, _serve, self.settings)
            await worker.ready(START_TIMEOUT)
        except (Exception, asyncio.CancelledError) as exc:
            if worker is not None:
                worker.kill_now()
                await asyncio.to_thread(worker.reap)
            if isinstance(exc, asyncio.CancelledError):
                raise
            self.counts["failed_starts"] += 1
            return False
        finally:
            self.starting -= 1
        if self._stopping:
            await asyncio.to_thread(worker.stop)
            return False
        self.workers.append(worker)
        self.idle.put_nowait(worker)
        return True
