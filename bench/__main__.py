"""Benchmarks: engine time per node, and the two-layer net against hand-written NumPy.

Every figure is a median over repeats, and graphgrad is reported as a ratio to a floor
measured in the same run on the same machine. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import types

import numpy as np
from rich.console import Console
from rich.table import Table

import graphgrad

from .floor import floor_function
from .loading import bench_loading
from .memory import memory_per_node
from .nets import two_layer_svm

OPS = ["add", "mul", "tanh", "sigmoid", "relu", "exp"]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(first, second, repeats: int) -> tuple[float, float]:
    """Medians of two workloads timed in alternation, so that a machine that slows down
    or speeds up during the run affects both alike (after one warm-up call each)."""
    first(), second()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


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


def bench_scalar(n: int, repeats: int) -> dict:
    """The scalar DAG: load, first run (NumPy plan), compile, hot runs against the floor."""
    text = scalar_dag_text(n)
    start = time.perf_counter()
    graph = graphgrad.load(text)
    load_s = time.perf_counter() - start
    nodes = len(graph.definition.nodes)
    numpy_s = median_time(graph.run, 1)
    start = time.perf_counter()
    graph.scalar_program  # noqa: B018  (compiled here, as the second run would)
    compile_s = time.perf_counter() - start
    floor = floor_function(graph.definition)
    args = [float(d.value) for d in graph.definition.inputs.values()]
    value, _ = floor(*args)
    assert np.isclose(value, graph.run().value)
    floor_s, run_s = paired_medians(lambda: floor(*args), graph.run, repeats)
    return {
        "workload": f"scalar DAG, {nodes} nodes",
        "graphgrad_s": run_s,
        "floor_s": floor_s,
        "ratio": run_s / floor_s,
        "per_node_us": run_s / nodes * 1e6,
        "floor_per_node_us": floor_s / nodes * 1e6,
        "numpy_plan_per_node_us": numpy_s / nodes * 1e6,
        "compile_s": compile_s,
        "load_per_node_us": load_s / nodes * 1e6,
    }


def numpy_floor(X, y, W1, W2, reg=0.001):
    """The same forward and backward, written by hand in NumPy (gradients of W1, W2, X)."""
    N = X.shape[0]
    rows = np.arange(N)
    h = X @ W1
    a = np.maximum(h, 0)
    s = a @ W2
    margins = np.maximum(0, s - s[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / N + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    ds = (margins > 0).astype(s.dtype)
    ds[rows, y] = -ds.sum(axis=1)
    ds /= N
    dW2 = a.T @ ds + 2 * reg * W2
    dh = (ds @ W2.T) * (h > 0)
    dW1 = X.T @ dh + 2 * reg * W1
    dX = dh @ W1.T
    return loss, dW1, dW2, dX


def bench_net(batch: int, repeats: int, D: int = 3072, H: int = 100, C: int = 10) -> dict:
    graph = graphgrad.load(two_layer_svm(batch, D, H, C))
    v = {k: d.value for k, d in graph.definition.inputs.items()}
    loss, dW1, *_ = numpy_floor(v["X"], v["y"], v["W1"], v["W2"])
    result = graph.run()
    assert np.isclose(result.value, loss) and np.allclose(result.grads["W1"], dW1)
    floor_s, run_s = paired_medians(lambda: numpy_floor(v["X"], v["y"], v["W1"], v["W2"]), graph.run, repeats)
    return {
        "workload": f"two-layer net D={D} H={H} C={C}, batch {batch}",
        "graphgrad_s": run_s,
        "numpy_floor_s": floor_s,
        "ratio": run_s / floor_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", help="engine, check (default: both)")
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--files", type=int, default=1000, help="files in the --jobs batch")
    args = parser.parse_args()
    args.suites = args.suites or ["engine", "check"]
    unknown = set(args.suites) - {"engine", "check"}
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}; choose from engine, check")
    if "engine" in args.suites:
        engine_suite(args)
    if "check" in args.suites:
        check_suite(args)


def check_suite(args: argparse.Namespace) -> None:
    from .check_cost import batch_jobs, check_cost

    rows = check_cost()
    table = Table("parameters", "checker", "evaluations", "seconds", "")
    for r in rows:
        table.add_row(
            f"{r['params']:,}",
            r["checker"],
            f"{r['evals']:,}",
            f"{r['seconds']:.3g}",
            "estimated: evaluations x measured seconds per evaluation" if r["estimated"] else r["status"],
        )
    Console(width=200).print(table)
    print(json.dumps({"bench": "check_cost", "results": rows}))
    batch = batch_jobs(args.files)
    Console().print(
        f"graphgrad check over {batch['files']} small files: --jobs 1 {batch['jobs1_s']:.2f} s, "
        f"--jobs 2 {batch['jobs2_s']:.2f} s, speed-up {batch['speedup']:.2f}x"
    )
    print(json.dumps({"bench": "check_jobs", **batch}))


def bench_flat(text: str, label: str, repeats: int) -> dict:
    """The engine against its own flat gradient code (graphgrad export --to python)."""
    graph = graphgrad.load(text)
    module = types.ModuleType("flat")
    exec(compile(graph.export("python"), "<flat>", "exec"), module.__dict__)
    values = module.inputs()
    value, _ = module.forward_backward(**values)
    assert np.allclose(value, graph.run().value)
    flat_s, run_s = paired_medians(lambda: module.forward_backward(**values), graph.run, repeats)
    return {
        "workload": f"{label}: engine vs its flat code",
        "graphgrad_s": run_s,
        "flat_code_s": flat_s,
        "engine_over_flat": run_s / flat_s,
    }


def engine_suite(args: argparse.Namespace) -> None:
    rows = [bench_scalar(n, args.repeats) for n in (1_000, 10_000, args.nodes)]
    rows += [bench_net(b, args.repeats) for b in (1, 64, 1024)]
    flat = [
        bench_flat(scalar_dag_text(10_000), "scalar DAG, 13333 nodes", args.repeats),
        bench_flat(two_layer_svm(64, 3072, 100, 10), "two-layer net, batch 64", args.repeats),
    ]
    table = Table("workload", "engine", "flat code", "engine / flat")
    for r in flat:
        table.add_row(
            r["workload"],
            f"{r['graphgrad_s'] * 1e3:.2f} ms",
            f"{r['flat_code_s'] * 1e3:.2f} ms",
            f"{r['engine_over_flat']:.2f}x",
        )
    Console(width=200).print(table)
    print(json.dumps({"bench": "flat_code", "results": flat}))
    table = Table(
        "workload",
        "graphgrad",
        "floor",
        "ratio",
        "per node",
        "NumPy plan per node",
        "compile",
        "load per node",
    )
    for r in rows:
        floor = r.get("numpy_floor_s", r.get("floor_s"))
        table.add_row(
            r["workload"],
            f"{r['graphgrad_s'] * 1e3:.2f} ms",
            f"{floor * 1e3:.2f} ms",
            f"{r['ratio']:.2f}x",
            f"{r['per_node_us']:.2f} us" if "per_node_us" in r else "",
            f"{r['numpy_plan_per_node_us']:.2f} us" if "numpy_plan_per_node_us" in r else "",
            f"{r['compile_s']:.2f} s" if "compile_s" in r else "",
            f"{r['load_per_node_us']:.1f} us" if "load_per_node_us" in r else "",
        )
    Console(width=200).print(table)
    print(json.dumps({"bench": "engine", "results": rows}))
    loading = [bench_loading(scalar_dag_text(n)) for n in (1_000, 10_000, args.nodes)]
    table = Table(
        "workload", "parse", "validate + build", "compile", "total", "C loader alone", "json.loads", "ratio"
    )
    for r in loading:
        table.add_row(
            r["workload"],
            *(
                f"{r[k]:.1f} us"
                for k in (
                    "parse_us_per_node",
                    "validate_and_build_us_per_node",
                    "compile_us_per_node",
                    "total_us_per_node",
                    "c_loader_us_per_node",
                    "json_loads_us_per_node",
                )
            ),
            f"{r['ratio_to_c_loader']:.2f}x",
        )
    Console(width=200).print(table)
    print(json.dumps({"bench": "loading", "results": loading}))
    memory = memory_per_node(args.nodes)
    Console().print(
        f"peak memory of loading and running {memory['nodes']} scalar nodes: "
        f"{memory['kib'] / 1024:.0f} MiB, {memory['kib_per_node']:.2f} KiB per node"
    )
    print(json.dumps({"bench": "memory", **memory}))


if __name__ == "__main__":
    main()
