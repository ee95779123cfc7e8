"""Process faults on the model server's own machine (the service file's ``processes``): the
server found by its command line, as ``pgrep -f`` finds it, and broken through the kernel.

- ``kill``: SIGKILL to the whole server or one of its workers, as the OOM killer sends it.
  Nothing is held: the fault is the kill. The team's supervisor restarting the server is the
  mitigation, read from when answers come back. The revert waits until the server answers
  again (its ``ready`` URL), and runs the team's ``restart`` hook only if nothing brought it
  back: staging is never left without its server, and a restart of mlchaos's is recorded as
  such.
- ``cpu_starve``: a co-located hog, one busy process pinned to each of the server's cores
  (its CPU affinity), at the server's own priority. Each hog is its own lease keeper: it stops
  at the lease's expiry, or once the lease's ``.done`` file exists or its lease file is gone,
  with no runner needed (`mlchaos.faults.hog`); the revert and `mlchaos recover` also kill
  every hog the lease lists, each checked by its command line first (a pid may be reused).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from mlchaos.errors import TargetError
from mlchaos.faults.keeper import done_file
from mlchaos.faults.leases import ACTOR, record_granted, record_injected, record_intent
from mlchaos.hooks import run_hook
from mlchaos.journal import Journal
from mlchaos.schema.experiment import ProcessFault
from mlchaos.schema.service import ServiceProcess

__all__ = [
    "BACK_S",
    "HOG_MODULE",
    "TARGET",
    "answers",
    "end_lease",
    "hogs_of",
    "inject",
    "matching",
    "state_of",
    "the_server",
    "workers",
]

TARGET = "process"
BACK_S = 60.0
"""How long the revert of a kill waits for the server to answer again, before it runs the
team's ``restart`` hook (and as long again after it)."""
HOG_MODULE = "mlchaos.faults.hog"


def matching(pattern: str) -> list[int]:
    """Every process whose command line (arguments joined by spaces) ``pattern`` matches."""
    rx = re.compile(pattern)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        line = raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
        if line and rx.search(line):
            found.append(int(entry.name))
    return sorted(found)


def the_server(process: ServiceProcess, name: str) -> int:
    """The server's main process: the one match whose parent does not match too."""
    found = matching(process.match)
    top = [pid for pid in found if _parent(pid) not in found]
    if not top:
        raise TargetError(f"no process matches processes.{name}.match ({process.match!r}): "
                          "is the server running on this machine?")  # fmt: skip
    if len(top) > 1:
        raise TargetError(f"{len(top)} processes match processes.{name}.match "
                          f"({process.match!r}), pids {top}: make it name one")  # fmt: skip
    return top[0]


def workers(pid: int) -> list[int]:
    """The server's child processes (its inference workers), oldest first."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == pid:
            children.append(int(entry.name))
    return sorted(children, key=_started)


def answers(process: ServiceProcess) -> bool:
    """Whether the server answers its ``ready`` URL with a 2xx (without one: whether a process
    matches)."""
    if process.ready is None:
        return bool(matching(process.match))
    try:
        return requests.get(process.ready, timeout=2).status_code < 300
    except requests.RequestException:
        return False


def inject(
    journal: Journal, process: ServiceProcess, fault: ProcessFault, service_dir: Path | None
) -> str:
    """Take the lease and break the process; the lease id."""
    server = the_server(process, fault.process)
    lease_id = uuid.uuid4().hex[:12]
    lease_file = journal.path.parent / "leases" / f"{lease_id}.json"
    expires_at = time.time() + fault.ttl
    lease: dict[str, Any] = {
        "id": lease_id, "process": fault.process, "action": fault.action, "scope": fault.scope,
        "server_pid": server, "expires_at": expires_at, "spec": process.model_dump(mode="json"),
        "service_dir": str(service_dir) if service_dir else None,
    }  # fmt: skip
    if fault.action == "kill":
        victim = server
        if fault.scope == "worker":
            found = workers(server)
            if not found:
                raise TargetError(f"{fault.process} (pid {server}) has no worker process")
            victim = found[-1]
        lease["victim"] = victim
        if fault.scope == "server":  # its workers outlive it (MLServer's do): tidied on revert
            lease["orphans"] = [[pid, _started(pid)] for pid in workers(server)]
        undo = (f"wait until {fault.process} answers again (its supervisor restarts it), or "
                "run its restart hook")  # fmt: skip
    else:
        lease["cpus"] = sorted(os.sched_getaffinity(server))
        undo = f"stop the hogs on {fault.process}'s cores"
    intent = record_intent(journal, TARGET, undo=undo, lease_file=str(lease_file),
                           process=fault.process, action=fault.action, ttl_s=fault.ttl)  # fmt: skip
    _write_private(lease_file, lease)
    record_granted(journal, intent, lease_id, datetime.fromtimestamp(expires_at, UTC).isoformat())
    if fault.action == "kill":
        os.kill(lease["victim"], signal.SIGKILL)
        at = time.time()
        detail = {"process": fault.process, "action": "kill", "scope": fault.scope,
                  "pid": lease["victim"]}  # fmt: skip
        source = (f"process: SIGKILL to {fault.process}'s {fault.scope} (pid {lease['victim']}), "
                  "as the OOM killer sends it")  # fmt: skip
    else:
        pids = _start_hogs(lease_file, lease["cpus"])
        at = time.time()
        detail = {"process": fault.process, "action": "cpu_starve", "cpus": lease["cpus"]}
        source = (f"process: {len(pids)} busy process(es) pinned to {fault.process}'s cores "
                  f"{lease['cpus']}")  # fmt: skip
    record_injected(journal, datetime.fromtimestamp(at, UTC).isoformat(), source, detail)
    return lease_id


def hogs_of(lease_file: Path) -> list[int]:
    """The hogs of a ``cpu_starve`` lease still running: its listed pids whose command line
    still names the lease file."""
    listed = lease_file.with_suffix(".hogs")
    try:
        pids = [int(p) for p in listed.read_text().split()]
    except (OSError, ValueError):
        pids = []
    alive = []
    for pid in pids:
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(lease_file).encode() in line and state_of(pid) != "Z":
            alive.append(pid)
    return alive


def end_lease(journal: Journal, intent: dict[str, Any], lease_id: str | None) -> dict[str, Any]:
    """Put the process right: for a kill, once the server answers again; for a hog, once
    every hog is gone. Raises `TargetError` when the server does not come back."""
    lease_file = Path(intent["lease_file"])
    now = datetime.now(UTC).isoformat()
    if lease_id is None or not lease_file.exists():
        return {"action": "never injected" if lease_id is None else "already undone", "at": now,
                "actor": ACTOR, "reason": "no lease file: nothing was broken"}  # fmt: skip
    lease = json.loads(lease_file.read_text())
    done = done_file(lease_file)
    if done.exists():
        return {**json.loads(done.read_text()), "action": "already undone"}
    entry: dict[str, Any] = {"action": "revert", "actor": ACTOR, "lease_id": lease["id"]}
    if lease["action"] == "cpu_starve":
        done.write_text(json.dumps({**entry, "at": now, "reason": "ended"}))
        stopped = _stop_hogs(lease_file)
        entry["reason"] = f"stopped {stopped} hog(s) still running; none is left"
        entry["source"] = "process: no hog left on its cores"
    else:
        entry.update(_back(lease))
    entry["at"] = datetime.now(UTC).isoformat()
    done.write_text(json.dumps(entry))
    return entry


def _back(lease: dict[str, Any]) -> dict[str, str]:
    process = ServiceProcess.model_validate(lease["spec"])
    name = lease["process"]
    if _wait(lambda: answers(process), BACK_S):
        return {"reason": f"{name} answers again; mlchaos restarted nothing"
                          f"{_orphans_killed(lease)}",
                "source": f"process: {name} answers again"}  # fmt: skip
    if process.restart is None:
        raise TargetError(f"{name} does not answer {BACK_S:g}s after the kill, and the "
                          f"service file gives no processes.{name}.restart: nothing restarted "
                          "it")  # fmt: skip
    base = Path(lease["service_dir"]) if lease.get("service_dir") else None
    run_hook(process.restart, f"the restart hook of {name}", cwd=base)
    if not _wait(lambda: answers(process), BACK_S):
        raise TargetError(f"{name} does not answer {BACK_S:g}s after its restart hook ran")
    return {"reason": f"{name} did not come back by itself: mlchaos ran its restart hook"
                      f"{_orphans_killed(lease)}",
            "source": f"process: {name} answers again after mlchaos's restart"}  # fmt: skip


def _orphans_killed(lease: dict[str, Any]) -> str:
    """Kill the killed server's workers that outlived it (the same processes: pid and start
    time), so that the kill leaves nothing behind; what was done, as a reason's tail."""
    killed = 0
    for pid, started in lease.get("orphans", []):
        if state_of(pid) not in ("Z", "X") and _started(pid) == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return f"; killed {killed} worker(s) it left orphaned" if killed else ""


def _start_hogs(lease_file: Path, cpus: list[int]) -> list[int]:
    pids = []
    for cpu in cpus:
        hog = subprocess.Popen(
            [sys.executable, "-m", HOG_MODULE, str(lease_file), str(cpu)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        pids.append(hog.pid)
        lease_file.with_suffix(".hogs").write_text(" ".join(map(str, pids)))
    return pids


def _stop_hogs(lease_file: Path) -> int:
    running = hogs_of(lease_file)
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _wait(lambda: not hogs_of(lease_file), 5.0)
    return len(running)


def _wait(condition: Any, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _started(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def state_of(pid: int) -> str:
    """A process's state letter (``Z`` also when it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def _write_private(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(content))
