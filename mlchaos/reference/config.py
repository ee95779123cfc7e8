"""Where the reference stack lives: its ports, its state directory and the URLs derived from them.

`mlchaos up` writes ``stack.json`` into the state directory; every other command and every
component process reads it back, so the ports are chosen in one place.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "COMPONENTS",
    "DEFAULT_PORTS",
    "MODEL_NAME",
    "PAGERDUTY_SERVICE",
    "ROLLOUT_NAMESPACE",
    "StackConfig",
]

COMPONENTS = (
    "registry",
    "model-server",
    "gateway",
    "pagerduty",
    "rollback-controller",
    "fallback-controller",
    "canary-controller",
    "prometheus",
    "alertmanager",
)
"""Every component, in start order."""

DEFAULT_PORTS = {
    "registry": 18081,
    "model-server": 18080,
    "gateway": 18000,
    "pagerduty": 18443,
    "rollback-controller": 18082,
    "fallback-controller": 18083,
    "canary-controller": 18084,
    "prometheus": 19090,
    "alertmanager": 19093,
}

MODEL_NAME = "credit-risk"
ROLLOUT_NAMESPACE = "mlchaos-reference"
"""What the canary controller's metrics call its namespace, as Argo Rollouts labels a rollout."""
PAGERDUTY_SERVICE = "model-oncall"


class StackConfig(BaseModel):
    """The reference stack's settings; every URL derives from ``host`` and ``ports``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path
    host: str = "127.0.0.1"
    ports: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PORTS))
    model_name: str = MODEL_NAME
    pagerduty_service: str = PAGERDUTY_SERVICE
    scrape_interval_s: float = 1.0
    evaluation_interval_s: float = 1.0
    group_wait_s: float = 1.0
    alert_prefix: str = ""
    """Prefix for every alert rule's name; a second stack can name its alerts differently."""

    @field_validator("ports")
    @classmethod
    def _every_component(cls, ports: dict[str, int]) -> dict[str, int]:
        """A stack.json written before a component existed gives it its default port."""
        return {**{c: p for c, p in DEFAULT_PORTS.items() if c not in ports}, **ports}

    @property
    def production_version(self) -> str:
        """What the registry's ``production`` alias serves on a healthy stack: the
        gradient-boosted v2, promoted over v1 at bootstrap."""
        return "v2"

    def url(self, component: str) -> str:
        scheme = "https" if component == "pagerduty" else "http"
        return f"{scheme}://{self.host}:{self.ports[component]}"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def registry_dir(self) -> Path:
        return self.state_dir / "registry"

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def runbook_dir(self) -> Path:
        """Runbooks rendered for this stack; alert rules and pages link to them."""
        return self.state_dir / "runbooks"

    @property
    def secrets_path(self) -> Path:
        """Routing keys, readable by the owner only; never copied into reports or journals."""
        return self.state_dir / "secrets.json"

    @property
    def routing_key_path(self) -> Path:
        """The routing key alone, for the service file's ``routing_key_file``."""
        return self.state_dir / "routing-key"

    @property
    def escalation_policy_path(self) -> Path:
        """The receiver's escalation policy for ``pagerduty_service``; deleting it removes it."""
        return self.state_dir / "escalation-policy.yaml"

    @property
    def canary_settings_path(self) -> Path:
        """The canary controller's steps and analysis, read at each rollout's start."""
        return self.state_dir / "canary.yaml"

    @property
    def traffic_path(self) -> Path:
        """The replayed traffic, JSON lines: the service file's ``payload``."""
        return self.state_dir / "traffic.jsonl"

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.model_dump_json(indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> StackConfig:
        return cls.model_validate_json((state_dir / "stack.json").read_text())

    def routing_key(self) -> str:
        """The PagerDuty routing key of ``pagerduty_service``."""
        keys: dict[str, str] = json.loads(self.secrets_path.read_text())["routing_keys"]
        return keys[self.pagerduty_service]

    @property
    def api_token_path(self) -> Path:
        """The receiver's PagerDuty REST API token alone (``/rest``), mode 0600."""
        return self.state_dir / "pagerduty-api-token"

    def api_token(self) -> str:
        """The REST API token the receiver accepts under ``/rest``."""
        tokens: list[str] = json.loads(self.secrets_path.read_text()).get("api_tokens", [])
        return tokens[0] if tokens else ""
