"""`gates --check` and `graphgrad.check_gate` find the bugs a plugin author makes.

Each wrong gate below has a backward a person could write; each right one has its
gradient worked out by hand in the backward itself, and is checked against finite
differences of its forward (the code under test is the backward, never the reference).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import graphgrad
from graphgrad.checking.gatecheck import attribute_sets, candidate_shapes
from tests.conftest import graphgrad_cli


class Scaled(graphgrad.Gate):
    """alpha * a, with alpha an attribute that defaults to 1."""

    op = "scaled"
    alpha: float = 1.0

    def forward(self, a):
        return self.alpha * a

    def backward(self, grad, out, a):
        return (self.alpha * grad,)

    def shape(self, a):
        return a


class ScaledForgetsAlpha(Scaled):
    """Right at the default alpha = 1 only: the bug `examples` = [{}] never saw."""

    op = "scaled_forgets_alpha"

    def backward(self, grad, out, a):
        return (grad,)


class BiasAdd(graphgrad.Gate):
    """a + b with NumPy broadcasting; the backward leaves the summing to the engine."""

    op = "bias_add"

    def forward(self, a, b):
        return a + b

    def backward(self, grad, out, a, b):
        return grad, grad

    def shape(self, a, b):
        return graphgrad.gate.broadcast(a, b)


class Fma(graphgrad.Gate):
    """a * b + c, three inputs, broadcasting."""

    op = "fma"

    def forward(self, a, b, c):
        return a * b + c

    def backward(self, grad, out, a, b, c):
        return grad * b, grad * a, grad

    def shape(self, a, b, c):
        return graphgrad.gate.broadcast(a, b, c)


class FmaForgetsBroadcast(Fma):
    """Right when every input has the output's shape; wrong (the engine cannot sum a
    gradient that is not of a broadcast shape) when b broadcasts along a new axis and
    the gate returns b's gradient already summed the wrong way."""

    op = "fma_wrong_broadcast"

    def backward(self, grad, out, a, b, c):
        gb = grad * a
        if gb.shape != np.shape(b):
            gb = gb.mean(axis=0)  # mean where a sum is due
        return grad * b, gb, grad


class NeedsAFile(graphgrad.Gate):
    """Cannot be built: a required attribute with no examples."""

    op = "needs_a_file"
    path: str

    def forward(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad,)


def test_a_forgotten_attribute_factor_is_found():
    assert graphgrad.check_gate(Scaled).status == "passed"
    report = graphgrad.check_gate(ScaledForgetsAlpha)
    assert report.status == "failed"
    assert any("'alpha'" in f for f in report.failures)
    assert len(report.attribute_sets) > 1


def test_attribute_values_are_drawn_from_each_fields_type():
    sets = attribute_sets(Scaled, np.random.default_rng(0))
    alphas = [s.get("alpha", 1.0) for s in sets]
    assert len(set(alphas)) >= 3 and all(0.3 <= a <= 2.5 for a in alphas[1:])


def test_a_correct_broadcasting_gate_passes_and_says_no_inf():
    report = graphgrad.check_gate(BiasAdd)
    assert report.status == "passed", report.failures
    assert np.isfinite(report.worst)
    shapes = candidate_shapes(BiasAdd(), 2)
    assert any(len(set(s)) > 1 for s in shapes), shapes


def test_three_input_gates_get_shapes_from_their_rule_not_always_3():
    shapes = candidate_shapes(Fma(), 3)
    assert any(len(set(s)) > 1 for s in shapes), shapes
    assert all(len(s) == 3 for s in shapes)
    assert graphgrad.check_gate(Fma).status == "passed"
    bad = graphgrad.check_gate(FmaForgetsBroadcast)
    assert bad.status == "failed", bad
    assert not any("relative error inf" in f and "0.0" in f for f in bad.failures), bad.failures


def test_a_gate_that_cannot_be_built_is_skipped_not_failed(tmp_path):
    report = graphgrad.check_gate(NeedsAFile)
    assert report.status == "skipped" and not report.failures
    plugin = tmp_path / "needs_a_file.py"
    plugin.write_text(
        "import graphgrad\n\n\n"
        "class NeedsAFile(graphgrad.Gate):\n"
        '    op = "needs_a_file"\n'
        "    path: str\n\n"
        "    def forward(self, a):\n        return a\n\n"
        "    def backward(self, grad, out, a):\n        return (grad,)\n\n\n"
        "@graphgrad.hookimpl\ndef graphgrad_gates():\n    return [NeedsAFile]\n"
    )
    done = graphgrad_cli("gates", "--check", "--plugins", plugin)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and " 0 failed" in done.stdout
    doc = json.loads(graphgrad_cli("gates", "--check", "--json", "--plugins", plugin).stdout)
    (row,) = [g for g in doc["gates"] if g["op"] == "needs_a_file"]
    assert row["status"] == "skipped" and row["passed"] is False


def test_check_gate_takes_an_instance_and_given_inputs():
    report = graphgrad.check_gate(ScaledForgetsAlpha(alpha=3.0), inputs=[(np.array([1.0, -2.0]),)])
    assert report.status == "failed" and report.cases == 1
    assert graphgrad.check_gate(Scaled(alpha=3.0), inputs=[(np.array([1.0, -2.0]),)]).status == "passed"


def test_graph_check_returns_the_report_check_prints():
    text = "graphgrad: 1\ninputs: {x: 3.0, y: -2.0}\nnodes:\n  f: {op: mul, in: [x, y]}\noutput: f\n"
    report = graphgrad.load(text).check()
    assert report.status == "passed"
    assert {c.input: c.analytic for c in report.checks} == {"x": -2.0, "y": 3.0}
    assert report.messages() == []


@pytest.mark.parametrize("checker", ["central", "directional"])
def test_graph_check_with_a_checker_and_a_wrong_gate(checker):
    text = "graphgrad: 1\ninputs: {x: 1.5}\nnodes:\n  f: {op: scaled_forgets_alpha, in: [x], alpha: 2.0}\noutput: f\n"
    import types

    plugin = types.ModuleType("scaled_bug")
    plugin.graphgrad_gates = graphgrad.hookimpl(lambda: [ScaledForgetsAlpha])
    report = graphgrad.load(text, plugins=[plugin]).check(checker)
    assert report.status == "failed"
    assert report.checks[0].numeric == pytest.approx(2.0, rel=1e-6)
    assert [b.node for b in report.blame] == ["f"]


class MulMeansSecond(graphgrad.Gate):
    """a * b whose backward averages b's gradient over broadcast axes (a mean where the
    sum is due): right whenever b has the output's shape, wrong only where b broadcasts."""

    op = "mul_means_second"

    def forward(self, a, b):
        return a * b

    def backward(self, grad, out, a, b):
        gb = grad * a
        while gb.ndim > np.ndim(b):
            gb = gb.mean(axis=0)
        for axis, n in enumerate(np.shape(b)):
            if n == 1 and gb.shape[axis] != 1:
                gb = gb.mean(axis=axis, keepdims=True)
        return grad * b, gb

    def shape(self, a, b):
        return graphgrad.gate.broadcast(a, b)


def test_a_broadcasting_bug_in_the_second_input_alone_is_found():
    shapes = candidate_shapes(MulMeansSecond(), 2)
    assert any(s[1] != graphgrad.gate.broadcast(*s) for s in shapes), shapes
    report = graphgrad.check_gate(MulMeansSecond)
    assert report.status == "failed"
    assert all("input 1" in f for f in report.failures), report.failures


class ScaleRequired(graphgrad.Gate):
    """alpha * a with alpha required and no examples; the backward forgets alpha."""

    op = "scale_required"
    alpha: float

    def forward(self, a):
        return self.alpha * a

    def backward(self, grad, out, a):
        return (grad,)

    def shape(self, a):
        return a


class ShapeLie(graphgrad.Gate):
    """Its shape rule says the input's shape; its forward sums to a scalar."""

    op = "shape_lie"

    def forward(self, a):
        return np.sum(a)

    def backward(self, grad, out, a):
        return (grad * np.ones_like(a),)

    def shape(self, a):
        return a


class OffsetWrong(graphgrad.Gate):
    """a^2 + 1e15 with a backward of a (half the truth): rounding hides it."""

    op = "offset_wrong"

    def forward(self, a):
        return a * a + 1e15

    def backward(self, grad, out, a):
        return (grad * a,)

    def shape(self, a):
        return a


def test_a_required_attribute_without_examples_is_still_checked():
    report = graphgrad.check_gate(ScaleRequired)
    assert report.status == "failed", report
    assert report.attribute_sets and all("alpha" in s for s in report.attribute_sets)


def test_a_forward_that_contradicts_its_shape_rule_fails():
    report = graphgrad.check_gate(ShapeLie)
    assert report.status == "failed"
    assert any("its shape rule says" in f for f in report.failures)


def test_an_inconclusive_gate_is_not_passed():
    report = graphgrad.check_gate(OffsetWrong)
    assert report.status == "inconclusive" and not report.passed, report
