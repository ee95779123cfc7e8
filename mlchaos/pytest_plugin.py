"""mlchaos for pytest: a scenario's experiments as test items, and fixtures for your own tests.

Loaded through the ``pytest11`` entry point; it does nothing until asked:

    pytest --mlchaos-scenario scenarios/nightly.yaml          # one test item per experiment
    pytest --mlchaos-scenario s.yaml --mlchaos-service svc.yaml   # against your own staging

In your own tests:

    @pytest.mark.mlchaos
    def test_rollback_is_fast(mlchaos_run):
        result = mlchaos_run("experiments/bad-version.yaml")
        assert result.durations_s["mttr"] < 20

Items and ``mlchaos_run`` share one game day per session: the stack (started if none runs,
stopped at the end if the session started it), Locust's load and the automated responders.
At the end, the run directory gets the same four reports `mlchaos gameday` writes. A verdict
other than pass fails the item; an inconclusive one too, because nothing unknown is a pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlchaos.vocabulary import Verdict

if TYPE_CHECKING:
    from mlchaos.engine.gameday import Gameday
    from mlchaos.engine.verdict import ExperimentResult
    from mlchaos.schema import Experiment, Scenario
    from mlchaos.service import Service

__all__ = [
    "GAMEDAY",
    "MARKER",
    "ExperimentItem",
    "ScenarioFile",
    "VerdictNotPass",
    "mlchaos_gameday",
    "mlchaos_run",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
]

MARKER = "mlchaos: injects faults into staging and judges the service's response"
GAMEDAY = pytest.StashKey["_Session"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlchaos", "chaos game days for ML services")
    group.addoption(
        "--mlchaos-scenario",
        action="append",
        default=[],
        metavar="FILE",
        help="Run this scenario's experiments as test items (repeatable).",
    )
    group.addoption(
        "--mlchaos-service",
        default=None,
        metavar="FILE",
        help="A service file naming your own staging stack; default: the reference stack.",
    )
    group.addoption(
        "--mlchaos-state-dir",
        default=".mlchaos/stack",
        metavar="DIR",
        help="The reference stack's state directory.",
    )
    group.addoption(
        "--mlchaos-report-dir", default="reports", metavar="DIR", help="Where run reports go."
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    scenarios = [str(Path(s).resolve()) for s in config.getoption("mlchaos_scenario")]
    if not scenarios:
        return
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = scenarios  # only the scenario, not the default test paths
    else:
        config.args.extend(scenarios)
    config.stash[GAMEDAY] = _Session(config)
    config.add_cleanup(config.stash[GAMEDAY].close)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    scenarios = {Path(s).resolve() for s in parent.config.getoption("mlchaos_scenario")}
    if file_path.resolve() in scenarios:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from mlchaos.errors import InputError
        from mlchaos.loader import load_scenario

        try:
            scenario, experiments = load_scenario(self.path, _session(self.config).fitted())
        except InputError as exc:
            raise self.CollectError(str(exc)) from None  # file:line: field: message, no traceback
        if scenario.many_services:
            raise self.CollectError(
                f"{self.path}: experiments: this scenario names service files of its own; "
                "the plugin runs one service (--mlchaos-service): run it with `mlchaos gameday`"
            )
        self.config.stash[GAMEDAY].use(scenario)
        for experiment in experiments:
            yield ExperimentItem.from_parent(self, name=experiment.name, experiment=experiment)


class ExperimentItem(pytest.Item):
    def __init__(self, *, experiment: Experiment, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.experiment = experiment
        self.add_marker(pytest.mark.mlchaos)

    def runtest(self) -> None:
        result = self.config.stash[GAMEDAY].run(self.experiment)
        if result.verdict is not Verdict.PASS:
            raise VerdictNotPass(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, VerdictNotPass):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"mlchaos experiment {self.name} ({self.experiment.fault.type})"


class VerdictNotPass(Exception):
    def __init__(self, result: ExperimentResult) -> None:
        lines = [f"{result.name}: {result.verdict.upper()}"]
        lines += [f"  - {reason}" for reason in result.reasons]
        super().__init__("\n".join(lines))
        self.result = result


@pytest.fixture(scope="session")
def mlchaos_gameday(pytestconfig: pytest.Config) -> Gameday:
    """The session's game day: the stack, steady load and responders, started on first use."""
    return _session(pytestconfig).gameday()


@pytest.fixture
def mlchaos_run(pytestconfig: pytest.Config) -> Callable[[str | Path], ExperimentResult]:
    """Run one experiment file within the session's game day and return its result."""
    from mlchaos.loader import load_experiment

    def run(path: str | Path) -> ExperimentResult:
        session = _session(pytestconfig)
        return session.run(load_experiment(path, session.fitted()))

    return run


def _session(config: pytest.Config) -> _Session:
    if GAMEDAY not in config.stash:
        config.stash[GAMEDAY] = _Session(config)
        config.add_cleanup(config.stash[GAMEDAY].close)
    return config.stash[GAMEDAY]


class _Session:
    """One game day for the whole pytest session, started lazily and reported at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.scenario: Scenario | None = None
        self._day: Gameday | None = None
        self._exit = contextlib.ExitStack()

    def fitted(self) -> Service:
        """The service experiments must fit, known before the stack starts: a name it lacks
        is bad input at its file and line, at collection (see `mlchaos.cli.execute`)."""
        from mlchaos.loader import load_service

        option = self.config.getoption
        if option("mlchaos_service"):
            return load_service(option("mlchaos_service"))  # bad input itself: file:line too
        from mlchaos.cli.common import reference_service

        return reference_service(Path(option("mlchaos_state_dir")))

    def use(self, scenario: Scenario) -> None:
        """Take load, responders and cool-down from the (first) collected scenario."""
        self.scenario = self.scenario or scenario

    def run(self, experiment: Experiment) -> ExperimentResult:
        return self.gameday().run(experiment)

    def gameday(self) -> Gameday:
        if self._day is None:
            self._day = self._start()
        return self._day

    def _start(self) -> Gameday:
        from mlchaos.cli.common import show_progress
        from mlchaos.engine.gameday import Gameday
        from mlchaos.engine.responders import responders_for
        from mlchaos.loader import load_service
        from mlchaos.schema import Scenario

        show_progress()
        scenario = self.scenario or Scenario(name="pytest", experiments=("(fixtures)",))
        option = self.config.getoption
        settings = None
        if option("mlchaos_service"):
            service = load_service(option("mlchaos_service"))
        else:
            from mlchaos.reference import service as reference
            from mlchaos.reference import supervisor

            cfg, started = supervisor.ensure_running(Path(option("mlchaos_state_dir")))
            if started:
                self._exit.callback(supervisor.down, cfg)
            service, settings = reference.service(cfg), supervisor.rule_settings(cfg)
        responders = responders_for(service, scenario.responders, settings)
        day = Gameday(scenario, service, Path(option("mlchaos_report_dir")), responders)
        self._exit.callback(self._report, day)  # last in, first out: after the day has ended
        self._exit.push(day.__exit__)
        return day.__enter__()

    def _report(self, day: Gameday) -> None:
        from mlchaos.report.history import FILE_NAME, record
        from mlchaos.report.render import ReportOptions, write_reports

        if day.result.experiments:
            document = day.result.document()
            history = day.run_dir.parent / FILE_NAME
            problem = record(document, day.run_dir, history)
            paths = write_reports(document, day.run_dir, ReportOptions(history=history))
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"mlchaos reports: {paths[0].parent}")
                if problem:
                    reporter.write_line(f"warning: {problem}")

    def close(self) -> None:
        self._exit.close()
