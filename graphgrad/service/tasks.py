"""What a service worker computes for one request: the command line's JSON, or a
problem (RFC 9457) with the located messages of a bad graph."""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any

from graphgrad.api import Graph
from graphgrad.checking.shrink import ShrinkResult, shrink
from graphgrad.checking.verify import check_document, check_graph
from graphgrad.errors import GateRuntimeError, GraphFileError, GraphgradError
from graphgrad.format.jsonout import clean, dumps
from graphgrad.format.source import decode
from graphgrad.graph.dag import graph_from_text
from graphgrad.plugins.manager import load_registry
from graphgrad.results import run_document
from graphgrad.service.playground import playground_document
from graphgrad.service.pool import PoolSettings

BODY = "body"
PROBLEM = "application/problem+json"
Answer = tuple[int, str, bytes]
_MAX_RESPONSE: ContextVar[int | None] = ContextVar("max_response", default=None)


class _TooLarge(Exception):
    """A result that cannot fit in the response limit, found before it is serialised."""


def problem(status: int, title: str, detail: str, **extra: Any) -> Answer:
    doc = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return status, PROBLEM, json.dumps(doc).encode()


def handle(kind: str, body: bytes, options: dict[str, Any], settings: PoolSettings) -> Answer:
    """Run one request's work; never raises for a user's mistake; never answers more
    than ``settings.max_response`` bytes."""
    token = _MAX_RESPONSE.set(settings.max_response)
    try:
        answer = _handle(kind, body, options, settings)
    except _TooLarge as exc:
        answer = _too_large(kind, exc.args[0], settings.max_response, at_least=True)
    finally:
        _MAX_RESPONSE.reset(token)
    return bounded(answer, kind, settings.max_response)


def _handle(kind: str, body: bytes, options: dict[str, Any], settings: PoolSettings) -> Answer:
    if kind == "warm-up":
        load_registry(settings.plugins)
        return 200, "text/plain", b""
    try:
        registry = load_registry(settings.plugins)
        text = decode(body, BODY, settings.limits)
        definition, data = graph_from_text(text, BODY, registry, settings.limits, name=BODY)
        graph = Graph.from_definition(definition, registry, settings.limits, data=data)
        if kind == "explain":
            return _json(playground_document(graph, text, file=BODY, limits=settings.limits))
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


def bounded(answer: Answer, kind: str, limit: int) -> Answer:
    """The answer, or a 413 problem when it is over ``limit`` bytes: a small request
    must not make the server send (and the client receive) hundreds of megabytes."""
    status, media, payload = answer
    if len(payload) <= limit:
        return answer
    if media == PROBLEM:  # a problem with very many located errors: the first ones
        doc = json.loads(payload)
        errors = doc.get("errors") or []
        shown = errors[:100]
        doc.update(errors=shown, errors_total=len(errors))
        cut = status, media, json.dumps(doc).encode()
        if len(cut[2]) <= limit and len(shown) < len(errors):
            return cut
    return _too_large(kind, len(payload), limit)


def _too_large(kind: str, size: int, limit: int, *, at_least: bool = False) -> Answer:
    detail = (
        f"the {kind} result is {'at least ' if at_least else ''}{size} bytes, over the limit of "
        f"{limit} bytes; ask for less (a smaller graph, fewer or smaller inputs) "
        "or raise --max-response-bytes"
    )
    return problem(413, "Response too large", detail, size=size, limit=limit)


def _least_bytes(doc: Any) -> int:
    """A lower bound on the size of ``doc`` as JSON, quick on the long lists of an array:
    a float takes at least 3 characters ("1.0"), any number 1, and each item of a list
    but the first a ", " before it."""
    if isinstance(doc, dict):
        return sum(_least_bytes(v) for v in doc.values())
    if isinstance(doc, list):
        if doc and isinstance(doc[0], list | dict):
            return sum(_least_bytes(v) for v in doc)
        return len(doc) * (5 if doc and isinstance(doc[0], float) else 3)
    return 1


def _json(doc: Any) -> Answer:
    limit = _MAX_RESPONSE.get()
    # refuse before spending seconds and memory serialising what would be refused anyway
    if limit is not None and (least := _least_bytes(doc)) > limit:
        raise _TooLarge(least)
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
    if options.get("shrink"):
        try:
            found = shrink(
                graph,
                report,
                checker=checker,
                seconds=options["shrink_seconds"],
                tries=options["shrink_tries"],
                source=BODY,
            )
        except GraphgradError as exc:  # a gate that raises while a candidate runs
            found = ShrinkResult(False, f"shrinking stopped: {exc}")
        report.shrink = found.as_dict()
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
