"""`graphgrad check --executor dask` against a real scheduler and real workers on loopback:
the same rows as a local batch, crashes and hangs isolated, a worker killed mid-batch
losing nothing, plugin files carried to the workers, and the usage errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from graphgrad.checking.batch import BatchOptions, check_files
from graphgrad.cli import main
from tests.conftest import ROOT

distributed = pytest.importorskip("distributed")
from graphgrad.checking.dask_executor import check_files_dask  # noqa: E402

FILES = 1000
"""Generated files in the row-by-row comparison (besides a crashing, a hanging and an invalid one)."""

EVIL = """
import ctypes
import graphgrad

class Crash(graphgrad.Gate):
    op = "crash"
    def forward(self, x):
        ctypes.string_at(0)  # a segfault
    def backward(self, grad, out, x):
        return (grad,)

class Hang(graphgrad.Gate):
    op = "hang"
    def forward(self, x):
        while True:  # busy, not sleeping
            pass
    def backward(self, grad, out, x):
        return (grad,)

class BadSwish(graphgrad.Gate):
    op = "badswish"
    def forward(self, x):
        return x * x
    def backward(self, grad, out, x):
        return (grad * x,)

@graphgrad.hookimpl
def graphgrad_gates():
    return [Crash, Hang, BadSwish]
"""

OPS = ("exp", "tanh", "sigmoid", "square", "badswish")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _started(proc: subprocess.Popen, line: str) -> None:
    """Wait for ``line`` in the process's stderr (its log), then keep draining it."""
    for text in proc.stderr:
        if line in text:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return
    raise AssertionError(f"the process exited before printing {line!r}")


def _env(tmp: str) -> dict:
    """Workers see the repository but not the tests' folders: plugin files must travel."""
    return dict(os.environ, PYTHONPATH=str(ROOT), DASK_TEMPORARY_DIRECTORY=tmp)


def _worker(address: str, tmp: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--no-dashboard", *extra],
        cwd=tmp,
        env=_env(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    tmp = str(tmp_path_factory.mktemp("dask"))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dask",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        cwd=tmp,
        env=_env(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs = [scheduler]
    try:
        _started(scheduler, "Scheduler at:")
        procs += [_worker(address, tmp), _worker(address, tmp)]
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, tmp
        with distributed.Client(address, timeout=30) as client:
            client.shutdown()  # scheduler and workers close together, in ~1 s (SIGTERM alone: ~8 s)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _graph(i: int) -> str:
    op = OPS[i % len(OPS)]
    return (
        f"graphgrad: 1\ninputs: {{x: {0.1 + i / FILES:.6f}}}\nnodes:\n  f: {{op: {op}, in: [x]}}\noutput: f\n"
    )


@pytest.fixture
def batch(tmp_path, monkeypatch):
    """FILES generated files plus a crashing, a hanging and an invalid one, named relative
    to the test's folder (the workers run elsewhere), and the plugin as a relative path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.py").write_text(EVIL)
    names = []
    for i in range(FILES):
        name = f"g{i:04d}.yaml"
        (tmp_path / name).write_text(_graph(i))
        names.append(name)
    for i, op in ((17, "crash"), (500, "hang")):
        (tmp_path / f"{op}.yaml").write_text(_graph(0).replace("exp", op))
        names.insert(i, f"{op}.yaml")
    (tmp_path / "invalid.yaml").write_text(
        "graphgrad: 1\ninputs: {x: 1}\nnodes:\n  f: {op: mull, in: [x]}\noutput: f\n"
    )
    names.insert(300, "invalid.yaml")
    return names


def _rows(doc: dict) -> list[dict]:
    return [{k: v for k, v in f.items() if k != "seconds"} for f in doc["files"]]


def test_dask_rows_match_the_local_rows_one_by_one(cluster, batch):
    address, _ = cluster
    common = ["check", *batch, "--plugins", "evil.py", "--timeout", "1", "--json"]
    runner = CliRunner()
    local = runner.invoke(main, [*common, "--jobs", "2"])
    dask = runner.invoke(main, [*common, "--executor", "dask", "--scheduler", address])
    assert dask.exit_code == local.exit_code == 2, dask.output
    ours, theirs = json.loads(dask.stdout), json.loads(local.stdout)
    assert {k: ours[k] for k in ("passed", "failed", "errors")} == {
        k: theirs[k] for k in ("passed", "failed", "errors")
    }
    assert ours["errors"] == 3 and ours["failed"] == FILES // len(OPS)
    assert [f["file"] for f in ours["files"]] == batch
    for mine, local_row in zip(_rows(ours), _rows(theirs), strict=True):
        assert mine == local_row
    by_file = {f["file"]: f for f in ours["files"]}
    assert (
        "died with signal SIGSEGV (retried alone after: the worker process died with signal SIGSEGV)"
        in (by_file["crash.yaml"]["error"][0])
    )
    assert (
        "timed out after 1 s (retried alone after: timed out after 1 s)" in by_file["hang.yaml"]["error"][0]
    )
    assert by_file["invalid.yaml"]["error"] == [
        "invalid.yaml:4:11: node 'f': unknown op 'mull' (did you mean 'mul'?)"
    ]
    assert by_file["g0004.yaml"]["status"] == "failed" and "evil.py" in json.dumps(
        by_file["g0004.yaml"]["blame"]
    )
    assert dask.stderr.count("invalid.yaml:4:11") == 1


def test_a_worker_killed_mid_batch_loses_no_file(cluster, tmp_path, monkeypatch):
    address, tmp = cluster
    monkeypatch.chdir(tmp_path)
    paths = []
    for i in range(300):
        (tmp_path / f"k{i:03d}.yaml").write_text(_graph(i * 5))  # exp only: each file passes
        paths.append(f"k{i:03d}.yaml")
    doomed = _worker(address, tmp, "--no-nanny")
    killed: list[int] = []
    try:
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(3, timeout=60)
            doomed_address = next(a for a, pid in client.run(os.getpid).items() if pid == doomed.pid)

            def on_result(_report) -> None:
                if not killed and client.processing(workers=[doomed_address]).get(doomed_address):
                    os.kill(doomed.pid, signal.SIGKILL)
                    killed.append(doomed.pid)

            reports = check_files_dask(paths, BatchOptions(), scheduler=address, on_result=on_result)
    finally:
        doomed.kill()
        doomed.wait()
    assert killed, "the third worker never held a task while results arrived"
    assert [r.file for r in reports] == paths
    assert [r.status for r in reports] == ["passed"] * len(paths)


def test_a_plugin_module_missing_on_the_workers_is_a_located_error_row(cluster, tmp_path, monkeypatch):
    address, _ = cluster
    only_here = tmp_path / "only_here"
    only_here.mkdir()
    (only_here / "gg_only_here.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(only_here))
    path = tmp_path / "g.yaml"
    path.write_text(_graph(0))
    options = BatchOptions(plugins=("gg_only_here",))
    assert check_files([str(path)], options, jobs=1)[0].status == "passed"
    (report,) = check_files_dask([str(path)], options, scheduler=address)
    assert report.status == "error"
    assert report.error[0].startswith(f"{path}: plugin gg_only_here failed to load: ModuleNotFoundError")


def test_an_unreachable_scheduler_is_a_usage_error_naming_it(tmp_path, monkeypatch):
    import graphgrad.checking.dask_executor as executor

    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", 1.0)  # the message, not the 5 s wait, is tested
    path = tmp_path / "g.yaml"
    path.write_text(_graph(0))
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    result = CliRunner().invoke(main, ["check", str(path), "--executor", "dask", "--scheduler", address])
    assert result.exit_code == 2
    assert time.monotonic() - start < 15
    assert "within 1 s" in result.stderr
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr


def test_a_local_cluster_starts_and_stops_with_the_command(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(_graph(0))
    result = CliRunner().invoke(main, ["check", str(path), "--executor", "dask", "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passed"] == 1


def test_dask_without_the_extra_is_a_usage_error_naming_it(tmp_path, monkeypatch):
    path = tmp_path / "g.yaml"
    path.write_text(_graph(0))
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "graphgrad.checking.dask_executor", raising=False)
    result = CliRunner().invoke(main, ["check", str(path), "--executor", "dask"])
    assert result.exit_code == 2
    assert "pip install -e '.[dask]'" in result.stderr


def test_a_scheduler_without_the_dask_executor_is_a_usage_error(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(_graph(0))
    result = CliRunner().invoke(main, ["check", str(path), "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "--executor dask" in result.stderr
