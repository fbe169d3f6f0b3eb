"""graphgrad check: verdicts, kinks, blame, NaN, determinism, batches and isolation."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

import graphgrad
from graphgrad.checking.batch import BatchOptions, check_files
from graphgrad.checking.verify import AUTO_DIRECTIONS, check_graph
from graphgrad.cli import main
from tests.conftest import GRAPHS

WRONG = '''
import numpy as np
import graphgrad

class BadSwish(graphgrad.Gate):
    """x sigmoid(x), with the x s (1 - s) term of its backward forgotten."""
    op = "badswish"
    complex_step = True

    def shape(self, x):
        return x

    def forward(self, x):
        return x / (1 + np.exp(-x))

    def backward(self, grad, out, x):
        return (grad / (1 + np.exp(-x)),)

CALLS = [0]


class Flaky(graphgrad.Gate):
    """A backward that differs from run to run."""
    op = "flaky"

    def forward(self, x):
        return 2 * x

    def backward(self, grad, out, x):
        CALLS[0] += 1
        return (grad * (2 + 1e-3 * CALLS[0]),)

class Twice(graphgrad.Gate):
    """2 x, right, but it does not say that it accepts complex inputs."""
    op = "twice"

    def forward(self, x):
        return 2 * x

    def backward(self, grad, out, x):
        return (2 * grad,)

@graphgrad.hookimpl
def graphgrad_gates():
    return [BadSwish, Flaky, Twice]
'''

GRAPH = """graphgrad: 1
inputs:
  W: {shape: [3, 4], init: normal}
  x: {shape: [4], init: normal}
nodes:
  h: {op: matmul, in: [W, x]}
  a: {op: badswish, in: [h]}
  L: {op: sum, in: [a]}
output: L
"""


@pytest.fixture
def wrong(tmp_path):
    path = tmp_path / "wrong_gates.py"
    path.write_text(WRONG)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_shipped_graphs_pass():
    result = invoke("check", GRAPHS, "--jobs", "1")
    assert result.exit_code == 0, result.output
    n = len(list(GRAPHS.rglob("*.yaml")))
    assert f"{n} passed, 0 failed, 0 errors" in result.stdout


def test_wrong_plugin_gate_names_input_worst_element_values_and_the_gate(write, wrong):
    path = write(GRAPH)
    result = invoke("check", path, "--plugins", wrong, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["passed"], doc["failed"], doc["errors"]) == (0, 1, 0)
    (report,) = doc["files"]
    by_input = {c["input"]: c for c in report["checks"]}
    assert set(by_input) == {"W", "x"} and not by_input["W"]["passed"]
    worst = by_input["x"]
    # the expected gradient, computed here by hand: d/dx sum(swish(W x)) = W^T swish'(W x)
    g = graphgrad.load(path, plugins=[wrong])
    W, x = g.definition.inputs["W"].value, g.definition.inputs["x"].value
    h = W @ x
    s = 1 / (1 + np.exp(-h))
    true_grad = W.T @ (s + h * s * (1 - s))
    i = worst["worst_index"][0]
    assert worst["numeric"] == pytest.approx(true_grad[i], rel=1e-6)
    assert worst["analytic"] == pytest.approx((W.T @ s)[i], rel=1e-12)
    (fault,) = report["blame"]
    assert (fault["node"], fault["op"], fault["line"], fault["plugin"]) == ("a", "badswish", 7, str(wrong))
    human = invoke("check", path, "--plugins", wrong)
    assert f"input 'x' (central): worst element [{i}]" in human.stdout
    assert "blame: line 7: node 'a' (badswish" in human.stdout


@pytest.mark.parametrize(
    "checker", ["central", "forward", "sparse", "richardson", "directional", "complex_step"]
)
def test_every_checker_fails_the_wrong_gate_and_passes_the_right_one(write, wrong, checker):
    bad = graphgrad.load(write(GRAPH), plugins=[wrong])
    assert check_graph(bad, checker=checker).status == "failed"
    good = graphgrad.load(write(GRAPH.replace("badswish", "sigmoid"), "good.yaml"))
    report = check_graph(good, checker=checker)
    assert report.status == "passed", report.messages()


def test_checker_on_command_line_wins_over_the_file(write):
    path = write(GRAPHS.joinpath("simple.yaml").read_text() + "check: {checker: forward}\n")
    doc = json.loads(invoke("check", path, "--json", "--checker", "richardson").stdout)
    assert {c["checker"] for c in doc["files"][0]["checks"]} == {"richardson"}
    doc = json.loads(invoke("check", path, "--json").stdout)
    assert {c["checker"] for c in doc["files"][0]["checks"]} == {"forward"}
    assert invoke("check", path, "--checker", "nope").exit_code == 2


def test_evals_are_counted():
    g = graphgrad.load(GRAPHS / "simple.yaml")
    assert [c.evals for c in check_graph(g, checker="central").checks] == [2, 2, 2]
    assert [c.evals for c in check_graph(g, checker="complex_step").checks] == [1, 1, 1]
    assert [c.evals for c in check_graph(g, checker="forward").checks] == [2, 2, 2]


def test_a_kink_is_noted_not_failed():
    # relu and max exactly at their kinks: one-sided differences bound the subgradient
    g = graphgrad.load(
        "graphgrad: 1\ninputs: {x: [0.0, 1.0, -2.0], y: 0.0}\nnodes:\n  r: {op: relu, in: [x]}\n"
        "  m: {op: max, in: [y, 0.0]}\n  s: {op: sum, in: [r]}\n  f: {op: add, in: [s, m]}\noutput: f\n"
    )
    report = check_graph(g, checker="central")
    assert report.status == "passed", report.messages()
    x_check = next(c for c in report.checks if c.input == "x")
    assert [k.as_dict() for k in x_check.kinks] == [
        {"node": "r", "op": "relu", "element": [0], "input_element": [0], "one_sided": True}
    ]
    y_check = next(c for c in report.checks if c.input == "y")
    assert y_check.kinks[0].node == "m"


def test_a_near_kink_is_avoided_with_a_smaller_step():
    g = graphgrad.load(
        "graphgrad: 1\ninputs: {x: [3.0e-7]}\nnodes:\n  r: {op: abs, in: [x]}\n  s: {op: sum, in: [r]}\noutput: s\n"
    )
    (check,) = check_graph(g, checker="central").checks
    assert check.passed and check.kinks[0].one_sided is False
    assert check.numeric == pytest.approx(1.0)


def test_a_wrong_gradient_at_a_kink_still_fails(tmp_path):
    plugin = tmp_path / "badrelu.py"
    plugin.write_text(
        "import numpy as np\nimport graphgrad\n\nclass BadRelu(graphgrad.Gate):\n    op = 'badrelu'\n"
        "    def forward(self, a):\n        return np.maximum(a, 0)\n    def kinks(self, a):\n        return a\n"
        "    def backward(self, grad, out, a):\n        return (grad * 2.0,)\n\n"
        "@graphgrad.hookimpl\ndef graphgrad_gates():\n    return [BadRelu]\n"
    )
    g = graphgrad.load(
        "graphgrad: 1\ninputs: {x: [0.0]}\nnodes:\n  r: {op: badrelu, in: [x]}\n  s: {op: sum, in: [r]}\noutput: s\n",
        plugins=[plugin],
    )
    assert check_graph(g, checker="central").status == "failed"


def test_nan_names_the_first_node(write):
    path = write(
        "graphgrad: 1\ninputs: {x: -1.0}\nnodes:\n  a: {op: exp, in: [x]}\n  b: {op: neg, in: [a]}\n  c: {op: log, in: [b]}\n  d: {op: mul, in: [c, 2]}\noutput: d\n"
    )
    doc = json.loads(invoke("check", path, "--json").stdout)
    problems = doc["files"][0]["problems"]
    assert doc["files"][0]["status"] == "failed"
    assert problems[0] == "non-finite value: NaN first appears in the value of node 'c' (log, line 6)"


def test_nondeterministic_backward_fails(write, wrong):
    path = write("graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n  f: {op: flaky, in: [x]}\noutput: f\n")
    doc = json.loads(invoke("check", path, "--json", "--plugins", wrong).stdout)
    assert doc["files"][0]["problems"] == [
        "backward is not deterministic: the gradient of 'x' differs between two runs"
    ]


def test_complex_step_refuses_a_gate_that_does_not_say_it_accepts_complex(write, wrong):
    path = write(GRAPH.replace("badswish", "twice"))
    g = graphgrad.load(path, plugins=[wrong])
    (check, *_) = check_graph(g, checker="complex_step").checks
    assert not check.passed
    assert "node 'a' (twice, line 7) does not accept complex inputs" in check.note
    assert check_graph(g, checker="central").status == "passed"


def test_expect_is_compared(write):
    path = write(GRAPHS.joinpath("simple.yaml").read_text().replace("z: 3}", "z: 4}"))
    doc = json.loads(invoke("check", path, "--json").stdout)
    assert doc["files"][0]["status"] == "failed"
    assert doc["files"][0]["expect"] == [
        "gradient of z: expected 4.0, got 3.0 (beyond rtol 1e-07, atol 1e-09; loosen with expect.rtol)"
    ]


def test_unused_nodes_are_information(write):
    path = write(
        "graphgrad: 1\ninputs: {x: 1.0, u: 2.0}\nnodes:\n  f: {op: exp, in: [x]}\n  lone: {op: exp, in: [u]}\noutput: f\n"
    )
    result = invoke("check", path, "-v")  # cli.md: information is shown with -v only
    assert result.exit_code == 0 and "not used by the output: u, lone" in result.stdout
    assert "not used by the output" not in invoke("check", path).stdout


def test_a_batch_goes_on_past_an_invalid_file_and_writes_junit(tmp_path, wrong):
    (tmp_path / "a_good.yaml").write_text(GRAPHS.joinpath("simple.yaml").read_text())
    (tmp_path / "b_invalid.yaml").write_text("graphgrad: 1\ninputs: {x: 1}\nnodes: {}\noutput: y\n")
    (tmp_path / "c_wrong.yaml").write_text(GRAPH)
    junit = tmp_path / "out.xml"
    result = invoke("check", tmp_path, "--plugins", wrong, "--junit", junit, "--jobs", "2")
    assert result.exit_code == 2  # an error and a failure: the highest code wins
    assert f"{tmp_path / 'b_invalid.yaml'}:4:9: 'output': no node or input named 'y'" in result.stderr
    assert "1 passed, 1 failed, 1 errors" in result.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert cases[2].find("failure") is not None and "blame" in cases[2].find("failure").text


def test_jobs_give_the_same_results_in_the_same_order(tmp_path):
    paths = []
    for i in range(6):
        p = tmp_path / f"g{i}.yaml"
        p.write_text(GRAPHS.joinpath("two_layer_softmax.yaml").read_text().replace("seed: 0", f"seed: {i}"))
        paths.append(str(p))
    one = check_files(paths, BatchOptions(), jobs=1)
    two = check_files(paths, BatchOptions(), jobs=2)
    assert [r.file for r in one] == [r.file for r in two] == paths
    assert [[c.max_rel_error for c in r.checks] for r in one] == [
        [c.max_rel_error for c in r.checks] for r in two
    ]


CRASHING = """
import os, signal, threading
import graphgrad

class Crash(graphgrad.Gate):
    op = "crash"
    def forward(self, x):
        os.kill(os.getpid(), signal.SIGKILL)
    def backward(self, grad, out, x):
        return (grad,)

class Hang(graphgrad.Gate):
    op = "hang"
    def forward(self, x):
        threading.Event().wait()  # hangs for good, without spinning
    def backward(self, grad, out, x):
        return (grad,)

@graphgrad.hookimpl
def graphgrad_gates():
    return [Crash, Hang]
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_crashing_or_hanging_file_costs_its_neighbours_nothing(tmp_path, jobs):
    """The file behind a crash or a hang was already in that worker's pipe: it must be
    checked by another worker, not blamed."""
    plugin = tmp_path / "evil.py"
    plugin.write_text(CRASHING)
    paths = []
    for name in ("a", "crash", "b", "hang", "c"):
        p = tmp_path / f"{name}.yaml"
        op = name if name in ("crash", "hang") else "exp"
        p.write_text(f"graphgrad: 1\ninputs: {{x: 1.0}}\nnodes:\n  f: {{op: {op}, in: [x]}}\noutput: f\n")
        paths.append(str(p))
    reports = check_files(paths, BatchOptions(plugins=(str(plugin),), timeout=1.0), jobs=jobs)
    assert [r.status for r in reports] == ["passed", "error", "passed", "error", "passed"]
    assert [r.file for r in reports] == paths
    assert "died with signal SIGKILL (retried alone after" in reports[1].error[0]
    assert "timed out after 1 s (retried alone after: timed out after 1 s)" in reports[3].error[0]


def test_gates_check_passes_builtins_and_fails_a_wrong_plugin_gate(wrong):
    ok = invoke("gates", "--check")
    assert ok.exit_code == 0, ok.stdout
    bad = invoke("gates", "--check", "--json", "--plugins", wrong)
    assert bad.exit_code == 1
    gates = {g["op"]: g for g in json.loads(bad.stdout)["gates"]}
    assert not gates["badswish"]["passed"] and gates["badswish"]["failures"]
    assert gates["mul"]["passed"] and gates["mul"]["cases"] >= 4
    assert gates["svm_loss"]["passed"] and gates["svm_loss"]["cases"] >= 2


def test_large_inputs_use_directional_with_per_gate_checks():
    g = graphgrad.load(
        "graphgrad: 1\ninputs:\n  X: {shape: [4, 200], init: normal}\n  W: {shape: [200, 60], init: normal, std: 0.1}\n"
        "nodes:\n  h: {op: matmul, in: [X, W]}\n  a: {op: tanh, in: [h]}\n  L: {op: l2, in: [a]}\noutput: L\n"
    )
    report = check_graph(g)
    w_checks = [c.checker for c in report.checks if c.input == "W"]
    assert w_checks == ["directional"]
    assert report.status == "passed" and report.blame == []
    assert sum(c.evals for c in report.checks if c.input == "W") == 2 * AUTO_DIRECTIONS


def test_per_gate_checks_leave_out_gradients_nobody_uses(monkeypatch):
    """X has grad: false, so matmul's gradient for X is never used and not checked."""
    import graphgrad.checking.verify as verify

    seen = []
    real = verify.check_step

    def spy(step, args, upstream, names, make, needed=None, quick=False, out=None):
        verdicts = real(step, args, upstream, names, make, needed, quick, out)
        seen.extend((step.name, v.input) for v in verdicts)
        return verdicts

    monkeypatch.setattr(verify, "check_step", spy)
    g = graphgrad.load(
        "graphgrad: 1\ninputs:\n  X: {shape: [4, 200], init: normal, grad: false}\n"
        "  W: {shape: [200, 60], init: normal, std: 0.1}\n"
        "nodes:\n  h: {op: matmul, in: [X, W]}\n  a: {op: tanh, in: [h]}\n  L: {op: l2, in: [a]}\noutput: L\n"
    )
    assert check_graph(g).status == "passed"
    assert ("h", "W") in seen and ("a", "h") in seen and ("L", "a") in seen
    assert ("h", "X") not in seen


class _OneWrongElement(graphgrad.Gate):
    """square, with the gradient of element 7 doubled: the bug a quick check must catch."""

    op = "square_one_wrong"

    def forward(self, a):
        return a * a

    def backward(self, grad, out, a):
        g = 2 * a * grad
        g.flat[7] *= 2
        return (g,)


def _step(gate: graphgrad.Gate):
    from graphgrad.engine.plan import Step

    return Step("q", gate.op, gate, gate.forward, gate.backward, (0,), 1, 3)


def test_quick_gate_check_confirms_a_correct_gate_with_a_few_evaluations():
    from graphgrad.builtin.gates.elementwise import Square
    from graphgrad.checking.gatecheck import check_step

    a = np.random.default_rng(1).normal(size=(20, 30))
    upstream = np.random.default_rng(2).normal(size=a.shape)
    (quick,) = check_step(_step(Square()), [a], upstream, ["a"], quick=True)
    (full,) = check_step(_step(Square()), [a], upstream, ["a"])
    assert quick.passed and quick.checker == "directional" and quick.evals == 6
    assert full.passed and full.checker == "central" and full.evals == 2 * a.size


def test_quick_gate_check_falls_back_to_central_to_name_the_wrong_element():
    from graphgrad.checking.gatecheck import check_step

    a = np.random.default_rng(1).normal(size=(20, 30))
    upstream = np.random.default_rng(2).normal(size=a.shape)
    (verdict,) = check_step(_step(_OneWrongElement()), [a], upstream, ["a"], quick=True)
    assert not verdict.passed and verdict.checker == "central"
    assert np.ravel_multi_index(verdict.worst_index, a.shape) == 7
    assert verdict.numeric == pytest.approx(2 * a.flat[7] * upstream.flat[7], rel=1e-6)


def test_directions_are_shared_within_one_graph_check_and_equal_to_fresh_draws():
    from graphgrad.builtin.checkers.directional import Directional
    from graphgrad.checker import check_scope

    checker = Directional()
    fresh = list(checker._directions((40, 30)))
    with check_scope():
        first = list(checker._directions((40, 30)))
        again = list(checker._directions((40, 30)))
        other = list(Directional(seed=1)._directions((40, 30)))
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(first, fresh, strict=True))
    assert not np.array_equal(first[0], other[0])
    assert all(abs(np.linalg.norm(v) - 1) < 1e-12 for v in first)
    assert list(checker._directions((40, 30)))[0] is not first[0]
