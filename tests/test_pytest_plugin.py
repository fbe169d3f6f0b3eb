"""The pytest plugin: graph files as test items, failures readable, bad files items too."""

from __future__ import annotations

from tests.conftest import GRAPHS
from tests.test_check import GRAPH, WRONG


def test_graph_files_are_collected_and_checked(pytester):
    pytester.makefile(".yaml", good=GRAPHS.joinpath("simple.yaml").read_text())
    pytester.makefile(".yml", invalid="graphgrad: 1\ninputs: {x: 1}\nnodes: {}\noutput: y\n")
    pytester.makefile(".yaml", other="services:\n  web: {image: nginx}\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*invalid.yml: could not be checked*",
            "*invalid.yml:4:9: 'output': no node or input named 'y'*",
        ]
    )


def test_a_wrong_gate_fails_with_the_worst_element_and_the_gate(pytester):
    pytester.makepyfile(wrong_gates=WRONG)
    pytester.makefile(".yaml", net=GRAPH)
    result = pytester.runpytest("-p", "no:cacheprovider", "--graphgrad-plugins", "wrong_gates.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*net.yaml: gradient check failed*",
            "*input 'W' (central): worst element [[]*[]]: analytic *, numeric *, relative error *",
            "*blame: line 7: node 'a' (badswish, plugin wrong_gates.py)*",
        ]
    )


def test_no_graphgrad_turns_collection_off(pytester):
    pytester.makefile(".yaml", good=GRAPHS.joinpath("simple.yaml").read_text())
    result = pytester.runpytest("-p", "no:cacheprovider", "--no-graphgrad")
    result.assert_outcomes()
