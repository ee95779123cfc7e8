"""Configuration files for Prometheus and Alertmanager in the reference stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlchaos.reference.config import StackConfig

__all__ = ["alertmanager_config", "prometheus_config", "write_yaml"]


def _hostport(cfg: StackConfig, component: str) -> str:
    return f"{cfg.host}:{cfg.ports[component]}"


def prometheus_config(cfg: StackConfig, rules_file: Path) -> dict[str, Any]:
    interval = f"{cfg.scrape_interval_s:g}s"
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": f"{cfg.evaluation_interval_s:g}s",
        },
        "rule_files": [str(rules_file)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [_hostport(cfg, "alertmanager")]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "model-server",
                "static_configs": [{"targets": [_hostport(cfg, "model-server")]}],
            },
            {
                "job_name": "gateway",
                "static_configs": [{"targets": [_hostport(cfg, "gateway")]}],
            },
            {  # its rollout in Argo Rollouts' metric names: what mlchaos shows, never judges
                "job_name": "canary-controller",
                "static_configs": [{"targets": [_hostport(cfg, "canary-controller")]}],
            },
        ],
    }


def alertmanager_config(cfg: StackConfig, routing_key: str, ca_file: Path) -> dict[str, Any]:
    """Page every alert; also send ``action="rollback"`` alerts to the rollback controller and
    ``action="fallback"`` alerts to the fallback controller: the team's automations."""
    group_wait = f"{cfg.group_wait_s:g}s"
    return {
        "route": {
            "receiver": "pagerduty",
            "group_by": ["alertname", "model", "version"],
            "group_wait": group_wait,
            "group_interval": "5s",
            "repeat_interval": "1h",
            "routes": [
                {
                    "receiver": "rollback-controller",
                    "matchers": ['action="rollback"'],
                    "continue": True,
                },
                {
                    "receiver": "fallback-controller",
                    "matchers": ['action="fallback"'],
                    "continue": True,
                },
                {"receiver": "pagerduty"},
            ],
        },
        "receivers": [
            {
                "name": "pagerduty",
                "pagerduty_configs": [
                    {
                        "routing_key": routing_key,
                        "url": f"{cfg.url('pagerduty')}/v2/enqueue",
                        "send_resolved": True,
                        "severity": '{{ or .CommonLabels.severity "error" }}',
                        "description": (
                            "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}"
                        ),
                        "details": {
                            "alertname": "{{ .CommonLabels.alertname }}",
                            "action": "{{ .CommonLabels.action }}",
                            "model": "{{ .CommonLabels.model }}",
                            "version": "{{ .CommonLabels.version }}",
                        },
                        "http_config": {"tls_config": {"ca_file": str(ca_file)}},
                        "links": [
                            {"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"}
                        ],
                    }
                ],
            },
            {
                "name": "rollback-controller",
                "webhook_configs": [
                    {"url": f"{cfg.url('rollback-controller')}/alerts", "send_resolved": False}
                ],
            },
            {
                "name": "fallback-controller",
                "webhook_configs": [
                    {"url": f"{cfg.url('fallback-controller')}/alerts", "send_resolved": False}
                ],
            },
        ],
    }


def write_yaml(path: Path, document: dict[str, Any], private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    if private:
        path.chmod(0o600)
    return path
