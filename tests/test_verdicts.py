"""Verdicts the numbers support: no pass that rounding swallowed, no failure of a right
gradient near the end of a gate's domain, float32 judged as float32, blame bounded.

Expected gradients are written out by hand here (d/dx log x = 1/x, ...), never taken
from the engine.
"""

from __future__ import annotations

import json
import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphgrad
from graphgrad.builtin.gates.elementwise import Square
from graphgrad.builtin.gates.shaping import Matmul
from graphgrad.checking.verify import check_graph
from tests.conftest import graphgrad_cli

CHECKERS = ["auto", "central", "forward", "sparse", "richardson", "directional", "complex_step"]


class ZeroSquare(Square):
    """Forgets its gradient: 0 where the truth is 2a (6 at a = 3)."""

    op = "bug_zero_square"

    def backward(self, grad, out, a):
        return (grad * 0.0,)


class ScaledMatmul(Matmul):
    """5% too much for the right-hand input: above float32's tolerance of 1e-2."""

    op = "bug_scaled_matmul"

    def backward(self, grad, out, a, b):
        return grad @ b.T, 1.05 * (a.T @ grad)


PLUGIN = types.ModuleType("verdict_bugs")
PLUGIN.graphgrad_gates = graphgrad.hookimpl(lambda: [ZeroSquare, ScaledMatmul])

PLUGIN_FILE = """
import graphgrad
from graphgrad.builtin.gates.elementwise import Square


class ZeroSquare(Square):
    op = "bug_zero_square"

    def backward(self, grad, out, a):
        return (grad * 0.0,)


@graphgrad.hookimpl
def graphgrad_gates():
    return [ZeroSquare]
"""


def offset_graph(offset: str) -> str:
    return (
        "graphgrad: 1\ninputs: {x: 3.0}\nnodes:\n"
        "  s: {op: bug_zero_square, in: [x]}\n"
        f"  f: {{op: add, in: [s, {offset}]}}\noutput: f\n"
    )


@pytest.mark.parametrize("checker", CHECKERS)
def test_a_large_constant_in_the_output_does_not_swallow_a_wrong_gradient(checker):
    """Rounding of f = x^2 + 1e9 is about 1e-7; the float-noise allowance once grew with
    |f| until an error of 6 passed. Now the checkers estimate again at larger steps,
    where the error stands out, and the verdict is failed."""
    report = check_graph(graphgrad.load(offset_graph("1e9"), plugins=[PLUGIN]), checker=checker)
    assert report.status == "failed", report.messages()
    (verdict,) = [c for c in report.checks if c.checker != "directional" or checker != "auto"][:1]
    assert verdict.numeric == pytest.approx(6.0, rel=1e-3)


@pytest.mark.parametrize("checker", ["central", "forward", "sparse", "directional"])
def test_an_offset_no_step_can_resolve_is_inconclusive_never_passed(checker):
    """At 1e15 the output's rounding (about 0.1) over any usable step hides an error of 6:
    the numbers cannot tell, so the check's verdict says so, with what would resolve it;
    blame, which checks the gate alone (without the offset), then names it."""
    report = check_graph(graphgrad.load(offset_graph("1e15"), plugins=[PLUGIN]), checker=checker)
    (verdict,) = report.checks
    assert verdict.inconclusive and not verdict.passed, verdict
    assert "richardson" in verdict.note and "complex_step" in verdict.note and "offset" in verdict.note
    assert report.status == "failed" and [b.node for b in report.blame] == ["s"]


@pytest.mark.parametrize("checker", ["central", "forward", "sparse", "directional"])
def test_a_right_gradient_under_that_offset_is_inconclusive_not_passed(checker):
    report = check_graph(
        graphgrad.load(offset_graph("1e15").replace("bug_zero_square", "square")), checker=checker
    )
    assert report.status == "inconclusive", report.messages()
    assert report.blame == []


def test_complex_step_resolves_what_differences_cannot():
    report = check_graph(graphgrad.load(offset_graph("1e15"), plugins=[PLUGIN]), checker="complex_step")
    assert report.status == "failed"
    assert report.checks[0].numeric == pytest.approx(6.0, rel=1e-12)


def test_inconclusive_in_text_json_junit_and_exit_code(tmp_path):
    path = tmp_path / "offset.yaml"
    path.write_text(offset_graph("1e15").replace("bug_zero_square", "square"))
    plugin = tmp_path / "zero_square.py"
    plugin.write_text(PLUGIN_FILE)
    junit = tmp_path / "junit.xml"
    done = graphgrad_cli(
        "check", path, "--plugins", plugin, "--checker", "central", "--json", "--junit", junit
    )
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["passed"], doc["failed"], doc["inconclusive"], doc["errors"]) == (0, 0, 1, 0)
    (report,) = doc["files"]
    assert report["status"] == "inconclusive"
    assert report["checks"][0]["status"] == "inconclusive" and report["checks"][0]["passed"] is False
    (case,) = ET.parse(junit).getroot().iter("testcase")
    (failure,) = case.iter("failure")
    assert failure.get("type") == "inconclusive"
    text = graphgrad_cli("check", path, "--plugins", plugin, "--checker", "central")
    assert text.returncode == 1
    assert f"INCONCLUSIVE {path}" in text.stdout
    assert "0 passed, 0 failed, 1 inconclusive, 0 errors" in text.stdout


# Near the end of a domain: the fixed step of 1e-6 used to cross zero.

TRUE_GRADIENT = {
    "log": lambda x: 1 / x,
    "sqrt": lambda x: 0.5 / np.sqrt(x),
    "reciprocal": lambda x: -1 / x**2,
}


@pytest.mark.parametrize("checker", ["auto", "central", "forward", "richardson", "directional"])
@pytest.mark.parametrize("x", ["1e-12", "3e-9", "1e-7"])
@pytest.mark.parametrize("op", sorted(TRUE_GRADIENT))
def test_correct_gradients_near_a_domain_edge_pass(op, x, checker):
    text = f"graphgrad: 1\ninputs: {{x: {x}}}\nnodes:\n  f: {{op: {op}, in: [x]}}\noutput: f\n"
    report = check_graph(graphgrad.load(text), checker=checker)
    assert report.status == "passed", report.messages()
    assert report.checks[0].analytic == pytest.approx(TRUE_GRADIENT[op](float(x)), rel=1e-12) or checker in (
        "directional",
        "auto",
    )


@pytest.mark.parametrize("checker", ["central", "forward", "directional"])
def test_a_wrong_gradient_near_a_domain_edge_still_fails(checker):
    """Shrinking the step must not make the check blind: 1/x^2 without its sign."""
    text = "graphgrad: 1\ninputs: {x: 1e-9}\nnodes:\n  f: {op: pow, in: [x], exponent: -1.0}\noutput: f\n"
    good = check_graph(graphgrad.load(text), checker=checker)
    assert good.status == "passed", good.messages()

    class WrongPow(graphgrad.Gate):
        op = "bug_pow_sign"
        exponent: float

        def forward(self, a):
            return a**self.exponent

        def backward(self, grad, out, a):
            return (-grad * self.exponent * a ** (self.exponent - 1),)

        def edges(self, a):
            return a

    plugin = types.ModuleType("pow_bug")
    plugin.graphgrad_gates = graphgrad.hookimpl(lambda: [WrongPow])
    bad = check_graph(
        graphgrad.load(text.replace("op: pow", "op: bug_pow_sign"), plugins=[plugin]), checker=checker
    )
    assert bad.status == "failed", bad.messages()


def test_a_huge_input_gets_a_step_that_moves_it():
    """At 2e10 a step of 1e-6 is below the spacing of floats; the step scales with |x|."""
    text = "graphgrad: 1\ninputs: {x: 2e10}\nnodes:\n  f: {op: square, in: [x]}\noutput: f\n"
    report = check_graph(graphgrad.load(text), checker="central")
    assert report.status == "passed", report.messages()
    assert report.checks[0].numeric == pytest.approx(4e10, rel=1e-6)


# float32


FLOAT32_NET = """graphgrad: 1
dtype: float32
seed: 2
inputs:
  X: {shape: [64, 200], init: normal, grad: false}
  W: {shape: [200, 120], init: normal, std: 0.1}
  V: {shape: [120, 10], init: normal, std: 0.1}
nodes:
  h: {op: MATMUL, in: [X, W]}
  a: {op: tanh, in: [h]}
  s: {op: matmul, in: [a, V]}
  p: {op: softmax, in: [s]}
output: p
"""


def test_a_float32_net_passes_and_blame_names_no_gate():
    """auto on W (24,000 elements) runs directional and every gate alone, float32 matmul
    included: judged with float32 tolerances, on float64 differences."""
    report = check_graph(graphgrad.load(FLOAT32_NET.replace("MATMUL", "matmul")))
    assert report.status == "passed", report.messages()
    assert report.blame == []


def test_a_float32_matmul_checked_alone_with_central_passes():
    text = """graphgrad: 1
dtype: float32
inputs:
  a: {shape: [64, 100], init: normal}
  b: {shape: [100, 50], init: normal}
nodes:
  m: {op: matmul, in: [a, b]}
  t: {op: tanh, in: [m]}
  L: {op: sum, in: [t]}
output: L
"""
    report = check_graph(graphgrad.load(text), checker="central")
    assert report.status == "passed", report.messages()


def test_a_float32_bug_is_still_caught_and_blamed():
    graph = graphgrad.load(FLOAT32_NET.replace("MATMUL", "bug_scaled_matmul"), plugins=[PLUGIN])
    report = check_graph(graph)
    assert report.status == "failed"
    assert [b.node for b in report.blame] == ["h"]


# Blame is bounded


def test_blame_of_a_gate_with_20000_arguments_is_bounded():
    refs = ", ".join(["x"] * 20_000)
    text = (
        "graphgrad: 1\ninputs: {x: 2.0}\nnodes:\n"
        f"  s: {{op: add, in: [{refs}]}}\n  f: {{op: bug_zero_square, in: [s]}}\noutput: f\n"
    )
    report = check_graph(graphgrad.load(text, plugins=[PLUGIN]))
    assert report.status == "failed"
    assert [b.node for b in report.blame] == ["f"]
    assert any("20000 differentiable arguments; 16 of them" in n for n in report.notes)


def test_a_correct_add_of_100000_references_passes():
    """The sum of 10^5 terms is off by far more than a few ulps of its value: a failure is
    confirmed only if it persists at a larger step."""
    refs = ", ".join(["x"] * 100_000)
    text = f"graphgrad: 1\ninputs: {{x: 2.0}}\nnodes:\n  s: {{op: add, in: [{refs}]}}\n  f: {{op: square, in: [s]}}\noutput: f\n"
    report = check_graph(graphgrad.load(text))
    assert report.status == "passed", report.messages()
    assert report.checks[0].numeric == pytest.approx(2 * 2e5 * 1e5, rel=1e-6)


def test_blame_stops_at_its_time_budget():
    import graphgrad.engine.backprop as engine
    from graphgrad.checking.verify import blame

    graph = graphgrad.load(offset_graph("1.0"), plugins=[PLUGIN])
    values = engine.run(graph.plan).values
    notes: list[str] = []
    assert blame(graph, values, notes=notes, seconds=0.0) == []
    assert notes and notes[0].startswith("blame stopped after 0 s, before node 's'")


# Found by an adversarial pass: each was a false verdict or a crash.


@pytest.mark.parametrize("checker", ["central", "forward", "directional", "auto"])
@pytest.mark.parametrize(
    ("op", "x", "truth"),
    [
        ("log", 1e-4, 1e4),
        ("reciprocal", 1e-5, -1e10),
        ("sqrt", 2e-6, 0.5 / np.sqrt(2e-6)),
        ("log", 1e-50, 1e50),
    ],
)
def test_small_values_of_a_correct_gate_pass_without_crashing(op, x, truth, checker):
    """Below |x| = 1 the step stays 1e-6, so near a pole it must shrink with the distance
    to the edge even when it does not cross it (the estimate at 1e-4 once had the wrong sign)."""
    text = f"graphgrad: 1\ninputs: {{x: {x!r}}}\nnodes:\n  f: {{op: {op}, in: [x]}}\noutput: f\n"
    report = check_graph(graphgrad.load(text), checker=checker)
    assert report.status == "passed", report.messages()
    assert report.checks[0].analytic == pytest.approx(truth, rel=1e-12)


def test_a_negative_power_near_its_pole_passes():
    text = "graphgrad: 1\ninputs: {x: 1.0e-3}\nnodes:\n  f: {op: pow, in: [x], exponent: -2.0}\noutput: f\n"
    report = check_graph(graphgrad.load(text), checker="central")
    assert report.status == "passed", report.messages()


def test_at_the_edge_itself_the_verdict_is_inconclusive_and_nothing_is_blamed():
    """x^1.5 at x = 0: no step stays inside the domain; the numbers say nothing."""
    text = "graphgrad: 1\ninputs: {x: 0.0}\nnodes:\n  p: {op: pow, in: [x], exponent: 1.5}\noutput: p\n"
    report = check_graph(graphgrad.load(text), checker="central")
    assert report.status == "inconclusive", report.messages()
    assert report.blame == []
    assert "edge of a gate's domain" in report.checks[0].note


@pytest.mark.parametrize("offset", ["1e8"])
def test_the_advice_of_an_inconclusive_note_does_not_turn_into_a_false_fail(offset):
    """central is inconclusive on exp(x) + 1e8 and its note suggests richardson, which must
    then not fail the right gradient (its refinement once took steps of 0.1 and 1)."""
    text = (
        "graphgrad: 1\ninputs: {x: 0.5}\nnodes:\n  e: {op: exp, in: [x]}\n"
        f"  g: {{op: add, in: [e, {offset}]}}\noutput: g\n"
    )
    graph = graphgrad.load(text)
    assert check_graph(graph, checker="central").status == "inconclusive"
    for checker in ["richardson", "complex_step"]:
        report = check_graph(graph, checker=checker)
        assert report.status in ("passed", "inconclusive"), (checker, report.messages())
    assert "richardson" not in check_graph(graph, checker="richardson").checks[0].note.split("--checker")[-1]


class FiveTimesSquare(Square):
    op = "bug_five_times_square"

    def backward(self, grad, out, a):
        return (grad * 10 * a,)


def test_a_float32_relu_exactly_at_zero_does_not_hide_a_wrong_gate():
    """0.1f * 3 - 0.3f is 0 in float32 and not in float64: kinks must be compared in the
    precision the points are evaluated in, or every element looks like it sits on a kink."""
    plugin = types.ModuleType("five")
    plugin.graphgrad_gates = graphgrad.hookimpl(lambda: [FiveTimesSquare])
    text = """graphgrad: 1
dtype: float32
inputs: {x: [0.1, 0.7], y: {value: [0.3, 5.0], grad: false}}
nodes:
  b: {op: bug_five_times_square, in: [x]}
  bs: {op: mul, in: [b, 0.001]}
  m: {op: mul, in: [x, 3.0]}
  d: {op: sub, in: [m, y]}
  r: {op: relu, in: [d]}
  t: {op: add, in: [bs, r]}
  f: {op: sum, in: [t]}
output: f
"""
    report = check_graph(graphgrad.load(text, plugins=[plugin]))
    assert report.status == "failed", report.messages()
    assert [b.node for b in report.blame] == ["b"]


@pytest.mark.parametrize("checker", ["complex_step", "central"])
def test_complex_step_at_a_kink_is_not_a_false_failure(checker):
    text = "graphgrad: 1\ninputs: {x: 0.0}\nnodes:\n  r: {op: relu, in: [x]}\noutput: r\n"
    report = check_graph(graphgrad.load(text), checker=checker)
    assert report.status == "passed", report.messages()


def test_directions_are_bounded():
    text = (
        "graphgrad: 1\ninputs: {x: [1.0, 2.0]}\nnodes:\n  f: {op: square, in: [x]}\n"
        "output: f\ncheck: {checker: directional, directions: 1000000000}\n"
    )
    with pytest.raises(graphgrad.GraphFileError, match="less than or equal to 100"):
        graphgrad.load(text)
