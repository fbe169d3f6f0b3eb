"""No torn file (issue 11): ``run --save``, ``export -o`` and ``check --junit`` write a
temporary file beside the target and rename it; a failed write is one line, exit 2, and
the old file is left as it was."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys

import pytest

import graphgrad
import graphgrad.format.writing
from graphgrad.errors import GraphgradError
from graphgrad.format.writing import write_atomic
from graphgrad.results import load_results
from tests.conftest import GRAPHS, ROOT, graphgrad_cli

SIMPLE = GRAPHS / "simple.yaml"
OLD = "the good file that was here\n" * 40

COMMANDS = {
    "run --save": ("run", SIMPLE, "--save", "{out}.json"),
    "export -o": ("export", SIMPLE, "--to", "python", "-o", "{out}.py"),
    "check --junit": ("check", SIMPLE, "--junit", "{out}.xml"),
}


def _args(command: str, out) -> list[str]:
    return [str(a).replace("{out}", str(out)) for a in COMMANDS[command]]


def _target(command: str, out) -> str:
    return _args(command, out)[-1]


def _error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text(OLD)

    def half_then_full_disk(f, payload):
        f.write(payload[: len(payload) // 2])
        f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(graphgrad.format.writing, "_write", half_then_full_disk)
    with pytest.raises(GraphgradError) as err:
        write_atomic(target, "x" * 5_000_000, what="--save")
    assert str(err.value) == (
        f"--save {target}: cannot write: No space left on device; the old file is unchanged"
    )
    assert target.read_text() == OLD
    assert os.listdir(tmp_path) == ["results.json"]


def test_the_new_file_replaces_the_old_keeping_its_mode(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text(OLD)
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.txt"
    write_atomic(fresh, b"bytes")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_atomic(link, "through the link")
    assert link.is_symlink() and target.read_text() == "through the link"
    assert sorted(os.listdir(tmp_path)) == ["fresh.txt", "link.txt", "out.txt"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_folder_is_one_line_and_exit_2(command, tmp_path):
    out = tmp_path / "no" / "such" / "folder" / "out"
    done = graphgrad_cli(*_args(command, out))
    assert done.returncode == 2
    line = _error_line(done.stderr)
    assert line == (
        f"error: {COMMANDS[command][-2]} {_target(command, out)}: cannot write: "
        "No such file or directory; nothing was written"
    )


def _limit_file_size():
    """In the child: files may not grow past 100 bytes, and writing past that is an error
    (EFBIG) rather than the signal that would kill the process: a disk that fills up."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_disk_that_fills_up_mid_write_keeps_the_old_file(command, tmp_path):
    out = tmp_path / "out"
    target = tmp_path / os.path.basename(_target(command, out))
    target.write_text(OLD)
    done = subprocess.run(
        [sys.executable, "-m", "graphgrad", *_args(command, out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        preexec_fn=_limit_file_size,
    )
    assert done.returncode == 2, done.stderr
    assert _error_line(done.stderr).endswith("cannot write: File too large; the old file is unchanged")
    assert target.read_text() == OLD
    assert os.listdir(tmp_path) == [target.name]
    again = graphgrad_cli(*_args(command, out))  # without the limit the write goes through
    assert again.returncode == 0, again.stderr
    assert target.read_text() != OLD and os.listdir(tmp_path) == [target.name]
    if command == "run --save":
        assert float(load_results(target).grads["x"]) == -4.0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_folder_is_one_line_and_exit_2(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "out.py").write_text(OLD)
    folder.chmod(0o555)
    try:
        done = graphgrad_cli("export", SIMPLE, "--to", "python", "-o", folder / "out.py")
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2 and "Permission denied" in _error_line(done.stderr)
    assert (folder / "out.py").read_text() == OLD


def test_check_reports_before_a_junit_file_it_cannot_write(tmp_path):
    done = graphgrad_cli("check", SIMPLE, "--junit", tmp_path / "missing" / "j.xml")
    assert done.returncode == 2 and "1 passed, 0 failed, 0 errors" in done.stdout


def test_graph_save_is_atomic_too(tmp_path):
    g = graphgrad.load(SIMPLE)
    with pytest.raises(GraphgradError, match="cannot write: No such file or directory"):
        g.save(tmp_path / "missing" / "g.yaml")
    g.save(tmp_path / "g.json")
    assert graphgrad.load(tmp_path / "g.json").export("yaml") == g.export("yaml")


def test_permission_denied_is_one_line_wherever_the_tests_run(tmp_path, monkeypatch):
    """The read-only folder above, for a run as root (which may write anywhere)."""
    target = tmp_path / "out.py"
    target.write_text(OLD)

    def refuse(target):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(graphgrad.format.writing, "_create_beside", refuse)
    with pytest.raises(GraphgradError) as err:
        write_atomic(target, "new", what="-o")
    assert str(err.value) == f"-o {target}: cannot write: Permission denied; the old file is unchanged"
    assert target.read_text() == OLD
