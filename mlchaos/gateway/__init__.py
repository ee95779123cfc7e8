"""The chaos gateway: the reverse proxy in front of a model server that applies fault leases.

Product code, not demo: teams run it in front of their own model server with
``mlchaos gateway --upstream URL``. The reference stack runs the same server
(`mlchaos.gateway.server`). Its client lives with the other adapters, in
`mlchaos.observe.gateway`.
"""

__all__ = []
