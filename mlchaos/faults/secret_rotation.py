"""``secret_rotation``: rotate the credential a consumer (the model server) uses for one of the
service file's ``dependencies``, without telling the consumer (Redis:
`mlchaos.faults.targets.redis_secret`). Detection is the team's auth-failure signal; the
mitigation is the team's secret-propagation step, read from what is served again. The revert
puts the old credential back, in the dependency and in the team's secret file, and runs the
team's propagation step, so that the consumer is never left on a credential that is gone."""

from __future__ import annotations

import time
from typing import Any

from mlchaos.errors import MlchaosError
from mlchaos.faults.confirm import poll
from mlchaos.faults.dependency import unknown_dependency
from mlchaos.faults.targets import redis as redis_target
from mlchaos.faults.targets import redis_secret
from mlchaos.journal import Journal
from mlchaos.schema.experiment import SecretRotationFault
from mlchaos.service import Service

__all__ = ["CONFIRM_S", "FAULT", "SecretRotationKind"]

CONFIRM_S = 10.0


class SecretRotationKind:
    type = "secret_rotation"
    TARGET = redis_target.TARGET

    def misfits(self, service: Service, fault: SecretRotationFault) -> list[tuple[str, str]]:
        found = service.dependencies.get(fault.dependency)
        if found is None:
            return [unknown_dependency(service, fault.dependency)]
        if fault.user not in found.secrets:
            known = ", ".join(sorted(found.secrets)) or "none"
            return [("user", f"dependencies.{fault.dependency}.secrets names no {fault.user!r} "
                             f"(it has {known}): where its password is kept, and the team's "
                             "propagation step")]  # fmt: skip
        return []

    def ready(self, service: Service, fault: SecretRotationFault) -> str:
        dependency = service.dependencies[fault.dependency]
        return redis_secret.check(dependency, fault.user, service.hook_dir)

    def inject(self, journal: Journal, service: Service, fault: SecretRotationFault) -> str:
        return redis_target.inject(journal, service, fault)

    def confirm(self, journal: Journal, service: Service, fault: SecretRotationFault) -> bool:
        """Live once Redis itself refuses the consumer: a failed login of its user in Redis's
        ACL LOG since the rotation (the consumer reconnects at its next lookup)."""
        import redis

        dependency = service.dependencies[fault.dependency]
        since = time.monotonic()

        def seen() -> str | None:
            try:
                server = redis_target.client(dependency, service.hook_dir)
                refused = redis_secret.refusals(server, fault.user,
                                                time.monotonic() - since + 1)  # fmt: skip
            except (redis.RedisError, MlchaosError):
                return None
            if refused:
                return (f"Redis refused {refused} login(s) of {fault.user} with its old "
                        "password (ACL LOG)")  # fmt: skip
            return None

        return poll(journal, seen, CONFIRM_S,
                    lambda: f"Redis refused no login of {fault.user} within {CONFIRM_S:g}s: is "
                            "the consumer connected as that user, and serving traffic?",
                    interval_s=0.2)  # fmt: skip

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return redis_target.end_lease(journal, intent, lease_id)


FAULT = SecretRotationKind()
