"""The service under abuse (issue 11), measured: the figures in docs/service.md.

Starts its own `graphgrad serve` on a free loopback port for each scenario and stops it;
never targets anything else. ``--root DIR`` serves another checkout of graphgrad (an
older commit, to compare); ``--legacy`` leaves out the options that checkout lacks.

    python -m bench.abuse                     # all four scenarios, this checkout
    python -m bench.abuse --only crash --seconds 15

Scenarios (bounded counts and times):
- abandoned: 18 clients give up after 2 s on 30-second computations; how long until a
  normal request is answered again, and how many 503s it met meanwhile;
- crash: 10 requests a second crash their worker for N seconds while one client sends
  normal requests back to back; how many it gets answered;
- slow: N connections trickle their headers (a byte every second); the slowest /healthz
  while they are held, and how many the server keeps open;
- huge: a 103-byte graph whose `run` answer is 159 MB; the answer's size and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from asyncio.subprocess import PIPE
from pathlib import Path

import httpx

HERE = Path(__file__).parents[1]
HOSTILE = HERE / "tests" / "hostile"
SIMPLE = (HERE / "graphs" / "simple.yaml").read_bytes()
YAML = {"content-type": "application/yaml"}
SLOW = b"graphgrad: 1\ninputs: {x: 30.0}\nnodes:\n  f: {op: slow, in: [x]}\noutput: f\n"
CRASH = b"graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n  f: {op: crash, in: [x]}\noutput: f\n"

PROBE = """
import json, sys, time, httpx
worst, held = 0.0, None
with httpx.Client(base_url=sys.argv[1], timeout=10) as client:
    for _ in range(20):
        start = time.perf_counter()
        doc = client.get("/healthz").json()
        worst = max(worst, time.perf_counter() - start)
        held = doc.get("connections", {}).get("open")
        time.sleep(0.1)
print(json.dumps([round(worst * 1e3, 1), held]))
"""
"""/healthz probed from its own process, so that the trickling clients' event loop does
not delay the probe: the figure is the server's."""


class Server:
    """`graphgrad serve` from ``root`` on a free loopback port, ready when /healthz answers."""

    def __init__(self, root: Path, *args: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'plugins' / 'graphgrad-swish'}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "graphgrad", "serve", "--port", str(self.port), *args],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("the server did not start")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def abandoned(base: str, seconds: float) -> dict:
    async def give_up(client):
        try:
            await client.post("/v1/run", content=SLOW, headers=YAML, timeout=2)
        except httpx.TimeoutException:
            pass

    async def scenario():
        async with httpx.AsyncClient(base_url=base) as client:
            await asyncio.gather(*(give_up(client) for _ in range(18)))
            start, refused, late = time.perf_counter(), 0, 0
            while time.perf_counter() - start < seconds:
                try:
                    r = await client.post("/v1/run", content=SIMPLE, headers=YAML, timeout=5)
                except httpx.TimeoutException:
                    late += 1
                    continue
                if r.status_code == 200:
                    return {"answered_after_s": round(time.perf_counter() - start, 3), "503s": refused}
                refused += 1
                await asyncio.sleep(0.1)
            return {"answered_after_s": None, "within_s": seconds, "503s": refused, "timeouts_5s": late}

    return asyncio.run(scenario())


def crash(base: str, seconds: float) -> dict:
    async def scenario():
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            end = time.perf_counter() + seconds
            answered, statuses = 0, {}

            async def crasher():
                pending = []
                while time.perf_counter() < end:
                    pending.append(asyncio.create_task(client.post("/v1/run", content=CRASH, headers=YAML)))
                    await asyncio.sleep(0.1)
                for r in await asyncio.gather(*pending, return_exceptions=True):
                    key = getattr(r, "status_code", type(r).__name__)
                    statuses[key] = statuses.get(key, 0) + 1

            async def normal():
                nonlocal answered
                while time.perf_counter() < end:
                    try:
                        left = end - time.perf_counter()
                        r = await client.post("/v1/run", content=SIMPLE, headers=YAML, timeout=left)
                        answered += r.status_code == 200
                    except httpx.TimeoutException:
                        pass

            await asyncio.gather(crasher(), normal())
            return {"seconds": seconds, "normal_answers": answered, "crash_statuses": statuses}

    return asyncio.run(scenario())


def slow(base: str, count: int) -> dict:
    port = int(base.rsplit(":", 1)[1])

    async def trickle(stop):
        """True if the server closed the connection before the scenario ended."""
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return True
        try:
            for byte in b"POST /v1/run HTTP/1.1\r\nHost: x\r\n":
                if stop.is_set():
                    return False
                writer.write(bytes([byte]))
                try:
                    await asyncio.wait_for(reader.read(1), 1.0)  # a byte a second, unless closed
                    return True
                except TimeoutError:
                    pass
            return False
        except OSError:
            return True
        finally:
            writer.close()

    async def scenario():
        stop = asyncio.Event()
        tasks = [asyncio.create_task(trickle(stop)) for _ in range(count)]
        await asyncio.sleep(3)
        probe = await asyncio.create_subprocess_exec(sys.executable, "-c", PROBE, base, stdout=PIPE)
        worst_ms, held = json.loads((await probe.communicate())[0])
        closed_early = sum(t.done() and t.result() for t in tasks)
        stop.set()
        await asyncio.gather(*tasks)
        return {
            "connections": count,
            "healthz_max_ms": worst_ms,
            "server_open": held,
            "closed_by_server": closed_early,
        }

    return asyncio.run(scenario())


def huge(base: str) -> dict:
    body = (HOSTILE / "huge_response.yaml").read_bytes()
    start = time.perf_counter()
    r = httpx.post(f"{base}/v1/run", content=body, headers=YAML, timeout=120)
    return {
        "request_bytes": len(body),
        "status": r.status_code,
        "response_bytes": len(r.content),
        "seconds": round(time.perf_counter() - start, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--legacy", action="store_true", help="the server lacks this issue's options")
    parser.add_argument("--only", choices=["abandoned", "crash", "slow", "huge"], action="append")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=2000)
    opts = parser.parse_args()
    plugins = ["--plugins", str(HOSTILE / "slow_gate.py"), "--plugins", str(HOSTILE / "crash_gate.py")]
    runs = {
        "abandoned": (["--timeout", "60"], lambda b: abandoned(b, 60)),
        "crash": ([], lambda b: crash(b, opts.seconds)),
        "slow": ([], lambda b: slow(b, opts.connections)),
        "huge": ([] if opts.legacy else ["--max-response-bytes", str(32 << 20)], huge),
    }
    for name in opts.only or runs:
        args, measure = runs[name]
        server = Server(opts.root, *plugins, *args)
        try:
            print(json.dumps({"scenario": name, **measure(server.base)}), flush=True)
        finally:
            server.close()


if __name__ == "__main__":
    main()
