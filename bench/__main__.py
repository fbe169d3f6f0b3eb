"""Benchmarks: graphgrad against hand-written floors and against its peers.

Suites: engine (scalar DAG, two-layer nets, peers, loading, memory), check (cost per
checker, --jobs), dask (the Dask executor against the local one; needs the dask extra),
startup. Every figure is a median over repeats, and graphgrad is
reported as a ratio to a floor measured in the same run on the same machine. Each table
is followed by one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types

import numpy as np
from rich.console import Console
from rich.table import Table

import graphgrad

from .dag import scalar_dag_text
from .floor import floor_function
from .loading import bench_faults, bench_loading
from .memory import memory_per_node
from .nets import REG, numpy_floor, two_layer
from .peers import net_peers, scalar_peers
from .timing import median_time, rotated_medians, rotation


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
    floor, args, _ = _scalar_floor(graph)
    timing = rotation([lambda: floor(*args), graph.run], repeats)
    floor_s, run_s = timing.medians
    return {
        "workload": f"scalar DAG, {nodes} nodes",
        "kind": "scalar",
        "size": n,
        "nodes": nodes,
        "graphgrad_s": run_s,
        "floor_s": floor_s,
        "ratio": timing.ratio(1, 0),
        "per_node_us": run_s / nodes * 1e6,
        "floor_per_node_us": floor_s / nodes * 1e6,
        "numpy_plan_per_node_us": numpy_s / nodes * 1e6,
        "compile_s": compile_s,
        "load_per_node_us": load_s / nodes * 1e6,
    }


def _scalar_floor(graph: graphgrad.Graph):
    """The straight-line float floor, its arguments, and a test that an answer agrees."""
    floor = floor_function(graph.definition)
    args = [float(d.value) for d in graph.definition.inputs.values()]
    value, _ = floor(*args)
    result = graph.run()
    assert np.isclose(value, result.value)
    expected = {name: float(g) for name, g in result.grads.items()}

    def agrees(out) -> bool:
        got_value, grads = out
        close = all(np.isclose(grads[k], g) for k, g in expected.items())
        return bool(np.isclose(got_value, value)) and close

    return floor, args, agrees


def bench_net(batch: int, repeats: int, loss: str = "svm", x_grad: bool = True) -> dict:
    """The net against the floor that computes the same gradients (X's only when X has
    ``grad: true``), alternated in one rotation."""
    graph, v, _ = _net(batch, loss, x_grad)
    timing = rotation(
        [lambda: numpy_floor(v["X"], v["y"], v["W1"], v["W2"], loss, x_grad=x_grad), graph.run], repeats
    )
    floor_s, run_s = timing.medians
    data = "X grad: true" if x_grad else "X grad: false (the lecture's)"
    return {
        "workload": f"two-layer net D={NET[0]} H={NET[1]} C={NET[2]}, {loss}, {data}, batch {batch}",
        "kind": "net",
        "size": batch,
        "loss": loss,
        "x_grad": x_grad,
        "graphgrad_s": run_s,
        "numpy_floor_s": floor_s,
        "ratio": timing.ratio(1, 0),
    }


NET = (3072, 100, 10)


def _net(batch: int, loss: str, x_grad: bool = True):
    """The net's graph, its input values, and a test that an answer agrees with the floor."""
    graph = graphgrad.load(two_layer(batch, *NET, loss=loss, x_grad=x_grad))
    v = {k: d.value for k, d in graph.definition.inputs.items()}
    expected = numpy_floor(v["X"], v["y"], v["W1"], v["W2"], loss, x_grad=x_grad)
    result = graph.run()
    assert np.isclose(result.value, expected[0]) and np.allclose(result.grads["W1"], expected[1])
    assert np.allclose(result.grads["W2"], expected[2]) and ("X" in result.grads) == x_grad

    def agrees(out) -> bool:
        return all(np.allclose(a, b) for a, b in zip(out, expected, strict=True))

    return graph, v, agrees


def bench_peers(row: dict, repeats: int) -> dict:
    """The peers on the workload of ``row``, timed in rotation with its floor.

    Run after every graphgrad figure of the suite: PyTorch's and JAX's runtimes keep
    threads and memory that slowed graphgrad's own later figures (2x once at batch 1)."""
    if row["kind"] == "scalar":
        graph = graphgrad.load(scalar_dag_text(row["size"]))
        floor, args, agrees = _scalar_floor(graph)
        peers = checked_peers(scalar_peers(graph.definition), agrees)
        floor_s = row["floor_s"]
        baseline = lambda: floor(*args)  # noqa: E731
    else:
        graph, v, agrees = _net(row["size"], row["loss"])
        peers = checked_peers(net_peers(v["X"], v["y"], v["W1"], v["W2"], row["loss"], REG), agrees)
        floor_s = row["numpy_floor_s"]
        baseline = lambda: numpy_floor(v["X"], v["y"], v["W1"], v["W2"], row["loss"])  # noqa: E731
    return peer_rows(peers, timed_peers(peers, baseline, repeats), floor_s, row["ratio"])


def checked_peers(peers: dict, agrees) -> dict[str, dict]:
    """Each installed peer run once (JAX compiles here) and compared with the floor."""
    out: dict[str, dict] = {}
    for name, peer in peers.items():
        if isinstance(peer, str):
            out[name] = {"skipped": peer}
            continue
        start = time.perf_counter()
        result = peer()
        first_s = time.perf_counter() - start
        if not agrees(result):
            raise AssertionError(f"{name} disagrees with the floor")
        out[name] = {"run": peer, "first_call_s": first_s}
    return out


def timed_peers(peers: dict[str, dict], floor, repeats: int) -> list[float]:
    """The peers timed in rotation with the floor, apart from graphgrad's own rotation
    with it: a peer's large arrays and threads then cannot slow graphgrad's figure.
    Returns each peer's time over the floor's, paired by round."""
    runs = [p["run"] for p in peers.values() if "run" in p]
    if not runs:
        return []
    timing = rotation([floor, *runs], repeats)
    return [timing.ratio(i, 0) for i in range(1, len(runs) + 1)]


def peer_rows(peers: dict[str, dict], relative: list[float], floor_s: float, graphgrad_ratio: float) -> dict:
    """Each peer's time over the floor's; graphgrad's lead is that over graphgrad's own."""
    rows = {}
    timed = iter(relative)
    for name, peer in peers.items():
        if "run" not in peer:
            rows[name] = {"skipped": peer["skipped"]}
            continue
        ratio = next(timed)
        rows[name] = {
            "seconds": ratio * floor_s,
            "ratio_to_floor": ratio,
            "graphgrad_ahead": ratio / graphgrad_ratio,
            "first_call_s": peer["first_call_s"],
        }
    return rows


def print_peers(rows: list[dict], title: str) -> None:
    """Each peer's time over the floor's, and (in brackets) how far graphgrad is ahead."""
    names = list(dict.fromkeys(name for r in rows for name in r["peers"]))
    if not names:
        return
    table = Table("workload", "graphgrad / floor", *(f"{n} / floor" for n in names), title=title)
    notes = {}
    for r in rows:
        cells = []
        for name in names:
            peer = r["peers"][name]
            if "skipped" in peer:
                notes[name] = peer["skipped"]
                cells.append("skipped")
            else:
                cells.append(f"{peer['ratio_to_floor']:.2f}x ({peer['graphgrad_ahead']:.1f}x)")
        table.add_row(r["workload"], f"{r['ratio']:.2f}x", *cells)
    console = Console(width=220)
    console.print(table)
    for name, note in notes.items():
        console.print(f"{name}: {note}", markup=False)


def emit(shown, bench: str, payload: dict) -> None:
    """A table or line for people, then the same figures as one JSON line."""
    Console(width=200).print(shown)
    print(json.dumps({"bench": bench, **payload}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", help="engine, check, dask, startup (default: all)")
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="leave out PyTorch, micrograd, JAX, ...")
    parser.add_argument("--files", type=int, default=1000, help="files in the --jobs batch")
    args = parser.parse_args()
    suites = ["engine", "check", "dask", "startup"]
    args.suites = args.suites or [s for s in suites if s != "dask" or _has_dask()]
    unknown = set(args.suites) - set(suites)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}; choose from {', '.join(suites)}")
    if len(args.suites) > 1:
        for suite in args.suites:
            run_alone(suite)
    elif args.suites == ["engine"]:
        engine_suite(args)
    elif args.suites == ["check"]:
        check_suite(args)
    elif args.suites == ["dask"]:
        dask_suite(args)
    else:
        startup_suite()


def run_alone(suite: str) -> None:
    """One suite in a fresh process: the peers' runtimes (JAX's and PyTorch's threads)
    stay out of the other suites, and `check --jobs` forks from a clean parent."""
    argv = [a for a in sys.argv[1:] if a not in ("engine", "check", "dask", "startup")]
    subprocess.run([sys.executable, "-m", "bench", suite, *argv], check=True)


def _has_dask() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


def dask_suite(args: argparse.Namespace) -> None:
    from .dask_batch import dask_batch

    r = dask_batch(args.files)
    emit(
        f"graphgrad check over {r['files']} small files: "
        f"local --jobs 2 {r['local_files_per_s']:.0f} files/s, "
        f"Dask LocalCluster of 2 workers {r['dask_files_per_s']:.0f} files/s "
        f"({r['dask_over_local']:.2f}x of local); {r['large_graph']}: local {r['large_local_s']:.2f} s, "
        f"Dask {r['large_dask_s']:.2f} s",
        "check_dask",
        r,
    )


def startup_suite() -> None:
    from .startup import startup

    rows = startup()
    table = Table("command", "seconds", "ratio to importing NumPy", "ratio to importing the libraries")
    for r in rows:
        table.add_row(
            r["command"],
            f"{r['seconds']:.3f}",
            f"{r['ratio_to_numpy_import']:.2f}x",
            f"{r['ratio_to_libraries_import']:.2f}x",
        )
    emit(table, "startup", {"results": rows})


def check_suite(args: argparse.Namespace) -> None:
    from .check_cost import batch_jobs, check_cost

    rows = check_cost()
    table = Table("parameters", "checker", "evaluations", "seconds", "passes' time", "", "per input")
    for r in rows:
        table.add_row(
            f"{r['params']:,}",
            r["checker"],
            f"{r['evals']:,}",
            f"{r['seconds']:.3g}",
            f"{r['passes']:,.1f}",
            "estimated: evaluations x measured seconds per evaluation" if r["estimated"] else r["status"],
            r.get("how", ""),
        )
    emit(table, "check_cost", {"results": rows})
    batch = batch_jobs(args.files)
    emit(
        f"graphgrad check over {batch['files']} small files: --jobs 1 {batch['jobs1_s']:.2f} s, "
        f"--jobs 2 {batch['jobs2_s']:.2f} s, speed-up {batch['speedup']:.2f}x",
        "check_jobs",
        batch,
    )


def bench_flat(text: str, label: str, repeats: int) -> dict:
    """The engine against its own flat gradient code (graphgrad export --to python)."""
    graph = graphgrad.load(text)
    module = types.ModuleType("flat")
    exec(compile(graph.export("python"), "<flat>", "exec"), module.__dict__)
    values = module.inputs()
    value, _ = module.forward_backward(**values)
    assert np.allclose(value, graph.run().value)
    flat_s, run_s = rotated_medians([lambda: module.forward_backward(**values), graph.run], repeats)
    return {
        "workload": f"{label}: engine vs its flat code",
        "graphgrad_s": run_s,
        "flat_code_s": flat_s,
        "engine_over_flat": run_s / flat_s,
    }


def engine_suite(args: argparse.Namespace) -> None:
    rows = [bench_scalar(n, args.repeats) for n in (1_000, 10_000, args.nodes)]
    rows += [
        bench_net(b, args.repeats, loss, x_grad)
        for x_grad in (False, True)
        for loss in ("svm", "softmax")
        for b in (1, 64, 1024)
    ]
    flat = [
        bench_flat(scalar_dag_text(10_000), "scalar DAG, 13333 nodes", args.repeats),
        bench_flat(two_layer(64, 3072, 100, 10), "two-layer net, batch 64", args.repeats),
    ]
    table = Table("workload", "engine", "flat code", "engine / flat")
    for r in flat:
        table.add_row(
            r["workload"],
            f"{r['graphgrad_s'] * 1e3:.2f} ms",
            f"{r['flat_code_s'] * 1e3:.2f} ms",
            f"{r['engine_over_flat']:.2f}x",
        )
    emit(table, "flat_code", {"results": flat})
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
    emit(table, "engine", {"results": rows})
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
    emit(table, "loading", {"results": loading})
    faults = bench_faults()
    table = Table("faulty file", "refused in", "issues", "budget", "met")
    for r in faults:
        table.add_row(
            r["workload"], f"{r['seconds']:.2f} s", str(r["issues"]), f"{r['budget_s']:g} s", str(r["met"])
        )
    emit(table, "faults", {"results": faults})
    memory = memory_per_node(args.nodes)
    emit(
        f"peak memory of loading and running {memory['nodes']} scalar nodes: "
        f"{memory['kib'] / 1024:.0f} MiB, {memory['kib_per_node']:.2f} KiB per node",
        "memory",
        memory,
    )
    if args.no_peers:
        return
    rows = [r for r in rows if r.get("x_grad", True)]  # the peers compute X's gradient too
    for row in rows:
        row["peers"] = bench_peers(row, args.repeats)
    print_peers([r for r in rows if r["kind"] == "scalar"], "peers on the scalar DAG (graphgrad ahead by)")
    print_peers([r for r in rows if r["kind"] == "net"], "peers on the two-layer net (graphgrad ahead by)")
    results = [{k: r[k] for k in ("workload", "ratio", "peers")} for r in rows]
    print(json.dumps({"bench": "peers", "results": results}))


if __name__ == "__main__":
    main()
