"""Checker power: which checker catches which kind of backward bug.

Each bug is a built-in gate with one mistake in its backward (its forward, shape rule
and kinks are the built-in ones). Every checker must pass every correct gate; central,
richardson and complex_step must catch every bug; directional must catch all but the
ones it cannot see by construction. The table is in docs/checker-power.md; this test
computes it and fails if the docs differ (regenerate with GRAPHGRAD_UPDATE_DOCS=1).
"""

from __future__ import annotations

import os
import types

import numpy as np
import pytest

import graphgrad
import graphgrad.checking.verify as verify
from graphgrad.builtin.gates.arithmetic import Add, Mul
from graphgrad.builtin.gates.elementwise import Exp, Sigmoid, Square, Tanh
from graphgrad.builtin.gates.losses import Softmax
from graphgrad.builtin.gates.shaping import Matmul
from graphgrad.checking.verify import check_graph
from tests.conftest import ROOT

CHECKERS = ["central", "forward", "sparse", "richardson", "directional", "complex_step"]
DOCS = ROOT / "docs" / "checker-power.md"


class WrongSign(Mul):
    op = "bug_wrong_sign"

    def backward(self, grad, out, a, b):
        return -grad * b, grad * a


class MissingFactor(Square):
    op = "bug_missing_factor"

    def backward(self, grad, out, a):
        return (grad * a,)


class WrongAxis(Add):
    op = "bug_wrong_axis"

    def backward(self, grad, out, a, b):
        return grad, grad.sum(axis=1)


class OneElement(Exp):
    op = "bug_one_element"

    def backward(self, grad, out, a):
        g = grad * out
        g.flat[7] *= 1.5
        return (g,)


class SmallConstant(Tanh):
    op = "bug_small_constant"

    def backward(self, grad, out, a):
        return (grad * (1 - out * out) + 1e-4,)


class Transposed(Matmul):
    op = "bug_transposed"

    def backward(self, grad, out, a, b):
        return grad @ b.T, (a.T @ grad).T


class DroppedTerm(Sigmoid):
    op = "bug_dropped_term"

    def backward(self, grad, out, a):
        return (grad * (1 - out),)


class DoubledSoftmax(Softmax):
    """Twice the right gradient: invisible to sum(output), since every row sums to 1."""

    op = "bug_doubled_softmax"

    def backward(self, grad, out, a):
        return (2 * out * (grad - np.sum(grad * out, axis=-1, keepdims=True)),)


class Center(graphgrad.Gate):
    """a - mean(a) along the last axis (a correct gate the bugs below get wrong)."""

    op = "center"
    complex_step = True

    def forward(self, a):
        return a - np.mean(a, axis=-1, keepdims=True)

    def backward(self, grad, out, a):
        return (grad - np.mean(grad, axis=-1, keepdims=True),)

    def shape(self, a):
        return a


class CenterWrongAxis(Center):
    """The mean of the upstream taken over every axis: equal to the right one for ones."""

    op = "bug_center_wrong_axis"

    def backward(self, grad, out, a):
        return (grad - np.mean(grad),)


class Normalize(graphgrad.Gate):
    """a / sum(a) along the last axis; each row of the output sums to 1."""

    op = "normalize"
    complex_step = True

    def forward(self, a):
        return a / np.sum(a, axis=-1, keepdims=True)

    def backward(self, grad, out, a):
        s = np.sum(a, axis=-1, keepdims=True)
        return ((grad - np.sum(grad * out, axis=-1, keepdims=True)) / s,)

    def shape(self, a):
        return a


class NormalizeMeanForSum(Normalize):
    """sum(grad * out) replaced by mean(grad): the same when grad is all ones."""

    op = "bug_normalize_mean"

    def backward(self, grad, out, a):
        s = np.sum(a, axis=-1, keepdims=True)
        return ((grad - np.mean(grad, axis=-1, keepdims=True)) / s,)


# The non-scalar rows: the graph's output is the gate's own (matrix) output, so a check
# of sum(output) would see a gradient of zero from the right and from the wrong backward.
BUGS = {
    "wrong sign": (WrongSign, "mul", "{op: OP, in: [a, b]}"),
    "missing factor": (MissingFactor, "square", "{op: OP, in: [a]}"),
    "wrong axis after broadcasting": (WrongAxis, "add", "{op: OP, in: [a, v]}"),
    "wrong for one element of 900": (OneElement, "exp", "{op: OP, in: [big]}"),
    "off by a small constant (1e-4)": (SmallConstant, "tanh", "{op: OP, in: [a]}"),
    "transposed gradient": (Transposed, "matmul", "{op: OP, in: [a, b]}"),
    "dropped term": (DroppedTerm, "sigmoid", "{op: OP, in: [a]}"),
    "doubled softmax, matrix output": (DoubledSoftmax, "softmax", "{op: OP, in: [a]}"),
    "centering over the wrong axis, matrix output": (CenterWrongAxis, "center", "{op: OP, in: [a]}"),
    "normalisation, mean for a weighted sum, matrix output": (
        NormalizeMeanForSum,
        "normalize",
        "{op: OP, in: [pos]}",
    ),
}
MATRIX_OUTPUT = {bug for bug in BUGS if bug.endswith("matrix output")}
CORRECT = {"center": Center, "normalize": Normalize}

TEMPLATE = """graphgrad: 1
seed: 3
inputs:
  a: {{shape: [4, 4], init: normal}}
  b: {{shape: [4, 4], init: normal}}
  v: {{shape: [4], init: normal}}
  big: {{shape: [30, 30], init: normal, std: 0.5}}
  w: {{shape: [4, 4], init: normal, grad: false}}
  wbig: {{shape: [30, 30], init: normal, grad: false}}
  pos: {{shape: [4, 4], init: uniform, low: 0.5, high: 2}}
nodes:
  p: {node}
  q: {{op: mul, in: [p, {weight}]}}
  L: {{op: sum, in: [q]}}
output: {output}
check: {{wrt: [{wrt}]}}
"""

PLUGIN = types.ModuleType("checker_power_bugs")
PLUGIN.graphgrad_gates = graphgrad.hookimpl(lambda: [b[0] for b in BUGS.values()] + list(CORRECT.values()))


def graph_for(bug: str, op: str) -> graphgrad.Graph:
    _, _, node = BUGS[bug]
    args = node.split("[")[1].split("]")[0].split(", ")
    text = TEMPLATE.format(
        node=node.replace("OP", op),
        weight="wbig" if "big" in args else "w",
        wrt=", ".join(args),
        output="p" if bug in MATRIX_OUTPUT else "L",
    )
    return graphgrad.load(text, plugins=[PLUGIN])


def caught(bug: str, checker: str, *, correct: bool = False) -> bool:
    cls, builtin, _ = BUGS[bug]
    report = check_graph(graph_for(bug, builtin if correct else cls.op), checker=checker)
    return any(not c.passed for c in report.checks)


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, bool]]:
    return {bug: {c: caught(bug, c) for c in CHECKERS} for bug in BUGS}


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("bug", list(BUGS))
def test_every_checker_passes_every_correct_gate(bug, checker):
    assert not caught(bug, checker, correct=True)


@pytest.mark.parametrize("checker", ["central", "richardson", "complex_step"])
def test_exact_checkers_catch_every_bug(table, checker):
    assert [b for b in BUGS if not table[b][checker]] == []


DIRECTIONAL_BLIND: list[str] = []


def test_directional_catches_all_but_what_it_cannot_see(table):
    assert [b for b in BUGS if not table[b]["directional"]] == DIRECTIONAL_BLIND


@pytest.mark.parametrize("bug", sorted(MATRIX_OUTPUT))
def test_a_bug_the_plain_sum_cannot_see_fails_every_checker(table, bug):
    """The check differentiates <output, u> for a random u, never sum(output)."""
    assert [c for c in CHECKERS if not table[bug][c]] == []
    graph = graph_for(bug, BUGS[bug][0].op)
    out = graph.run().value
    assert np.allclose(np.sum(out, axis=-1), 1.0) or np.allclose(np.sum(out, axis=-1), 0.0)


@pytest.mark.parametrize("bug", sorted(MATRIX_OUTPUT))
def test_the_plain_sum_really_is_blind_to_it(bug):
    """What makes the rows above worth having: seeded with ones, the right and the wrong
    backward give the same gradient."""
    cls, builtin, _ = BUGS[bug]
    wrong, right = graph_for(bug, cls.op).run(), graph_for(bug, builtin).run()
    assert np.allclose(
        wrong.grads["a" if "pos" not in BUGS[bug][2] else "pos"],
        right.grads["a" if "pos" not in BUGS[bug][2] else "pos"],
        atol=1e-12,
    )


@pytest.mark.parametrize("above", [False, True], ids=["central", "directions-and-every-gate"])
@pytest.mark.parametrize("bug", list(BUGS))
def test_auto_catches_every_bug(monkeypatch, bug, above):
    """``auto`` on both sides of its threshold: these inputs hold at most 1,000 elements,
    so it runs central; with the threshold at 0 it runs random directions plus every
    gate alone (quick blame), as on a large graph, and must still fail the file and name
    the gate, with the element where its inputs are small enough."""
    if above:
        monkeypatch.setattr(verify, "AUTO_THRESHOLD", 0)
    cls, builtin, _ = BUGS[bug]
    report = check_graph(graph_for(bug, cls.op), checker="auto")
    assert report.status == "failed", report.messages()
    expected = "directional" if above else "central"
    assert {c.checker for c in report.checks} == {expected}
    if above:
        (fault,) = report.blame
        assert (fault.node, fault.op) == ("p", cls.op)
        assert fault.verdict.checker == "central" and fault.verdict.worst_index != ()
        if bug == "wrong for one element of 900":
            assert fault.verdict.worst_index == (0, 7)
    assert check_graph(graph_for(bug, builtin), checker="auto").status == "passed"


@pytest.mark.parametrize("shape", [[5], [3, 4], [2, 3, 4]])
@pytest.mark.parametrize("checker", CHECKERS)
def test_correct_gates_with_vector_and_matrix_outputs_pass(shape, checker):
    text = f"""graphgrad: 1
seed: 5
inputs:
  a: {{shape: {shape}, init: normal}}
  b: {{shape: {shape}, init: uniform, low: 0.5, high: 2}}
nodes:
  s: {{op: softmax, in: [a]}}
  t: {{op: mul, in: [s, b]}}
  u: {{op: tanh, in: [t]}}
  c: {{op: center, in: [u]}}
  n: {{op: normalize, in: [b]}}
  o: {{op: add, in: [c, n]}}
output: o
"""
    report = check_graph(graphgrad.load(text, plugins=[PLUGIN]), checker=checker)
    assert report.status == "passed", report.messages()
    assert {c.input for c in report.checks} == {"a", "b"}


def render(table: dict[str, dict[str, bool]]) -> str:
    head = "| kind of bug | " + " | ".join(CHECKERS) + " |\n"
    head += "| --- |" + " --- |" * len(CHECKERS) + "\n"
    rows = "".join(
        f"| {bug} | " + " | ".join("caught" if table[bug][c] else "**missed**" for c in CHECKERS) + " |\n"
        for bug in BUGS
    )
    return head + rows


def test_docs_show_this_table(table):
    text = DOCS.read_text() if DOCS.exists() else ""
    start, end = "<!-- table:start -->\n", "<!-- table:end -->"
    fresh = render(table)
    if os.environ.get("GRAPHGRAD_UPDATE_DOCS"):
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        DOCS.write_text(before + start + fresh + end + after)
        text = DOCS.read_text()
    assert start + fresh + end in text, (
        "docs/checker-power.md is stale: GRAPHGRAD_UPDATE_DOCS=1 pytest " + __file__
    )


def test_the_bugs_really_are_bugs():
    """Each bug gate's backward differs from its built-in gate's on the same values."""
    rng = np.random.default_rng(0)
    for bug, (cls, builtin, _) in BUGS.items():
        good = CORRECT.get(builtin) or graphgrad.plugins.manager.default_registry()[builtin].cls
        good = good.model_validate({})
        args = [rng.normal(size=(30, 30))] if "900" in bug else [rng.uniform(0.5, 2, size=(4, 4))]
        if builtin in ("mul", "matmul"):
            args.append(rng.normal(size=(4, 4)))
        if builtin == "add":
            args.append(rng.normal(size=(4,)))
        out = good.forward(*args)
        upstream = rng.normal(size=out.shape)
        want = good.backward(upstream, out, *args)
        got = cls().backward(upstream, out, *args)
        assert any(
            not np.allclose(
                graphgrad.sum_to(np.asarray(g), a.shape), graphgrad.sum_to(np.asarray(w), a.shape)
            )
            for g, w, a in zip(got, want, args, strict=True)
        ), bug
