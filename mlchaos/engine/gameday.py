"""A game day: steady Locust traffic, then each experiment in order, with cool-downs between.

>>> result = run_gameday(scenario, experiments, service, Path("reports"))
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlchaos.engine.baseline import Baseline, restore_baseline, take_baseline
from mlchaos.engine.false_alarms import QuietStart, check_quiet_start
from mlchaos.engine.interrupts import INTERRUPTS, Interrupts
from mlchaos.engine.pages import pages_in_window
from mlchaos.engine.responders import Responder
from mlchaos.engine.run import Preflight, check_preflight, run_experiment
from mlchaos.engine.verdict import ExperimentResult, overall
from mlchaos.errors import InputError, ObservationError, TargetError
from mlchaos.journal import EventRecord, Journal, Missed, parse_time
from mlchaos.load.runner import LoadStats
from mlchaos.loader import misfits
from mlchaos.observe import adapters
from mlchaos.observe.adapters import LoadGenerator
from mlchaos.observe.pagerduty import EPOCH
from mlchaos.observe.slo import worst
from mlchaos.rundir import RunDir
from mlchaos.schema import Experiment, Scenario
from mlchaos.schema.results import ResultsDocument
from mlchaos.service import Service
from mlchaos.vocabulary import Event, PageRole, Verdict

__all__ = ["Gameday", "GamedayResult", "drill_ready", "refuse_misfits", "run_gameday"]

progress = logging.getLogger("mlchaos.progress")


@dataclass
class GamedayResult:
    scenario: str
    verdict: Verdict
    started_at: str
    finished_at: str
    run_dir: Path
    responders: str
    experiments: list[ExperimentResult] = field(default_factory=list)
    load: LoadStats | None = None
    interrupted: bool = False
    draw: dict[str, Any] | None = None
    """The wheel of misfortune's count and seed, when the experiments were drawn."""
    false_alarms: list[str] = field(default_factory=list)
    """Pages and rollbacks under load before any fault was injected."""
    baseline: Baseline = field(default_factory=Baseline)
    """Staging before the game day: problems that keep it from passing, inherited alerts."""
    left: dict[str, Any] | None = None
    """Staging as the game day left it: what served after the last experiment, and whether
    mlchaos restored the declared version (`mlchaos.engine.baseline.restore_baseline`)."""
    quiet_start: QuietStart | None = None
    """How the false-alarm check before the first fault went: checked, cannot tell, or the
    service was not serving the load (`mlchaos.engine.false_alarms`)."""
    service: str | None = None
    """The service file's name."""

    def document(self) -> ResultsDocument:
        """The typed ``results.json``; a field the contract lacks fails here, in mlchaos's
        own tests, rather than in a consumer's CI."""
        return ResultsDocument.model_validate(self._fields())

    def _fields(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "service": self.service,
            "verdict": self.verdict,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "responders": self.responders,
            "interrupted": self.interrupted,
            "load": self.load.model_dump() if self.load else None,
            "draw": self.draw,
            "false_alarms": self.false_alarms,
            "false_alarm_check": self.quiet_start.as_dict() if self.quiet_start else None,
            "baseline": self.baseline.as_dict(),
            "left_as_found": self.left,
            "experiments": [e.as_dict() for e in self.experiments],
        }


def refuse_misfits(experiments: list[Experiment], service: Service) -> None:
    """Bad input (`InputError`, exit 2) when an experiment names what ``service`` lacks."""
    unfit = [
        f"{e.name}: {field}: {said}" for e in experiments for field, said in misfits(e, service)
    ]
    if unfit:
        raise InputError("\n".join(unfit))


def run_gameday(
    scenario: Scenario,
    experiments: list[Experiment],
    service: Service,
    report_root: Path,
    start_responder: Callable[[datetime], Responder] | None = None,
    open_runs: Path | None = None,
    interrupts: Interrupts = INTERRUPTS,
) -> GamedayResult:
    """Run every experiment under load and return the results; reports are written by the caller.

    Every experiment's floor is measured first, so a target below it stops the game day
    before any load or fault. A Ctrl-C or SIGTERM ends it early, reverted, and the results
    say ``interrupted``: they are returned, not lost, so that the reports can still be written.
    """
    if scenario.draw is not None:
        progress.info(
            "wheel of misfortune: drew %s (seed %d; set draw.seed to replay)",
            ", ".join(e.name for e in experiments),
            scenario.draw.seed,
        )
    refuse_misfits(experiments, service)  # all of them, before any load or fault
    checked = {e.name: check_preflight(e, service) for e in experiments}  # each once
    blind = all(c.floor is None for c in checked.values())
    if blind:
        progress.warning("no experiment can be observed: sending no load, injecting nothing")
    day = Gameday(scenario, service, report_root, start_responder, open_runs, interrupts)
    day.send_load = not blind
    with interrupts.installed_while():
        try:
            with day:
                for index, experiment in enumerate(experiments, 1):
                    position = f"[{index}/{len(experiments)}] "
                    day.run(experiment, checked[experiment.name], position)
                    if day.result.interrupted:
                        break
        except KeyboardInterrupt:
            pass  # a signal between experiments: the cleanup ran; the results say so
    day.result.interrupted = interrupts.since(day.started) is not None
    if day.result.interrupted:
        progress.warning("interrupted: every fault was reverted; stopping the game day")
    return day.result


class Gameday:
    """Load and responders held across experiments run one at a time:

    >>> with Gameday(scenario, service, Path("reports")) as day:
    ...     result = day.run(experiment)
    >>> day.result.verdict

    ``open_runs`` is a directory where the run registers itself until it ends, so that
    `mlchaos recover` can find its journals after a `kill -9`.
    """

    def __init__(
        self,
        scenario: Scenario,
        service: Service,
        report_root: Path,
        start_responder: Callable[[datetime], Responder] | None = None,
        open_runs: Path | None = None,
        interrupts: Interrupts = INTERRUPTS,
    ) -> None:
        self.scenario = scenario
        self.service = service
        self.interrupts = interrupts
        self.started = started = datetime.now(UTC)
        self.run_dir = report_root / f"{scenario.name}-{started.strftime('%Y%m%d-%H%M%S')}"
        self.result = GamedayResult(
            scenario.name,
            Verdict.INCONCLUSIVE,
            started.isoformat(),
            "",
            self.run_dir,
            scenario.responders.mode,
            draw=scenario.draw.model_dump() if scenario.draw else None,
            service=service.name or None,
        )
        self._start_responder = start_responder
        self._open_runs = open_runs
        self._marker: Path | None = None
        self._locust: LoadGenerator | None = None
        self._responder: Responder | None = None
        self._window: tuple[Experiment, ExperimentResult] | None = None
        """The experiment whose pages are still being collected (see `_close_window`)."""
        self.send_load = True
        """False when nothing can be observed: then traffic would only burden staging."""

    def __enter__(self) -> Gameday:
        load = self.scenario.load
        # The payload is read, checked and encoded first: bad input stops here, before the
        # run directory, the baseline or any traffic.
        self._locust = adapters.load(self.service, load, self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._marker = (
            RunDir(self.run_dir).register(self._open_runs) if self._open_runs else None
        )
        self.result.baseline = baseline = take_baseline(self.service)
        for problem in baseline.problems:
            progress.warning("BASELINE: %s", problem)
        for alert, state in baseline.inherited.items():
            progress.warning(
                "baseline: alert %s is already %s; its pages are not ours", alert, state
            )
        if not self.send_load:
            self._locust = None
            return self
        try:
            self._locust.__enter__()
            progress.info("load: %d users at %g req/s", load.users, load.rate)
            _reach_rate(self.service, load.rate)
            progress.info(
                "load: holding it for %gs before the first steady-state check", load.ramp_up
            )
            time.sleep(load.ramp_up)  # a deliberate hold, not a wait for something to happen
            if self._start_responder is not None:
                self._responder = self._start_responder(datetime.now(UTC))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def run(
        self, experiment: Experiment, checked: Preflight | None = None, position: str = ""
    ) -> ExperimentResult:
        """Settle, inject, observe, revert and judge one experiment; the result is also kept.

        An experiment that names what the service lacks (a segment, a version, a pager) is
        bad input, raised before anything runs: loaded from a file, the loader has already
        said so at its line (`mlchaos.loader.load_experiment` with the service)."""
        refuse_misfits([experiment], self.service)
        checked = checked or check_preflight(experiment, self.service)
        floor = checked.floor
        start: dict[str, Any] | None = None
        if floor is not None:  # else nothing can be observed, and nothing is injected
            _settle(experiment, self.service, self.scenario.cool_down)
        self._close_window()  # the previous experiment's pages end where this one begins
        if not self.result.experiments and self._locust is not None:
            self._check_quiet_start(experiment)  # before mlchaos changes anything itself
        if floor is not None:
            start = self._restore_baseline()  # judged on what serves once it is quiet
            if start and start.get("restored"):
                _settle(experiment, self.service, self.scenario.cool_down)
        journal = Journal(RunDir(self.run_dir).journal(experiment.name))
        if self._responder is not None and experiment.expect.escalation is not None:
            # Its premise is that nobody answers: the responder stands in for nobody here.
            self._responder.idle()
            progress.info("%s%s: nobody answers its pages: they should escalate", position,
                          experiment.name)  # fmt: skip
        elif self._responder is not None:
            self._responder.watch(datetime.now(UTC), journal, drill_ready(experiment, journal))
        doing = "injecting" if floor is not None else "not injecting, the monitoring unread:"
        progress.info("%s%s: %s %s", position, experiment.name, doing, _describe(experiment))
        drain = self._responder.drain if self._responder is not None else (lambda: None)
        try:
            result = run_experiment(
                experiment, self.service, self.run_dir, checked, self.interrupts, drain
            )
        finally:
            if self._responder is not None:
                self._responder.idle()  # no runbook of this experiment runs into the next
        _started_from(result, start)
        self.result.experiments.append(result)  # first: a signal from here on loses nothing
        self._window = (experiment, result)
        self.result.interrupted |= result.interrupted_by is not None
        _announce(result)
        if not self.result.interrupted:  # Prometheus range queries: not while stopping
            _save_series(experiment, self.service, self.run_dir, result)
            result.version_mismatch = _version_mismatch(result, self.service)
            result.budget = _budget(result, self.service)
            result.served = _served(result, self.service)
            result.fairness = _fairness(result, self.service)
        return result

    def _restore_baseline(self) -> dict[str, Any] | None:
        """Staging as declared before each experiment: the version the service file names (or,
        without one, what production was at the start), restored when the team's mitigation
        of the last experiment left something else serving. Without load nothing is served to
        read, and nothing is restored."""
        if self._locust is None:
            return None
        expected = self.service.expected_production or self.result.baseline.production
        last = self.result.experiments[-1].timeline.get("reverted") if self.result.experiments \
            else None  # fmt: skip
        after = parse_time(last).timestamp() if last else None
        return restore_baseline(self.service, expected, progress.info, after)

    def _check_quiet_start(self, experiment: Experiment) -> None:
        """Under load and with no fault in yet, nothing should have paged, rolled back or
        changed what is served; unless the service was not serving the load at all (then its
        alerts were right), and only where the sources could be read."""
        started = datetime.fromisoformat(self.result.started_at)
        start = check_quiet_start(
            self.service, started, datetime.now(UTC), set(self.result.baseline.inherited),
            experiment.min_success,
        )  # fmt: skip
        self.result.quiet_start = start
        if start.status != "checked":
            progress.warning("before the first fault: %s: %s", start.status, start.reason)
        for alarm in start.alarms:
            progress.warning("FALSE ALARM: %s", alarm)
        self.result.false_alarms += start.alarms

    def __exit__(self, *exc: object) -> None:
        try:
            if self._window is not None and not self.interrupts.received:
                # Late pages (an accuracy alert after the revert) still belong to the last
                # experiment: wait for quiet, as between experiments. A signal cuts this short.
                _settle(self._window[0], self.service, self.scenario.cool_down, last=True)
                # Leave staging as it was found: the team's last mitigation (its fallback, a
                # rollback) stays in place after the revert until someone puts it back.
                self.result.left = self._restore_baseline()
        except KeyboardInterrupt:
            pass  # run_gameday reads the signal from `interrupts`
        finally:
            with self.interrupts.deferred():
                self._clean_up()

    def _close_window(self) -> None:
        """Record every page from the last experiment's injection until now in its result."""
        if self._window is None:
            return
        experiment, result = self._window
        self._window = None
        injected = result.timeline.get("injected")
        if injected is None:
            return
        alert = experiment.expect.alert
        if not self.service.has_pager:
            return  # nothing pages: there are no pages to list
        services = {self.service.pagerduty_service}
        if experiment.expect.paging:
            services.add(experiment.expect.paging.service)
        pager = adapters.pager(self.service)
        try:
            incidents = [i for s in sorted(services) for i in pager.since(s, parse_time(injected))]
        except ObservationError as exc:  # its own page, if any, is in its timeline already
            progress.warning("could not list the pages of %s: %s", experiment.name, exc)
            return
        result.pages = pages_in_window(incidents, alert, parse_time(injected), datetime.now(UTC))
        for page in result.pages:
            if page["role"] == PageRole.COLLATERAL:
                progress.info(
                    "  collateral page %s (%s) during %s%s", page["id"], page["alert"],
                    experiment.name, "" if page["acknowledged"] else ", never acknowledged",
                )  # fmt: skip

    def _clean_up(self) -> None:
        """Bounded: responders get a few seconds, Locust a few more, then they are killed."""
        self._close_window()
        try:
            if self._responder is not None:
                self._responder.stop()
            if self._locust is not None:
                self._locust.stop(grace_s=5.0 if self.interrupts.received else 15.0)
                self.result.load = self._locust.stats
        finally:
            if self._marker is not None:
                RunDir.unregister(self._marker)
            self.result.verdict = overall([e.verdict for e in self.result.experiments])
            quiet = self.result.quiet_start
            if quiet is not None and quiet.status == "not serving":
                self.result.verdict = Verdict.INCONCLUSIVE  # its alerts were right, not false
            elif self.result.false_alarms and self.result.experiments:
                self.result.verdict = Verdict.FAIL  # the service deviated with no fault in
            elif self.result.verdict is Verdict.PASS and (
                self.result.baseline.problems or (quiet is not None and quiet.status != "checked")
            ):
                self.result.verdict = Verdict.INCONCLUSIVE  # another service, or unknown quiet
            self.result.finished_at = datetime.now(UTC).isoformat()


def _reach_rate(service: Service, rate: float, limit_s: float = 30.0, share: float = 0.9) -> None:
    """Wait until the service counts ``share`` of the target rate: Locust takes seconds to
    start, and a ramp-up timed from its launch would let the first experiment begin under
    partial load. Gives up (saying so) after ``limit_s``; the steady-state check then decides."""
    prometheus = adapters.metrics(service)
    started = time.monotonic()
    seen = 0.0
    while time.monotonic() - started < limit_s:
        try:
            seen = max(prometheus.values(service.traffic()) or [0.0])
        except ObservationError:
            seen = 0.0
        if seen >= share * rate:
            progress.info("load: %.0f req/s reached after %.1fs", seen, time.monotonic() - started)
            return
        time.sleep(0.5)
    progress.warning("load: only %.0f of %g req/s after %gs", seen, rate, limit_s)


def _settle(experiment: Experiment, service: Service, limit_s: float, last: bool = False) -> None:
    """Wait, at most ``limit_s``, until the service is quiet: SLOs hold under traffic, no alert
    on the model is pending or firing and no incident is open on the paging service.

    Without the last two, a new page would be folded into the previous experiment's open
    incident by PagerDuty's deduplication, and be missed. After the ``last`` experiment the
    wait only collects late pages, so a source that cannot be read ends it at once.
    """
    deadline = time.monotonic() + limit_s
    noisy: list[str] | None = None
    while time.monotonic() < deadline:
        noisy = _noise(experiment, service)
        if noisy == [] or (last and noisy is None):
            return
        time.sleep(0.5)
    why = "; ".join(noisy) if noisy else "its sources could not be read"
    progress.warning("not in steady state after %gs: %s", limit_s, why)


def _noise(experiment: Experiment, service: Service) -> list[str] | None:
    """What keeps the service from being quiet (empty: it is); None when a source could not
    be read."""
    prometheus = adapters.metrics(service)
    slos = (*experiment.steady_state, service.traffic_slo(experiment.min_traffic_rps))
    try:
        values = [prometheus.values(s.query) for s in slos]
        # Any alert on the model, not only this experiment's: effects of the previous
        # experiment can surface late (a bad version's wrong answers show once labels arrive).
        # An alert that names no model may be on it (a team's rules often sum the label away),
        # as the baseline check reads it.
        alerting = sorted({
            f"alert {a['labels'].get('alertname')} {a.get('state', 'active')}"
            for a in prometheus.alerts() if a["labels"].get("model") in (None, service.model)
        })  # fmt: skip
        paging = experiment.expect.paging
        incidents = [] if paging is None else [
            f"incident {i.get('id')} open on {paging.service}"
            for i in adapters.pager(service).since(paging.service, EPOCH)
            if i["status"] != "resolved"
        ]  # fmt: skip
    except (ObservationError, TargetError):
        return None
    broken = [
        f"{s.name} {worst(s, v):g} ({s.condition})" if v else f"{s.name} has no data"
        for s, v in zip(slos, values, strict=True)
        if not (v and s.holds(worst(s, v)))
    ]
    return broken + alerting + incidents


def drill_ready(experiment: Experiment, journal: Journal) -> Callable[[], bool]:
    """When the simulated responder may run its runbook steps: once the experiment's own
    mitigation is settled (seen or missed; its recovery, when it expects no mitigation), or
    the fault is gone. Before then a drill step could mitigate in the team's place."""
    expect = experiment.expect
    awaited = (
        [Event.MITIGATED] if expect.mitigation else [Event.RECOVERED] if expect.recovery else []
    )

    def ready() -> bool:
        if not awaited or journal.stop_marker.exists():
            return True
        settled = {r.event for r in journal.read() if isinstance(r, EventRecord | Missed)}
        return all(e in settled for e in awaited) or Event.REVERTED in settled

    return ready


def _started_from(result: ExperimentResult, start: dict[str, Any] | None) -> None:
    """Say what the experiment started from; one that ran on another version than declared
    cannot pass: its figures describe another service."""
    result.baseline = start
    problem = (start or {}).get("problem")
    if problem:
        result.reasons.append(f"baseline: {problem}")
        if result.verdict is Verdict.PASS:
            result.verdict = Verdict.INCONCLUSIVE
    elif start and start.get("restored"):
        result.notes.append(
            f"baseline: {', '.join(start['served']) or 'nothing'} served before it, not "
            f"{start['expected']}; mlchaos restored {start['expected']} first"
        )


def _save_series(
    experiment: Experiment, service: Service, run_dir: Path, result: ExperimentResult
) -> None:
    """Keep the SLIs of the experiment's window for the report's charts."""
    from mlchaos.observe.sli import capture, served_rate, while_in

    series = capture(experiment, service, result.timeline)
    path = RunDir(run_dir).series(experiment.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(series))
    result.load_rps = served_rate(series, result.timeline)
    result.slis_while_in = while_in(series, result.timeline)


def _version_mismatch(result: ExperimentResult, service: Service) -> dict[str, Any] | None:
    """For a fault that promoted a version, the share of answers it gave until reverted."""
    from mlchaos.observe.versions import measure

    if result.promoted is None:
        return None
    version, injected, reverted = result.promoted
    return measure(adapters.traffic(service), version, injected, reverted or datetime.now(UTC))


def _budget(result: ExperimentResult, service: Service) -> list[dict[str, Any]]:
    """What the fault's window cost each of the service's SLOs (`mlchaos.observe.budget`)."""
    from mlchaos.observe.budget import spent

    injected, reverted = result.timeline.get("injected"), result.timeline.get("reverted")
    if not service.slos or injected is None:
        return []
    start, now = parse_time(injected), datetime.now(UTC)
    end = parse_time(reverted) if reverted else now
    metrics = adapters.metrics(service)
    return [spent(metrics, slo, start, end, now) for slo in service.slos]


def _served(result: ExperimentResult, service: Service) -> dict[str, Any] | None:
    """Latency percentiles and the validation-failure share while the fault was in."""
    from mlchaos.observe.impact import served

    injected, reverted = result.timeline.get("injected"), result.timeline.get("reverted")
    if injected is None:
        return None
    end = parse_time(reverted) if reverted else datetime.now(UTC)
    return served(adapters.metrics(service), service.model, parse_time(injected), end)


def _fairness(result: ExperimentResult, service: Service) -> dict[str, Any] | None:
    """The gap between segments of the team's figure per segment, where it names one."""
    from mlchaos.observe.fairness import gap

    injected, reverted = result.timeline.get("injected"), result.timeline.get("reverted")
    if injected is None or service.segments is None or service.segments.score is None:
        return None
    end = parse_time(reverted) if reverted else datetime.now(UTC)
    return gap(adapters.metrics(service), service.segments.score, parse_time(injected), end)


def _describe(experiment: Experiment) -> str:
    fault = experiment.fault
    version = getattr(fault, "version", None)
    variant = f"version {version}" if version else getattr(fault, "variant", None)
    return f"{fault.type} ({variant})" if variant else fault.type


def _announce(result: ExperimentResult) -> None:
    progress.info("  → %s %s", result.name, result.verdict.upper())
    for reason in result.reasons:
        progress.info("    - %s", reason)
