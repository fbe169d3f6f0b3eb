"""Found by an attacker's pass over the start-up changes and the attribute and merge-key
checks (session 4): an alias key crashed the merge-key check, pydantic's strict mode
refused the Python builder's tuples and NumPy scalars and a plugin's tuple and enum
attributes, a broken named checker made `serve` answer 500, and an in-process `main()`
froze its caller's heap. Each is fixed; the tests keep it so."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import textwrap
import threading

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

import graphgrad
from graphgrad.cli import main
from graphgrad.errors import GraphFileError
from tests.conftest import ROOT

# --- high: a traceback for a user's mistake ------------------------------------------

ALIASED_KEY = """\
graphgrad: 1
doc: &m "<<"
inputs: {x: 1.0}
nodes:
  f: {op: exp, in: [x]}
output: f
expect: {*m : 1}
"""


def test_an_alias_used_as_a_key_is_a_located_error_not_a_traceback(tmp_path):
    """_refuse_merge reads `event.implicit` of an AliasEvent (a key given by `*anchor`):
    AttributeError, exit 1 with a traceback; at 631088b a located "unknown key '<<'"."""
    path = tmp_path / "aliased.yaml"
    path.write_text(ALIASED_KEY)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert f"{path}:7:" in result.output


def test_an_alias_key_in_a_node_is_a_located_error_from_load(tmp_path):
    """The same crash through the API and inside a node (graphgrad.load raises
    AttributeError instead of GraphFileError)."""
    path = tmp_path / "aliased_node.yaml"
    path.write_text(
        'graphgrad: 1\nname: &m "<<"\ninputs: {x: 1.0}\nnodes:\n  f: {op: exp, in: [x], *m : 1}\noutput: f\n'
    )
    with pytest.raises(GraphFileError) as info:
        graphgrad.load(path)
    assert any(issue.line == 5 for issue in info.value.issues)


# --- high: the Python builder refuses what NumPy users write -------------------------


@pytest.mark.parametrize(
    ("op", "attrs", "shape"),
    [
        ("sum", {"axis": (0, 1)}, ()),
        ("sum", {"axis": np.int64(1)}, (2,)),
        ("sum", {"keepdims": np.True_}, (1, 1)),
        ("reshape", {"shape": (3, 2)}, (3, 2)),
        ("transpose", {"axes": (1, 0)}, (3, 2)),
    ],
)
def test_the_python_builder_still_takes_tuples_and_numpy_scalars(op, attrs, shape):
    """strict=True on Gate refuses a tuple for a list of axes/shape and NumPy ints and
    bools (np.sum(x, axis=(0, 1)) style); decisions.md says the builder is unchanged, and
    631088b ran all five."""
    g = graphgrad.Graph()
    g.input("x", np.ones((2, 3)))
    g.node(op, "x", name="o", **attrs)
    g.output = "o"
    assert np.shape(g.run().value) == shape


# --- medium: plugin attributes that no YAML file can now give ------------------------

TYPED_PLUGIN = '''
import enum

import numpy as np
import graphgrad


class Mode(str, enum.Enum):
    SUM = "sum"
    MEAN = "mean"


class Tile(graphgrad.Gate):
    """np.tile(a, reps)"""

    op = "tile_a2"
    reps: tuple[int, int] = (1, 1)

    def forward(self, a):
        return np.tile(a, self.reps)

    def backward(self, grad, out, a):
        r0, r1 = self.reps
        return (grad.reshape(r0, a.shape[0], r1, a.shape[1]).sum(axis=(0, 2)),)


class Reduce(graphgrad.Gate):
    """sum or mean of all elements"""

    op = "reduce_a2"
    mode: Mode = Mode.SUM

    def forward(self, a):
        return a.sum() if self.mode is Mode.SUM else a.mean()

    def backward(self, grad, out, a):
        return (np.full(a.shape, grad * (1.0 if self.mode is Mode.SUM else 1.0 / a.size)),)


@graphgrad.hookimpl
def graphgrad_gates():
    return [Tile, Reduce]
'''


@pytest.mark.parametrize(
    ("node", "value"),
    [("{op: tile_a2, in: [x], reps: [2, 1]}", 20.0), ("{op: reduce_a2, in: [x], mode: mean}", 2.5)],
    ids=["tuple-attribute", "enum-attribute"],
)
def test_a_plugins_tuple_or_enum_attribute_can_be_written_in_a_file(tmp_path, node, value):
    """Strict mode wants a real tuple / Enum instance, which YAML and JSON cannot write:
    "input should be a valid tuple, got list", "should be an instance of mode, got
    'mean'"; such a plugin gate is unusable from any file (631088b ran both)."""
    plugin = tmp_path / "typed_a2.py"
    plugin.write_text(TYPED_PLUGIN)
    path = tmp_path / "typed.yaml"
    path.write_text(
        f"graphgrad: 1\ninputs: {{x: [[1.0, 2.0], [3.0, 4.0]]}}\nnodes:\n  t: {node}\n"
        "  s: {op: sum, in: [t]}\noutput: s\n"
    )
    assert float(graphgrad.load(path, plugins=[plugin]).run().value) == value


# --- medium: a broken Deferred checker is a 500 in `graphgrad serve` ------------------

BROKEN_CHECKER = """
import graphgrad
from graphgrad.plugins.registry import Deferred


@graphgrad.hookimpl
def graphgrad_checkers():
    return [Deferred("broken_a2", "no_such_module_a2", "Broken")]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_reports_a_broken_deferred_checker_not_a_500(tmp_path):
    """A Deferred gate that cannot load stops `serve` at start (exit 2, naming it); a
    Deferred checker does not: the service starts and GET /v1/checkers is a bare 500
    with a traceback in the log. It should be refused at start too, or be a problem
    naming the plugin (docs/plugins.md: "an error naming the plugin, the name and the
    cause")."""
    plugin = tmp_path / "broken_checker_a2.py"
    plugin.write_text(textwrap.dedent(BROKEN_CHECKER))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphgrad", "serve", "--port", str(port), "--workers", "1",
         "--spares", "0", "--plugins", str(plugin)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        while (line := lines.get(timeout=60)) is not None:
            seen.append(line)
            if base in line:
                break
        else:  # it refused to start: that must be exit 2 naming the plugin
            assert proc.wait(timeout=10) == 2
            assert "broken_a2" in "".join(seen)
            return
        response = httpx.get(f"{base}/v1/checkers", timeout=30)
        assert response.status_code != 500, response.text
        assert "broken_a2" in response.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- low: an in-process main() freezes its caller's garbage for good -----------------

IN_PROCESS = """
import gc, sys, weakref
from graphgrad.cli import main


class Node:
    pass


def garbage():
    a = Node()
    a.me = a
    return weakref.ref(a)


gc.collect()
refs = [garbage() for _ in range(3)]
sys.argv = ["graphgrad", "run", "graphs/simple.yaml", "-q"]
try:
    main()
except SystemExit:
    pass
gc.collect()
print(sum(r() is not None for r in refs))
"""


def test_main_called_in_process_does_not_freeze_the_callers_garbage():
    """main() with no args (an in-process runner: pytest-console-scripts, runpy, a REPL)
    counts as the process's own command line, so gc.freeze() moves the caller's whole
    heap, unreachable cycles included, out of the collector's reach for good: three
    cycles made before the call survive gc.collect() (0 at 631088b)."""
    out = subprocess.run(
        [sys.executable, "-c", IN_PROCESS], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
