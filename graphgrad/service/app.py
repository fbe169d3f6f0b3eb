"""The HTTP service: what the command line does, over HTTP, safe to face untrusted input.

A thin shell: the body limit and the body's deadline are enforced at the ASGI level
(declared and chunked bodies alike), the work runs in worker processes
(:mod:`graphgrad.service.pool`) and is cancelled when its client goes away, and every
error is ``application/problem+json`` (RFC 9457) with the command line's located
messages. Plugins are chosen when the server starts, never by a request.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from graphgrad import __version__
from graphgrad.graph.schema import graph_schema
from graphgrad.plugins.manager import load_registry
from graphgrad.service.pool import PoolSettings, Saturated, TimedOut, WorkerDied, WorkerPool

MAX_BODY = 4 * 1024 * 1024
BODY_TIMEOUT = 30.0
CLOSE = {"Connection": "close"}
PROBLEM = "application/problem+json"
GRAPH_NAME = r"^[A-Za-z0-9_-]+$"
WEB_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The page loads nothing from another site, and runs no inline script: the browser holds it to that.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _problem(status: int, title: str, detail: str, headers: dict | None = None, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


class BodyLimit:
    """ASGI middleware: refuse a body over ``limit`` bytes with 413, whether its size is
    declared (Content-Length) or it arrives in chunks, and a body that has not fully
    arrived ``timeout`` seconds after its headers with 408 (a slowly trickling client
    must not hold a connection); the app sees a replayed body."""

    def __init__(self, app, limit: int, timeout: float = BODY_TIMEOUT):
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        try:
            async with asyncio.timeout(self.timeout):
                while more and size <= self.limit:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            detail = f"the request body did not arrive within {self.timeout:g} s of its headers"
            return await _problem(408, "Request body too slow", detail, CLOSE)(scope, receive, send)
        if size > self.limit:
            return await self._refuse(scope, receive, send)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        detail = f"the request body is over the limit of {self.limit} bytes"
        response = _problem(413, "Request body too large", detail, CLOSE)
        await response(scope, receive, send)


async def _disconnected(request: Request) -> None:
    """Return when the client has closed its connection (the body was already read, so
    the only message left to receive is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _body(schema: dict) -> dict:
    """The OpenAPI request body: a graph file as YAML text or as JSON data."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": schema},
            },
        }
    }


def _responses(*codes: int) -> dict:
    problem = {"content": {PROBLEM: {"schema": {"type": "object"}}}}
    text = {
        400: "not a valid graph (located messages in errors)",
        408: "the body did not arrive in time",
        413: "the body, or the result, is too large",
        422: "a limit was exceeded, or a gate failed",
        503: "saturated: retry after Retry-After seconds",
        504: "the computation ran past its time limit and was stopped",
    }
    return {code: {"description": text[code], **problem} for code in codes}


def default_graphs() -> Path | None:
    """The repository's graphs/ folder when graphgrad runs from a checkout (the page's
    menu); None for an installed package, which ships no graphs."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "graphs"
    return folder if folder.is_dir() and (root / "pyproject.toml").is_file() else None


def _web_file(name: str) -> bytes:
    return resources.files("graphgrad.service").joinpath("web", name).read_bytes()


def create_app(
    *,
    plugins: tuple[str, ...] = (),
    workers: int = 2,
    queue: int = 16,
    timeout: float = 30.0,
    max_body: int = MAX_BODY,
    limits=None,
    spares: int = 2,
    max_response: int = 32 * 1024 * 1024,
    body_timeout: float = BODY_TIMEOUT,
    connection_counts: dict[str, int] | None = None,
    graphs: Path | str | None = "default",
) -> FastAPI:
    """The service, with its worker pool started and stopped by the app's lifespan
    (``connection_counts``: the connection layer's counts, shown by /healthz; ``graphs``:
    the folder whose NAME.yaml files the page's menu offers, by default the repository's
    graphs/, None for none)."""
    from graphgrad.format.source import Limits

    settings = PoolSettings(
        workers, queue, timeout, tuple(plugins), limits or Limits(), spares=spares, max_response=max_response
    )
    registry = load_registry(plugins)
    registry.load_all()  # a broken plugin is refused at start, naming it, not by a 500 later
    schema = graph_schema(registry)
    schema.pop("$schema", None)
    pool = WorkerPool(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await pool.start()
        yield
        await pool.stop()

    app = FastAPI(title="graphgrad", version=__version__, lifespan=lifespan)
    app.state.pool = pool
    errors = _responses(400, 408, 413, 422, 503, 504)

    async def work(kind: str, request: Request, options: dict) -> Response:
        body = await request.body()
        job = asyncio.ensure_future(pool.submit((kind, body, options)))
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait((job, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not job.done():  # the client went away (or the server is stopping): drop its work
                job.cancel()
                with suppress(asyncio.CancelledError):
                    await job
        if job.cancelled():
            return Response(status_code=499)  # nobody reads it: nginx's "client closed request"
        try:
            status, media, payload = job.result()
        except Saturated:
            return _problem(
                503, "Saturated", "every worker is busy and the queue is full", {"Retry-After": "1"}
            )
        except TimedOut:
            detail = f"the computation ran past {settings.timeout:g} s and was stopped"
            return _problem(504, "Time limit exceeded", detail)
        except WorkerDied:
            return _problem(422, "The computation crashed its worker", "a gate crashed the process")
        return Response(payload, status_code=status, media_type=media)

    @app.post("/v1/validate", openapi_extra=_body(schema), responses=errors)
    async def validate(request: Request) -> Response:
        """Validate a graph file: the JSON of `graphgrad validate --json`."""
        return await work("validate", request, {})

    @app.post("/v1/run", openapi_extra=_body(schema), responses=errors)
    async def run(request: Request) -> Response:
        """Forward and backward: the JSON of `graphgrad run --json`. A failed `expect:` is
        still 200, with `expect.passed` false."""
        return await work("run", request, {})

    @app.post("/v1/check", openapi_extra=_body(schema), responses=errors)
    async def check(
        request: Request,
        checker: str | None = Query(None, max_length=64),
        shrink: bool = Query(False),
        shrink_seconds: float = Query(10.0, gt=0, le=600),
        shrink_tries: int = Query(300, ge=0, le=100_000),
    ) -> Response:
        """Numerical gradient checks: the JSON of `graphgrad check --json`. With `shrink`,
        a failed check's file carries `shrink.text`: the smallest graph found that still
        fails the same way (`check --shrink`), within `shrink_seconds` and `shrink_tries`."""
        options = {"checker": checker}
        if shrink:
            options.update(shrink=True, shrink_seconds=shrink_seconds, shrink_tries=shrink_tries)
        return await work("check", request, options)

    @app.post("/v1/export", openapi_extra=_body(schema), responses=errors)
    async def export(
        request: Request, to: str = Query("yaml", max_length=64), values: bool = Query(False)
    ) -> Response:
        """The graph in another format (yaml, json, dot, mermaid, python, ...)."""
        return await work("export", request, {"to": to, "values": values})

    @app.get("/v1/gates")
    async def gates() -> dict:
        """The registered gates with their attribute schemas and plugins."""
        return {
            "gates": [
                {
                    "op": g.op,
                    "inputs": str(g.arity),
                    "plugin": g.plugin,
                    "attributes": g.cls.model_json_schema(by_alias=True),
                }
                for g in registry
            ]
        }

    @app.get("/v1/checkers")
    async def checkers() -> dict:
        """The registered checkers with their option schemas and plugins."""
        return {
            "checkers": [
                {"name": c.name, "plugin": c.plugin, "options": c.cls.model_json_schema()}
                for c in registry.checkers()
            ]
        }

    @app.post("/v1/explain", openapi_extra=_body(schema), responses=errors)
    async def explain(request: Request) -> Response:
        """What the playground draws: the run of `/v1/run`, and for a graph of at most 300
        inputs and nodes every value and gradient, each edge's labels as `render` writes
        them, `explain`'s rows per node, and where each input's value is in the body."""
        return await work("explain", request, {})

    folder = default_graphs() if graphs == "default" else (Path(graphs) if graphs is not None else None)

    def shipped() -> list[str]:
        if folder is None or not folder.is_dir():
            return []
        inside = folder.resolve()
        return sorted(
            p.stem
            for p in folder.glob("*.yaml")
            if re.match(GRAPH_NAME, p.stem) and p.is_file() and p.resolve().is_relative_to(inside)
        )

    @app.get("/v1/graphs")
    async def graph_list() -> dict:
        """The graphs the page's menu offers: the NAME of each graphs/NAME.yaml."""
        return {"graphs": shipped()}

    missing = {404: {"description": "no shipped graph of that name", "content": {PROBLEM: {}}}}

    @app.get("/v1/graphs/{name}", responses={200: {"content": {"application/yaml": {}}}, **errors, **missing})
    async def graph_text(name: str = PathParam(..., pattern=GRAPH_NAME, max_length=100)) -> Response:
        """The YAML of graphs/NAME.yaml: names only, never a path."""
        known = shipped()
        path = (folder / f"{name}.yaml").resolve() if folder is not None and name in known else None
        if path is None or not path.is_relative_to(folder.resolve()) or not path.is_file():
            listed = ", ".join(known) or "none (start graphgrad serve with --graphs DIR)"
            return _problem(404, "No such graph", f"no graph named '{name}'; the graphs are: {listed}")
        raw = path.read_bytes()[: max_body + 1]
        if len(raw) > max_body:
            return _problem(
                413, "Graph too large", f"graphs/{name}.yaml is over the limit of {max_body} bytes"
            )
        return Response(raw, media_type="application/yaml")

    page = {name: _web_file(name) for name in WEB_FILES}

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        """The playground (`/?graph=NAME` opens graphs/NAME.yaml)."""
        return Response(page["index.html"], media_type=WEB_FILES["index.html"], headers=PAGE_HEADERS)

    @app.get("/web/{name}", include_in_schema=False)
    async def web_file(name: str) -> Response:
        """The page's script and style, shipped in the package."""
        if name not in page or name == "index.html":
            return _problem(404, "Not found", f"no file '{name}'")
        return Response(page[name], media_type=WEB_FILES[name], headers=PAGE_HEADERS)

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness: answers at once, whatever the workers are doing; with the pool's
        state (idle, running, queued) and what happened to requests (abandoned, crashed)."""
        connections = {"connections": dict(connection_counts)} if connection_counts is not None else {}
        return {"status": "ok", **pool.stats(), **connections}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> Response:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _problem(400, "Bad request", detail)

    app.add_middleware(BodyLimit, limit=max_body, timeout=body_timeout)
    return app
