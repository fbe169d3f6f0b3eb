"""serve: the HTTP service."""

from __future__ import annotations

import click

from . import common


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
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
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=4 * 1024 * 1024, show_default=True)
@common
def serve(host, port, workers, queue, timeout, max_body_bytes, plugins, limits) -> None:
    """Serve validate, run, check and export over HTTP (needs graphgrad[serve]).

    \b
      graphgrad serve --port 8000 &
      curl -s --data-binary @graphs/simple.yaml -H 'content-type: application/yaml' \\
           http://127.0.0.1:8000/v1/run
    """
    try:
        import uvicorn

        from ..service import create_app
    except ImportError as exc:
        raise click.UsageError(
            f"graphgrad serve needs its extra: pip install 'graphgrad[serve]' ({exc})"
        ) from None
    app = create_app(
        plugins=tuple(str(p) for p in plugins),
        workers=workers,
        queue=queue,
        timeout=timeout,
        max_body=max_body_bytes,
        limits=limits,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
