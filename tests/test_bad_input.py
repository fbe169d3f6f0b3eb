"""Every class of bad graph file: exit code 2, a located message, no traceback.

Each case gives the file, the line and column the first message must point at, and
words the message must contain. Hostile files (alias bombs, deep nesting, huge shapes)
are also refused quickly and without allocating what they ask for.
"""

from __future__ import annotations

import tracemalloc

import pytest
from click.testing import CliRunner

import graphgrad
from graphgrad.cli import main

HEAD = "graphgrad: 1\n"
OK_TAIL = "nodes: {}\noutput: x\n"

BOMB = HEAD + "".join(
    f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
    for p, c in zip([None, "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
)

CASES = {
    "duplicate key": (
        HEAD + "inputs: {x: 1}\n" + OK_TAIL + "output: x\n",
        5,
        1,
        "'output' is given twice (first on line 4)",
    ),
    "duplicate key in a node": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: exp,\n      op: log, in: [x]}\noutput: f\n",
        5,
        7,
        "key 'op' is given twice (first on line 4)",
    ),
    "python tag": (
        HEAD + "inputs:\n  x: !!python/object/apply:os.system [ls]\n" + OK_TAIL,
        3,
        6,
        "tag !!python/object/apply:os.system is not allowed",
    ),
    "unknown tag": (HEAD + "inputs:\n  x: !weird 3\n" + OK_TAIL, 3, 6, "tag !weird is not allowed"),
    "alias bomb": (BOMB + "inputs: {x: 1}\n" + OK_TAIL, 8, 8, "aliases expand to more than 1000000"),
    "deep nesting": (
        HEAD + "inputs: {x: " + "[" * 30000 + "]" * 30000 + "}\n",
        2,
        75,
        "nesting is deeper than 64",
    ),
    "huge shape": (
        HEAD + "inputs:\n  w: {shape: [100000, 100000, 100], init: normal}\nnodes: {}\noutput: w\n",
        3,
        14,
        "1000000000000 elements, over the limit",
    ),
    "syntax": (HEAD + "inputs: {x: [1, 2}\n" + OK_TAIL, 2, 18, "invalid YAML"),
    "empty": ("", 1, 1, "the document is empty"),
    "comments only": ("# nothing here\n", 1, 1, "the document is empty"),
    "not a mapping": ("- 1\n- 2\n", 1, 1, "a graph file is a mapping"),
    "two documents": (HEAD + "inputs: {x: 1}\n" + OK_TAIL + "---\na: 1\n", 5, 1, "one YAML document"),
    "missing key": (HEAD + "inputs: {x: 1}\nnodes: {}\n", 1, 1, "the required key 'output' is missing"),
    "unknown top-level key": (
        HEAD + "inputs: {x: 1}\n" + OK_TAIL + "ouptut: x\n",
        5,
        1,
        "unknown key 'ouptut' (did you mean 'output'?)",
    ),
    "wrong version": ("graphgrad: 2\ninputs: {x: 1}\n" + OK_TAIL, 1, 12, "'graphgrad': input should be 1"),
    "bad name": (HEAD + "inputs:\n  1x: 1\n" + OK_TAIL, 3, 3, "input '1x': the name is not a valid name"),
    "reserved name": (
        HEAD + "inputs:\n  x: 1\n  nan: 2\n" + OK_TAIL,
        4,
        3,
        "input 'nan': the name is reserved",
    ),
    "name used twice": (
        HEAD + "inputs: {x: 1}\nnodes:\n  x: {op: exp, in: [x]}\noutput: x\n",
        4,
        3,
        "'x' names both an input and a node (first on line 2)",
    ),
    "unknown op": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: mull, in: [x, x]}\noutput: f\n",
        4,
        11,
        "node 'f': unknown op 'mull' (did you mean 'mul'?)",
    ),
    "arity": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: mul, in: [x]}\noutput: f\n",
        4,
        20,
        "node 'f': mul takes 2 inputs, got 1",
    ),
    "variadic arity": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: add, in: [x]}\noutput: f\n",
        4,
        20,
        "add takes 2 or more inputs",
    ),
    "unknown reference": (
        HEAD + "inputs: {x: 1, y: 2}\nnodes:\n  f: {op: mul, in: [x, yy]}\noutput: f\n",
        4,
        24,
        "node 'f': unknown name 'yy' (did you mean 'y'?)",
    ),
    "unknown attribute": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: pow, in: [x], exponent: 2, exponnent: 3}\noutput: f\n",
        4,
        38,
        "node 'f': unknown key 'exponnent'",
    ),
    "missing attribute": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: pow, in: [x]}\noutput: f\n",
        4,
        6,
        "node 'f': the required key 'exponent' is missing",
    ),
    "ill-typed attribute": (
        HEAD + "inputs: {x: [1, 2]}\nnodes:\n  f: {op: sum, in: [x], axis: first}\noutput: f\n",
        4,
        31,
        "node 'f', key 'axis'",
    ),
    "yaml merge key": (
        HEAD + "inputs: {x: 1.0}\nnodes:\n  f: {op: exp, in: [x], <<: {doc: hi}}\noutput: f\n",
        4,
        25,
        "'<<' is a YAML merge key, which graph files do not support: write the keys out",
    ),
    "bool for an int attribute": (
        HEAD + "inputs: {x: [[1, 2]]}\nnodes:\n  f: {op: sum, in: [x], axis: true}\noutput: f\n",
        4,
        31,
        "node 'f', key 'axis': input should be a number, not true or false, got True",
    ),
    "int for a bool attribute": (
        HEAD + "inputs: {x: [[1, 2]]}\nnodes:\n  f: {op: sum, in: [x], keepdims: 1}\noutput: f\n",
        4,
        35,
        "node 'f', key 'keepdims': input should be true or false, not a number, got 1",
    ),
    "text for a float attribute": (
        HEAD + 'inputs: {x: [1.0]}\nnodes:\n  f: {op: leaky_relu, in: [x], slope: "0.5"}\noutput: f\n',
        4,
        39,
        "node 'f', key 'slope': input should be a number, not text, got '0.5'",
    ),
    "bool literal": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: mul, in: [x, true]}\noutput: f\n",
        4,
        24,
        "node 'f', key 'in.1'",
    ),
    "cycle": (
        HEAD
        + "inputs: {x: 1}\nnodes:\n  a: {op: add, in: [x, c]}\n  b: {op: exp, in: [a]}\n  c: {op: exp, in: [b]}\noutput: c\n",
        4,
        3,
        "cycle: a -> b -> c -> a",
    ),
    "self cycle": (
        HEAD + "inputs: {x: 1}\nnodes:\n  a: {op: add, in: [x, a]}\noutput: a\n",
        4,
        3,
        "node 'a' is on a cycle: a -> a",
    ),
    "shapes": (
        HEAD
        + "inputs:\n  X: {shape: [8, 20], init: normal}\n  W: {shape: [21, 4], init: normal}\nnodes:\n  h: {op: matmul, in: [X, W]}\noutput: h\n",
        6,
        3,
        "node 'h' (matmul): matmul of shapes [8, 20] and [21, 4]",
    ),
    "broadcast": (
        HEAD + "inputs: {a: [1, 2, 3], b: [1, 2]}\nnodes:\n  s: {op: add, in: [a, b]}\noutput: s\n",
        4,
        3,
        "shapes [3], [2] cannot be broadcast",
    ),
    "huge broadcast": (
        HEAD
        + "inputs:\n  a: {shape: [20000], init: zeros}\n  b: {shape: [20000, 1], init: zeros}\nnodes:\n  p: {op: mul, in: [a, b]}\noutput: p\n",
        6,
        3,
        "node 'p' (mul): its output of shape [20000, 20000] would have 400000000 elements",
    ),
    "labels out of range": (
        HEAD
        + "inputs:\n  s: {shape: [3, 5], init: normal}\n  y: {value: [0, 1, 7], dtype: int64}\nnodes:\n  L: {op: svm_loss, in: [s, y]}\noutput: L\n",
        6,
        3,
        "node 'L' (svm_loss): input 'y': label 7 is outside [0, 5)",
    ),
    "float labels": (
        HEAD
        + "inputs:\n  s: {shape: [3, 5], init: normal}\n  y: [0, 1, 2]\nnodes:\n  L: {op: cross_entropy, in: [s, y]}\noutput: L\n",
        6,
        3,
        "labels must be int64",
    ),
    "bad dtype": (
        HEAD + "inputs:\n  x: {value: 1, dtype: float16}\n" + OK_TAIL,
        3,
        24,
        "input 'x', key 'dtype'",
    ),
    "bad init": (
        HEAD + "inputs:\n  x: {shape: [2], init: gauss}\n" + OK_TAIL,
        3,
        25,
        "init must be one of zeros, ones, normal, uniform, integers, got 'gauss'",
    ),
    "integers without high": (
        HEAD + "inputs:\n  y: {shape: [2], init: integers}\nnodes: {}\noutput: y\n",
        3,
        6,
        "input 'y': the required key 'high' is missing",
    ),
    "negative shape": (
        HEAD + "inputs:\n  x: {shape: [2, -1], init: zeros}\n" + OK_TAIL,
        3,
        18,
        "input 'x', key 'shape.1'",
    ),
    "ragged list": (
        HEAD + "inputs:\n  x: [[1, 2], [3]]\n" + OK_TAIL,
        3,
        15,
        "ragged list: expected 2 elements here, got a list of 1",
    ),
    "string in list": (
        HEAD + "inputs:\n  x: [1, two]\n" + OK_TAIL,
        3,
        10,
        "'two' is not a valid float64 element",
    ),
    "bool input": (HEAD + "inputs:\n  x: true\n" + OK_TAIL, 3, 6, "input 'x': expected a number"),
    "grad on int": (
        HEAD + "inputs:\n  y: {value: [1], dtype: int64, grad: true}\nnodes: {}\noutput: y\n",
        3,
        39,
        "grad: true needs a float dtype",
    ),
    "unknown output": (
        HEAD + "inputs: {x: 1}\nnodes:\n  f: {op: exp, in: [x]}\noutput: g\n",
        5,
        9,
        "no node or input named 'g'",
    ),
    "expect unknown input": (
        HEAD + "inputs: {x: 1}\n" + OK_TAIL + "expect: {grads: {z: 1}}\n",
        5,
        18,
        "expect: no differentiable input named 'z'",
    ),
    "not utf-8": (
        b"graphgrad: 1\ninputs: {x: 1}\nnodes: {}\noutput: x\ndoc: caf\xe9\n",
        5,
        9,
        "byte 0xe9 is not valid UTF-8",
    ),
}


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def case(request, tmp_path):
    text, line, col, words = CASES[request.param]
    path = tmp_path / "bad.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path, line, col, words


@pytest.mark.parametrize("command", ["run", "validate"])
def test_command_line_exits_2_with_a_located_message(case, command):
    path, line, col, words = case
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # an exit, not a crash
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:{col}: "), result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_api_raises_graph_file_error_with_every_issue(case):
    path, line, col, words = case
    with pytest.raises(graphgrad.GraphFileError) as err:
        graphgrad.load(path)
    first = err.value.issues[0]
    assert (first.line, first.column) == (line, col)


def test_all_errors_of_a_file_are_reported_at_once(write):
    path = write(
        HEAD + "ouptut: f\ninputs:\n  x: [[1], [2, 3]]\n  z: {shape: [2], init: normall}\n"
        "nodes:\n  q: {op: add, in: [x, yy]}\n  f: {op: mull, in: [q]}\noutput: f\n"
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    lines = result.stderr.splitlines()
    assert [ln.split(":")[1] for ln in lines] == ["2", "4", "5", "7", "8"]
    assert result.exit_code == 2


@pytest.mark.parametrize("name", ["alias bomb", "deep nesting", "huge shape"])
def test_hostile_files_are_refused_without_memory_growth(name, tmp_path):
    path = tmp_path / "hostile.yaml"
    path.write_text(CASES[name][0])
    tracemalloc.start()
    with pytest.raises(graphgrad.GraphFileError):
        graphgrad.load(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 2**20  # refused before expanding; how quickly: bench/loading.py


def test_limits_can_be_raised_and_lowered(write):
    path = write(HEAD + "inputs: {x: [1, 2, 3]}\nnodes: {}\noutput: x\n")
    runner = CliRunner()
    too_small = runner.invoke(main, ["validate", str(path), "--max-file-bytes", "10"])
    assert too_small.exit_code == 2 and "over the limit of 10" in too_small.stderr
    assert f"{path}:1:1:" in too_small.stderr
    few_nodes = runner.invoke(main, ["validate", str(path), "--max-nodes", "0"])
    assert few_nodes.exit_code == 2  # IntRange(min=1) refuses 0: a usage error
    elements = runner.invoke(main, ["validate", str(path), "--max-elements", "2"])
    assert elements.exit_code == 2 and "more than 2 elements" in elements.stderr
    assert runner.invoke(main, ["validate", str(path)]).exit_code == 0
    aliases = write(HEAD + "inputs:\n  x: &v [1, 2, 3]\n  y: *v\n  z: *v\nnodes: {}\noutput: x\n")
    assert runner.invoke(main, ["validate", str(aliases)]).exit_code == 0
    lowered = runner.invoke(main, ["validate", str(aliases), "--max-alias-expansion", "5"])
    assert lowered.exit_code == 2 and f"{aliases}:5:6: aliases expand" in lowered.stderr


def test_max_nodes(write):
    nodes = "".join(f"  n{i}: {{op: exp, in: [x]}}\n" for i in range(5))
    path = write(HEAD + "inputs: {x: 1}\nnodes:\n" + nodes + "output: n0\n")
    result = CliRunner().invoke(main, ["validate", str(path), "--max-nodes", "3"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"{path}:6:3: more than 3 inputs and nodes (raise it with --max-nodes)")
