"""Whether the components an event depends on are up, asked when the event did not come.

A page that never came is a miss only if the pipeline that would have carried it was there to
carry it: with Prometheus or Alertmanager down, nobody can say whether the service would have
paged, and the verdict must say *cannot tell*, not *missed*.

    >>> down({"Prometheus": "http://127.0.0.1:9090", "Alertmanager": "http://127.0.0.1:9093"})
    'Alertmanager at http://127.0.0.1:9093 is unreachable: ...'
"""

from __future__ import annotations

import requests

__all__ = ["down"]


def down(components: dict[str, str], timeout_s: float = 2.0) -> str | None:
    """Why the first unreachable component is unreachable, or None when all answer.

    Each is asked ``GET URL/-/healthy``, which Prometheus and Alertmanager serve.
    """
    for name, url in components.items():
        try:
            response = requests.get(f"{url.rstrip('/')}/-/healthy", timeout=timeout_s)
        except requests.RequestException as exc:
            return f"{name} at {url} is unreachable: {type(exc).__name__}"
        if response.status_code >= 500:
            return f"{name} at {url} answered {response.status_code}"
    return None
