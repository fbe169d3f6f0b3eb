"""Found by an attacker's pass over three changes to the checker (session 4):
``Gate.deterministic``, refinement by one difference before Richardson (reverted), and
``check_scope``. Each test showed a problem those changes brought in (each passed on the
commit before them); each is fixed, and the tests keep it so."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest

import graphgrad
import graphgrad.checking.verify as verify
from graphgrad.builtin.gates.elementwise import Tanh
from graphgrad.checking.gatecheck import check_gate


def _plugin(*gates: type[graphgrad.Gate]) -> object:
    module = type(sys)("attack_plugin")
    module.graphgrad_gates = graphgrad.hookimpl(lambda: list(gates))
    return module


# --- 2. refinement: one central difference at 100 h settles an element ---------------

FD_STEP = 1e-4  # the step the checker refines at (100 x 1e-6 for |x| <= 1)


class Exp50Numerical(graphgrad.Gate):
    """exp(50 a), whose backward is a central difference at step 1e-4: off by
    (50e-4)^2 / 6 = 4.2e-6 relative, four times float64's rtol of 1e-6."""

    op = "exp50_numerical"
    deterministic = True

    def forward(self, a):
        return np.exp(50 * a)

    def backward(self, grad, out, a):
        return (grad * (np.exp(50 * (a + FD_STEP)) - np.exp(50 * (a - FD_STEP))) / (2 * FD_STEP),)


class Exp50Scaled(Exp50Numerical):
    """exp(50 a) with a backward 4e-6 too large (a constant 50.0002 for 50)."""

    op = "exp50_scaled"

    def backward(self, grad, out, a):
        return (grad * 50.0002 * out,)


EXP50 = "graphgrad: 1\ninputs: {x: 0.1}\nnodes:\n  f: {op: OP, in: [x]}\noutput: f\n"


@pytest.mark.parametrize("gate", [Exp50Numerical, Exp50Scaled], ids=lambda g: g.op)
@pytest.mark.parametrize("checker", ["central", "directional", None])
def test_refinement_passes_a_gradient_four_rtol_off_when_truncation_at_the_larger_step_matches(gate, checker):
    """HIGH: the analytic gradient is 4.2e-6 (resp. 4e-6) off, the first central
    difference at 1e-6 sees it (error 4.2e-6 > rtol), but the refinement's single central
    difference at 1e-4 carries the same truncation error (f''' h^2 / 6 of exp(50x)) and
    'agrees', so the element passes. Richardson (the old path, and `richardson`,
    `complex_step`) says failed."""
    graph = graphgrad.load(EXP50.replace("OP", gate.op), plugins=[_plugin(gate)])
    report = verify.check_graph(graph, checker=checker)
    check = report.checks[0]
    true = 50 * np.exp(5.0)
    assert abs(check.analytic - true) / true > 3e-6  # a wrong gradient, by float64's rtol
    assert report.status == "failed", (check.checker, check.analytic, check.numeric, true)


# --- 1. Gate.deterministic -----------------------------------------------------------


class JitterTanh(Tanh):
    """A plugin gate built on the built-in tanh that adds gradient noise: it never says
    deterministic, but inherits ``deterministic = True`` from the built-in class."""

    op = "jitter_tanh"

    def backward(self, grad, out, a):
        return (grad * (1 - out**2) * (1 + 1e-12 * np.random.default_rng().standard_normal()),)


def test_a_subclass_of_a_builtin_gate_that_draws_random_numbers_still_gets_the_second_run():
    """MEDIUM: `check` used to fail this graph ("backward is not deterministic"); now the
    flag inherited from the built-in base class skips the second run and it passes. The
    suite's own buggy gates subclass built-ins (tests/test_checker_power.py), so plugins do."""
    text = "graphgrad: 1\ninputs: {x: [0.5, -1.0, 2.0]}\nnodes:\n  t: {op: jitter_tanh, in: [x]}\n"
    text += "  s: {op: sum, in: [t]}\noutput: s\n"
    report = verify.check_graph(graphgrad.load(text, plugins=[_plugin(JitterTanh)]))
    assert report.status == "failed"
    assert any("not deterministic" in p for p in report.problems), report.problems


class BareBackward(graphgrad.Gate):
    """The classic slip of a one-input gate: backward returns the gradient, not a tuple."""

    op = "bare_backward"
    deterministic = True

    def forward(self, a):
        return 2 * a

    def backward(self, grad, out, a):
        return 2 * grad


def test_gates_check_reports_a_backward_that_returns_no_tuple_instead_of_crashing():
    """MEDIUM: `_breaks_determinism` calls len() on the gradients outside its try, so
    `graphgrad gates --check` dies with a TypeError traceback; before (and for a gate
    that does not declare deterministic) the case fails with 'backward returned N
    gradients for 1 inputs'."""
    report = check_gate(BareBackward)
    assert report.status == "failed"


# --- 3. check_scope: what the scope holds ----------------------------------------------


def _peak(text: str) -> int:
    graph = graphgrad.load(text)
    tracemalloc.start()
    try:
        assert verify.check_graph(graph).status == "passed"
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


OUTER = """graphgrad: 1
seed: 1
inputs:
  X: {shape: [1, 300], init: normal, grad: false}
  w: {shape: [300, 1], init: normal}
nodes:
  m: {op: mul, in: [w, X]}
  a: {op: tanh, in: [m]}
  s: {op: sum, in: [a]}
output: s
check: {checker: directional, directions: D}
"""


def test_outputs_at_shared_points_are_not_held_for_every_direction():
    """MEDIUM: a 300-element input feeding a broadcasting gate (output 300 x 300,
    0.7 MB). Every evaluation of the graph's check at a shared point leaves that gate's
    output in the scope until the check ends: 2 per direction, whatever the input's size
    (30 directions: 43 MB more; 100 directions of a 1000 x 1000 output: 1.6 GB). On
    72a1a96 the peak does not depend on the number of directions."""
    few, many = _peak(OUTER.replace("D}", "3}")), _peak(OUTER.replace("D}", "30}"))
    output = 300 * 300 * 8
    assert many - few < 10 * output, (few, many)


WIDE = """graphgrad: 1
seed: 1
inputs:
  X: {shape: [2, 2000], init: normal, grad: false}
  W: {shape: [2000, 100], init: normal, std: 0.01}
nodes:
  h: {op: matmul, in: [X, W]}
  a: {op: tanh, in: [h]}
  s: {op: sum, in: [a]}
output: s
check: {checker: directional, directions: D}
"""


def test_perturbed_points_are_not_held_for_every_direction():
    """LOW: besides its directions (kept before too), the scope keeps both perturbed
    points of every direction to the end of the check: about three copies of the input
    per direction instead of one (30 directions of a 1.6 MB input: 149 MB peak, 53 MB on
    72a1a96), so "memory bounded as before" (bbebf53) holds only for one direction."""
    few, many = _peak(WIDE.replace("D}", "3}")), _peak(WIDE.replace("D}", "30}"))
    size = 2000 * 100 * 8
    assert many - few < 1.5 * 27 * size, (few / size, many / size)
