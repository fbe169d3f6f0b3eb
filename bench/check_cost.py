"""What checking costs: evaluations and seconds per checker, for the two-layer net with
10^3, 10^5 and 10^6 parameters; and a batch of 1,000 small files with 1 and 2 jobs."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import graphgrad
from graphgrad.checking.batch import BatchOptions, check_files
from graphgrad.checking.objective import GraphObjective
from graphgrad.checking.verify import check_graph

from .nets import two_layer
from .timing import median_time, rotation

SIZES = {1_000: (20, 40, 5), 100_000: (200, 480, 10), 1_000_000: (1000, 990, 10)}
CHECKERS = ["auto", "directional", "sparse", "central", "forward", "richardson", "complex_step"]
ELEMENTWISE = {"central": 2, "forward": 1, "richardson": 8, "complex_step": 1}


def per_eval_seconds(graph: graphgrad.Graph, name: str, repeats: int = 20) -> float:
    import graphgrad.engine.backprop as engine

    values = engine.run(graph.plan).values
    slot = graph.plan.slot[name]
    f = GraphObjective(graph.plan, values, slot)
    x = values[slot]
    start = time.perf_counter()
    for _ in range(repeats):
        f(x)
    return (time.perf_counter() - start) / repeats


def check_cost() -> list[dict]:
    """Rows per size and checker; at 10^6 also ``auto`` on each input alone, and every
    row's seconds as a number of forward + backward passes of the same graph."""
    rows = []
    for params, (D, H, C) in SIZES.items():
        text = two_layer(16, D, H, C, x_grad=False, std=0.05)
        graph = graphgrad.load(text)
        pass_s = median_time(graph.run, 7)
        n = D * H + H * C
        eval_s = per_eval_seconds(graph, "W1")
        runs = [(checker, graph, checker) for checker in CHECKERS]
        if params == 1_000_000:
            for name in ("W1", "W2"):
                alone = graphgrad.load(two_layer(16, D, H, C, x_grad=False, std=0.05, wrt=[name]))
                runs.insert(1, (f"auto, {name} alone", alone, "auto"))
        for label, target, checker in runs:
            row = {"params": n, "checker": label, "pass_s": pass_s}
            if checker in ELEMENTWISE and n > 1_000:
                row["evals"] = ELEMENTWISE[checker] * n
                row["seconds"] = row["evals"] * eval_s
                row["estimated"] = True
            else:
                report = check_graph(target, checker=checker)
                row["evals"] = sum(c.evals for c in report.checks)
                row["estimated"] = False
                row["status"] = report.status
                row["how"] = ", ".join(f"{c.input}: {c.checker} {c.evals:,}" for c in report.checks)
                # the check and a pass alternated, so that a slow spell of the shared
                # machine falls on both sides of the ratio
                timing = rotation([lambda t=target, c=checker: check_graph(t, checker=c), graph.run], 3)
                row["seconds"] = timing.medians[0]
                row["passes_measured"] = timing.ratio(0, 1)
            row["passes"] = row.get("passes_measured", row["seconds"] / pass_s)
            rows.append(row)
    return rows


def write_small_files(folder: Path, count: int) -> list[str]:
    sources = sorted((Path(__file__).parents[1] / "graphs").glob("*.yaml"))
    small = [p for p in sources if "two_layer" not in p.name]
    paths = []
    for i in range(count):
        src = small[i % len(small)]
        dst = folder / f"{i:04d}_{src.name}"
        shutil.copyfile(src, dst)
        paths.append(str(dst))
    return paths


def batch_jobs(count: int = 1000, rounds: int = 3) -> dict:
    """``check_files`` over ``count`` small files with 1 and 2 jobs, alternated for
    ``rounds`` rounds; the speed-up is the median of the rounds' own ratios."""
    folder = Path(tempfile.mkdtemp(prefix="graphgrad-bench-"))
    try:
        paths = write_small_files(folder, count)
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(rounds):
            for jobs in (1, 2):
                start = time.perf_counter()
                reports = check_files(paths, BatchOptions(), jobs=jobs)
                times[jobs].append(time.perf_counter() - start)
                assert all(r.status == "passed" for r in reports)
        return {
            "files": count,
            "jobs1_s": statistics.median(times[1]),
            "jobs2_s": statistics.median(times[2]),
            "speedup": statistics.median(a / b for a, b in zip(times[1], times[2], strict=True)),
            "rounds": rounds,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    for r in check_cost():
        print(r)
    print(batch_jobs())
