"""`mlchaos init`: a starter service file and experiments from a running Prometheus."""

from __future__ import annotations

from pathlib import Path

import click

from mlchaos.access import Access
from mlchaos.engine.starter import starter
from mlchaos.errors import InputError, MlchaosError
from mlchaos.loader import load_any
from mlchaos.observe.adapters import metrics_at
from mlchaos.observe.alertmanager import loaded_config, pagerduty_url
from mlchaos.schema.units import parse_url

__all__ = ["init"]


@click.command()
@click.option("--prometheus", required=True, help="Prometheus's URL, where alert rules live.")
@click.option("--alertmanager", required=True, help="Alertmanager's URL.")
@click.option("--gateway", default="http://127.0.0.1:28000", show_default=True,
              help="Where the chaos gateway in front of the model listens.")  # fmt: skip
@click.option("--model", required=True, help="The model's name in inference paths.")
@click.option(
    "--name", "service_name", default=None, help="The service's name; default: the model's."
)
@click.option("--pagerduty-service", default=None, help="The PagerDuty service that pages.")
@click.option("--username", default=None, help="Basic auth user for Prometheus and Alertmanager.")
@click.option("--password-env", default=None, help="The variable holding that user's password.")
@click.option("--bearer-token-env", default=None, help="The variable holding a bearer token.")
@click.option("--ca-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=None, help="A CA bundle to trust for both.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="Where to write service.yaml and experiments/.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(
    prometheus: str, alertmanager: str, gateway: str, model: str, service_name: str | None,
    pagerduty_service: str | None, username: str | None, password_env: str | None,
    bearer_token_env: str | None, ca_file: Path | None, out: Path, force: bool,
) -> None:  # fmt: skip
    """Write a starter service file and one experiment per alert rule whose expression says
    what it watches, from what Prometheus holds now. Secrets are named by variable, never
    written. Every file written validates; `mlchaos doctor` then checks it against staging."""
    urls = {}
    for kind, url in (("prometheus", prometheus), ("alertmanager", alertmanager),
                      ("gateway", gateway)):  # fmt: skip
        try:
            urls[kind] = parse_url(url)
        except ValueError as exc:
            raise InputError(f"--{kind}: {exc}") from None
    if password_env and not username:
        raise InputError("--password-env needs --username")
    access = Access(
        username=username, password_env=password_env, bearer_token_env=bearer_token_env,
        ca_file=str(ca_file.resolve()) if ca_file else None,
    )  # fmt: skip
    try:
        pager_url = pagerduty_url(loaded_config(urls["alertmanager"], access))
    except MlchaosError as exc:
        click.echo(f"warning: {exc}; pagerduty.url left at PagerDuty's own", err=True)
        pager_url = None
    made = starter(
        metrics_at(urls["prometheus"], access=access), service_name or model, model, urls,
        access, pagerduty_service, pager_url,
    )  # fmt: skip
    existing = [name for name in made.files if (out / name).exists()]
    if existing and not force:
        raise InputError(f"{', '.join(existing)} exist(s) in {out}: pass --force to overwrite")
    for name, text in made.files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        load_any(path)  # what it wrote must validate
        click.echo(f"wrote {path}")
    for alert, why in made.unmatched.items():
        click.echo(f"no fault guessed for alert {alert}: {why}; write its experiment by hand",
                   err=True)  # fmt: skip
    service = out / "service.yaml"
    click.echo(f"next: set payload in {service}, then `mlchaos doctor --service {service} "
               f"{out / 'experiments'}/*.yaml`", err=True)  # fmt: skip
