"""Every hook graphgrad calls is exercised through a third-party plugin, a file outside
the package as a user would write it (as datasette tests its hooks): one test named
``test_hook_<hook>`` per hookspec, and a test that none is missing."""

from __future__ import annotations

import json
import sys

import numpy as np

import graphgrad
import graphgrad.plugins.hookspecs as hookspecs
from tests.conftest import GRAPHS, graphgrad_cli

HOOKS = sorted(name for name, f in vars(hookspecs).items() if hasattr(f, f"{hookspecs.PROJECT}_spec"))


def test_every_hook_has_a_test_through_a_plugin():
    tested = sorted(name.removeprefix("test_hook_") for name in globals() if name.startswith("test_hook_"))
    assert HOOKS, "no hookspec found"
    assert tested == HOOKS, f"hooks without a test_hook_<name> here: {sorted(set(HOOKS) - set(tested))}"


GATES = '''
import numpy as np
import graphgrad


class Cube(graphgrad.Gate):
    """a^3, with its code: flat export and fast path like a built-in."""

    op = "cube_example"
    scale: float = 1.0

    def shape(self, a):
        return a

    def forward(self, a):
        return self.scale * a ** 3

    def backward(self, grad, out, a):
        return (grad * 3 * self.scale * a ** 2,)

    def forward_code(self, code, a):
        return f"{code.number(self.scale)} * {a} * {a} * {a}"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * 3 * {code.number(self.scale)} * {a} * {a}",)


@graphgrad.hookimpl
def graphgrad_gates():
    return [Cube]
'''

CUBE_GRAPH = "graphgrad: 1\ninputs: {x: 1.5}\nnodes:\n  c: {op: cube_example, in: [x], scale: 2}\noutput: c\n"


def test_hook_graphgrad_gates(tmp_path):
    plugin = tmp_path / "cube_gates.py"
    plugin.write_text(GATES)
    graph = graphgrad.load(CUBE_GRAPH, plugins=[plugin])
    assert graph.registry["cube_example"].plugin.endswith("cube_gates.py")
    result = graph.run()
    assert float(result.value) == 2 * 1.5**3 and float(result.grads["x"]) == 6 * 1.5**2
    assert graph.scalar_program is not None  # the fast path, as a built-in gate gets
    namespace: dict = {}
    exec(compile(graph.export("python"), "<flat>", "exec"), namespace)
    value, grads = namespace["forward_backward"](**namespace["inputs"]())
    assert float(value) == 2 * 1.5**3 and float(grads["x"]) == 6 * 1.5**2
    listed = graphgrad_cli("gates", "--plugins", plugin)
    assert listed.returncode == 0 and "cube_example" in listed.stdout


CHECKERS = '''
import numpy as np
from pydantic import Field

import graphgrad

CALLS = []


class Symmetric(graphgrad.Checker):
    """Central differences element by element with ``scale`` times the usual step."""

    name = "symmetric_example"
    scale: float = Field(default=1.0, gt=0)

    def check(self, f, x, analytic, *, input):
        CALLS.append(input)
        h = self.step(x.dtype) * self.scale
        work = np.array(x, dtype=np.float64, copy=True)
        numeric = np.empty(x.size)
        for k, i in enumerate(np.ndindex(x.shape)):
            keep = work[i]
            work[i] = keep + h
            up = f(work)
            work[i] = keep - h
            down = f(work)
            work[i] = keep
            numeric[k] = (up - down) / (2 * h)
        return self.verdict(input, analytic, numeric, 2 * x.size, x.dtype)


@graphgrad.hookimpl
def graphgrad_checkers():
    return [Symmetric]
'''

WRONG = '''
import graphgrad


class BadSquare(graphgrad.Gate):
    """a^2 with a backward off by a factor of two."""

    op = "bad_square_example"

    def shape(self, a):
        return a

    def forward(self, a):
        return a * a

    def backward(self, grad, out, a):
        return (grad * a,)


@graphgrad.hookimpl
def graphgrad_gates():
    return [BadSquare]
'''


def test_hook_graphgrad_checkers(tmp_path):
    plugin = tmp_path / "symmetric_checker.py"
    plugin.write_text(CHECKERS)
    wrong = tmp_path / "wrong_gates.py"
    wrong.write_text(WRONG)
    run = graphgrad_cli(
        "check", GRAPHS / "simple.yaml", "--checker", "symmetric_example", "--json", "--plugins", plugin
    )
    doc = json.loads(run.stdout)
    assert run.returncode == 0, run.stderr
    assert {c["checker"] for c in doc["files"][0]["checks"]} == {"symmetric_example"}
    assert doc["files"][0]["status"] == "passed"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "graphgrad: 1\ninputs: {x: [0.5, -1.5]}\nnodes:\n  s: {op: bad_square_example, in: [x]}\n"
        "  f: {op: sum, in: [s]}\noutput: f\ncheck: {checker: symmetric_example, scale: 10}\n"
    )
    run = graphgrad_cli("check", bad, "--json", "--plugins", plugin, "--plugins", wrong)
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["files"][0]["status"] == "failed"
    assert {c["checker"] for c in doc["files"][0]["checks"]} == {"symmetric_example"}
    bad.write_text(bad.read_text().replace("scale: 10", "scale: -1"))
    run = graphgrad_cli("check", bad, "--plugins", plugin, "--plugins", wrong)
    assert run.returncode == 2 and "scale" in run.stderr + run.stdout  # options validated at load


EXPORTERS = '''
import graphgrad


class Edges(graphgrad.Exporter):
    """One edge a line, with an option."""

    name = "edges_example"
    separator: str = " "

    def export(self, graph):
        return "".join(f"{a}{self.separator}{b}\\n" for a, b in graph.dag.edges)


@graphgrad.hookimpl
def graphgrad_exporters():
    return [Edges]
'''


def test_hook_graphgrad_exporters(tmp_path):
    plugin = tmp_path / "edges_export.py"
    plugin.write_text(EXPORTERS)
    run = graphgrad_cli("export", GRAPHS / "simple.yaml", "--to", "edges_example", "--plugins", plugin)
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.splitlines()) == ["q f", "x q", "y q", "z f"]
    graph = graphgrad.load(GRAPHS / "simple.yaml", plugins=[plugin])
    assert graph.export("edges_example", separator=" -> ").splitlines()[0].count(" -> ") == 1


def test_the_plugin_files_are_not_part_of_graphgrad(tmp_path):
    """The hooks above run code from tmp_path, not from the package: a third party's."""
    plugin = tmp_path / "cube_gates.py"
    plugin.write_text(GATES)
    graph = graphgrad.load(CUBE_GRAPH, plugins=[plugin])
    module = sys.modules[graph.registry["cube_example"].cls.__module__]
    assert module.__file__ is not None and str(tmp_path) in module.__file__
    assert np.isfinite(float(graph.run().value))
