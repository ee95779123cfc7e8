"""Process faults on real processes on this machine: a server found by its command line is
killed with SIGKILL and its supervisor (a shell loop here; supervisord in the example staging)
brings it back, which the revert waits for; without one, the revert runs the service file's
restart hook; a worker is killed alone. A CPU hog is pinned to each of the server's cores,
stops at the revert, and stops by itself at the TTL with nobody left to end it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlchaos.errors import TargetError
from mlchaos.faults import process as process_fault
from mlchaos.faults.leases import revert_all
from mlchaos.faults.targets import process as target
from mlchaos.journal import Journal, Lease
from mlchaos.schema.experiment import ProcessFault
from mlchaos.schema.service import ServiceProcess
from mlchaos.service import Service
from tests.conftest import free_ports, wait_until

pytestmark = pytest.mark.integration


def serves(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def server_command(port: int, tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
            str(tmp_path), str(port)]  # fmt: skip


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[int]:
    """A server under a supervisor that restarts it whenever it dies; its port."""
    [port] = free_ports(1)
    script = tmp_path / "supervise.sh"
    script.write_text(f"while true; do {' '.join(server_command(port, tmp_path))}; done\n")
    supervisor = subprocess.Popen(["bash", str(script)], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: serves(port), timeout=20)
        yield port
    finally:
        os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.wait()


def service(port: int, tmp_path: Path, restart: list[str] | None = None) -> Service:
    process: dict[str, object] = {"match": f"http.server --bind 127.0.0.1 --directory "
                                           f"{tmp_path} {port}$",
                                  "ready": f"http://127.0.0.1:{port}/"}  # fmt: skip
    if restart:
        process["restart"] = {"command": restart}
    return Service(
        model="m", model_url="http://127.0.0.1:9", gateway_url="http://127.0.0.1:9",
        prometheus_url="http://127.0.0.1:9", alertmanager_url="http://127.0.0.1:9",
        traffic_query="up", hook_dir=tmp_path,
        processes={"model-server": ServiceProcess.model_validate(process)},
    )  # fmt: skip


def fault(action: str, scope: str = "server", ttl: float = 60.0) -> ProcessFault:
    return ProcessFault.model_validate({"type": "process", "process": "model-server",
                                        "action": action, "scope": scope, "ttl": ttl})  # fmt: skip


def lease_file(journal: Journal) -> Path:
    [lease] = journal.of(Lease)
    return Path(lease.as_intent()["lease_file"])


def test_a_killed_server_is_back_by_its_supervisor_and_the_revert_says_so(
    supervised: int, tmp_path: Path
) -> None:
    staging, journal = service(supervised, tmp_path), Journal(tmp_path / "journal.jsonl")
    before = target.the_server(staging.processes["model-server"], "model-server")
    assert "answers; it would be killed" in process_fault.FAULT.ready(staging, fault("kill"))
    process_fault.FAULT.inject(journal, staging, fault("kill"))
    assert process_fault.FAULT.confirm(journal, staging, fault("kill"))
    [ended] = revert_all(journal)
    assert ended["reason"] == "model-server answers again; mlchaos restarted nothing", ended
    after = target.the_server(staging.processes["model-server"], "model-server")
    assert after != before and serves(supervised)


def test_with_no_supervisor_the_revert_runs_the_restart_hook(tmp_path: Path) -> None:
    [port] = free_ports(1)
    command = server_command(port, tmp_path)
    restart = [sys.executable, "-c", "import subprocess, sys; subprocess.Popen(sys.argv[1:], "
               "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)",
               *command]  # fmt: skip
    subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: serves(port), timeout=20)
    staging, journal = service(port, tmp_path, restart), Journal(tmp_path / "journal.jsonl")
    target.BACK_S, saved = 3.0, target.BACK_S
    try:
        process_fault.FAULT.inject(journal, staging, fault("kill"))
        [ended] = revert_all(journal)
    finally:
        target.BACK_S = saved
    assert ended["reason"] == ("model-server did not come back by itself: mlchaos ran its "
                               "restart hook"), ended  # fmt: skip
    assert serves(port)
    os.kill(target.the_server(staging.processes["model-server"], "model-server"), signal.SIGKILL)


def test_a_killed_worker_leaves_its_server_running(tmp_path: Path) -> None:
    [port] = free_ports(1)
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
         "time.sleep(600)", "--workers", str(port)],
        start_new_session=True,
    )  # fmt: skip
    staging = Service(
        model="m", model_url="http://127.0.0.1:9", gateway_url="http://127.0.0.1:9",
        prometheus_url="http://127.0.0.1:9", alertmanager_url="http://127.0.0.1:9",
        traffic_query="up", hook_dir=tmp_path,
        processes={"model-server": ServiceProcess(match=f"--workers {port}$")},
    )  # fmt: skip
    try:
        wait_until(lambda: bool(target.workers(parent.pid)), timeout=10)
        [worker] = target.workers(parent.pid)
        journal = Journal(tmp_path / "journal.jsonl")
        process_fault.FAULT.inject(journal, staging, fault("kill", scope="worker"))
        assert process_fault.FAULT.confirm(journal, staging, fault("kill", scope="worker"))
        assert target.state_of(worker) == "Z" and parent.poll() is None  # the server lives
        [ended] = revert_all(journal)  # without a ready URL: a matching process is enough
        assert ended["reason"] == "model-server answers again; mlchaos restarted nothing"
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


def test_a_hog_runs_on_every_core_of_the_server_until_the_revert(
    supervised: int, tmp_path: Path
) -> None:
    staging, journal = service(supervised, tmp_path), Journal(tmp_path / "journal.jsonl")
    server = target.the_server(staging.processes["model-server"], "model-server")
    cores = sorted(os.sched_getaffinity(server))
    process_fault.FAULT.inject(journal, staging, fault("cpu_starve"))
    try:
        assert process_fault.FAULT.confirm(journal, staging, fault("cpu_starve"))
        hogs = target.hogs_of(lease_file(journal))
        assert len(hogs) == len(cores)
        assert sorted(c for h in hogs for c in os.sched_getaffinity(h)) == cores  # one a core
        busy = [_cpu_s(h) for h in hogs]
        time.sleep(0.5)
        assert all(_cpu_s(h) > b for h, b in zip(hogs, busy, strict=True))  # they burn CPU
    finally:
        [ended] = revert_all(journal)
    assert ended["reason"] == f"stopped {len(cores)} hog(s) still running; none is left"
    assert target.hogs_of(lease_file(journal)) == []


def test_hogs_stop_by_themselves_at_the_ttl_and_recover_finds_none(
    supervised: int, tmp_path: Path
) -> None:
    staging, journal = service(supervised, tmp_path), Journal(tmp_path / "journal.jsonl")
    process_fault.FAULT.inject(journal, staging, fault("cpu_starve", ttl=1))
    assert target.hogs_of(lease_file(journal))
    # the runner is gone (`kill -9`): nobody ends the lease, and the hogs stop at its TTL
    wait_until(lambda: not target.hogs_of(lease_file(journal)), timeout=10, interval=0.1)
    [ended] = revert_all(journal)  # `mlchaos recover`
    assert ended["reason"] == "stopped 0 hog(s) still running; none is left"


def test_a_process_the_service_file_does_not_match_is_a_clear_error(tmp_path: Path) -> None:
    staging = service(9, tmp_path)
    with pytest.raises(TargetError, match=r"no process matches processes.model-server.match"):
        process_fault.FAULT.ready(staging, fault("kill"))


def _cpu_s(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_the_workers_a_killed_server_orphaned_are_killed_by_the_revert(tmp_path: Path) -> None:
    """MLServer's inference workers outlive a SIGKILL of their server, as any child does:
    after the server is back (its restart here), the revert kills those, and only those."""
    [port] = free_ports(1)
    server = [sys.executable, "-c", "import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
              "time.sleep(600)", "--orphans", str(port)]  # fmt: skip
    restart = [sys.executable, "-c", "import subprocess, sys; subprocess.Popen(sys.argv[1:], "
               "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)",
               *server]  # fmt: skip
    first = subprocess.Popen(server, start_new_session=True)
    staging = Service(
        model="m", model_url="http://127.0.0.1:9", gateway_url="http://127.0.0.1:9",
        prometheus_url="http://127.0.0.1:9", alertmanager_url="http://127.0.0.1:9",
        traffic_query="up", hook_dir=tmp_path,
        processes={"model-server": ServiceProcess(match=f"--orphans {port}$",
                                                  restart={"command": restart})},
    )  # fmt: skip
    try:
        wait_until(lambda: bool(target.workers(first.pid)), timeout=10)
        [orphan] = target.workers(first.pid)
        journal = Journal(tmp_path / "journal.jsonl")
        process_fault.FAULT.inject(journal, staging, fault("kill"))
        assert target.state_of(orphan) not in ("Z", "X")  # it outlived its server
        target.BACK_S, saved = 2.0, target.BACK_S
        try:
            [ended] = revert_all(journal)
        finally:
            target.BACK_S = saved
        assert ended["reason"].endswith("; killed 1 worker(s) it left orphaned"), ended
        wait_until(lambda: target.state_of(orphan) in ("Z", "X"), timeout=5)
        back = target.the_server(staging.processes["model-server"], "model-server")
        wait_until(lambda: bool(target.workers(back)), timeout=10)  # the new one's are spared
        assert all(target.state_of(w) not in ("Z", "X") for w in target.workers(back))
    finally:
        subprocess.run(["pkill", "-9", "-f", f"--orphans {port}"], check=False)
        first.wait()
