"""The command line's contract (cli.md): JSON output, exit codes, --set, schema."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from graphgrad.cli import main
from tests.conftest import GRAPHS, ROOT, graphgrad_cli


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_run_json_is_one_document_with_the_documented_keys():
    result = invoke("run", GRAPHS / "simple.yaml", "--json")
    doc = json.loads(result.stdout)
    assert doc == {
        "file": str(GRAPHS / "simple.yaml"),
        "name": "simple",
        "output": "f",
        "value": -12.0,
        "grads": {"x": -4.0, "y": -4.0, "z": 3.0},
        "expect": {"passed": True, "mismatches": []},
    }


def test_floats_round_trip_and_nonfinite_values_are_strings(write):
    path = write("graphgrad: 1\ninputs: {x: [0.1, -1.0, 0.0]}\nnodes:\n  f: {op: log, in: [x]}\noutput: f\n")
    result = invoke("run", path, "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["value"][0] == math.log(0.1)
    assert doc["value"][1:] == ["nan", "-inf"]
    assert doc["grads"]["x"][2] == "inf"


def test_set_replaces_inputs():
    result = invoke("run", GRAPHS / "simple.yaml", "--json", "--set", "z=2", "--set", "x=[1]")
    doc = json.loads(result.stdout)
    assert doc["value"] == [12.0] and doc["grads"]["x"] == [2.0]
    assert result.exit_code == 1  # no longer what `expect` says
    assert "expect: value" in result.stderr


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["z"], "is not NAME=VALUE"),
        (["z=abc"], "not a number or a JSON list"),
        (["q=1"], "no input named 'q'"),
    ],
)
def test_bad_set_is_a_usage_error(sets, words):
    args = [a for s in sets for a in ("--set", s)]
    result = invoke("run", GRAPHS / "simple.yaml", *args)
    assert result.exit_code == 2 and words in result.output + result.stderr


def test_expect_mismatch_exits_1(write):
    path = write(
        "graphgrad: 1\ninputs: {x: [1.0, 2.0]}\nnodes:\n  f: {op: l2, in: [x]}\noutput: f\n"
        "expect:\n  value: 5\n  grads: {x: [2, 5]}\n"
    )
    result = invoke("run", path)
    assert result.exit_code == 1
    assert "expect: gradient of x at [1]: expected 5.0, got 4.0 (beyond" in result.stderr


def test_validate_searches_folders_and_counts():
    result = invoke("validate", GRAPHS)
    n = len(list(GRAPHS.rglob("*.yaml")))
    assert result.exit_code == 0 and f"{n} valid, 0 invalid" in result.stdout


def test_validate_json_and_a_mixed_batch(write, tmp_path):
    write("graphgrad: 1\ninputs: {x: 1}\nnodes: {}\noutput: x\n", "good.yaml")
    write("graphgrad: 1\ninputs: {x: 1}\nnodes: {}\noutput: y\n", "bad.yml")
    result = invoke("validate", tmp_path, "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 2
    assert (doc["valid"], doc["invalid"]) == (1, 1)
    assert doc["files"][0]["errors"][0].startswith(f"{tmp_path / 'bad.yml'}:4:9: ")


def test_missing_file_is_a_located_error(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "cannot read file" in result.stderr


def test_schema_validates_every_shipped_graph_and_rejects_a_bad_one():
    schema = json.loads(invoke("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in GRAPHS.rglob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = {"graphgrad": 1, "inputs": {}, "nodes": {"f": {"op": "pow", "in": ["x"]}}, "output": "f"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_schema_includes_plugin_gates():
    swish = ROOT / "plugins" / "graphgrad-swish" / "graphgrad_swish.py"
    schema = json.loads(invoke("schema", "--plugins", swish).stdout)
    ops = [
        n["properties"]["op"]["const"] for n in schema["properties"]["nodes"]["additionalProperties"]["oneOf"]
    ]
    assert "swish" in ops and "mul" in ops


def test_python_dash_m_and_version():
    proc = graphgrad_cli("--version")
    assert proc.returncode == 0 and "graphgrad" in proc.stdout


def test_unknown_command_is_a_usage_error():
    assert invoke("frobnicate").exit_code == 2


def test_shipped_schema_file_is_current():
    """graphgrad.schema.json (used by the modeline in graphs/simple.yaml) matches
    `graphgrad schema` for the built-in plugins; regenerate it after changing a gate."""
    from graphgrad.graph.schema import graph_schema
    from graphgrad.plugins.manager import build_registry, make_plugin_manager

    builtin = build_registry(make_plugin_manager(use_env=False, use_entry_points=False))
    shipped = json.loads((ROOT / "graphgrad.schema.json").read_text())
    assert shipped == graph_schema(builtin), "regenerate: graphgrad schema > graphgrad.schema.json"
