"""A team's hook (a deploy step, a rollback) runs to completion in bounded time, and a failure
says what failed without echoing the arguments or output it may hold secrets in."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlchaos.hooks import HookFailed, run_hook
from mlchaos.schema.service import Hook

SECRET = "s3cr3t-token-0123456789abcdef"


def test_a_command_runs_in_the_given_folder(tmp_path: Path) -> None:
    run_hook(Hook(command=("touch", "deployed")), "the deploy step", tmp_path)
    assert (tmp_path / "deployed").exists()


def test_a_failure_names_the_program_its_status_and_its_last_error_line_only() -> None:
    script = (
        f"import sys; print('{SECRET}'); "
        "sys.stderr.write('first\\nMLServer refused\\n'); sys.exit(3)"
    )
    with pytest.raises(HookFailed) as failed:
        run_hook(Hook(command=(sys.executable, "-c", script, SECRET)), "the deploy step")
    message = str(failed.value)
    assert message.startswith("the deploy step: python")
    assert "exited 3: MLServer refused" in message
    assert SECRET not in message


def test_a_hook_that_hangs_is_stopped_at_its_bound() -> None:
    with pytest.raises(HookFailed, match=r"did not finish in 0.5s"):
        run_hook(Hook(command=("sleep", "30")), "the deploy step", timeout_s=0.5)


def test_a_missing_program_is_a_clear_failure_not_a_traceback() -> None:
    with pytest.raises(HookFailed, match="no-such-deployer could not run"):
        run_hook(Hook(command=("/nonexistent/no-such-deployer",)), "the deploy step")


def test_an_unreachable_http_hook_fails_without_its_query_string() -> None:
    hook = Hook.model_validate({"http": {"url": f"http://127.0.0.1:9/deploy?token={SECRET}"}})
    with pytest.raises(HookFailed) as failed:
        run_hook(hook, "the deploy step", timeout_s=2)
    assert "http://127.0.0.1:9/deploy is unreachable" in str(failed.value)
    assert SECRET not in str(failed.value)
