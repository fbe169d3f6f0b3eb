"""docs/format.md, the reference users read: its gate table is generated from the
registry and must match it; its complete example files load; every built-in gate
describes its shape rule and gradient; no doc of the repository points outside it."""

from __future__ import annotations

import os
import re

import pytest

import graphgrad
from graphgrad.graph.gatedoc import gate_table
from graphgrad.plugins.manager import build_registry, make_plugin_manager
from graphgrad.plugins.registry import Registry
from tests.conftest import ROOT

DOC = ROOT / "docs" / "format.md"
START, END = "<!-- gates:start -->\n", "<!-- gates:end -->"


def builtin_registry():
    return build_registry(make_plugin_manager(use_env=False, use_entry_points=False))


def test_the_gate_table_is_current():
    text = DOC.read_text()
    fresh = gate_table(builtin_registry())
    if os.environ.get("GRAPHGRAD_UPDATE_DOCS"):
        before, _, rest = text.partition(START)
        _, _, after = rest.partition(END)
        DOC.write_text(before + START + fresh + END + after)
        text = DOC.read_text()
    assert START + fresh + END in text, (
        "docs/format.md's gate table is stale: GRAPHGRAD_UPDATE_DOCS=1 pytest tests/test_format_doc.py"
    )


def test_every_builtin_gate_is_in_the_table_with_its_shape_rule_and_gradient():
    registry = builtin_registry()
    table = gate_table(registry)
    for g in registry:
        assert g.cls.gradient and g.cls.shape_rule and g.cls.__doc__, g.op
        assert f"| `{g.op}` |" in table


def test_a_gate_of_a_plugin_is_described_by_its_class():
    class Twice(graphgrad.Gate):
        """2a."""

        op = "twice_doc"
        gradient = "2 x upstream"
        shape_rule = "the shape of a"
        factor: float = 2.0

        def forward(self, a):
            return 2 * a

    registry = Registry([("mine", [Twice])])
    row = gate_table(registry, plugin="mine").splitlines()[2]
    assert row == "| `twice_doc` | a | `factor` (float) = 2.0 | the shape of a | 2a. | 2 x upstream |"


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


@pytest.mark.parametrize("index", range(len(_yaml_blocks(DOC.read_text()))))
def test_each_complete_file_in_the_reference_loads_and_runs(index):
    block = _yaml_blocks(DOC.read_text())[index]
    if not re.search(r"^graphgrad: 1", block, re.M):
        pytest.skip("a fragment (nodes: or expect: alone), not a whole file")
    graph = graphgrad.load(block)
    result = graph.run()
    assert result.value is not None


def test_no_doc_points_outside_the_repository():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in docs:
        text = path.read_text()
        assert "../shared" not in text and "shared/spec" not in text, path
        for target in re.findall(r"\]\(([^)#]+)", text):
            if "://" in target:
                continue
            assert (path.parent / target).resolve().is_relative_to(ROOT.resolve()), (path, target)
            assert (path.parent / target).exists(), (path, target)
