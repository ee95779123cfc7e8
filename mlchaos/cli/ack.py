"""`mlchaos ack [INCIDENT...]`: acknowledge pages during a human game day."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.cli.common import load_stack, service_option, state_dir_option
from mlchaos.errors import InputError
from mlchaos.loader import load_service
from mlchaos.observe import adapters
from mlchaos.observe.pagerduty import acknowledge, events_client

__all__ = ["ack"]


@click.command()
@click.argument("incidents", nargs=-1)
@click.option(
    "--dedup-key",
    "dedup_keys",
    multiple=True,
    help="Acknowledge by dedup key: real PagerDuty incidents cannot be listed without a token.",
)
@service_option
@state_dir_option
def ack(
    incidents: tuple[str, ...],
    dedup_keys: tuple[str, ...],
    service_file: Path | None,
    state_dir: Path,
) -> None:
    """Acknowledge INCIDENTs (all triggered ones when none is named) with PagerDuty's official
    client: through the REST API v2 when the service file configures ``pagerduty.rest`` with a
    ``from_email``, else through the Events API v2. mlchaos measures MTTA from these acks."""
    if service_file is not None:
        service = load_service(service_file)
    else:
        from mlchaos.reference import service as reference

        service = reference.service(load_stack(state_dir))
    if not service.has_pager:
        raise InputError("the service file names no pager (pagerduty:): nothing to acknowledge")
    if dedup_keys:
        key = service.routing_key()
        if not key:
            raise InputError(
                f"--dedup-key needs the routing key: none in {service.routing_key_source}"
            )
        client = events_client(key, service.pagerduty_url, service.pagerduty_ca_file)
        for dedup_key in dedup_keys:
            client.acknowledge(dedup_key)
            click.echo(f"acknowledged {dedup_key}")
        if not incidents:
            return
    found = adapters.pager(service)
    done = acknowledge(found, adapters.acknowledger(service), service.pagerduty_service, incidents)
    for incident in done:
        click.echo(f"acknowledged {incident['id']}: {incident['summary']}")
    if not done:
        click.echo("no triggered incident to acknowledge")
