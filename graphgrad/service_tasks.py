"""What a service worker computes for one request: the command line's JSON, or a
problem (RFC 9457) with the located messages of a bad graph."""

from __future__ import annotations

import json
from typing import Any

from .api import Graph
from .errors import GateRuntimeError, GraphFileError, GraphgradError
from .graph import graph_from_text
from .jsonout import clean, dumps
from .plugins import load_registry
from .results import run_document
from .service_pool import PoolSettings
from .source import decode
from .verify import check_document, check_graph

BODY = "body"
Answer = tuple[int, str, bytes]


def problem(status: int, title: str, detail: str, **extra: Any) -> Answer:
    doc = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return status, "application/problem+json", json.dumps(doc).encode()


def handle(kind: str, body: bytes, options: dict[str, Any], settings: PoolSettings) -> Answer:
    """Run one request's work; never raises for a user's mistake."""
    if kind == "warm-up":
        load_registry(settings.plugins)
        return 200, "text/plain", b""
    try:
        registry = load_registry(settings.plugins)
        text = decode(body, BODY, settings.limits)
        definition, data = graph_from_text(text, BODY, registry, settings.limits, name=BODY)
        graph = Graph.from_definition(definition, registry, settings.limits, data=data)
        return _TASKS[kind](graph, options)
    except GraphFileError as exc:
        errors = [str(i) for i in exc.issues]
        if any(i.exceeds_limit for i in exc.issues):
            return problem(422, "A limit was exceeded", errors[0], errors=errors)
        return problem(400, "Not a valid graph", errors[0], errors=errors)
    except GateRuntimeError as exc:
        return problem(422, "A gate failed while running", str(exc), errors=[str(exc)])
    except GraphgradError as exc:
        return problem(400, "Bad request", str(exc), errors=[str(exc)])


def _json(doc: Any) -> Answer:
    return 200, "application/json", dumps(clean(doc)).encode()


def _validate(graph, options) -> Answer:
    return _json({"valid": 1, "invalid": 0, "files": [{"file": BODY, "valid": True, "errors": []}]})


def _run(graph, options) -> Answer:
    """The document of ``graphgrad run --json``; a failed ``expect:`` is still 200, since
    the run succeeded: ``expect.passed`` is false (docs/service.md)."""
    document, _ = run_document(graph, graph.run(), file=BODY)
    return _json(document)


def _check(graph, options) -> Answer:
    checker = options.get("checker")
    known = ["auto", *(c.name for c in graph.registry.checkers())]
    if checker is not None and checker not in known:
        return problem(400, "Unknown checker", f"no checker '{checker}'; registered: {', '.join(known)}")
    report = check_graph(graph, checker=checker, file=BODY)
    return _json(check_document([report]))


MEDIA = {"yaml": "application/yaml", "json": "application/json"}


def _export(graph, options) -> Answer:
    fmt = options.get("to", "yaml")
    names = [e.name for e in graph.registry.exporters()]
    if fmt not in names:
        return problem(400, "Unknown format", f"no format '{fmt}'; registered: {', '.join(names)}")
    exporter = graph.registry.exporter(fmt).cls
    values = bool(options.get("values")) and "values" in exporter.model_fields
    text = exporter(**({"values": True} if values else {})).export(graph)
    return 200, MEDIA.get(fmt, "text/plain; charset=utf-8"), text.encode()


_TASKS = {"validate": _validate, "run": _run, "check": _check, "export": _export}
