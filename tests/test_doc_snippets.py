"""Every ```sh and ```python block of README.md and docs/*.md runs as written, after the
README's set-up, in a copy of the repository's graphs and plugins.

Conventions the docs follow (and this test relies on):
- ```sh and ```python blocks are run; ```text, ```yaml, ```json and bare ``` blocks are
  shown only (a server that runs until Ctrl-C, minutes of benchmarks, a Dask cluster,
  the test suite itself, output). Each such doc says so next to the block.
- a line `pip install ...` is the README's set-up, done already where this test runs:
  it is not run again, but the extras it names must exist in pyproject.toml. Whatever
  follows its `&&` runs.
- a python block is run as its own script; one that follows a line "Save this as
  `NAME`" is also written to NAME for the blocks after it.
- a block that starts a server in the background waits for it and stops it itself
  (`&`, a wait on /healthz, `kill $!`); port 8000 is swapped for a free port, the one
  change made to a block, so that parallel runs do not meet.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)
SAVE_AS = re.compile(r"Save this as `([^`]+)`[^\n]*\n(?:[^\n]+\n)*\n$")
PIP = re.compile(r"^pip install (.*?)(?:&&\s*(.*))?$")


def blocks() -> list[tuple[str, int, str, str, str | None]]:
    """(doc, index, language, code, file to save it as) for every runnable block."""
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for i, m in enumerate(BLOCK.finditer(text)):
            before = text[max(0, m.start() - 600) : m.start()]
            save = SAVE_AS.search(before)
            out.append((doc.relative_to(ROOT).as_posix(), i, m.group(1), m.group(2), save and save.group(1)))
    return out


BLOCKS = blocks()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of what the snippets read (graphs/, plugins/, the pins), with the blocks
    that say "Save this as" written out, as a reader following the docs would have."""
    work = tmp_path_factory.mktemp("snippets")
    shutil.copytree(ROOT / "graphs", work / "graphs")
    shutil.copytree(
        ROOT / "plugins", work / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("constraints.txt", "pyproject.toml", "graphgrad.schema.json"):
        shutil.copy(ROOT / name, work / name)
    for _, _, _, code, save in BLOCKS:
        if save:
            (work / save).write_text(code)
    return work


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    paths = [str(ROOT), str(ROOT / "plugins" / "graphgrad-swish"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("GRAPHGRAD_PLUGINS", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _extras() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project.get("optional-dependencies", {}))


def shell_script(code: str) -> str:
    """The block with its set-up lines checked and left out."""
    lines = []
    for line in code.splitlines():
        m = PIP.match(line.strip())
        if not m:
            lines.append(line)
            continue
        for extra in re.findall(r"\.\[([\w,-]+)\]", m.group(1)):
            assert set(extra.split(",")) <= _extras(), f"no extra '{extra}' in pyproject.toml: {line}"
        if m.group(2):
            lines.append(m.group(2))
    return "\n".join(lines) + "\n"


def _run(args: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        args, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
    finally:  # a server the block left behind (it failed before its kill) goes too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, f"{what} exited {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.mark.parametrize(
    ("doc", "index", "language", "code", "save"), BLOCKS, ids=[f"{b[0]}#{b[1]}-{b[2]}" for b in BLOCKS]
)
def test_the_block_runs_as_written(doc, index, language, code, save, workdir):
    what = f"{doc}, {language} block {index}"
    if language == "python":
        script = workdir / f"_snippet_{Path(doc).stem}_{index}.py"
        script.write_text(code)
        _run([sys.executable, str(script)], workdir, what)
    else:
        script = shell_script(code).replace("8000", str(_free_port()))
        _run(["bash", "-euo", "pipefail", "-c", script], workdir, what)


def test_there_are_blocks_to_run_and_the_set_up_is_found():
    assert len(BLOCKS) >= 15
    setup = [b for b in BLOCKS if b[0] == "README.md" and "pip install -c constraints.txt -e ." in b[3]]
    assert setup and "graphgrad check graphs/" in shell_script(setup[0][3])


def test_a_block_marked_save_as_is_written_for_the_others():
    saved = {b[4] for b in BLOCKS if b[4]}
    assert "my_gates.py" in saved
