"""`mlchaos receiver`: the PagerDuty Events API v2 receiver, for a staging that should page
somewhere real without paging a person. Alertmanager sends to it as to PagerDuty; mlchaos
reads page and acknowledgement times back from its ``/incidents``, or, given API tokens, from
PagerDuty's REST API v2 under ``/rest``, as it would from PagerDuty itself."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["receiver"]


@click.command()
@click.option("--service", "service_name", required=True, help="The PagerDuty service name.")
@click.option(
    "--routing-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A file holding only the routing key events must carry (it is never printed).",
)
@click.option(
    "--api-token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of REST API tokens, one per line, accepted under /rest (never printed).",
)
@click.option(
    "--escalation-policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML escalation policy for the service (name, escalation_rules, num_loops): an "
    "incident nobody acknowledges escalates level by level, as PagerDuty's do. Read again "
    "when it changes; deleting it removes the policy.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=18443, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=Path(".mlchaos/receiver"),
    show_default=True,
    help="Where incidents are kept, and the receiver's self-signed certificate (tls/).",
)
def receiver(
    service_name: str,
    routing_key_file: Path,
    api_token_file: Path | None,
    policy_file: Path | None,
    host: str,
    port: int,
    state_dir: Path,
) -> None:
    """Receive PagerDuty events over HTTPS (the official client speaks nothing else), on a
    self-signed certificate written to STATE_DIR/tls/cert.pem: trust it with
    `pagerduty.ca_file` in the service file and `tls_config.ca_file` in Alertmanager."""
    import uvicorn

    from mlchaos.loader import load_document
    from mlchaos.receiver.events import EscalationPolicy, PolicyFile, create_app
    from mlchaos.receiver.tls import ensure_certificate

    if policy_file is not None:
        load_document(policy_file, EscalationPolicy)  # bad input now, at its line
    state_dir.mkdir(parents=True, exist_ok=True)
    cert, key = ensure_certificate(state_dir / "tls", host)
    keys = {service_name: routing_key_file.read_text().strip()}
    tokens = api_token_file.read_text().split() if api_token_file else []
    policies = PolicyFile(policy_file, service_name) if policy_file is not None else dict
    app = create_app(state_dir, keys, frozenset(tokens), policies)
    click.echo(f"PagerDuty receiver on https://{host}:{port} (certificate {cert})", err=True)
    uvicorn.run(
        app, host=host, port=port, loop="asyncio", log_level="warning", access_log=False,
        ssl_certfile=str(cert), ssl_keyfile=str(key), timeout_graceful_shutdown=2,
    )  # fmt: skip
