"""gates: what is registered, and --check of every gate's backward."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from graphgrad.checking.gatecheck import check_all
from graphgrad.cli.common import common, console, emit, quiet
from graphgrad.format.jsonout import clean, dumps
from graphgrad.plugins.manager import load_registry


@click.command(short_help="List the registered gates; --check tests each backward.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--check", "run_check", is_flag=True, help="Check every gate's backward on random inputs.")
@common
def gates(as_json: bool, run_check: bool, plugins, limits) -> None:
    """List the registered gates: inputs, attributes and the plugin each comes from.

    With --check, run every gate (plugins included) with its examples and attribute
    values drawn from each field's type, on random inputs of every shape set its shape
    rule accepts (broadcasting included, any number of inputs), and check its backward
    against finite differences of its forward: the first thing to run after writing a
    gate. A gate that cannot be built or run is skipped, not failed (exit 0).
    """
    registry = load_registry(plugins)
    if run_check:
        _check_gates(registry, as_json)
        return
    rows = [
        {
            "op": g.op,
            "inputs": str(g.arity),
            "attributes": {
                (f.alias or n): {"required": f.is_required(), "default": f.default}
                for n, f in g.cls.model_fields.items()
            },
            "plugin": g.plugin,
            "doc": (g.cls.__doc__ or "").strip().splitlines()[0] if g.cls.__doc__ else "",
        }
        for g in registry
    ]
    if as_json:
        emit(dumps({"gates": rows}, default=repr))
        return
    table = Table("op", "inputs", "attributes", "plugin", "what it computes")
    for r in rows:
        attrs = ", ".join(
            f"{k} (required)" if a["required"] else f"{k}={a['default']!r}"
            for k, a in r["attributes"].items()
        )
        table.add_row(r["op"], r["inputs"], attrs, r["plugin"], r["doc"])
    console().print(table)


def _check_gates(registry, as_json: bool) -> None:
    results = check_all(registry)
    if as_json:
        emit(dumps(clean({"gates": [r.as_dict() for r in results]})))
    else:
        order = {"failed": 0, "inconclusive": 1, "skipped": 2, "passed": 3}
        table = Table("op", "plugin", "cases", "worst rel. error", "verdict")
        for r in sorted(results, key=lambda r: (order[r.status], -r.worst)):
            verdict = {
                "passed": "passed",
                "failed": "FAILED",
                "inconclusive": "INCONCLUSIVE",
                "skipped": f"skipped: {r.skipped}",
            }[r.status]
            table.add_row(r.op, r.plugin, str(r.cases), f"{r.worst:.2g}", verdict)
        if not quiet():
            console().print(table)
        for r in results:
            for failure in r.failures + r.inconclusive:
                click.echo(f"{r.op} ({r.plugin}): {failure.strip()}")
        n = {s: sum(r.status == s for r in results) for s in order}
        extra = "".join(f", {n[s]} {s}" for s in ("inconclusive", "skipped") if n[s])
        click.echo(f"{n['passed']} passed, {n['failed']} failed{extra}")
    sys.exit(1 if any(r.status in ("failed", "inconclusive") for r in results) else 0)
