"""Machine-readable output says what happened (cli.md): the `expect` verdict in the run
document, from the command line and the service alike; a bad file's messages on stderr
with --json too; every error of a file missing `output:`; labels computed by a node."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import graphgrad
from graphgrad.cli import main
from graphgrad.service.pool import PoolSettings
from graphgrad.service.tasks import handle

SQUARE = "graphgrad: 1\nname: sq\ninputs:\n  x: {value: 3.0, grad: true}\nnodes:\n  f: {op: square, in: [x]}\noutput: f\n"
FAILING = SQUARE + "expect:\n  value: 10.0\n  grads: {x: 6.0}\n"
PASSING = SQUARE + "expect:\n  value: 9.0\n  grads: {x: 6.0}\n"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def run_json(path, *more):
    result = invoke("run", path, "--json", *more)
    return result, json.loads(result.stdout)


def service_run(text: str) -> tuple[int, dict]:
    status, media, payload = handle("run", text.encode(), {}, PoolSettings())
    assert media == "application/json", payload
    return status, json.loads(payload)


# --- the expect verdict ---------------------------------------------------------------


def test_a_failing_expect_is_in_the_run_document_and_exits_1(write):
    path = write(FAILING)
    result, doc = run_json(path)
    assert result.exit_code == 1
    assert doc["expect"] == {
        "passed": False,
        "mismatches": [
            "value: expected 10.0, got 9.0 (beyond rtol 1e-07, atol 1e-09; loosen with expect.rtol)"
        ],
    }
    assert doc["value"] == 9.0 and doc["grads"] == {"x": 6.0}
    assert result.stderr.splitlines() == [
        f"{path}: expect: value: expected 10.0, got 9.0 (beyond rtol 1e-07, atol 1e-09; loosen with expect.rtol)"
    ]


def test_a_passing_expect_says_passed_and_no_expect_has_no_key(write):
    result, doc = run_json(write(PASSING, "pass.yaml"))
    assert result.exit_code == 0 and doc["expect"] == {"passed": True, "mismatches": []}
    result, doc = run_json(write(SQUARE, "plain.yaml"))
    assert result.exit_code == 0 and "expect" not in doc


def test_set_that_breaks_expect_says_so_in_the_document(write):
    result, doc = run_json(write(PASSING), "--set", "x=2")
    assert result.exit_code == 1
    assert doc["expect"]["passed"] is False
    assert doc["expect"]["mismatches"] == [
        "value: expected 9.0, got 4.0 (beyond rtol 1e-07, atol 1e-09; loosen with expect.rtol)",
        "gradient of x: expected 6.0, got 4.0 (beyond rtol 1e-07, atol 1e-09; loosen with expect.rtol)",
    ]


@pytest.mark.parametrize("text", [FAILING, PASSING, SQUARE], ids=["failing", "passing", "no-expect"])
def test_the_service_answers_the_command_lines_document(write, text):
    _, cli_doc = run_json(write(text))
    status, doc = service_run(text)
    assert status == 200  # the run succeeded; a failed expect is `passed: false`, not an HTTP error
    assert doc == {**cli_doc, "file": "body"}


def test_a_nonfinite_value_against_expect_stays_valid_json(write):
    text = (
        "graphgrad: 1\ninputs: {x: 0.0}\nnodes:\n  f: {op: log, in: [x]}\noutput: f\nexpect: {value: 1.0}\n"
    )
    result, doc = run_json(write(text))
    assert result.exit_code == 1 and doc["value"] == "-inf"
    assert doc["expect"] == {
        "passed": False,
        "mismatches": [
            "value: expected 1.0, got -inf (beyond rtol 1e-07, atol 1e-09; loosen with expect.rtol)"
        ],
    }
    assert service_run(text)[1]["expect"] == doc["expect"]


# --- messages on stderr with --json ---------------------------------------------------


BAD = (
    "graphgrad: 1\ninputs: {x: 1}\nnodes:\n  f: {op: mull, in: [x, x]}\n  g: {op: exp, in: [y]}\noutput: f\n"
)


def test_check_json_puts_a_bad_files_messages_on_stderr_too(write, tmp_path):
    bad = write(BAD, "bad.yaml")
    write(SQUARE, "good.yaml")
    result = invoke("check", tmp_path, "--json", "--jobs", "1")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)  # stdout is the one document and nothing else
    row = next(f for f in doc["files"] if f["file"] == str(bad))
    assert row["status"] == "error"
    assert row["error"] == [
        f"{bad}:4:11: node 'f': unknown op 'mull' (did you mean 'mul'?)",
        f"{bad}:5:21: node 'g': unknown name 'y' (valid: x, f, g)",
    ]
    assert result.stderr.splitlines() == row["error"]


def test_validate_json_puts_the_messages_on_stderr_too(write):
    bad = write(BAD)
    result = invoke("validate", bad, "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["files"][0]["errors"] == result.stderr.splitlines()
    assert len(doc["files"][0]["errors"]) == 2


# --- a missing output: hides nothing --------------------------------------------------


NO_OUTPUT = """graphgrad: 1
inputs:
  x: {value: [1.0, 2.0], grad: true}
  y: {value: [1.0, 2.0, 3.0], grad: true}
  bad: {value: 1.0, dtype: complex}
  s: {shape: [2, 3], init: normal}
  labels: {value: [0, 7], dtype: int64}
nodes:
  a: {op: add, in: [x, y]}
  b: {op: squre, in: [x]}
  c: {op: mul, in: [x, zz]}
  d: {op: square, in: [x, x]}
  e: {op: exp, in: [b]}
  u: {op: exp, in: [bad]}
  L: {op: cross_entropy, in: [s, labels]}
  p: {op: add, in: [x, q]}
  q: {op: exp, in: [p]}
"""

NO_OUTPUT_ERRORS = [
    (1, 1, "the required key 'output' is missing"),
    (5, 28, "input 'bad', key 'dtype': input should be"),
    (9, 3, "node 'a' (add): shapes [2], [3] cannot be broadcast together"),
    (10, 11, "node 'b': unknown op 'squre' (did you mean 'square'?)"),
    (11, 24, "node 'c': unknown name 'zz'"),
    (12, 23, "node 'd': square takes 1 inputs, got 2"),
    (15, 3, "node 'L' (cross_entropy): input 'labels': label 7 is outside [0, 3)"),
    (16, 3, "node 'p' is on a cycle: p -> q -> p"),
]


def _assert_errors(lines: list[str], path) -> None:
    assert len(lines) == len(NO_OUTPUT_ERRORS), "\n".join(lines)
    for line, (row, col, words) in zip(lines, NO_OUTPUT_ERRORS, strict=True):
        assert line.startswith(f"{path}:{row}:{col}: ") and words in line, line


def test_a_missing_output_does_not_hide_the_other_errors(write):
    path = write(NO_OUTPUT)
    result = invoke("validate", path)
    assert result.exit_code == 2
    _assert_errors(result.stderr.splitlines(), path)
    # e (after the unknown op b) and u (after the bad input) add no error of their own
    assert "node 'e'" not in result.stderr and "node 'u'" not in result.stderr


@pytest.mark.parametrize("command", ["validate", "check", "run"])
def test_every_command_reports_them_all_with_json_too(write, command):
    path = write(NO_OUTPUT)
    result = invoke(command, path, "--json")
    assert result.exit_code == 2
    _assert_errors(result.stderr.splitlines(), path)
    if command != "run":  # run prints no document for a file that was not run
        doc = json.loads(result.stdout)
        row = doc["files"][0]
        assert row.get("errors", row.get("error")) == result.stderr.splitlines()


def test_the_api_and_the_service_list_them_too(write):
    with pytest.raises(graphgrad.GraphFileError) as err:
        graphgrad.load(write(NO_OUTPUT))
    assert [(i.line, i.column) for i in err.value.issues] == [(r, c) for r, c, _ in NO_OUTPUT_ERRORS]
    status, _, payload = handle("validate", NO_OUTPUT.encode(), {}, PoolSettings())
    assert status == 400 and len(json.loads(payload)["errors"]) == len(NO_OUTPUT_ERRORS)


def test_a_missing_section_does_not_cascade_into_unknown_names(write):
    path = write("graphgrad: 1\nnodes:\n  a: {op: square, in: [x]}\n  b: {op: mull, in: [a, a]}\noutput: b\n")
    result = invoke("validate", path)
    assert result.stderr.splitlines() == [
        f"{path}:1:1: the required key 'inputs' is missing",
        f"{path}:4:11: node 'b': unknown op 'mull' (did you mean 'mul'?)",
    ]


# --- labels computed by a node --------------------------------------------------------


NODE_LABELS = """graphgrad: 1
inputs:
  s: {value: [[1.0, 2.0, 3.0], [0.5, 0.1, 0.2]], grad: true}
  y: {value: [[0], [LABEL]], dtype: int64}
nodes:
  labels: {op: reshape, in: [y], shape: [-1]}
  loss: {op: cross_entropy, in: [s, labels]}
output: loss
"""


def test_labels_from_a_node_are_checked_when_the_graph_runs(write):
    path = write(NODE_LABELS.replace("LABEL", "5"))
    assert invoke("validate", path).exit_code == 0  # a node's value is not known at load time
    result = invoke("run", path, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    message = (
        f"{path}:7:1: node 'loss' (cross_entropy): input 'labels': label 5 is outside [0, 3) "
        "(a value computed by a node is checked when the graph runs)"
    )
    assert result.stderr.splitlines() == [message]
    checked = invoke("check", path, "--json")
    assert checked.exit_code == 2 and checked.stderr.splitlines() == [message]
    assert json.loads(checked.stdout)["files"][0]["error"] == [message]
    status, _, payload = handle("run", path.read_bytes(), {}, PoolSettings())
    assert status == 422 and json.loads(payload)["errors"] == [message.replace(str(path), "body")]


def test_labels_from_a_node_in_range_run(write):
    result, doc = run_json(write(NODE_LABELS.replace("LABEL", "2")))
    assert result.exit_code == 0 and list(doc["grads"]) == ["s"]


def test_labels_from_an_input_are_still_checked_at_load_time(write):
    text = NODE_LABELS.replace("LABEL", "1").replace("in: [s, labels]", "in: [s, y]")
    text = text.replace("[[0], [1]]", "[0, 9]")
    path = write(text)
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}:7:3: node 'loss' (cross_entropy): input 'y': label 9 is outside [0, 3)"
    ]


def test_a_long_chain_after_a_fault_is_skipped_in_linear_time(write):
    """A fault at the head of a chain written in reverse order, in a file missing
    `output:`: one message for the fault, none for the 20,000 nodes after it."""
    n = 20_000
    nodes = "".join(f"  n{i}: {{op: exp, in: [n{i + 1}]}}\n" for i in range(n - 1))
    path = write(f"graphgrad: 1\ninputs: {{x: 1.0}}\nnodes:\n{nodes}  n{n - 1}: {{op: exp, in: [zz]}}\n")
    result = invoke("validate", path)  # a pass per link of the chain took minutes; bench/loading.py times it
    assert result.stderr.splitlines() == [
        f"{path}:1:1: the required key 'output' is missing",
        f"{path}:{n + 3}:{len(str(n - 1)) + 21}: node 'n{n - 1}': unknown name 'zz'",
    ]
