"""yaml and json: the graph in its own format, canonical and loadable."""

from __future__ import annotations

import re
from typing import ClassVar

import yaml

from graphgrad.builtin.exporters.document import to_document
from graphgrad.exporter import Exporter
from graphgrad.format.jsonout import clean, dumps
from graphgrad.format.source import resolve_scalar

SECTIONS = ("inputs", "nodes")
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
"""Characters that JSON may hold raw but graphgrad's YAML reader may not (C1 controls,
the BOM, non-characters) or would fold as a line break (NEL, LS, PS): written as escapes.
Characters beyond the BMP stay raw, as JSON's escape for them (a surrogate pair) is not
YAML's."""
FLOW_WIDTH = 100
_COMMENT_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


class _Dumper(yaml.SafeDumper):
    """Quotes every string that YAML 1.2 would read as something else (``1e-6``)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if not isinstance(resolve_scalar(value), str) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _flow(value) -> str:
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=10**9, sort_keys=False)
    return text.removesuffix("...\n").strip()


def _block(key: str, value, indent: str) -> str:
    text = yaml.dump({key: value}, Dumper=_Dumper, default_flow_style=None, width=FLOW_WIDTH, sort_keys=False)
    return "".join(indent + line + "\n" for line in text.splitlines())


def to_yaml(doc: dict, comment: str | None = None) -> str:
    """Canonical YAML: top-level keys in the spec's order, one input or node a line
    where it fits in 100 columns, block style where it does not. ``comment`` goes first,
    each of its lines as a ``#`` line (control characters escaped, so it stays a comment).

    >>> print(to_yaml({"graphgrad": 1}, comment="why\\nand how"), end="")
    # why
    # and how
    graphgrad: 1
    """
    lines = [f"# {_COMMENT_UNSAFE.sub(_escape, line)}".rstrip() for line in (comment or "").splitlines()]
    for key, value in doc.items():
        if key in SECTIONS or (isinstance(value, dict) and value):
            lines.append(f"{key}:" if value else f"{key}: {{}}")
            for name, item in value.items():
                line = f"  {_flow(name)}: {_flow(item)}"
                lines.append(line if len(line) <= FLOW_WIDTH else _block(name, item, "  ").rstrip("\n"))
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


class YamlExporter(Exporter):
    """The graph file format itself, canonical: ``load(export(g))`` is ``g`` again."""

    name: ClassVar[str] = "yaml"
    suffix: ClassVar[str] = ".yaml"

    def export(self, graph) -> str:
        return to_yaml(to_document(graph.definition))


class JsonExporter(Exporter):
    """The same data model as JSON (which graphgrad also loads). JSON has no NaN or
    infinity: they are the strings "nan", "inf", "-inf", which the loader reads back as
    numbers wherever a number is expected (never as the names they cannot be)."""

    name: ClassVar[str] = "json"
    suffix: ClassVar[str] = ".json"

    def export(self, graph) -> str:
        text = dumps(clean(to_document(graph.definition)), indent=2, ensure_ascii=False)
        return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


EXPORTERS: list[type[Exporter]] = [YamlExporter, JsonExporter]
