"""Loading a graph file, stage by stage, against PyYAML's C loader and json.loads; and
how long faulty and hostile files take to be refused (the tests assert what is reported,
this measures how quickly: ``python -m bench.loading``)."""

from __future__ import annotations

import json
import time

import yaml

import graphgrad
from graphgrad.engine.plan import compile_plan
from graphgrad.errors import GraphFileError
from graphgrad.format.source import Limits, parse
from graphgrad.graph.dag import build_graph
from graphgrad.plugins.manager import default_registry

SMALL = "graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n  f: {op: exp, in: [x]}\noutput: f\n"


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_loading(text: str) -> dict:
    """Seconds per stage; ratio = all of graphgrad's stages / the C loader's parse alone."""
    limits = Limits()
    build_graph(parse(SMALL, "<warm-up>", limits), default_registry(), limits, name="warm-up")
    doc, parse_s = _timed(lambda: parse(text, "<bench>", limits, positions=False))
    graph, build_s = _timed(lambda: build_graph(doc, default_registry(), limits, name="bench"))
    _, compile_s = _timed(lambda: compile_plan(graph))
    data, c_loader_s = _timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader))
    as_json = json.dumps(data)
    _, json_s = _timed(lambda: json.loads(as_json))
    nodes = len(graph.nodes)
    total = parse_s + build_s + compile_s
    return {
        "workload": f"loading {nodes} nodes",
        "parse_us_per_node": parse_s / nodes * 1e6,
        "validate_and_build_us_per_node": build_s / nodes * 1e6,
        "compile_us_per_node": compile_s / nodes * 1e6,
        "total_us_per_node": total / nodes * 1e6,
        "c_loader_us_per_node": c_loader_s / nodes * 1e6,
        "json_loads_us_per_node": json_s / nodes * 1e6,
        "ratio_to_c_loader": total / c_loader_s,
    }


def _alias_bomb() -> str:
    rows = [
        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
        for p, c in zip([None, "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
    ]
    return "graphgrad: 1\n" + "".join(rows) + "inputs: {x: 1}\nnodes: {}\noutput: x\n"


def _faulty_files() -> dict[str, tuple[str, Limits, float]]:
    """name -> (text, limits, budget in seconds): the cases of tests/test_bad_input.py,
    test_bounds.py and test_json_output.py whose speed once regressed or could."""
    chain = "".join(f"  n{i}: {{op: exp, in: [n{i + 1}]}}\n" for i in range(19_999))
    unknown = "".join(f"  node_{i}: {{op: add, in: [x, missing_{i}]}}\n" for i in range(10_000))
    many = "".join(f"  n{i}: {{op: exp, in: [x]}}\n" for i in range(200_000))
    return {
        "alias bomb": (_alias_bomb(), Limits(), 1.0),
        "nesting 30,000 deep": (
            "graphgrad: 1\ninputs: {x: " + "[" * 30000 + "]" * 30000 + "}\n",
            Limits(),
            1.0,
        ),
        "200,000 nodes over --max-nodes 10": (
            "graphgrad: 1\ninputs: {x: 1}\nnodes:\n" + many + "output: n0\n",
            Limits(max_nodes=10),
            1.0,
        ),
        "10,000 unknown names": (
            "graphgrad: 1\ninputs:\n  x: 1\nnodes:\n" + unknown + "output: node_0\n",
            Limits(),
            3.0,
        ),
        "20,000-node chain after a fault": (
            "graphgrad: 1\ninputs: {x: 1.0}\nnodes:\n" + chain + "  n19999: {op: exp, in: [zz]}\n",
            Limits(),
            20.0,
        ),
    }


def bench_faults() -> list[dict]:
    """Seconds until each faulty file is refused with every issue, against its budget."""
    rows = []
    for name, (text, limits, budget) in _faulty_files().items():
        start = time.perf_counter()
        try:
            graphgrad.load(text, limits=limits)
        except GraphFileError as exc:
            issues = len(exc.issues)
        else:
            raise AssertionError(f"{name}: loaded without an error")
        seconds = time.perf_counter() - start
        rows.append(
            {
                "workload": name,
                "seconds": seconds,
                "issues": issues,
                "budget_s": budget,
                "met": seconds < budget,
            }
        )
    return rows


if __name__ == "__main__":
    for row in bench_faults():
        print(json.dumps(row))
