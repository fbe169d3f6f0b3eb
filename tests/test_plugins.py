"""Loading plugins: from files, folders, the environment and entry points; conflicts,
import failures and misspelt hooks are reported by name."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import graphgrad
from graphgrad.cli import main
from graphgrad.plugins.manager import build_registry, make_plugin_manager
from tests.conftest import ROOT, graphgrad_cli

SWISH = ROOT / "plugins" / "graphgrad-swish" / "graphgrad_swish.py"

GRAPH = """graphgrad: 1
inputs: {x: [-1.0, 0.5, 2.0]}
nodes:
  s: {op: swish, in: [x]}
  f: {op: sum, in: [s]}
output: f
"""

CUBE = '''
import graphgrad

class Cube(graphgrad.Gate):
    """a^3"""
    op = "{op}"

    def forward(self, a):
        return a ** 3

    def backward(self, grad, out, a):
        return (grad * 3 * a ** 2,)

@graphgrad.hookimpl
def graphgrad_gates():
    return [Cube]
'''


def test_outside_plugin_file_works_with_plugins_option(write):
    graph = write(GRAPH)
    result = CliRunner().invoke(main, ["run", str(graph), "--json", "--plugins", str(SWISH)])
    assert result.exit_code == 0, result.stderr
    import json

    grads = json.loads(result.stdout)["grads"]["x"]
    x = np.array([-1.0, 0.5, 2.0])
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(grads, s + x * s * (1 - s), rtol=1e-12)


def test_without_the_plugin_the_op_is_unknown(write):
    result = CliRunner().invoke(main, ["validate", str(write(GRAPH.replace("swish", "cube")))])
    assert result.exit_code == 2 and "unknown op 'cube'" in result.stderr


def test_plugins_from_the_environment(write, tmp_path):
    env = {**os.environ, "GRAPHGRAD_PLUGINS": str(SWISH)}
    proc = graphgrad_cli("run", write(GRAPH), env=env)
    assert proc.returncode == 0, proc.stderr


def test_a_folder_of_plugins(tmp_path, write):
    folder = tmp_path / "myplugins"
    folder.mkdir()
    (folder / "cube.py").write_text(CUBE.replace("{op}", "cube"))
    graph = write("graphgrad: 1\ninputs: {x: 2}\nnodes:\n  c: {op: cube, in: [x]}\noutput: c\n")
    r = graphgrad.load(graph, plugins=[folder]).run()
    assert float(r.value) == 8 and float(r.grads["x"]) == 12


def test_two_plugins_claiming_one_op_name_both(tmp_path):
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text(CUBE.replace("{op}", "cube"))
    two.write_text(CUBE.replace("{op}", "cube"))
    result = CliRunner().invoke(main, ["gates", "--plugins", str(one), "--plugins", str(two)])
    assert result.exit_code == 2
    assert "op 'cube' is registered by two plugins" in result.stderr
    assert str(one) in result.stderr and str(two) in result.stderr


def test_a_plugin_claiming_a_builtin_op_is_refused(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(CUBE.replace("{op}", "mul"))
    with pytest.raises(
        graphgrad.PluginError, match=r"op 'mul' is registered by two plugins: graphgrad.builtin.gates"
    ):
        graphgrad.load("graphgrad: 1\ninputs: {x: 1}\nnodes: {}\noutput: x\n", plugins=[clash])


def test_a_plugin_that_fails_to_import_is_named(tmp_path):
    bad = tmp_path / "broken_plugin.py"
    bad.write_text("import graphgrad\nraise ImportError('needs torch')\n")
    result = CliRunner().invoke(main, ["gates", "--plugins", str(bad)])
    assert result.exit_code == 2
    assert f"plugin {bad} failed to import: ImportError: needs torch" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_misspelt_hook_is_caught(tmp_path):
    typo = tmp_path / "typo.py"
    typo.write_text("import graphgrad\n\n@graphgrad.hookimpl\ndef graphgrad_gate():\n    return []\n")
    with pytest.raises(graphgrad.PluginError, match="graphgrad_gate"):
        make_plugin_manager([typo])


def test_a_missing_plugin_path_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["gates", "--plugins", str(tmp_path / "nope.py")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_a_plugin_returning_a_non_gate_is_refused(tmp_path):
    odd = tmp_path / "odd.py"
    odd.write_text("import graphgrad\n\n@graphgrad.hookimpl\ndef graphgrad_gates():\n    return [object]\n")
    with pytest.raises(graphgrad.PluginError, match="not a graphgrad.Gate"):
        build_registry(make_plugin_manager([odd]))


def test_builtins_register_through_the_same_hook():
    pm = make_plugin_manager(use_entry_points=False, use_env=False)
    impls = pm.hook.graphgrad_gates.get_hookimpls()
    assert [i.plugin_name for i in impls] == ["graphgrad.builtin.gates"]


def test_gates_lists_attributes_and_origin(tmp_path):
    cube = tmp_path / "cube.py"
    cube.write_text(CUBE.replace("{op}", "cube").replace('"""a^3"""', '"""a^3"""\n    k: float = 1.0'))
    result = CliRunner().invoke(main, ["gates", "--json", "--plugins", str(cube)])
    import json

    gates = {g["op"]: g for g in json.loads(result.stdout)["gates"]}
    assert gates["cube"]["plugin"] == str(cube)
    assert gates["cube"]["attributes"]["k"] == {"required": False, "default": 1.0}
    assert gates["pow"]["attributes"]["exponent"]["required"] is True
    assert gates["reshape"]["attributes"]["shape"]["required"] is True
    assert gates["add"]["inputs"] == "2 or more" and gates["mul"]["inputs"] == "2"
    assert gates["mul"]["plugin"] == "graphgrad.builtin.gates"


@pytest.mark.parametrize(
    ("package", "listing", "name"),
    [
        ("graphgrad.builtin.checkers", "CHECKERS", "name"),
        ("graphgrad.builtin.exporters", "EXPORTERS", "name"),
    ],
)
def test_the_builtin_tables_name_each_family_s_classes(package, listing, name):
    """The built-in plugin names its checkers and exporters (imported on first use): each
    family's row must be its module's list, name for name and in order, and every module
    a family. Gates are imported at once: a gate lives in its family's module only."""
    import importlib
    import pkgutil

    families = importlib.import_module(package).FAMILIES
    for family, names in families.items():
        classes = getattr(importlib.import_module(f"{package}.{family}"), listing)
        assert list(names.items()) == [(getattr(c, name), c.__name__) for c in classes], family
    path = importlib.import_module(package).__path__
    modules = [f"{package}.{m.name}" for m in pkgutil.iter_modules(path)]
    listed = {m.rpartition(".")[2] for m in modules if hasattr(importlib.import_module(m), listing)}
    assert listed == set(families)


def test_builtin_checkers_and_exporters_are_imported_when_first_used():
    code = (
        "import sys, graphgrad\n"
        "g = graphgrad.load('graphgrad: 1\\ninputs: {x: 2}\\nnodes: {f: {op: mul, in: [x, x]}}\\noutput: f\\n')\n"
        "print(float(g.run().grads['x']))\n"
        "print(sorted(m for m in sys.modules if m.startswith('graphgrad.builtin.')))\n"
        "g.registry['exp'].cls, g.registry.checker('central').cls, g.registry.exporter('dot').cls\n"
        "print(sorted(m for m in sys.modules if m.startswith('graphgrad.builtin.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    grad, before, after = out.stdout.splitlines()
    assert grad == "4.0"
    assert not [
        m
        for m in eval(before)
        if m.startswith(("graphgrad.builtin.checkers.", "graphgrad.builtin.exporters."))
    ]
    assert {"graphgrad.builtin.checkers.differences", "graphgrad.builtin.exporters.diagram"} <= set(
        eval(after)
    )


DEFERRED = '''
import graphgrad
from graphgrad.plugins.registry import Deferred

class Cube(graphgrad.Gate):
    """a^3"""
    op = "cube"

    def forward(self, a):
        return a ** 3

    def backward(self, grad, out, a):
        return (grad * 3 * a ** 2,)

@graphgrad.hookimpl
def graphgrad_gates():
    return [Deferred("{op}", __name__, "Cube"), Deferred("ghost", "no_such_module_xyz", "Ghost")]
'''


def test_a_plugin_may_name_its_classes_and_is_held_to_them(tmp_path):
    good = tmp_path / "deferred.py"
    good.write_text(DEFERRED.replace("{op}", "cube"))
    graph = "graphgrad: 1\ninputs: {x: 2}\nnodes: {f: {op: OP, in: [x]}}\noutput: f\n"
    assert float(graphgrad.load(graph.replace("OP", "cube"), plugins=[good]).run().grads["x"]) == 12.0
    with pytest.raises(
        graphgrad.PluginError, match=r"gate 'ghost' \(no_such_module_xyz.Ghost\) failed to load"
    ):
        graphgrad.load(graph.replace("OP", "ghost"), plugins=[good])
    wrong = tmp_path / "wrong.py"
    wrong.write_text(DEFERRED.replace("{op}", "cubed"))
    with pytest.raises(graphgrad.PluginError, match=r"gate 'cubed' is .*\.Cube, whose op is 'cube'"):
        graphgrad.load(graph.replace("OP", "cubed"), plugins=[wrong])
    clash = tmp_path / "clash.py"
    clash.write_text(DEFERRED.replace("{op}", "mul"))
    with pytest.raises(
        graphgrad.PluginError,
        match=r"op 'mul' is registered by two plugins: graphgrad.builtin.gates \(Mul\) and .*clash.py \(Cube\)",
    ):
        graphgrad.load(graph.replace("OP", "cube"), plugins=[clash])
