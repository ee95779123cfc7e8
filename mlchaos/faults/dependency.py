"""``dependency``: break something the model server needs (the service file's
``dependencies``: a feature store's online store), through that component's own mechanisms and
under a lease it, or a keeper, ends (`mlchaos.faults.targets.redis`). The gateway is not the
mechanism: clients' requests reach the model server untouched, and what breaks is what the
model server gets from its dependency."""

from __future__ import annotations

import time
from typing import Any

from mlchaos.errors import MlchaosError, TargetError
from mlchaos.faults.confirm import poll
from mlchaos.faults.targets import redis as redis_target
from mlchaos.faults.targets.feast_layout import key_pattern, view_fields
from mlchaos.journal import Journal
from mlchaos.schema.experiment import DependencyFault
from mlchaos.service import Service

__all__ = ["CONFIRM_S", "FAULT", "DependencyKind", "unknown_dependency"]

CONFIRM_S = 10.0


class DependencyKind:
    type = "dependency"
    TARGET = redis_target.TARGET

    def misfits(self, service: Service, fault: DependencyFault) -> list[tuple[str, str]]:
        found = service.dependencies.get(fault.dependency)
        if found is None:
            return [unknown_dependency(service, fault.dependency)]
        if fault.mode == "stale":
            if found.feast is None:
                return [("mode", f"stale needs dependencies.{fault.dependency}.feast: which "
                                 "project and views it holds")]  # fmt: skip
            if fault.feature_view not in found.feast.views:
                views = ", ".join(sorted(found.feast.views))
                return [("feature_view", f"dependencies.{fault.dependency}.feast.views names no "
                                         f"{fault.feature_view!r} (it has {views})")]  # fmt: skip
        return []

    def ready(self, service: Service, fault: DependencyFault) -> str:
        """Reach it as mlchaos's user, harmlessly: a PING, and for ``stale`` a count of the
        keys that hold the view (read only)."""
        import redis

        dependency = service.dependencies[fault.dependency]
        try:
            server = redis_target.client(dependency, service.hook_dir)
            started = time.monotonic()
            server.ping()
            took = (time.monotonic() - started) * 1000
            if fault.mode != "stale":
                return (f"Redis {fault.dependency} at {dependency.url} answers (PING in "
                        f"{took:.1f} ms); it would be paused ({fault.mode})")  # fmt: skip
            assert dependency.feast is not None and fault.feature_view is not None
            fields = view_fields(fault.feature_view, dependency.feast.views[fault.feature_view])
            keys = 0
            for key in server.scan_iter(match=key_pattern(dependency.feast.project), count=500):
                keys += bool(server.hexists(key, fields[-1]))
        except redis.RedisError as exc:
            raise TargetError(f"Redis {fault.dependency} at {dependency.url}: {exc}") from exc
        if not keys:
            raise TargetError(f"no entity key of project {dependency.feast.project} holds "
                              f"{fault.feature_view}: is it materialized?")  # fmt: skip
        return (f"{keys} entity keys of Redis {fault.dependency} hold {fault.feature_view}; its "
                "values would vanish from them")  # fmt: skip

    def inject(self, journal: Journal, service: Service, fault: DependencyFault) -> str:
        return redis_target.inject(journal, service, fault)

    def confirm(self, journal: Journal, service: Service, fault: DependencyFault) -> bool:
        """Live once the dependency itself shows it, to a client of mlchaos's own: no answer to
        a PING (``outage``), a PING that waited (``slow``), the view's values gone from the
        keys that held them (``stale``)."""
        dependency = service.dependencies[fault.dependency]

        def seen() -> str | None:
            import redis

            try:
                if fault.mode == "stale":
                    return _gone(service, fault)
                probe = redis_target.client(dependency, service.hook_dir,
                                            timeout_s=fault.delay * 4 + 0.5)  # fmt: skip
                started = time.monotonic()
                probe.ping()
                took = time.monotonic() - started
            except redis.TimeoutError:
                return f"Redis {fault.dependency} did not answer a PING" if (
                    fault.mode == "outage") else None
            except (redis.RedisError, MlchaosError):
                return None
            if fault.mode == "slow" and took >= fault.delay / 2:
                return f"Redis {fault.dependency} answered a PING after {took * 1000:.0f} ms"
            return None

        return poll(journal, seen, CONFIRM_S,
                    lambda: f"Redis {fault.dependency} did not show the {fault.mode} within "
                            f"{CONFIRM_S:g}s")  # fmt: skip

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return redis_target.end_lease(journal, intent, lease_id)


def unknown_dependency(service: Service, name: str) -> tuple[str, str]:
    """The misfit of a fault that names a dependency the service file does not declare."""
    known = ", ".join(sorted(service.dependencies)) or "none"
    return ("dependency", f"the service file's dependencies name no {name!r} (it has {known})")


def _gone(service: Service, fault: DependencyFault) -> str | None:
    dependency = service.dependencies[fault.dependency]
    assert dependency.feast is not None and fault.feature_view is not None
    fields = view_fields(fault.feature_view, dependency.feast.views[fault.feature_view])
    server = redis_target.client(dependency, service.hook_dir)
    holding = still = 0
    for key in server.scan_iter(match=key_pattern(dependency.feast.project), count=500):
        holding += 1
        still += bool(server.hexists(key, fields[-1]))
    if holding and not still:
        return f"none of {holding} entity keys holds {fault.feature_view} any more"
    return None


FAULT = DependencyKind()
