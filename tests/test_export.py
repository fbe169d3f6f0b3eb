"""Exports, pictures, explanations, saved results and the builder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphgrad
from graphgrad.cli import main
from graphgrad.explain.flow import gradient_flow, paths
from tests.conftest import GRAPHS

FILES = sorted(GRAPHS.rglob("*.yaml"))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def same_graph(a: graphgrad.Graph, b: graphgrad.Graph) -> None:
    da, db = a.definition, b.definition
    assert list(da.nodes) == list(db.nodes) and list(da.inputs) == list(db.inputs)
    assert sorted(a.dag.edges(data=True)) == sorted(b.dag.edges(data=True))
    for name, node in da.nodes.items():
        other = db.nodes[name]
        assert (node.op, node.gate, node.arg_names()) == (other.op, other.gate, other.arg_names())
    for name, inp in da.inputs.items():
        assert inp.grad == db.inputs[name].grad
        assert inp.value.dtype == db.inputs[name].value.dtype
        np.testing.assert_array_equal(inp.value, db.inputs[name].value)
    assert da.output == db.output


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_yaml_and_json_round_trip(path, fmt):
    g = graphgrad.load(path)
    text = g.export(fmt)
    back = graphgrad.load(text if "\n" in text else text + "\n")
    same_graph(g, back)
    assert back.export(fmt) == text  # canonical: a second export changes nothing


def _load_module(code: str) -> types.ModuleType:
    module = types.ModuleType("flat")
    exec(compile(code, "<flat>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_flat_python_code_gives_the_engines_gradients(path):
    g = graphgrad.load(path)
    module = _load_module(g.export("python"))
    value, grads = module.forward_backward(**module.inputs())
    result = g.run()
    np.testing.assert_allclose(value, result.value, rtol=1e-12)
    assert set(grads) == set(result.grads)
    for name, grad in result.grads.items():
        np.testing.assert_allclose(grads[name], grad, rtol=1e-12, atol=1e-15, err_msg=name)


def test_flat_code_runs_without_graphgrad(tmp_path):
    out = tmp_path / "simple_flat.py"
    assert invoke("export", GRAPHS / "simple.yaml", "--to", "python", "-o", out).exit_code == 0
    code = out.read_text()
    assert "import graphgrad" not in code and "grad_q = grad_f * z" in code
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "graphgrad.py").write_text("raise ImportError('graphgrad must not be needed')\n")
    env["PYTHONPATH"] = str(blocker)
    proc = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["f = -12.0", "grad_x = -4.0", "grad_y = -4.0", "grad_z = 3.0"]


NO_CODE = '''
import graphgrad

class Cube(graphgrad.Gate):
    """a^3, with no code of its own."""
    op = "cube"

    def shape(self, a):
        return a

    def forward(self, a):
        return a ** 3

    def backward(self, grad, out, a):
        return (grad * 3 * a ** 2,)

@graphgrad.hookimpl
def graphgrad_gates():
    return [Cube]
'''


def test_flat_code_refuses_a_gate_without_code_by_name(tmp_path):
    plugin = tmp_path / "cube.py"
    plugin.write_text(NO_CODE)
    text = "graphgrad: 1\ninputs: {x: 1.5}\nnodes:\n  c: {op: cube, in: [x]}\n  f: {op: exp, in: [c]}\noutput: f\n"
    g = graphgrad.load(text, plugins=[plugin])
    with pytest.raises(
        graphgrad.GraphgradError, match=r"no flat code for: cube \(.*cube\.py.*\); .*forward_code"
    ):
        g.export("python")
    assert g.scalar_program is None  # and no fast path: the NumPy plan runs it
    assert float(g.run().grads["x"]) == pytest.approx(3 * 1.5**2 * np.exp(1.5**3), rel=1e-12)


OPS = ["add", "sub", "mul", "tanh", "sigmoid", "exp", "square", "neg", "max"]


@st.composite
def built_graphs(draw):
    g = graphgrad.Graph(draw(st.sampled_from(["gen", "g2"])), seed=draw(st.integers(0, 5)))
    names = [
        g.input("a", draw(st.floats(-2, 2))),
        g.input("b", shape=[draw(st.integers(1, 3))], init="normal"),
    ]
    if draw(st.booleans()):
        names.append(g.input("c", draw(st.lists(st.floats(-2, 2), min_size=1, max_size=1))))
    for i in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(OPS))
        arity = 2 if op in ("add", "sub", "mul", "max") else 1
        args = [draw(st.sampled_from(names)) for _ in range(arity)]
        if arity == 2 and draw(st.booleans()):
            args[1] = draw(st.floats(-3, 3))
        names.append(g.node(op, *args, name=f"n{i}.{op}"))
    g.output = names[-1]
    return g


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(built_graphs())
def test_generated_graphs_round_trip(g):
    back = graphgrad.load(g.to_yaml())
    same_graph(g, back)
    r1, r2 = g.run(), back.run()
    np.testing.assert_array_equal(r1.value, r2.value)
    module = _load_module(g.export("python"))
    value, grads = module.forward_backward(**module.inputs())
    np.testing.assert_allclose(value, r1.value, rtol=1e-12)
    for name, grad in r1.grads.items():
        np.testing.assert_allclose(grads[name], grad, rtol=1e-12, atol=1e-15)


def test_dot_has_shapes_and_lecture_labels():
    dot = invoke("export", GRAPHS / "simple.yaml", "--to", "dot", "--values").stdout
    assert '"x" [shape=box' in dot and '"q" [shape=circle, label="+"' in dot
    # x -> q carries x's value -2 above and the gradient -4 below
    assert '"x" -> "q" [label=<<font color="darkgreen">-2</font><br/><font color="red">-4</font>>]' in dot
    assert (
        '"f" -> "__out__" [label=<<font color="darkgreen">-12</font><br/><font color="red">1</font>>]' in dot
    )
    plain = invoke("export", GRAPHS / "simple.yaml", "--to", "dot").stdout
    assert "label=<" not in plain


def test_dot_shows_each_branch_of_a_fan_out():
    dot = invoke("export", GRAPHS / "copy_gate.yaml", "--to", "dot", "--values").stdout
    x_edges = [line for line in dot.splitlines() if line.strip().startswith('"x" ->')]
    grads = sorted(line.split('red">')[1].split("<")[0] for line in x_edges)
    assert grads == ["-4", "3", "3"]  # -4 + 3 + 3 = 2, the gradient of x


def test_mermaid_flowchart():
    text = invoke("export", GRAPHS / "gate_patterns.yaml", "--to", "mermaid", "--values").stdout
    assert text.startswith("flowchart LR\n")
    assert text.count("-->") == 8  # 7 arguments, one of them the literal 2
    assert '|"3 / -8"|' in text  # x = 3 gets -8


def test_export_errors():
    assert invoke("export", GRAPHS / "simple.yaml", "--to", "png").exit_code == 2
    result = invoke("export", GRAPHS / "simple.yaml", "--to", "yaml", "--values")
    assert result.exit_code == 2 and "takes no --values" in result.output


def test_render_png_and_svg(tmp_path):
    png, svg = tmp_path / "simple.png", tmp_path / "simple.svg"
    assert invoke("render", GRAPHS / "simple.yaml", "-o", png).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert invoke("render", GRAPHS / "simple.yaml", "-o", svg).exit_code == 0
    assert "<svg" in svg.read_text() and "-12" in svg.read_text()


def test_render_without_dot_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = invoke("render", GRAPHS / "simple.yaml", "-o", tmp_path / "x.png")
    assert result.exit_code == 2
    assert "needs Graphviz's `dot` program" in result.stderr and "apt-get install graphviz" in result.stderr


def test_explain_shows_the_lecture_steps():
    out = invoke("explain", GRAPHS / "simple.yaml").stdout
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    assert ["q", "add", "3", "-4", "x", "1", "-4", "distributor"] in rows
    assert ["", "", "", "", "y", "1", "-4", ""] in rows
    assert ["f", "mul", "-12", "1", "q", "-4", "-4", "swap multiplier"] in rows
    assert ["", "", "", "", "z", "3", "3", ""] in rows


def test_explain_flow_matches_the_engine_on_every_graph():
    for path in FILES:
        g = graphgrad.load(path)
        flow = gradient_flow(g)
        for name, grad in flow.result.grads.items():
            parts = flow.into(name)
            if parts:
                np.testing.assert_allclose(sum(p.downstream for p in parts), grad, rtol=1e-12)


def test_paths_sum_to_the_gradient():
    g = graphgrad.load(GRAPHS / "sigmoid_neuron.yaml")
    flow = gradient_flow(g)
    for name in ("w0", "x1", "w2"):
        terms = paths(flow, name)
        assert sum(t.product for t in terms) == pytest.approx(float(flow.result.grads[name]), rel=1e-12)
    out = invoke("explain", GRAPHS / "copy_gate.yaml", "--paths", "x").stdout
    assert "sum over 3 path(s)" in out and "sum = 2 (backpropagation gives 2)" in out


def test_paths_refuse_arrays_and_too_many_paths(write):
    assert "needs scalars" in invoke("explain", GRAPHS / "two_layer_svm.yaml", "--paths", "W1").stderr
    body = "".join(f"  d{i}: {{op: add, in: [d{i - 1}, d{i - 1}]}}\n" for i in range(1, 12))
    path = write(
        "graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n  d0: {op: mul, in: [x, 1]}\n" + body + "output: d11\n"
    )
    result = invoke("explain", path, "--paths", "x")
    assert result.exit_code == 2 and "more than 200 paths" in result.stderr


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_run_save_round_trips_with_dtypes(tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    assert invoke("run", GRAPHS / "two_layer_svm.yaml", "--save", out).exit_code == 0
    back = graphgrad.load_results(out)
    result = graphgrad.load(GRAPHS / "two_layer_svm.yaml").run()
    assert back.values["y"].dtype == np.int64 and back.value.shape == ()
    for name, value in result.values.items():
        np.testing.assert_array_equal(back.values[name], value)
        assert back.values[name].dtype == value.dtype
    for name, grad in result.grads.items():
        np.testing.assert_array_equal(back.grads[name], grad)


def test_saved_nonfinite_values_survive(tmp_path, write):
    path = write("graphgrad: 1\ninputs: {x: [0.0, -1.0, 2.0]}\nnodes:\n  f: {op: log, in: [x]}\noutput: f\n")
    for suffix in (".yaml", ".json"):
        out = tmp_path / f"r{suffix}"
        invoke("run", path, "--save", out)
        back = graphgrad.load_results(out)
        assert np.isneginf(back.value[0]) and np.isnan(back.value[1])


def test_builder_makes_the_lecture_graph(tmp_path):
    g = graphgrad.Graph("simple", doc="f = (x + y) z")
    x, y, z = g.input("x", -2), g.input("y", 5), g.input("z", -4)
    g.mul(g.add(x, y, name="q"), z, name="f")
    g.set_expect(value=-12, grads={"x": -4, "y": -4, "z": 3})
    g.save(tmp_path / "built.yaml")
    loaded = graphgrad.load(tmp_path / "built.yaml")
    same_graph(loaded, graphgrad.load(GRAPHS / "simple.yaml"))
    assert invoke("check", tmp_path / "built.yaml").exit_code == 0


def test_builder_errors_are_named():
    g = graphgrad.Graph()
    x = g.input("x", [1.0, 2.0])
    g.matmul(x, g.input("W", shape=[3, 3], init="normal"), name="h")
    with pytest.raises(
        graphgrad.GraphFileError, match="node 'h' \\(matmul\\): matmul of shapes \\[2\\] and \\[3, 3\\]"
    ):
        g.run()
    with pytest.raises(AttributeError, match="no attribute or gate 'matmull'"):
        g.matmull(x, x)
    labels = g.input("y", np.array([0, 2]))
    assert g._data["inputs"]["y"] == {"value": [0, 2], "dtype": "int64"}
    assert labels == "y"


EXPORTER_PLUGIN = '''
import graphgrad

class Edges(graphgrad.Exporter):
    """One edge a line."""
    name = "edges"

    def export(self, graph):
        return "".join(f"{a} {b}\\n" for a, b in graph.dag.edges)

@graphgrad.hookimpl
def graphgrad_exporters():
    return [Edges]
'''


def test_an_exporter_plugin(tmp_path):
    plugin = tmp_path / "edges.py"
    plugin.write_text(EXPORTER_PLUGIN)
    result = invoke("export", GRAPHS / "simple.yaml", "--to", "edges", "--plugins", plugin)
    assert result.exit_code == 0 and result.stdout.splitlines() == ["x q", "y q", "z f", "q f"]
    doc = json.loads(invoke("export", GRAPHS / "simple.yaml", "--to", "json").stdout)
    assert doc["nodes"]["q"] == {"op": "add", "in": ["x", "y"], "doc": "q = x + y"}
