"""``auto``'s rule (graph-format.md "check"): central while the checked inputs hold at
most 1,000 elements in all; above, random directions plus every gate alone."""

from __future__ import annotations

import pytest

import graphgrad
from graphgrad.checking.verify import AUTO_DIRECTIONS, AUTO_THRESHOLD, check_graph

TEXT = """graphgrad: 1
inputs:
  a: {{shape: [{n}], init: normal}}
  b: {{shape: [{n}], init: normal}}
nodes:
  p: {{op: mul, in: [a, b]}}
  t: {{op: tanh, in: [p]}}
  L: {{op: sum, in: [t]}}
output: L
{check}"""


def _report(n: int, check: str = ""):
    return check_graph(graphgrad.load(TEXT.format(n=n, check=check)))


def test_the_threshold_is_the_contracts():
    assert AUTO_THRESHOLD == 1_000


@pytest.mark.parametrize(
    ("n", "check", "expected"),
    [
        (500, "", "central"),  # 1,000 elements in all: central
        (501, "", "directional"),  # 1,002 in all, though each input is small
        (600, "check: {wrt: [a]}\n", "central"),  # only the checked inputs count
        (1001, "check: {wrt: [a]}\n", "directional"),
    ],
)
def test_auto_counts_the_checked_inputs_in_all(n, check, expected):
    report = _report(n, check)
    assert report.status == "passed", report.messages()
    assert {c.checker for c in report.checks} == {expected}
    if expected == "central":
        assert all(c.evals == 2 * n for c in report.checks)
    else:
        assert all(c.evals == 2 * AUTO_DIRECTIONS for c in report.checks)


def test_a_file_asking_for_directional_keeps_its_own_directions():
    report = _report(600, "check: {checker: directional, directions: 5}\n")
    assert [c.evals for c in report.checks] == [10, 10]
    report = _report(600, "check: {checker: directional}\n")
    assert [c.evals for c in report.checks] == [6, 6]  # the checker's default, 3
