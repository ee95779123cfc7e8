"""Run one Python component of the reference stack: ``python -m mlchaos.reference.serve NAME DIR``.

The supervisor starts each component this way, in its own process and session, so that a
crash or a `kill -9` of the runner leaves the stack (and its lease timers) running.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from pathlib import Path
from typing import Any

import uvicorn

from mlchaos.reference.config import StackConfig

__all__ = ["build_app", "main"]


def build_app(component: str, cfg: StackConfig) -> Any:
    if component == "registry":
        from mlchaos.reference import registry_api
        from mlchaos.reference.registry import Registry

        return registry_api.create_app(Registry(cfg.registry_dir))
    if component == "model-server":
        from mlchaos.reference import model_server
        from mlchaos.reference.registry import Registry

        return model_server.create_app(Registry(cfg.registry_dir), cfg.model_name)
    if component == "pagerduty":
        from mlchaos.receiver.events import PolicyFile, create_app

        held = json.loads(cfg.secrets_path.read_text())
        tokens = frozenset(held.get("api_tokens", []))
        policy = PolicyFile(cfg.escalation_policy_path, cfg.pagerduty_service)
        return create_app(cfg.state_dir, held["routing_keys"], tokens, policy)
    if component == "rollback-controller":
        from mlchaos.reference import rollback_controller

        return rollback_controller.create_app(cfg.url("registry"))
    if component == "fallback-controller":
        from mlchaos.reference import fallback_controller

        return fallback_controller.create_app(cfg.url("registry"))
    if component == "canary-controller":
        from mlchaos.reference import canary_controller

        return canary_controller.create_app(
            cfg.url("registry"), cfg.url("prometheus"), cfg.model_name, cfg.canary_settings_path
        )
    raise SystemExit(f"unknown component {component!r}")


def _quiet_garbage_collector() -> None:
    """Move start-up objects out of the collector's way and collect the oldest generation
    rarely, as latency-sensitive Python services do: at 500 req/s a full collection's pause
    shows up as a p99 spike, and the p99 alerts page on it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)


def main(argv: list[str]) -> None:
    component, state_dir = argv[0], Path(argv[1])
    cfg = StackConfig.load(state_dir)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {component} %(message)s")
    _quiet_garbage_collector()
    if component == "gateway":
        from mlchaos.gateway.run import serve

        serve(cfg.url("model-server"), cfg.model_name, cfg.host, cfg.ports[component], state_dir)
        return
    options: dict[str, Any] = {}
    if component == "pagerduty":
        options = {
            "ssl_certfile": str(cfg.tls_dir / "cert.pem"),
            "ssl_keyfile": str(cfg.tls_dir / "key.pem"),
        }
    uvicorn.run(
        build_app(component, cfg),
        host=cfg.host,
        port=cfg.ports[component],
        loop="asyncio",  # uvloop can hang beside other event-loop users
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        **options,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
