"""The scalar DAG workload: random gates with fan-out, as graph text."""

from __future__ import annotations

import numpy as np

OPS = ["add", "mul", "tanh", "sigmoid", "relu", "exp"]


def scalar_dag_text(n: int, seed: int = 0) -> str:
    """A random DAG of n scalar gates with fan-out; exp is applied to a tanh so it stays finite."""
    rng = np.random.default_rng(seed)
    lines = ["graphgrad: 1", "inputs: {x: 0.5, y: -0.25}", "nodes:"]
    names = ["x", "y"]
    for i in range(n):
        op = OPS[i % len(OPS)]
        a = names[-1]
        if op in ("add", "mul"):
            b = names[int(rng.integers(max(0, len(names) - 50), len(names)))]
            lines.append(f"  n{i}: {{op: {op}, in: [{a}, {b}]}}")
        elif op == "exp":
            lines.append(f"  t{i}: {{op: tanh, in: [{a}]}}")
            lines.append(f"  n{i}: {{op: exp, in: [t{i}]}}")
        else:
            lines.append(f"  n{i}: {{op: {op}, in: [{a}]}}")
        if op == "mul":
            lines.append(f"  c{i}: {{op: tanh, in: [n{i}]}}")
            names.append(f"c{i}")
        else:
            names.append(f"n{i}")
    lines.append(f"output: {names[-1]}")
    return "\n".join(lines) + "\n"
