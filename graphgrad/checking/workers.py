"""A worker process and its pipe: started, stopped politely, or killed.

Shared by the batch checker (``batch.py``), the HTTP service (``service_pool.py``) and
the Dask executor (``dask_executor.py``): each hands tasks to a worker (the batch two at
a time, the others one) and must be able to kill one that hangs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class ProcessWorker:
    """A daemon process running ``target(conn, *args)`` with the other end of a pipe."""

    def __init__(self, context: Any, target: Callable[..., None], *args: Any):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        """Stop it now (a hang, a time limit): no cooperation needed."""
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        """Ask it to finish (a None task), then kill it if it does not."""
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.kill()

    def death(self) -> str:
        """Why it ended, in words: the signal's name or the exit code."""
        self.process.join(timeout=5)
        return _death(self.process.exitcode)


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"the worker process died with signal {signal.Signals(-code).name}"
        except ValueError:
            return f"the worker process died with signal {-code}"
    return f"the worker process exited with code {code}"


class SubprocessWorker:
    """A fresh Python running ``code`` (with ``{fd}`` replaced by its end of a socket
    pair), for a process that must not fork: a Dask worker is threaded, and daemonic,
    so multiprocessing refuses it children. It sees end-of-file when its parent dies."""

    def __init__(self, code: str):
        mine, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code.format(fd=theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self.conn = Connection(mine.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Stop it now (a hang, a time limit): no cooperation needed."""
        self.process.kill()
        self.process.wait(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        """Close its socket (it ends at end-of-file), then kill it if it does not."""
        self.conn.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def death(self) -> str:
        """Why it ended, in words: the signal's name or the exit code."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return _death(code)
