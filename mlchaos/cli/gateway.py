"""`mlchaos gateway --upstream URL`: the chaos gateway in front of your own model endpoint."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from mlchaos.observe.gateway import TOKEN_ENV

__all__ = ["gateway"]


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command()
@click.option("--upstream", required=True, help="Your model server's base URL (OIP v2).")
@click.option("--model", required=True, help="The model's name in /v2/models/NAME paths.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=18000, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=Path(".mlchaos/gateway"),
    show_default=True,
    help="Where the gateway keeps its audit log and its leases.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes sharing the port (SO_REUSEPORT) and the leases. [default: one "
    "per core]",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(1, 1_000_000),
    default=1024,
    show_default=True,
    help="Requests worked on at once (split evenly between the workers); beyond it the gateway "
    "answers 503 and counts them "
    "(mlchaos_gateway_shed_requests_total) rather than queue without bound.",
)
@click.option(
    "--admin-token-env",
    default=TOKEN_ENV,
    show_default=True,
    help="The environment variable holding the admin API's token. With a token, /admin/ "
    "asks for 'Authorization: Bearer TOKEN'; listening beyond loopback needs one.",
)
def gateway(
    upstream: str,
    model: str,
    host: str,
    port: int,
    state_dir: Path,
    max_in_flight: int,
    admin_token_env: str,
    workers: int | None,
) -> None:
    """Proxy clients to UPSTREAM and hold fault leases; runs in the foreground.

    Point clients (and your traffic) at the gateway, and name it as endpoints.gateway in your
    service file. Its routes to `/v2/models/MODEL-fallback/...` when switched to fallback.
    """
    from mlchaos.gateway.run import serve

    token = os.environ.get(admin_token_env) or None
    if token is None and not _loopback(host):
        raise click.UsageError(
            f"--host {host} reaches beyond this machine: anyone there could inject faults "
            f"through the admin API; set ${admin_token_env} to a token first"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"chaos gateway on http://{host}:{port} -> {upstream}", err=True)
    serve(upstream.rstrip("/"), model, host, port, state_dir, max_in_flight, token, workers)
