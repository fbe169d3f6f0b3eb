"""The gate table of docs/format.md, written from the registry: every fact in it lives on
the gate's class (its forward's signature, its fields, its docstring, ``shape_rule`` and
``gradient``), so the reference cannot drift from the code (tests/test_format_doc.py)."""

from __future__ import annotations

import inspect
from typing import get_origin

from pydantic_core import PydanticUndefined

from graphgrad.gate import Gate, arity
from graphgrad.plugins.registry import Registry


def inputs_text(cls: type[Gate]) -> str:
    """The inputs as the forward names them: ``a, b, ...`` for a variadic gate."""
    params = list(inspect.signature(cls.forward).parameters.values())[1:]
    names = [p.name for p in params if p.kind is not p.VAR_POSITIONAL]
    text = ", ".join(names) + (", ..." if arity(cls).maximum is None else "")
    return f"{text} ({arity(cls)})" if arity(cls).maximum is None else text


def attributes_text(cls: type[Gate]) -> str:
    """Each attribute as a file spells it, with its type and default (or *required*)."""
    out = []
    for name, field in cls.model_fields.items():
        plain = get_origin(field.annotation) is None and hasattr(field.annotation, "__name__")
        kind = field.annotation.__name__ if plain else str(field.annotation)
        kind = kind.replace("NoneType", "null").replace("None", "null")
        if field.default is PydanticUndefined:
            out.append(f"`{field.alias or name}` ({kind}, required)")
        else:
            default = "null" if field.default is None else str(field.default).lower()
            out.append(f"`{field.alias or name}` ({kind}) = {default}")
    return ", ".join(out)


def forward_text(cls: type[Gate]) -> str:
    """The first line of the class's docstring: what the gate computes."""
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("``", "`")


def gate_table(registry: Registry, plugin: str = "graphgrad.builtin.gates") -> str:
    """A Markdown table of the gates one plugin registers, sorted by op."""
    rows = [
        "| op | in | attributes | shape of the output | forward | gradient (each input's downstream) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for g in sorted((g for g in registry if g.plugin == plugin), key=lambda g: g.op):
        cells = (
            f"`{g.op}`",
            inputs_text(g.cls),
            attributes_text(g.cls),
            g.cls.shape_rule,
            forward_text(g.cls),
            g.cls.gradient,
        )
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows) + "\n"
