"""The Dask executor against the local one: files per second on the same batch, local
``--jobs 2`` against a LocalCluster of 2 workers (cluster start-up left out, as a
cluster is usually already running), alternated for a few rounds; and one large graph
checked on each."""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from graphgrad.checking.batch import BatchOptions, check_files

from .check_cost import write_small_files
from .nets import two_layer


def dask_batch(count: int = 1000, rounds: int = 5) -> dict:
    """Files per second, local --jobs 2 and a 2-worker LocalCluster, and their ratio."""
    from distributed import Client, LocalCluster

    import graphgrad.checking.dask_executor as dask_executor

    folder = Path(tempfile.mkdtemp(prefix="graphgrad-bench-dask-"))
    try:
        paths = write_small_files(folder, count)
        large = folder / "large.yaml"
        large.write_text(two_layer(64, 3072, 100, 10))
        times: dict[str, list[float]] = {"local": [], "dask": []}
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR
            ) as c,
            Client(c) as client,
        ):
            address = client.scheduler.address
            dask_executor.check_files_dask(paths[:50], BatchOptions(), scheduler=address)  # warm the workers
            for _ in range(rounds):
                start = time.perf_counter()
                reports = check_files(paths, BatchOptions(), jobs=2)
                times["local"].append(time.perf_counter() - start)
                assert all(r.status == "passed" for r in reports)
                start = time.perf_counter()
                reports = dask_executor.check_files_dask(paths, BatchOptions(), scheduler=address)
                times["dask"].append(time.perf_counter() - start)
                assert all(r.status == "passed" for r in reports)
            start = time.perf_counter()
            (big_local,) = check_files([str(large)], BatchOptions(), jobs=1)
            large_local_s = time.perf_counter() - start
            start = time.perf_counter()
            (big_dask,) = dask_executor.check_files_dask([str(large)], BatchOptions(), scheduler=address)
            large_dask_s = time.perf_counter() - start
            assert big_local.status == big_dask.status
        local_s, dask_s = statistics.median(times["local"]), statistics.median(times["dask"])
        return {
            "files": count,
            "local_jobs2_s": local_s,
            "dask_2_workers_s": dask_s,
            "local_files_per_s": count / local_s,
            "dask_files_per_s": count / dask_s,
            "dask_over_local": statistics.median(
                a / b for a, b in zip(times["local"], times["dask"], strict=True)
            ),
            "rounds": rounds,
            "large_graph": "two-layer net D=3072 H=100 C=10, batch 64",
            "large_local_s": large_local_s,
            "large_dask_s": large_dask_s,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
