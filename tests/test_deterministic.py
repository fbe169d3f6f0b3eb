"""``Gate.deterministic``: a graph of gates that declare it is checked with one run, not
two; a gate without it still gets the second run (and a wrong claim is caught by
``gates --check``, which runs every declaring gate twice and watches its inputs)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphgrad
import graphgrad.checking.verify as verify
from graphgrad.checking.gatecheck import check_gate
from graphgrad.plugins.manager import build_registry, make_plugin_manager

BUILTIN = [
    t
    for t in build_registry(make_plugin_manager([], use_env=False))
    if t.plugin.startswith("graphgrad.builtin")
]

TEXT = "graphgrad: 1\ninputs: {x: [0.5, -1.0, 2.0]}\nnodes:\n  f: {op: OP, in: [x]}\n  s: {op: sum, in: [f]}\noutput: s\n"


class Twice(graphgrad.Gate):
    op = "twice"

    def forward(self, a):
        return 2 * a

    def backward(self, grad, out, a):
        return (2 * grad,)


class Noisy(Twice):
    op = "noisy"
    deterministic = True  # a false claim

    def backward(self, grad, out, a):
        return (2 * grad + np.random.default_rng().normal(size=np.shape(grad)) * 1e-3,)


class Scribbler(Twice):
    op = "scribbler"
    deterministic = True  # a false claim: it writes into its input

    def forward(self, a):
        a *= 1.0000001
        return 2 * a


@graphgrad.hookimpl
def graphgrad_gates():
    """This module is the plugin of the second test."""
    return [Twice]


def _runs(monkeypatch, graph) -> list:
    calls = []
    real = verify._run
    monkeypatch.setattr(verify, "_run", lambda *a: calls.append(1) or real(*a))
    assert verify.check_graph(graph).status == "passed"
    return calls


def test_a_graph_of_builtin_gates_is_run_once(monkeypatch):
    assert len(_runs(monkeypatch, graphgrad.load(TEXT.replace("OP", "tanh")))) == 1


def test_a_gate_that_does_not_declare_it_gets_the_second_run(monkeypatch):
    graph = graphgrad.load(TEXT.replace("OP", "twice"), plugins=[sys.modules[__name__]])
    assert len(_runs(monkeypatch, graph)) == 2


@pytest.mark.parametrize("gate_type", BUILTIN, ids=lambda t: t.op)
def test_every_builtin_gate_declares_it_and_gates_check_finds_it_true(gate_type):
    assert gate_type.cls.deterministic
    report = check_gate(gate_type.cls)
    assert not [f for f in report.failures if "deterministic" in f], report.failures


@pytest.mark.parametrize(
    ("gate", "words"), [(Noisy, "two calls gave different results"), (Scribbler, "changed an input in place")]
)
def test_a_false_claim_fails_gates_check(gate, words):
    report = check_gate(gate)
    assert report.status == "failed"
    assert any(words in f for f in report.failures), report.failures
