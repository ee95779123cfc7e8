"""A game day over several services, as one results document grouped by service.

Each service's game day keeps its own run folder (every report of a one-service game day);
this document lists them (``services``) and holds all their experiments, each naming its
service, so report.html, junit.xml and `mlchaos report` group by service.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mlchaos.schema.results import ResultsDocument, ServiceRun
from mlchaos.vocabulary import EXIT_OF, Exit, worst

__all__ = ["combine", "exit_code"]


def combine(
    scenario: str,
    runs: list[tuple[ServiceRun, ResultsDocument | None]],
    parallel: bool,
    started_at: str,
) -> ResultsDocument:
    """One document from each service's (None where its game day wrote none: its
    `ServiceRun` says why). The verdict is the worst of theirs; a service with no verdict
    of its own is inconclusive."""
    experiments = []
    false_alarms = []
    problems = []
    for run, document in runs:
        problems += [f"{run.name}: {p}" for p in run.problems]
        if document is None:
            continue
        experiments += [e.model_copy(update={"service": run.name}) for e in document.experiments]
        false_alarms += [f"{run.name}: {a}" for a in document.false_alarms]
    verdicts: list[str] = [run.verdict for run, _ in runs]
    document = ResultsDocument(
        scenario=scenario,
        verdict=worst(verdicts),
        started_at=started_at,
        finished_at=datetime.now(UTC).isoformat(),
        responders=next((d.responders for _, d in runs if d is not None), "automated"),
        interrupted=any(run.interrupted for run, _ in runs),
        false_alarms=false_alarms,
        experiments=experiments,
        services=[run for run, _ in runs],
        parallel=parallel,
    )
    document.baseline.problems.extend(problems)
    return document


def exit_code(document: ResultsDocument) -> Exit:
    """Interrupted if any service's game day was; else the combined verdict's code."""
    return Exit.INTERRUPTED if document.interrupted else EXIT_OF[document.verdict]
