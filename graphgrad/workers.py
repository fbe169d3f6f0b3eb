"""A worker process and its pipe: started, stopped politely, or killed.

Shared by the batch checker (``batch.py``) and the HTTP service (``service_pool.py``):
both hand tasks to a worker (the batch two at a time, the service one) and must be able
to kill one that hangs.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
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
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                return f"the worker process died with signal {signal.Signals(-code).name}"
            except ValueError:
                return f"the worker process died with signal {-code}"
        return f"the worker process exited with code {code}"
