"""A bounded load test of a running graphgrad service, on loopback only.

Sends ``total`` requests, ``concurrency`` at a time, mixing valid runs and checks,
invalid graphs and oversized bodies, while a second task polls /healthz every 50 ms.
Reports requests per second, p50 and p99 latency, the status codes seen and the
slowest /healthz answer. Stops by itself; never targets anything but the given URL.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import httpx

SIMPLE = (Path(__file__).parents[1] / "graphs" / "simple.yaml").read_bytes()
INVALID = b"graphgrad: 1\ninputs: {x: 1}\nnodes:\n  f: {op: mull, in: [x, x]}\noutput: f\n"


def bodies(oversize: int) -> list[tuple[str, bytes]]:
    return [
        ("/v1/run", SIMPLE),
        ("/v1/check", SIMPLE),
        ("/v1/run", INVALID),
        ("/v1/validate", SIMPLE),
        ("/v1/run", b"#" * oversize),
    ]


def _poll_health(base: str, stop, out) -> None:
    """/healthz every 50 ms from its own process, so that neither the load generator's
    event loop nor its GIL delays the probe: the figure is the server's."""
    health = []
    with httpx.Client(base_url=base, timeout=5) as probe:
        while not stop.is_set():
            start = time.perf_counter()
            r = probe.get("/healthz")
            health.append(time.perf_counter() - start if r.status_code == 200 else float("inf"))
            stop.wait(0.05)
    out.send(health)


async def run_load(base: str, *, total: int = 2000, concurrency: int = 16, oversize: int = 70_000) -> dict:
    mix = bodies(oversize)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    done = mp.get_context("spawn").Event()
    counter = iter(range(total))

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one_worker() -> None:
            for i in counter:
                path, body = mix[i % len(mix)]
                start = time.perf_counter()
                r = await client.post(path, content=body, headers={"content-type": "application/yaml"})
                latencies.append(time.perf_counter() - start)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        context = mp.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        poller = context.Process(target=_poll_health, args=(base, done, send), daemon=True)
        poller.start()
        await asyncio.to_thread(httpx.get, f"{base}/healthz")
        start = time.perf_counter()
        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        done.set()
        health = receive.recv() if receive.poll(30) else [float("inf")]
        poller.join(timeout=10)
    ordered = sorted(latencies)
    return {
        "requests": total,
        "concurrency": concurrency,
        "seconds": elapsed,
        "requests_per_second": total / elapsed,
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1e3,
        "statuses": dict(sorted(statuses.items())),
        "healthz_max_ms": max(health) * 1e3,
        "healthz_polls": len(health),
    }


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    print(json.dumps(asyncio.run(run_load(base))))
