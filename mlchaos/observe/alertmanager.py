"""Alertmanager's live configuration, read from its own API."""

from __future__ import annotations

from typing import Any

import requests
import yaml

from mlchaos.access import Access, refused, why
from mlchaos.errors import ObservationError
from mlchaos.schema.units import parse_duration

__all__ = ["loaded_config", "pagerduty_url", "paging_group_wait"]


def loaded_config(
    url: str, access: Access | None = None, timeout_s: float = 3.0
) -> dict[str, Any]:
    """The configuration Alertmanager runs with (its secrets shown as ``<secret>``)."""
    access = access or Access()
    try:
        response = access.session().get(f"{url.rstrip('/')}/api/v2/status", timeout=timeout_s)
        refused("Alertmanager", url, response, access)
        response.raise_for_status()
        config = yaml.safe_load(response.json()["config"]["original"])
    except (requests.RequestException, ValueError, KeyError, yaml.YAMLError) as exc:
        raise ObservationError(f"Alertmanager at {url} did not answer: {why(exc)}") from exc
    return config if isinstance(config, dict) else {}


def pagerduty_url(config: dict[str, Any]) -> str | None:
    """Where the first PagerDuty receiver sends events, as a service file's ``pagerduty.url``
    (events go to URL/v2/enqueue); None when no receiver names a URL of its own (the SaaS)."""
    for receiver in config.get("receivers") or []:
        for pager in receiver.get("pagerduty_configs") or []:
            url = str(pager.get("url") or "")
            if url and "events.pagerduty.com" not in url:
                return url.removesuffix("/").removesuffix("/v2/enqueue")
    return None


def paging_group_wait(url: str, access: Access | None = None, timeout_s: float = 3.0) -> float:
    """``group_wait`` of the route that pages: the first PagerDuty route, else the root route."""
    config = loaded_config(url, access, timeout_s)
    root = config.get("route", {})
    pagers = {r["name"] for r in config.get("receivers", []) if r.get("pagerduty_configs")}
    route = _find_route(root, pagers) or root
    return parse_duration(route.get("group_wait", root.get("group_wait", "30s")))


def _find_route(route: dict[str, Any], pagers: set[str]) -> dict[str, Any] | None:
    if route.get("receiver") in pagers and "group_wait" in route:
        return route
    for child in route.get("routes", []) or []:
        found = _find_route(child, pagers)
        if found:
            return found
    return route if route.get("receiver") in pagers else None
