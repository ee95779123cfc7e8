"""Alertmanager's live configuration, read from its own API."""

from __future__ import annotations

from typing import Any

import requests
import yaml

from mlchaos.access import Access, refused, why
from mlchaos.errors import ObservationError
from mlchaos.schema.units import parse_duration

__all__ = ["paging_group_wait"]


def paging_group_wait(url: str, access: Access | None = None, timeout_s: float = 3.0) -> float:
    """``group_wait`` of the route that pages: the first PagerDuty route, else the root route."""
    access = access or Access()
    try:
        response = access.session().get(f"{url.rstrip('/')}/api/v2/status", timeout=timeout_s)
        refused("Alertmanager", url, response, access)
        response.raise_for_status()
        config = yaml.safe_load(response.json()["config"]["original"])
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise ObservationError(f"Alertmanager at {url} did not answer: {why(exc)}") from exc
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
