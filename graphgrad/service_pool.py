"""Worker processes for the HTTP service: CPU-heavy work off the event loop.

Each worker handles one request at a time. A request waits for a free worker only
while the queue is short; past that it is refused at once (the service answers 503).
A computation past its time limit has its worker killed, not abandoned, and a fresh
worker takes its place (the service answers 504).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .source import Limits
from .workers import ProcessWorker

NICENESS = 10
"""Workers run at a lower priority than the event loop, so that /healthz and the
refusals (413, 503) stay quick while every core computes."""


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


def _serve(conn: Connection, settings: PoolSettings) -> None:
    """A worker's loop: receive (kind, body, options), send back (status, payload)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
    from .service_tasks import handle  # imported in the worker, after the fork or spawn

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


class _Worker(ProcessWorker):
    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout) or self.conn.recv() != "ready":
            raise RuntimeError("a service worker did not start")

    def call(self, task: tuple, timeout: float) -> Any:
        """Send a task and wait for its answer (in a thread, off the event loop)."""
        self.conn.send(task)
        if not self.conn.poll(timeout):
            raise TimedOut
        try:
            return self.conn.recv()
        except EOFError:
            raise WorkerDied from None


class WorkerPool:
    """A fixed number of workers, a bounded queue, and a time limit per task."""

    def __init__(self, settings: PoolSettings):
        self.settings = settings
        self.context = mp.get_context("spawn")
        self.idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self.waiting = 0
        self.workers: list[_Worker] = []
        self._spawned: list[asyncio.Task] = []

    async def start(self) -> None:
        for _ in range(self.settings.workers):
            worker = _Worker(self.context, _serve, self.settings)
            self.workers.append(worker)
        for worker in self.workers:
            await asyncio.to_thread(worker.wait_ready, 120)
            self.idle.put_nowait(worker)

    async def stop(self) -> None:
        for worker in self.workers:
            await asyncio.to_thread(worker.stop)

    async def submit(self, task: tuple) -> Any:
        """Run a task on a worker; raises Saturated, TimedOut or WorkerDied."""
        if self.idle.empty() and self.waiting >= self.settings.queue:
            raise Saturated
        self.waiting += 1
        try:
            worker = await self.idle.get()
        finally:
            self.waiting -= 1
        try:
            result = await asyncio.to_thread(worker.call, task, self.settings.timeout)
        except BaseException:
            await asyncio.to_thread(worker.kill)
            self._spawned.append(asyncio.create_task(self._respawn(worker)))
            raise
        self.idle.put_nowait(worker)
        return result

    async def _respawn(self, dead: _Worker) -> None:
        """A fresh worker for a killed one, started in the background."""
        fresh = _Worker(self.context, _serve, self.settings)
        self.workers = [w for w in self.workers if w is not dead] + [fresh]
        await asyncio.to_thread(fresh.wait_ready, 120)
        self.idle.put_nowait(fresh)
