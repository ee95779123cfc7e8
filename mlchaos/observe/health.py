"""Whether the components an event depends on are up, asked when the event did not come.

A page that never came is a miss only if the pipeline that would have carried it was there to
carry it: with Prometheus or Alertmanager down, nobody can say whether the service would have
paged, and the verdict must say *cannot tell*, not *missed*.

    >>> down({"Prometheus": "http://127.0.0.1:9090", "Alertmanager": "http://127.0.0.1:9093"})
    'Alertmanager at http://127.0.0.1:9093: it is unreachable (connection refused or reset)'
"""

from __future__ import annotations

from typing import Any

import requests

from mlchaos.access import Access, why
from mlchaos.errors import MlchaosError

__all__ = ["down"]


def down(components: dict[str, Any], timeout_s: float = 2.0) -> str | None:
    """Why the first unreachable component is unreachable, or None when all answer.

    Each is asked ``GET URL/-/healthy``, which Prometheus and Alertmanager serve. A component is
    a URL, or ``{"url": URL, "access": Access fields}`` when it takes credentials.
    """
    for name, component in components.items():
        url = component if isinstance(component, str) else component["url"]
        access = Access.model_validate(
            component.get("access", {}) if isinstance(component, dict) else {}
        )
        try:
            response = access.session().get(f"{url.rstrip('/')}/-/healthy", timeout=timeout_s)
        except requests.RequestException as exc:
            return f"{name} at {url}: {why(exc)}"
        except MlchaosError as exc:
            return f"{name} at {url} cannot be asked: {exc}"
        if response.status_code in (401, 403):
            return f"{name} at {url} refused mlchaos's credentials ({response.status_code})"
        if response.status_code >= 500:
            return f"{name} at {url} answered {response.status_code}"
    return None
