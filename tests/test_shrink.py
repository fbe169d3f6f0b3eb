"""check --shrink: from a failing check to the smallest graph file that still fails.

Wrong plugin gates are buried in generated graphs of 50-500 nodes; the file written must
load, run and fail `check` on its own under the same checker, blaming the same gate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import graphgrad
from graphgrad.checking.batch import BatchOptions, check_file
from graphgrad.checking.gatecheck import check_step
from graphgrad.checking.shrink import shrink
from graphgrad.checking.verify import check_graph
from graphgrad.cli import main
from graphgrad.service.pool import PoolSettings
from graphgrad.service.tasks import handle
from tests.conftest import ROOT

WRONG = '''
import numpy as np
import graphgrad


class BadSwish(graphgrad.Gate):
    """x sigmoid(x), with the x s (1 - s) term of its backward forgotten."""
    op = "badswish"

    def shape(self, x):
        return x

    def forward(self, x):
        return x / (1 + np.exp(-x))

    def backward(self, grad, out, x):
        return (grad / (1 + np.exp(-x)),)


class BadScale(graphgrad.Gate):
    """a * b * factor, whose backward forgets the factor for b."""
    op = "badscale"
    factor: float = 1.0

    def forward(self, a, b):
        return a * b * self.factor

    def backward(self, grad, out, a, b):
        return (grad * b * self.factor, grad * a)


@graphgrad.hookimpl
def graphgrad_gates():
    return [BadSwish, BadScale]
'''


@pytest.fixture
def wrong(tmp_path):
    path = tmp_path / "wrong_gates.py"
    path.write_text(WRONG)
    return path


OPS = ["add", "sub", "half", "tanh", "mul", "sigmoid"]
WEIGHTS = [0.3, 0.15, 0.25, 0.2, 0.05, 0.05]


def generated(nodes: int, seed: int, buried: dict[int, str], width: int = 6) -> str:
    """``nodes`` gates over vectors of ``width``: each node reads the one before it and
    any earlier one (so that short paths carry gradients to the output from everywhere;
    tanh and halving keep the values bounded); ``buried`` puts a wrong gate at some
    positions."""
    rng = np.random.default_rng(seed)
    lines = ["graphgrad: 1", f"seed: {seed}", "inputs:"]
    names = [f"x{i}" for i in range(3)]
    lines += [f"  {n}: {{shape: [{width}], init: normal, std: 0.5}}" for n in names]
    lines.append("nodes:")
    for i in range(nodes):
        prev, other = names[-1], names[int(rng.integers(len(names) - 1))]
        op = buried.get(i) or str(rng.choice(OPS, p=WEIGHTS))
        if op == "badscale":
            text = f"{{op: badscale, in: [{prev}, {other}], factor: 1.5}}"
        elif op == "half":
            text = f"{{op: mul, in: [{prev}, 0.5]}}"
        elif op in ("add", "mul", "sub"):
            text = f"{{op: {op}, in: [{prev}, {other}]}}"
        else:
            text = f"{{op: {op}, in: [{prev}]}}"
        lines.append(f"  n{i}: {text}")
        names.append(f"n{i}")
    lines += [f"  loss: {{op: sum, in: [{names[-1]}]}}", "output: loss", ""]
    return "\n".join(lines)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _check_written(path, wrong, *, checker=None):
    g = graphgrad.load(path, plugins=[wrong])
    return g, check_graph(g, checker=checker)


@pytest.mark.parametrize(
    ("nodes", "at", "checker"), [(50, 20, "central"), (200, 120, "auto"), (500, 333, None)]
)
def test_a_buried_wrong_gate_shrinks_to_a_handful_of_nodes_that_still_fail(
    tmp_path, wrong, nodes, at, checker
):
    source = tmp_path / "big.yaml"
    source.write_text(generated(nodes, seed=nodes, buried={at: "badswish"}))
    out = tmp_path / "small.yaml"
    extra = ["--checker", checker] if checker else []
    result = invoke("check", source, "--plugins", wrong, "--shrink", out, "--json", *extra)
    assert result.exit_code == 1, result.output
    (report,) = json.loads(result.stdout)["files"]
    assert report["status"] == "failed" and report["blame"][0]["node"] == f"n{at}"
    found = report["shrink"]
    assert found["written"] and found["file"] == str(out) and found["finished"]
    assert found["nodes"]["before"] == nodes + 1 and found["nodes"]["after"] <= 3
    assert found["elements"]["after"] <= 2 < found["elements"]["before"]
    assert "text" not in found
    # an ordinary graph file: it loads, its expect: holds, and it fails under the same checker alone
    text = out.read_text()
    assert text.startswith("# Shrunk by graphgrad check --shrink from ") and "Removed: " in text
    g, again = _check_written(out, wrong)
    assert len(g.definition.nodes) == found["nodes"]["after"]
    assert again.status == "failed" and again.expect == []
    assert {f.op for f in again.blame} == {"badswish"}
    assert (g.definition.spec.check.checker if g.definition.spec.check else "auto") == (checker or "auto")
    # the comment quotes what check says about the file, line numbers included
    assert f"#   {again.blame[0]}" in text
    shown = invoke("check", out, "--plugins", wrong)
    assert shown.exit_code == 1 and "blame: " in shown.stdout and "badswish" in shown.stdout


def test_the_values_that_fed_the_gate_become_inputs_with_the_values_they_had(tmp_path, wrong):
    source = tmp_path / "big.yaml"
    source.write_text(generated(60, seed=3, buried={30: "badswish"}))
    original = graphgrad.load(source, plugins=[wrong])
    fed = original.run().values["n29"]
    report = check_file(str(source), BatchOptions(plugins=(str(wrong),), shrink=True))
    small = graphgrad.load(report.shrink["text"], plugins=[wrong])
    (name,) = small.definition.inputs
    assert name == "n29" and small.definition.nodes["n30"].op == "badswish"
    # cut to a part of the value it had: every element is one of the original's, in order
    kept = small.definition.inputs[name].value
    assert kept.size == 1 and kept[0] in fed


def test_a_correct_graph_is_never_written(tmp_path, wrong):
    source = tmp_path / "good.yaml"
    source.write_text(generated(80, seed=5, buried={40: "tanh"}))
    out = tmp_path / "small.yaml"
    result = invoke("check", source, "--plugins", wrong, "--shrink", out)
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert "shrink: nothing written: the check passed" in result.stdout
    g = graphgrad.load(source, plugins=[wrong])
    found = shrink(g, check_graph(g))
    assert not found.written and found.text is None


def test_a_failure_that_depends_on_two_gates_keeps_both(tmp_path, wrong):
    source = tmp_path / "two.yaml"
    source.write_text(generated(120, seed=11, buried={30: "badswish", 90: "badscale"}))
    g = graphgrad.load(source, plugins=[wrong])
    report = check_graph(g, checker="central")
    assert {f.op for f in report.blame} == {"badswish", "badscale"}
    found = shrink(g, report, checker="central")
    assert found.written and found.stopped is None
    small = graphgrad.load(found.text, plugins=[wrong])
    ops = [n.op for n in small.definition.nodes.values()]
    assert {"badswish", "badscale"} <= set(ops) and len(ops) < 20
    again = check_graph(small)
    assert again.status == "failed" and {f.op for f in again.blame} == {"badswish", "badscale"}


@pytest.mark.parametrize("bound", [("--shrink-seconds", "0"), ("--shrink-tries", "1")])
def test_the_bound_is_respected_and_partial_progress_is_reported(tmp_path, wrong, bound):
    source = tmp_path / "big.yaml"
    source.write_text(generated(100, seed=7, buried={50: "badswish"}))
    out = tmp_path / "small.yaml"
    result = invoke("check", source, "--plugins", wrong, "--shrink", out, *bound, "--json")
    found = json.loads(result.stdout)["files"][0]["shrink"]
    assert found["written"] and not found["finished"]
    assert found["stopped_by"] == bound[0].removeprefix("--shrink-")
    assert found["tries"] == (0 if bound[1] == "0" else 1)
    # what it wrote is still a file that fails the same way, and says the search was cut short
    text = out.read_text()
    assert "a smaller graph may still fail" in text
    _, again = _check_written(out, wrong)
    assert again.status == "failed" and {f.op for f in again.blame} == {"badswish"}
    human = invoke("check", source, "--plugins", wrong, "--shrink", out, *bound)
    assert "limit: a smaller graph may still fail" in human.stdout


def test_blame_names_seed_upstream_and_inputs_and_seed_replays_it(tmp_path, wrong):
    source = tmp_path / "net.yaml"
    source.write_text(generated(10, seed=0, buried={4: "badswish"}, width=3).replace("sum, in", "tanh, in"))
    docs = [
        json.loads(invoke("check", source, "--plugins", wrong, "--json", "--seed", s).stdout)["files"][0]
        for s in (5, 5, 6)
    ]
    assert docs[0] == {**docs[1], "seconds": docs[0]["seconds"]}  # --seed replays exactly
    assert docs[0]["replay"]["seed"] == 5 and len(docs[0]["replay"]["cotangent"]) == 3
    assert docs[2]["replay"]["cotangent"] != docs[0]["replay"]["cotangent"]
    (fault,) = docs[0]["blame"]
    replay = fault["replay"]
    assert replay["seed"] == 5 and set(replay["inputs"]) == {"n3"}
    # the gate alone, at the inputs and upstream the blame gives, fails the same way
    g = graphgrad.load(source, plugins=[wrong], seed=5)
    step = next(s for s in g.plan.steps if s.name == "n4")
    args = [np.array(replay["inputs"]["n3"])]
    (verdict,) = check_step(step, args, np.array(replay["upstream"]), ["n3"])
    assert verdict.status == "failed" and verdict.analytic == fault["check"]["analytic"]
    text = invoke("check", source, "--plugins", wrong, "--seed", "5").stdout
    assert "replay: seed 5, upstream [" in text and "--seed 5; cotangent [" in text


def test_large_values_are_named_by_shape_not_inlined(tmp_path, wrong):
    source = tmp_path / "wide.yaml"
    source.write_text(generated(8, seed=1, buried={3: "badswish"}, width=40))
    report = check_graph(graphgrad.load(source, plugins=[wrong]))
    replay = report.blame[0].replay()
    assert replay["inputs"]["n2"] == {
        "shape": [40],
        "dtype": "float64",
        "where": "check --shrink FILE writes it",
    }
    assert replay["upstream"]["shape"] == [40]


def test_shrink_takes_one_file(tmp_path, wrong):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for p in (a, b):
        p.write_text(generated(5, seed=1, buried={}))
    result = invoke("check", a, b, "--shrink", tmp_path / "out.yaml")
    assert result.exit_code == 2 and "--shrink" in result.output and "2 files given" in result.output


def test_a_shrunk_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, wrong):
    source = tmp_path / "big.yaml"
    source.write_text(generated(50, seed=2, buried={10: "badswish"}))
    result = invoke("check", source, "--plugins", wrong, "--shrink", tmp_path / "missing" / "out.yaml")
    assert result.exit_code == 2
    assert (
        "--shrink" in result.output and "cannot write" in result.output and "Traceback" not in result.output
    )


def test_the_service_shrinks_on_request(tmp_path, wrong):
    body = generated(60, seed=4, buried={25: "badswish"}).encode()
    settings = PoolSettings(plugins=(str(wrong),))
    status, _, payload = handle(
        "check",
        body,
        {"checker": None, "shrink": True, "shrink_seconds": 10.0, "shrink_tries": 100},
        settings,
    )
    (report,) = json.loads(payload)["files"]
    assert status == 200 and report["status"] == "failed"
    found = report["shrink"]
    assert found["written"] and found["nodes"]["after"] <= 3
    again = check_graph(graphgrad.load(found["text"], plugins=[wrong]))
    assert again.status == "failed" and {f.op for f in again.blame} == {"badswish"}
    _, _, plain = handle("check", body, {"checker": None}, settings)
    assert "shrink" not in json.loads(plain)["files"][0]


def test_the_example_in_docs_runs_as_written(tmp_path):
    text = (ROOT / "docs" / "checking.md").read_text()
    section = text[text.index("## From a failure to the smallest graph") :]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    script = next(body for kind, body in blocks if kind == "sh")
    shown = next(body for kind, body in blocks if kind == "")
    written = next(body for kind, body in blocks if kind == "yaml")
    script = script.replace("graphgrad check", f"{sys.executable} -m graphgrad check")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0 and "check exited 1" in done.stdout, done.stderr
    for line in shown.splitlines():
        if line.startswith("shrink: "):  # its seconds vary
            line = line[: line.index(" tries in ")]
        assert line in done.stdout
    assert (tmp_path / "small.yaml").read_text() == written
