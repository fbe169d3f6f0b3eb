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
    from graphgrad.plugins import build_registry, make_plugin_manager

    registry = build_registry(make_plugin_manager(use_env=False))
    assert registry["swish"].plugin.startswith("entry point 'swish'")
    assert registry["softplus"].cls.__module__ == "graphgrad_swish"


def test_passing_the_installed_file_again_counts_once():
    graph = graphgrad.load(GRAPH, plugins=[PLUGIN])
    assert graph.registry["swish"].plugin.startswith("entry point 'swish'")
