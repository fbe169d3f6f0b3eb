"""backward's keyword-only ``needs`` (plugins.md): the engine says which input gradients
are used, built-in gates skip the others, and gates without it work as before."""

from __future__ import annotations

import types

import numpy as np
import pytest

import graphgrad
from graphgrad import gate as gate_module
from graphgrad.builtin.gates.arithmetic import Div, Mul, Sub
from graphgrad.builtin.gates.losses import CrossEntropy, SvmLoss
from graphgrad.builtin.gates.shaping import Matmul

NET = """graphgrad: 1
inputs:
  X:  {shape: [4, 6], init: normal, grad: false}
  y:  {shape: [4], init: integers, high: 3}
  W1: {shape: [6, 5], init: normal}
  W2: {shape: [5, 3], init: normal}
nodes:
  h: {op: matmul, in: [X, W1]}
  a: {op: relu, in: [h]}
  s: {op: matmul, in: [a, W2]}
  l: {op: cross_entropy, in: [s, y]}
  r: {op: mul, in: [l, 2.0]}
output: r
"""


def _plugin(*classes: type[graphgrad.Gate]) -> types.ModuleType:
    module = types.ModuleType(f"needs_plugin_{classes[0].op}")
    module.graphgrad_gates = graphgrad.hookimpl(lambda: list(classes))
    return module


def test_the_plan_says_which_inputs_need_a_gradient():
    plan = graphgrad.load(NET).plan
    needs = {s.name: s.needs for s in plan.steps}
    assert needs["h"] == (False, True)  # X is data
    assert needs["s"] == (True, True)
    assert needs["l"] == (True, False)  # labels
    assert needs["r"] == (True, False)  # a literal
    assert needs["a"] is None  # relu does not declare needs


def test_matmul_of_data_computes_no_gradient_for_it(monkeypatch):
    calls = []
    original = Matmul.backward

    def spy(self, grad, out, a, b, *, needs=(True, True)):
        got = original(self, grad, out, a, b, needs=needs)
        calls.append((needs, got[0] is None, got[1] is None))
        return got

    monkeypatch.setattr(Matmul, "backward", spy)
    gate_module.takes_needs.cache_clear()
    try:
        g = graphgrad.load(NET)
        result = g.run()
    finally:
        gate_module.takes_needs.cache_clear()
    assert ((False, True), True, False) in calls  # h = X @ W1: W1's gradient only
    assert ((True, True), False, False) in calls
    assert set(result.grads) == {"W1", "W2"}
    # the same gradients as without needs: finite differences agree
    assert g.check().status == "passed"


def test_gradients_with_needs_equal_the_full_ones():
    g = graphgrad.load(NET)
    plan = g.plan
    values = graphgrad.engine.backprop.run(plan).values
    full = {}
    for step in plan.backward_steps:
        args = [values[i] for i in step.ins]
        grad = np.ones_like(values[step.out])
        full[step.name] = step.gate.backward(grad, values[step.out], *args)  # no needs: all of them
        if step.needs is not None:
            some = step.gate.backward(grad, values[step.out], *args, needs=step.needs)
            for k, used in enumerate(step.needs):
                if used:
                    np.testing.assert_array_equal(some[k], full[step.name][k])
                else:
                    assert some[k] is None


@pytest.mark.parametrize(
    ("gate", "args"),
    [
        (Mul(), (np.ones((2, 3)), np.full((2, 3), 2.0))),
        (Div(), (np.ones((2, 3)), np.full((2, 3), 2.0))),
        (Sub(), (np.ones((2, 3)), np.full((2, 3), 2.0))),
        (Matmul(), (np.ones((2, 3)), np.ones((3, 4)))),
        (Matmul(), (np.ones((5, 2, 3)), np.ones((3,)))),
    ],
)
def test_binary_gates_return_none_where_not_needed(gate, args):
    out = np.asarray(gate.forward(*args))
    grad = np.ones_like(out)
    full = gate.backward(grad, out, *args)
    for needs in ((True, False), (False, True)):
        got = gate.backward(grad, out, *args, needs=needs)
        for k in range(2):
            if needs[k]:
                np.testing.assert_array_equal(got[k], full[k])
            else:
                assert got[k] is None


@pytest.mark.parametrize("loss", [CrossEntropy(), SvmLoss()])
def test_losses_take_needs(loss):
    scores, labels = np.array([[1.0, 2.0, 0.5]]), np.array([1])
    out = loss.forward(scores, labels)
    assert loss.backward(1.0, out, scores, labels, needs=(False, False)) == (None, None)
    assert loss.backward(1.0, out, scores, labels, needs=(True, False))[1] is None


def test_a_plugin_gate_with_needs_is_told_and_one_without_works_as_before():
    told = []

    class Scale(graphgrad.Gate):
        op = "scale_needs"

        def forward(self, a, b):
            return a * b

        def backward(self, grad, out, a, b, *, needs):
            told.append(needs)
            return (grad * b if needs[0] else None), (grad * a if needs[1] else None)

    class Plain(graphgrad.Gate):
        op = "plain_mul"

        def forward(self, a, b):
            return a * b

        def backward(self, grad, out, a, b):
            return grad * b, grad * a  # the engine drops the literal's

    text = (
        "graphgrad: 1\ninputs:\n  x: 3.0\n  c: {value: 2.0, grad: false}\nnodes:\n"
        "  f: {op: scale_needs, in: [x, c]}\n  g: {op: plain_mul, in: [f, 5.0]}\noutput: g\n"
    )
    g = graphgrad.load(text, plugins=[_plugin(Scale, Plain)])
    result = g.run()
    assert told == [(True, False)]
    assert float(result.grads["x"]) == 10.0 and set(result.grads) == {"x"}


def test_takes_needs_requires_a_keyword_only_parameter():
    class Positional(graphgrad.Gate):
        op = "positional_needs"

        def backward(self, grad, out, a, needs=None):
            return (grad,)

    assert not gate_module.takes_needs(Positional)
    assert gate_module.takes_needs(Matmul)
