"""Results of a run written to YAML or JSON and read back with NumPy types intact.

Each array is ``{dtype, shape, data}``; NaN and infinities are the strings "nan",
"inf", "-inf" in JSON and ``.nan``, ``.inf`` in YAML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from graphgrad.api import Graph, Result
from graphgrad.errors import GraphgradError
from graphgrad.format.expect import Mismatch, compare
from graphgrad.format.jsonout import clean, to_json
from graphgrad.format.source import Limits, parse, read_text
from graphgrad.format.writing import write_atomic

FORMAT = "graphgrad_results"


def run_document(graph: Graph, result: Result, *, file: str) -> tuple[dict[str, Any], list[Mismatch]]:
    """The JSON document of ``graphgrad run --json`` and of the service's /v1/run, with
    the mismatches against the file's ``expect:``; one function, so the two cannot drift.

    ``expect`` is in the document only when the file has an ``expect:`` section, so that
    a script can tell "no expectation" from "expectation met".
    """
    doc: dict[str, Any] = {
        "file": file,
        "name": graph.name,
        "output": result.output,
        "value": to_json(result.value),
        "grads": {k: to_json(v) for k, v in result.grads.items()},
    }
    mismatches: list[Mismatch] = []
    expected = graph.definition.expected
    if expected is not None:
        mismatches = compare(expected, result.value, result.grads)
        doc["expect"] = {"passed": not mismatches, "mismatches": [str(m) for m in mismatches]}
    return clean(doc), mismatches


def _array(value: np.ndarray, *, for_json: bool) -> dict[str, Any]:
    value = np.asarray(value)
    data = to_json(value) if for_json else value.tolist()
    return {"dtype": value.dtype.name, "shape": list(value.shape), "data": data}


def results_document(result: Result, *, name: str, file: str, for_json: bool) -> dict[str, Any]:
    def arrays(d: dict[str, np.ndarray]) -> dict[str, Any]:
        return {k: _array(v, for_json=for_json) for k, v in d.items()}

    return {
        FORMAT: 1,
        "file": file,
        "name": name,
        "output": result.output,
        "value": _array(result.value, for_json=for_json),
        "grads": arrays(result.grads),
        "values": arrays(result.values),
        "node_grads": arrays(result.node_grads),
    }


def save_results(result: Result, path: str | Path, *, name: str, file: str) -> None:
    """Write ``result`` as YAML (.yaml, .yml) or JSON (.json), whole or not at all."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise GraphgradError(f"--save {path}: the file must end in .yaml, .yml or .json")
    as_json = path.suffix == ".json"
    doc = results_document(result, name=name, file=file, for_json=as_json)
    if as_json:
        text = json.dumps(doc, allow_nan=False) + "\n"
    else:
        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    write_atomic(path, text, what="--save")


def load_results(path: str | Path) -> Result:
    """Read a results file written by ``graphgrad run --save``.

    >>> import graphgrad, tempfile, os
    >>> text = "graphgrad: 1\\ninputs: {x: 3}\\nnodes:\\n  f: {op: square, in: [x]}\\noutput: f\\n"
    >>> r = graphgrad.load(text).run()
    >>> out = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> save_results(r, out, name="sq", file="<text>")
    >>> back = load_results(out)
    >>> float(back.grads["x"]), back.value.dtype.name
    (6.0, 'float64')
    """
    doc = parse(read_text(path, Limits()), str(path), Limits()).data
    if not isinstance(doc, dict) or doc.get(FORMAT) != 1:
        raise GraphgradError(f"{path}: not a graphgrad results file (no '{FORMAT}: 1')")

    def arrays(d: dict[str, Any]) -> dict[str, np.ndarray]:
        return {k: _from(v) for k, v in d.items()}

    return Result(
        output=doc["output"],
        value=_from(doc["value"]),
        grads=arrays(doc["grads"]),
        values=arrays(doc["values"]),
        node_grads=arrays(doc["node_grads"]),
    )


def _from(entry: dict[str, Any]) -> np.ndarray:
    return np.array(entry["data"], dtype=entry["dtype"]).reshape(entry["shape"])
