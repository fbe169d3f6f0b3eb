"""Shared helpers: central differences that use only forward passes, and a CLI runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[1]
GRAPHS = ROOT / "graphs"


def central_difference(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """df/dx for a scalar function f of one array, element by element."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    return grad


def graphgrad_cli(*args: str, cwd: Path = ROOT, env: dict | None = None):
    """Run the command line in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "graphgrad", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


@pytest.fixture
def write(tmp_path):
    """Write a graph file into a temporary folder and return its path."""

    def _write(text: str, name: str = "g.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write
