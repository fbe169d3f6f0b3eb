"""Code that graphgrad writes never runs what a file smuggled in (issue 11).

Every export to python here is RUN in a fresh interpreter, in a folder where the
smuggled payloads would create a file named CANARY or print PWNED; the module must
compute what the engine computes, and its ``__doc__`` must hold the file's doc exactly.
The hostile files are kept in tests/hostile/.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphgrad
from graphgrad.engine.codegen import GENERATED, identifiers, number, plain, string_body
from graphgrad.format.spec import NAME, RESERVED
from tests.conftest import ROOT, graphgrad_cli

HOSTILE = Path(__file__).parent / "hostile"
PAYLOAD = '"""\n__import__("pathlib").Path("CANARY").write_text("ran"); print("PWNED")\n"""'
RUNNER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("flat", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
value, grads = mod.forward_backward(*mod.inputs().values())
out = {"doc": mod.__doc__, "value": value.tolist(), "grads": {k: v.tolist() for k, v in grads.items()}}
print(json.dumps(out))
"""


def run_module(code: str, folder: Path) -> dict:
    """Run exported code twice in fresh interpreters (as a script, and imported by a
    runner); neither may trip the canary. Returns what the runner printed."""
    folder.mkdir(parents=True, exist_ok=True)
    module = folder / "flat.py"
    module.write_text(code, encoding="utf-8")
    script = subprocess.run(
        [sys.executable, str(module)], capture_output=True, text=True, cwd=folder, timeout=60
    )
    assert script.returncode == 0, script.stderr
    runner = subprocess.run(
        [sys.executable, "-c", RUNNER, str(module)], capture_output=True, text=True, cwd=folder, timeout=60
    )
    assert runner.returncode == 0, runner.stderr
    assert not (folder / "CANARY").exists()
    assert "PWNED" not in script.stdout.splitlines()
    printed = runner.stdout.splitlines()
    assert len(printed) == 1, printed  # the runner's JSON line, nothing the module printed
    return json.loads(printed[0])


def assert_same_numbers(module_out: dict, result) -> None:
    """The module's value and gradients are the engine's (NaN where NaN)."""
    close = dict(rtol=1e-12, atol=1e-300, equal_nan=True)
    np.testing.assert_allclose(np.array(module_out["value"], dtype=float), result.value, **close)
    assert set(module_out["grads"]) == set(result.grads)
    for name, grad in result.grads.items():
        np.testing.assert_allclose(np.array(module_out["grads"][name], dtype=float), grad, **close)


@pytest.mark.parametrize("name", ["docstring_breakout", "nul_and_controls", "nonfinite", "colliding_names"])
def test_hostile_files_export_to_python_that_only_computes(name, tmp_path):
    path = HOSTILE / f"{name}.yaml"
    exported = graphgrad_cli("export", path, "--to", "python", "-o", tmp_path / "out" / "x.py", cwd=tmp_path)
    assert exported.returncode == 2 and "cannot write" in exported.stderr  # no folder 'out' yet
    code = graphgrad_cli("export", path, "--to", "python", cwd=tmp_path)
    assert code.returncode == 0, code.stderr
    compile(code.stdout, "flat.py", "exec")
    graph = graphgrad.load(path)
    out = run_module(code.stdout, tmp_path / "run")
    assert_same_numbers(out, graph.run())
    if graph.definition.spec.doc:
        assert graph.definition.spec.doc in out["doc"]
        assert repr(graph.name) in out["doc"]


def test_nan_and_inf_are_calls_not_names():
    assert [number(v) for v in (math.nan, math.inf, -math.inf, -0.0, 1e-300, 3)] == [
        "float('nan')",
        "float('inf')",
        "(-float('inf'))",
        "-0.0",
        "1e-300",
        "3",
    ]
    code = graphgrad.load(HOSTILE / "nonfinite.yaml").export("python")
    assert not re.search(r"(?<![\w'])(nan|inf)(?![\w'])", code)


def test_colliding_names_run_twice_and_export_without_hanging(tmp_path):
    """grad_x hung export and the second run; np_exp, _pow and float crashed the second
    run (the scalar plan). In a child process, so that a hang is a failure, not a stall."""
    script = f"""
import graphgrad, numpy as np
g = graphgrad.load({str(HOSTILE / "colliding_names.yaml")!r})
first, second = g.run(), g.run()
assert g.scalar_program is not None, "the second run compiles the scalar plan"
assert float(first.value) == float(second.value)
for name in first.grads:
    assert float(first.grads[name]) == float(second.grads[name]), name
print(g.export("python")[:10])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    path = tmp_path / "small.yaml"
    path.write_text(
        "graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n  grad_x: {op: exp, in: [x]}\n"
        "  np_exp: {op: neg, in: [grad_x]}\noutput: np_exp\n"
    )
    exported = graphgrad_cli("export", path, "--to", "python")  # a hang is the 60 s timeout
    assert exported.returncode == 0 and "v_grad_x_1 = np.exp(x)" in exported.stdout


def test_a_name_ending_in_a_newline_is_refused_where_it_stands():
    with pytest.raises(graphgrad.GraphFileError) as err:
        graphgrad.load(HOSTILE / "name_with_newline.yaml")
    first = str(err.value.issues[0])
    assert first.endswith(
        "name_with_newline.yaml:6:3: node 'f\\n': the name is not a valid name; a name "
        "matches [A-Za-z_][A-Za-z0-9_.]* and is none of inf, nan, true, false, null"
    )
    assert "\n" not in first
    assert NAME.fullmatch("f\n") is None and NAME.fullmatch("f") is not None
    done = graphgrad_cli("export", HOSTILE / "name_with_newline.yaml", "--to", "yaml")
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr


# The fuzz: names and docs as hostile as the format allows.

ODD_NAMES = [
    "grad_x",
    "grad_",
    "grad",
    "np",
    "np_exp",
    "_np_exp",
    "_pow",
    "_sum_to",
    "_stream",
    "float",
    "sum",
    "print",
    "class",
    "match",
    "_",
    "__",
    "x.y",
    "a.b.c",
    "inputs",
    "main",
    "values",
    "value",
    "grads",
    "hashlib",
    "forward_backward",
    "None",
    "True",
    "self",
    "x_1",
    "v_1",
    "v_grad_x_1",
    "float_1",
]
names = st.one_of(
    st.sampled_from(ODD_NAMES), st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,8}", fullmatch=True)
).filter(lambda n: n not in RESERVED)
nasty = st.sampled_from(
    [
        PAYLOAD,
        '"',
        "'",
        '"""',
        "'''",
        "\\",
        "\\\\",
        "\n",
        "\r\n",
        "\0",
        "\t",
        "\u2028",
        "\x85",
        "\x0c",
        "\x7f",
        "\x9f",
        "\ufeff",
        "é",
        "漢",
        "\U0001f600",
        "\\N{BULLET}",
        "\\x41",
    ]
)
texts = st.lists(st.one_of(nasty, st.text(max_size=5)), max_size=6).map("".join)
OPS = {"add": 2, "mul": 2, "sub": 2, "tanh": 1, "sigmoid": 1, "square": 1, "neg": 1}


@st.composite
def hostile_graphs(draw):
    pool = draw(st.lists(names, min_size=2, max_size=7, unique=True))
    inputs = draw(st.integers(1, len(pool) - 1))
    g = graphgrad.Graph(draw(texts) or "g", doc=draw(texts) or None)
    for name in pool[:inputs]:
        g.input(name, draw(st.floats(-2, 2, allow_nan=False)), doc=draw(texts) or None)
    for k, name in enumerate(pool[inputs:], start=inputs):
        op = draw(st.sampled_from(sorted(OPS)))
        args = [draw(st.sampled_from(pool[:k])) for _ in range(OPS[op])]
        if op == "mul" and draw(st.booleans()):
            args[1] = draw(st.sampled_from([0.5, -0.0, 2.0]))
        g.node(op, *args, name=name, doc=draw(texts) or None)
    g.output = pool[-1]
    return g


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=hostile_graphs())
def test_fuzzed_names_and_docs_export_code_that_computes_the_engines_gradients(g, tmp_path_factory):
    first = g.run()
    second = g.run()  # the scalar plan: generated code too
    assert_same_numbers(
        {"value": second.value.tolist(), "grads": {k: v.tolist() for k, v in second.grads.items()}}, first
    )
    out = run_module(g.export("python"), tmp_path_factory.mktemp("fuzz"))
    assert_same_numbers(out, first)
    spec = g.definition.spec
    assert (spec.doc or "") in out["doc"] and repr(g.name) in out["doc"]
    for fmt in ("yaml", "json"):
        back = graphgrad.load(g.export(fmt))
        assert back.definition.spec.doc == spec.doc and back.name == g.name
        assert [n.doc for n in back.definition.nodes.values()] == [n.doc for n in g.definition.nodes.values()]
        assert_same_numbers(
            {
                "value": back.run().value.tolist(),
                "grads": {k: v.tolist() for k, v in back.run().grads.items()},
            },
            first,
        )


@settings(max_examples=300, deadline=None)
@given(pool=st.lists(names, max_size=12, unique=True))
def test_identifiers_are_unique_plain_and_never_generated_names(pool):
    ids = identifiers(pool)
    assert len(set(ids.values())) == len(pool)
    for name, ident in ids.items():
        assert plain(ident) and ident not in GENERATED and not ident.startswith(("_", "grad_"))
        assert ident == name or not plain(name)


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_string_body_evaluates_to_the_text_and_cannot_close_early(text):
    import ast

    source = f'"""{string_body(text)}"""'
    assert ast.literal_eval(source) == text
    assert "\0" not in source and "\r" not in source


# JSON round-trips every value.

NONFINITE_YAML = HOSTILE / "nonfinite.yaml"


def _strict_json(text: str):
    def refuse(token):
        raise AssertionError(f"bare {token} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_export_round_trips_nan_inf_and_negative_zero(tmp_path):
    g = graphgrad.load(NONFINITE_YAML)
    text = g.export("json")
    doc = _strict_json(text)
    assert doc["inputs"]["v"] == [1.0, "nan", "-inf", -0.0]
    assert doc["nodes"]["a"]["in"] == ["x", "inf"] and doc["nodes"]["p"]["exponent"] == "-inf"
    path = tmp_path / "g.json"
    path.write_text(text)
    back = graphgrad.load(path)
    a, b = g.definition, back.definition
    for name in a.inputs:
        np.testing.assert_array_equal(a.inputs[name].value, b.inputs[name].value)
        assert np.signbit(a.inputs[name].value).tolist() == np.signbit(b.inputs[name].value).tolist()
    for name, node in a.nodes.items():
        for x, y in zip(node.args, b.nodes[name].args, strict=True):
            assert isinstance(y, np.ndarray) == isinstance(x, np.ndarray)
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y)
                assert np.signbit(x) == np.signbit(y)
    assert_same_numbers(
        {"value": back.run().value.tolist(), "grads": {k: v.tolist() for k, v in back.run().grads.items()}},
        g.run(),
    )
    assert back.export("yaml") == g.export("yaml") and back.export("json") == text


def test_a_yaml_inf_literal_stays_a_number_through_every_form(tmp_path):
    text = "graphgrad: 1\ninputs: {x: 2.0}\nnodes:\n  f: {op: mul, in: [x, .inf]}\n  h: {op: add, in: [f, -.inf]}\noutput: h\n"
    g = graphgrad.load(text)
    for fmt in ("yaml", "json"):
        back = graphgrad.load(g.export(fmt))
        assert not isinstance(back.definition.nodes["f"].args[1], str)
        assert float(back.definition.nodes["f"].args[1]) == math.inf
        assert float(back.definition.nodes["h"].args[1]) == -math.inf
        assert float(back.run().grads["x"]) == math.inf
    assert "in: [x, .inf]" in g.export("yaml")
    out = graphgrad_cli("run", "--json", tmp_path / "missing.json")
    assert out.returncode == 2


def test_nan_strings_are_numbers_only_where_a_number_is_expected():
    text = (
        'graphgrad: 1\ndoc: inf\ninputs: {x: "inf", y: {value: ["nan", 1.0], doc: nan}}\n'
        'nodes:\n  f: {op: mul, in: [x, "-inf"], doc: "-inf"}\n  s: {op: sum, in: [y]}\n'
        "  o: {op: add, in: [f, s]}\noutput: o\n"
    )
    g = graphgrad.load(text)
    d = g.definition
    assert d.spec.doc == "inf" and d.nodes["f"].doc == "-inf" and d.inputs["y"].doc == "nan"
    assert float(d.inputs["x"].value) == math.inf and math.isnan(d.inputs["y"].value[0])
    assert float(d.nodes["f"].args[1]) == -math.inf
    init = graphgrad.load(
        'graphgrad: 1\ninputs: {n: {shape: [2], init: normal, mean: "-inf", std: 0.0}}\nnodes: {}\noutput: n\n'
    )
    assert init.definition.inputs["n"].value.tolist() == [-math.inf, -math.inf]
    assert "mean: -.inf" in init.export("yaml") and '"mean": "-inf"' in init.export("json")
    with pytest.raises(graphgrad.GraphFileError, match="'Infinity'"):
        graphgrad.load(
            "graphgrad: 1\ninputs: {x: 2.0}\nnodes:\n  f: {op: mul, in: [x, Infinity]}\noutput: f\n"
        )


# The service: a real server, the same guarantees over HTTP.


@pytest.fixture(scope="module")
def service():
    from tests.test_service import _start

    proc, base = _start("--workers", "1", "--queue", "4", "--timeout", "20")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_service_export_to_python_of_a_hostile_file_only_computes(service, tmp_path):
    body = (HOSTILE / "docstring_breakout.yaml").read_bytes()
    r = httpx.post(
        f"{service}/v1/export?to=python",
        content=body,
        headers={"content-type": "application/yaml"},
        timeout=30,
    )
    assert r.status_code == 200
    out = run_module(r.text, tmp_path)
    assert_same_numbers(out, graphgrad.load(HOSTILE / "docstring_breakout.yaml").run())


def test_service_export_to_json_writes_nan_and_inf_as_strings_that_load_back(service):
    body = NONFINITE_YAML.read_bytes()
    r = httpx.post(
        f"{service}/v1/export?to=json", content=body, headers={"content-type": "application/yaml"}, timeout=30
    )
    assert r.status_code == 200
    doc = _strict_json(r.text)
    assert doc["nodes"]["a"]["in"] == ["x", "inf"]
    ran = httpx.post(f"{service}/v1/run", json=doc, timeout=30)
    assert ran.status_code == 200, ran.text
    assert ran.json()["value"] == "nan" and ran.json()["grads"]["v"] == [1.0, 1.0, 1.0, 1.0]


def test_service_refuses_a_name_with_a_line_break_where_it_stands(service):
    body = (HOSTILE / "name_with_newline.yaml").read_bytes()
    r = httpx.post(
        f"{service}/v1/export?to=python",
        content=body,
        headers={"content-type": "application/yaml"},
        timeout=30,
    )
    assert r.status_code == 400
    assert r.json()["errors"][0].startswith("body:6:3: node 'f\\n': the name is not a valid name")
