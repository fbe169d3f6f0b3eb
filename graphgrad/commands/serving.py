"""serve: the HTTP service."""

from __future__ import annotations

import click

from . import common

MIB = 1024 * 1024


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
@click.option(
    "--spares",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Warm worker processes kept beyond --workers, to replace a crashed one at once.",
)
@click.option(
    "--queue", type=click.IntRange(min=0), default=16, show_default=True, help="Requests that may wait."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="Seconds a request may compute.",
)
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=4 * MIB, show_default=True)
@click.option(
    "--max-response-bytes",
    type=click.IntRange(min=1024),
    default=32 * MIB,
    show_default=True,
    help="Largest answer; a larger result is a 413 problem.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Open connections; past it a new one evicts the oldest idle one.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.01),
    default=10.0,
    show_default=True,
    help="Seconds a request's headers may take to arrive.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="Seconds a request's body may take to arrive.",
)
@click.option(
    "--graphs",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder of NAME.yaml files the page's menu offers (default: the repository's graphs/).",
)
@common
def serve(
    host,
    port,
    workers,
    spares,
    queue,
    timeout,
    max_body_bytes,
    max_response_bytes,
    max_connections,
    header_timeout,
    body_timeout,
    graphs,
    plugins,
    limits,
) -> None:
    """Serve validate, run, check and export over HTTP (needs graphgrad[serve]), and the
    graph playground at / (open http://127.0.0.1:8000/?graph=simple in a browser).

    \b
      graphgrad serve --port 8000 &
      curl -s --data-binary @graphs/simple.yaml -H 'content-type: application/yaml' \\
           http://127.0.0.1:8000/v1/run
    """
    try:
        import uvicorn

        from ..service import create_app
        from ..service_http import guarded_protocol
    except ImportError as exc:
        raise click.UsageError(
            f"graphgrad serve needs its extra: pip install 'graphgrad[serve]' ({exc})"
        ) from None
    protocol = guarded_protocol(header_timeout=header_timeout, max_connections=max_connections)
    app = create_app(
        plugins=tuple(str(p) for p in plugins),
        workers=workers,
        queue=queue,
        timeout=timeout,
        max_body=max_body_bytes,
        limits=limits,
        spares=spares,
        max_response=max_response_bytes,
        body_timeout=body_timeout,
        connection_counts=protocol.counts,
        graphs=graphs if graphs is not None else "default",
    )
    uvicorn.run(app, host=host, port=port, log_level="info", http=protocol, timeout_keep_alive=5)
