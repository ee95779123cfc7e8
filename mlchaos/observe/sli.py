"""The SLIs around one experiment, read back from Prometheus once it ends, for the report's charts.

Saved as ``series/NAME.json`` beside ``results.json`` so that `mlchaos report` can redraw the
charts later without Prometheus. Each SLO keeps its worst series per timestamp, the value the
steady-state check itself judges.

>>> capture(experiment, service, result.timeline)
{'start_s': -15.0, 'end_s': ..., 'slis': [{'name': 'traffic', 'points': [[0.0, 500.0], ...]}]}
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlchaos.errors import ObservationError
from mlchaos.observe import adapters
from mlchaos.observe.adapters import Metrics
from mlchaos.observe.slo import worst
from mlchaos.schema import Experiment, Slo
from mlchaos.service import Service

__all__ = ["LEAD_S", "TAIL_S", "capture", "served_rate", "while_in"]

LEAD_S = 15.0
"""How much steady state to show before injection."""
TAIL_S = 10.0


def capture(
    experiment: Experiment, service: Service, timeline: dict[str, str | None]
) -> dict[str, Any]:
    """Range-query each SLO (and traffic) over the experiment's window, offsets from injection."""
    injected = timeline.get("injected")
    if injected is None:
        return {"slis": [], "error": "the fault was never injected"}
    start = datetime.fromisoformat(injected)
    last = max(datetime.fromisoformat(t) for t in timeline.values() if t is not None)
    end = min(last + timedelta(seconds=TAIL_S), datetime.now(UTC))
    window = (start - timedelta(seconds=LEAD_S), end)
    prometheus = adapters.metrics(service)
    slos = (*experiment.steady_state, service.traffic_slo(experiment.min_traffic_rps))
    return {
        "start_s": -LEAD_S,
        "end_s": (window[1] - start).total_seconds(),
        "slis": [_series(prometheus, slo, start, window) for slo in slos],
    }


def _series(
    prometheus: Metrics, slo: Slo, injected: datetime, window: tuple[datetime, datetime]
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": slo.name,
        "query": slo.query,
        "condition": slo.condition,
        "threshold": slo.below if slo.below is not None else slo.above,
        "points": [],
    }
    try:
        by_time = prometheus.range_values(slo.query, window[0], window[1], 1.0)
    except ObservationError as exc:
        return {**view, "error": str(exc)}
    zero = injected.timestamp()
    view["points"] = [[round(t - zero, 3), worst(slo, vs)] for t, vs in by_time.items() if vs]
    if not view["points"]:
        view["error"] = f"no samples for {slo.query}"
    return view


def served_rate(series: dict[str, Any], timeline: dict[str, str | None]) -> float | None:
    """The mean request rate the service itself counted while the fault was in (the traffic
    SLI), or None when it was not recorded: the load during the experiment, not Locust's."""
    injected, reverted = timeline.get("injected"), timeline.get("reverted")
    traffic = next((s for s in series.get("slis", []) if s["name"] == "traffic"), None)
    if traffic is None or injected is None or reverted is None:
        return None
    end = (datetime.fromisoformat(reverted) - datetime.fromisoformat(injected)).total_seconds()
    inside = [v for t, v in traffic["points"] if 0 <= t <= end]
    return round(sum(inside) / len(inside), 1) if inside else None


def while_in(series: dict[str, Any], timeline: dict[str, str | None]) -> list[dict[str, Any]]:
    """Each steady-state SLI's worst value while the fault was in (injection to revert), and
    whether its SLO held: what broke, and what stayed green (a silent failure keeps latency
    within its SLO while the model is fed wrong). Reported, never judged: recovery is."""
    injected, reverted = timeline.get("injected"), timeline.get("reverted")
    if injected is None or reverted is None:
        return []
    end = (datetime.fromisoformat(reverted) - datetime.fromisoformat(injected)).total_seconds()
    seen = []
    for sli in series.get("slis", []):
        if sli["name"] == "traffic" or sli.get("threshold") is None:
            continue
        inside = [v for t, v in sli.get("points", []) if 0 <= t <= end]
        below = str(sli["condition"]).startswith("<")
        worst_value = (max(inside) if below else min(inside)) if inside else None
        held = None if worst_value is None else (
            worst_value < sli["threshold"] if below else worst_value > sli["threshold"])
        seen.append({"name": sli["name"], "condition": "below" if below else "above",
                     "threshold": sli["threshold"], "worst": worst_value, "held": held})
    return seen
