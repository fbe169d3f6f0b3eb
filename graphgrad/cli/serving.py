"""serve: the HTTP service."""

from __future__ import annotations

import errno
import socket

import click

from graphgrad.cli.common import common, quiet, verbose

MIB = 1024 * 1024


@click.command(short_help="Serve the HTTP API and the graph playground.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 for every interface (the service has no authentication).",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port to listen on."
)
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
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=4 * MIB,
    show_default=True,
    help="Largest request body; a larger one is a 413 problem.",
)
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

    Prints the address once it listens, then one access line per request (-q: none).
    A port in use is exit 2. Ctrl-C stops it.

    \b
      graphgrad serve --port 8000 &
      until curl -sf http://127.0.0.1:8000/healthz; do sleep 0.2; done
      curl -s --data-binary @graphs/simple.yaml -H 'content-type: application/yaml' \\
           http://127.0.0.1:8000/v1/run
    """
    try:
        import uvicorn

        from graphgrad.service.app import create_app
        from graphgrad.service.http import guarded_protocol
    except ImportError as exc:
        raise click.UsageError(
            f"graphgrad serve needs its extra: pip install 'graphgrad[serve]' ({exc})"
        ) from None
    _check_port(host, port)
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
    level = "warning" if quiet() else "debug" if verbose() else "info"
    uvicorn.run(app, host=host, port=port, log_level=level, http=protocol, timeout_keep_alive=5)


def _check_port(host: str, port: int) -> None:
    """A port in use, or an address this machine does not have, is a usage error (exit 2)
    that names it, before any worker starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.BadParameter(f"cannot listen on '{host}': {exc.strerror}", param_hint="--host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.UsageError(
                    f"port {port} on {host} is in use: stop what listens there, or pick another "
                    f"with --port (e.g. --port {port + 1})"
                ) from None
            raise click.UsageError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
