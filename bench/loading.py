"""Loading a graph file, stage by stage, against PyYAML's C loader and json.loads."""

from __future__ import annotations

import json
import time

import yaml

from graphgrad.graph import build_graph
from graphgrad.plan import compile_plan
from graphgrad.plugins import default_registry
from graphgrad.source import Limits, parse

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
