"""The example plugin's gates against closed forms and central differences."""

from pathlib import Path

import numpy as np
import pytest

import graphgrad

PLUGIN = Path(__file__).parents[1] / "graphgrad_swish.py"

GRAPH = """
graphgrad: 1
inputs:
  x: [-3.0, -0.5, 0.0, 0.7, 4.0]
nodes:
  s: {op: swish, in: [x], beta: 1.5}
  p: {op: softplus, in: [x]}
  t: {op: add, in: [s, p]}
  f: {op: sum, in: [t]}
output: f
"""


def closed_form(x, beta):
    sig = 1 / (1 + np.exp(-x))
    sb = 1 / (1 + np.exp(-beta * x))
    value = np.sum(x * sb + np.log1p(np.exp(x)))
    grad = sb + beta * x * sb * (1 - sb) + sig
    return value, grad


def test_gates_match_closed_form():
    graph = graphgrad.load(GRAPH, plugins=[PLUGIN])
    result = graph.run()
    x = graph.definition.inputs["x"].value
    value, grad = closed_form(x, 1.5)
    np.testing.assert_allclose(result.value, value, rtol=1e-12)
    np.testing.assert_allclose(result.grads["x"], grad, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_backward_matches_central_differences(seed):
    graph = graphgrad.load(GRAPH, plugins=[PLUGIN])
    x = np.random.default_rng(seed).normal(size=5) * 3
    analytic = graph.run(inputs={"x": x}).grads["x"]
    h = 1e-6
    numeric = np.empty_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (graph.run(inputs={"x": up}).value - graph.run(inputs={"x": down}).value) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_installed_plugin_is_found_through_its_entry_point():
    """The README's test command installs this package; graphgrad then finds it alone."""
    from graphgrad.plugins.manager import build_registry, make_plugin_manager

    registry = build_registry(make_plugin_manager(use_env=False))
    assert registry["swish"].plugin.startswith("entry point 'swish'")
    assert registry["softplus"].cls.__module__ == "graphgrad_swish"


def test_passing_the_installed_file_again_counts_once():
    graph = graphgrad.load(GRAPH, plugins=[PLUGIN])
    assert graph.registry["swish"].plugin.startswith("entry point 'swish'")


SCALAR = """
graphgrad: 1
inputs: {x: 0.7, y: -1.3}
nodes:
  s: {op: swish, in: [x], beta: 1.5}
  p: {op: softplus, in: [y]}
  f: {op: mul, in: [s, p]}
output: f
"""


def test_the_flat_export_runs_without_graphgrad_and_gives_the_engines_gradients(tmp_path):
    """The gates give their code, so ``graphgrad export --to python`` writes them out."""
    import subprocess
    import sys

    out = tmp_path / "flat.py"
    graph_file = tmp_path / "graph.yaml"
    graph_file.write_text(GRAPH)
    cli = [sys.executable, "-m", "graphgrad", "export", str(graph_file), "--to", "python", "-o", str(out)]
    done = subprocess.run([*cli, "--plugins", str(PLUGIN)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "_swish_grad(" in out.read_text()
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert "graphgrad" not in namespace
    value, grads = namespace["forward_backward"](**namespace["inputs"]())
    result = graphgrad.load(graph_file, plugins=[PLUGIN]).run()
    np.testing.assert_allclose(value, result.value, rtol=1e-12)
    np.testing.assert_allclose(grads["x"], result.grads["x"], rtol=1e-12)


def test_a_scalar_graph_takes_the_fast_path():
    graph = graphgrad.load(SCALAR, plugins=[PLUGIN])
    assert graph.scalar_program is not None
    fast = graph.run()
    assert isinstance(fast.values["s"], np.ndarray) and fast.values["s"].shape == ()
    x, y, beta = 0.7, -1.3, 1.5
    s = x / (1 + np.exp(-beta * x))
    sb = 1 / (1 + np.exp(-beta * x))
    p = np.log1p(np.exp(y))
    np.testing.assert_allclose(fast.value, s * p, rtol=1e-12)
    np.testing.assert_allclose(fast.grads["x"], p * (sb + beta * x * sb * (1 - sb)), rtol=1e-12)
    np.testing.assert_allclose(fast.grads["y"], s / (1 + np.exp(-y)), rtol=1e-12)


@pytest.mark.parametrize(("x", "y"), [(-1000.0, 1000.0), (800.0, -800.0), (0.0, -0.0), (1e-300, 40.0)])
def test_the_fast_path_agrees_with_the_numpy_plan_at_extremes(x, y):
    """Where Python floats would part ways with NumPy the fast path hands over; either
    way the result is the NumPy plan's."""
    import graphgrad.engine.backprop as engine

    graph = graphgrad.load(SCALAR, plugins=[PLUGIN]).with_inputs({"x": x, "y": y})
    assert graph.scalar_program is not None
    fast = graph.run()
    plan = graph.plan
    with np.errstate(all="ignore"):
        values = engine.forward(plan, list(plan.initial))
        grads = engine.backward(plan, values)
    np.testing.assert_array_equal(fast.value, values[plan.output])
    for name in ("x", "y"):
        np.testing.assert_allclose(fast.grads[name], grads[plan.slot[name]], rtol=1e-14, atol=0)
