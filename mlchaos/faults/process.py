"""``process``: break the model server's process on its own machine (the service file's
``processes``): a ``kill`` of the server or one worker, as an OOM kill looks, or a
``cpu_starve``, a co-located hog on its cores bounded by the lease
(`mlchaos.faults.targets.process`). The team's supervisor restarting a killed server is the
mitigation, read from when answers came back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlchaos.errors import TargetError
from mlchaos.faults.confirm import poll
from mlchaos.faults.leases import last_intent
from mlchaos.faults.targets import process as process_target
from mlchaos.journal import Journal
from mlchaos.schema.experiment import ProcessFault
from mlchaos.service import Service

__all__ = ["CONFIRM_S", "FAULT", "ProcessKind"]

CONFIRM_S = 10.0


class ProcessKind:
    type = "process"
    TARGET = process_target.TARGET

    def misfits(self, service: Service, fault: ProcessFault) -> list[tuple[str, str]]:
        if fault.process not in service.processes:
            known = ", ".join(sorted(service.processes)) or "none"
            return [("process", f"the service file's processes name no {fault.process!r} "
                                f"(it has {known})")]  # fmt: skip
        return []

    def ready(self, service: Service, fault: ProcessFault) -> str:
        process = service.processes[fault.process]
        server = process_target.the_server(process, fault.process)
        if not process_target.answers(process):
            raise TargetError(f"{fault.process} (pid {server}) does not answer "
                              f"{process.ready or 'at all'}")  # fmt: skip
        if fault.action == "cpu_starve":
            cpus = sorted(os.sched_getaffinity(server))
            return (f"{fault.process} is pid {server}, on cores {cpus}: a hog would be pinned to "
                    "each")  # fmt: skip
        if fault.scope == "worker":
            found = process_target.workers(server)
            if not found:
                raise TargetError(f"{fault.process} (pid {server}) has no worker process")
            return f"{fault.process} is pid {server}; its worker pid {found[-1]} would be killed"
        return f"{fault.process} is pid {server} and answers; it would be killed (SIGKILL)"

    def inject(self, journal: Journal, service: Service, fault: ProcessFault) -> str:
        return process_target.inject(journal, service.processes[fault.process], fault,
                                     service.hook_dir)  # fmt: skip

    def confirm(self, journal: Journal, service: Service, fault: ProcessFault) -> bool:
        """Live once the kernel shows it: the killed process is gone; every hog is running."""
        intent = last_intent(journal, process_target.TARGET)
        lease_file = Path(intent["lease_file"]) if intent else None

        def seen() -> str | None:
            if lease_file is None or not lease_file.exists():
                return None
            lease = json.loads(lease_file.read_text())
            if fault.action == "kill":
                victim = int(lease["victim"])
                if process_target.state_of(victim) in ("Z", "X"):
                    return f"pid {victim} ({fault.process}'s {fault.scope}) is gone"
                return None
            running = process_target.hogs_of(lease_file)
            pinned = sorted(c for pid in running for c in _affinity(pid))
            if len(running) == len(lease["cpus"]) and pinned == lease["cpus"]:
                return f"{len(running)} hog(s) run pinned to cores {lease['cpus']}"
            return None

        return poll(journal, seen, CONFIRM_S,
                    lambda: f"{fault.process} did not show the {fault.action} within "
                            f"{CONFIRM_S:g}s")  # fmt: skip

    def end_lease(
        self, journal: Journal, intent: dict[str, Any], lease_id: str | None
    ) -> dict[str, Any]:
        return process_target.end_lease(journal, intent, lease_id)


def _affinity(pid: int) -> set[int]:
    try:
        return os.sched_getaffinity(pid)
    except OSError:
        return set()


FAULT = ProcessKind()
