"""``checker.check_scope``: within one graph's check, the work that several checks of the
same input repeat (drawing its directions, making its perturbed points, a deterministic
gate's output at those points) is done once. It must change no number: the same check
without the scope gives the same report, and a gate that may write into its input never
sees a shared point."""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest

import graphgrad
import graphgrad.checking.verify as verify
import graphgrad.engine.backprop as engine
from graphgrad.builtin.gates.shaping import Matmul
from graphgrad.checker import check_scope, remembered, share_points, shared_output
from graphgrad.checking.objective import GraphObjective

NET = """graphgrad: 1
seed: 3
inputs:
  X: {shape: [6, 40], init: normal, grad: false}
  W1: {shape: [40, 30], init: normal, std: 0.1}
  W2: {shape: [30, 4], init: normal, std: 0.1}
  y: {value: [0, 1, 2, 3, 1, 0], dtype: int64}
nodes:
  h: {op: matmul, in: [X, W1]}
  a: {op: tanh, in: [h]}
  s: {op: matmul, in: [a, W2]}
  data: {op: cross_entropy, in: [s, y]}
  r1: {op: l2, in: [W1]}
  r2: {op: l2, in: [W2]}
  rs: {op: add, in: [r1, r2]}
  reg: {op: mul, in: [rs, 0.001]}
  loss: {op: add, in: [data, reg]}
output: loss
"""


def _summary(report) -> list:
    checks = [(c.input, c.checker, c.evals, c.status, c.numeric, c.analytic) for c in report.checks]
    return [report.status, checks, [(f.node, f.input) for f in report.blame], report.notes]


def test_the_scope_changes_no_number(monkeypatch):
    """auto above its threshold: directions on W1 and W2 and every gate alone, with the
    scope and without it (each check then draws and makes its own)."""
    monkeypatch.setattr(verify, "AUTO_THRESHOLD", 100)
    graph = graphgrad.load(NET)
    with_scope = verify.check_graph(graph)
    assert [c.checker for c in with_scope.checks] == ["directional", "directional"]
    monkeypatch.setattr(verify, "check_scope", contextlib.nullcontext)
    without = verify.check_graph(graph)
    assert _summary(with_scope) == _summary(without)


def test_a_gates_output_at_a_shared_point_is_computed_once(monkeypatch):
    """The graph's check of W1 evaluates X @ (W1 +- hv); the matmul's own check in blame
    evaluates the same products, and takes them from the scope."""
    monkeypatch.setattr(verify, "AUTO_THRESHOLD", 100)
    calls = []
    real = Matmul.forward
    monkeypatch.setattr(Matmul, "forward", lambda self, a, b: calls.append(b.shape) or real(self, a, b))
    graph = graphgrad.load(NET)  # after the patch: the plan holds the gate's bound forward
    assert verify.check_graph(graph).status == "passed"
    # one run, then X @ (W1 + hv) and X @ (W1 - hv) once each: the matmul's own check reuses both
    assert sum(1 for s in calls if s == (40, 30)) == 3, calls
    monkeypatch.setattr(verify, "check_scope", contextlib.nullcontext)
    calls.clear()
    verify.check_graph(graph)
    assert sum(1 for s in calls if s == (40, 30)) == 5


class Scribble(graphgrad.Gate):
    """Writes into its input: not deterministic, so it must never see a shared point."""

    op = "scribble"

    def forward(self, a):
        out = np.tanh(a)
        a *= 1.0  # a write, of the same numbers
        return out

    def backward(self, grad, out, a):
        return (grad * (1 - out**2),)


@graphgrad.hookimpl
def graphgrad_gates():
    return [Scribble]


def test_an_objective_through_a_gate_that_does_not_declare_it_is_not_pure():
    text = NET.replace("op: tanh", "op: scribble")
    graph = graphgrad.load(text, plugins=[sys.modules[__name__]])
    plan = graph.plan
    values = engine.run(plan).values
    assert not GraphObjective(plan, values, plan.slot["W1"]).pure
    assert GraphObjective(plan, values, plan.slot["W2"]).pure  # W2's path skips the plugin gate
    assert verify.check_graph(graph).status == "passed"


def test_remembered_compares_its_anchors_by_identity():
    a, b = np.zeros(3), np.zeros(3)
    made = []
    with check_scope():
        first = remembered(("k",), (a,), lambda: made.append(1) or "first")
        again = remembered(("k",), (a,), lambda: made.append(1) or "again")
        other = remembered(("k",), (b,), lambda: made.append(1) or "other")
    assert (first, again, other, len(made)) == ("first", "first", "other", 2)
    assert remembered(("k",), (a,), lambda: "outside") == "outside"


def test_only_outputs_at_shared_points_are_remembered():
    point, plain = np.ones(2), np.ones(2)
    owner = object()
    computed = []
    with check_scope():
        share_points(point)
        for args in ([plain], [plain], [point], [point]):
            shared_output(owner, args, lambda: computed.append(1) or len(computed))
    assert len(computed) == 3  # plain twice, the shared point once


@pytest.mark.parametrize("checker", ["directional", "auto"])
def test_a_wrong_gate_is_still_caught_and_blamed_in_the_scope(checker, monkeypatch):
    monkeypatch.setattr(verify, "AUTO_THRESHOLD", 100)

    class Wrong(graphgrad.Gate):
        op = "scribble"
        deterministic = True

        def forward(self, a):
            return np.tanh(a)

        def backward(self, grad, out, a):
            return (grad * (1 - out**2) * 1.01,)

    module = type(sys)("wrong_plugin")
    module.graphgrad_gates = graphgrad.hookimpl(lambda: [Wrong])
    graph = graphgrad.load(NET.replace("op: tanh", "op: scribble"), plugins=[module])
    report = verify.check_graph(graph, checker=checker)
    assert report.status == "failed"
    assert [f.node for f in report.blame] == ["a"]


def test_a_gates_own_check_makes_no_shared_points():
    """Points are made by the graph's check of an input only: a gate's check reads them,
    so blame over many large intermediate values holds no copies of them."""
    from graphgrad.checker import _SCOPE
    from graphgrad.checking.gatecheck import check_step

    graph = graphgrad.load(NET)
    plan = graph.plan
    values = engine.run(plan).values
    step = next(s for s in plan.steps if s.name == "h")
    args = [values[i] for i in step.ins]
    upstream = np.random.default_rng(0).normal(size=values[step.out].shape)
    with check_scope():
        (verdict,) = check_step(step, args, upstream, ["X", "W1"], needed=[False, True], quick=True)
        held = dict(_SCOPE.get())
    assert verdict.passed and verdict.checker == "directional"
    assert "points" not in held and not [k for k in held if k[0] == "points"]
