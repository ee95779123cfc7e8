"""What an experiment cost each of the service's SLOs (its ``slos:``), read from Prometheus over
the fault's window: the error budget consumed, the peak burn rate, and, per burn-rate tier,
whether it fired and whether the profile's arithmetic says it should have.

    consumed = burn x window / period        burn = error ratio / (1 - objective)

with the period and the tiers' windows multiplied by the SLO's ``time_scale``, as the generated
rules are (`mlchaos.burnrate`). The average error ratio is taken over the whole window; the peak
burn over the tiers' shortest window, a sample a second. A tier *should* have fired when, at some
second, both its windows burned above its factor (its ``for`` aside): a diluted canary often
should not page, and this says so rather than leave a silent pager unexplained.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlchaos.burnrate import alert_name, prom_duration, tiers_of, windows
from mlchaos.errors import ObservationError
from mlchaos.observe.adapters import Metrics
from mlchaos.schema.slo import WINDOW, SloSpec

__all__ = ["spent", "value_at"]


def _ratio(slo: SloSpec, window_s: float) -> str:
    window = prom_duration(window_s)
    errors = slo.sli.errors.replace(WINDOW, window)
    total = slo.sli.total.replace(WINDOW, window)
    return f"(({errors}) / ({total}))"


def value_at(metrics: Metrics, query: str, when: datetime) -> float | None:
    """The largest value ``query`` has at ``when``; None when it has none (NaN: 0/0, none)."""
    found = metrics.range_values(query, when, when, 1.0)
    values = [v for vs in found.values() for v in vs if v == v]
    return max(values, default=None)


def spent(
    metrics: Metrics, slo: SloSpec, start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    """The SLO's budget figures for ``[start, end]``; ``reason`` says why one is missing."""
    scale = slo.alerting.time_scale
    window_s = max(1.0, round((end - start).total_seconds()))
    span = prom_duration(window_s)
    found: dict[str, Any] = {
        "slo": slo.name, "objective": slo.objective, "time_scale": scale,
        "period_s": slo.period * scale, "window_s": window_s,
    }  # fmt: skip
    try:
        ratio = value_at(metrics, _ratio(slo, window_s), end)
        shortest = windows(slo)[0]
        peak = value_at(metrics, f"max_over_time({_ratio(slo, shortest)}[{span}:1s])", end)
        tiers = []
        for tier in tiers_of(slo.alerting):
            threshold = f"{tier.factor * slo.budget:.10g}"
            both = (f"({_ratio(slo, tier.long * scale)} > {threshold}) and "
                    f"({_ratio(slo, tier.short * scale)} > {threshold})")  # fmt: skip
            should = value_at(metrics, f"max_over_time(({both})[{span}:1s])", end) is not None
            # from the injection until now, a little after the revert: an alert's ``for`` lags
            since = prom_duration(max(1.0, round((now - start).total_seconds())))
            name = alert_name(slo, tier)
            selector = f'ALERTS{{alertname="{name}",alertstate="firing"}}'
            fired = value_at(metrics, f"max_over_time({selector}[{since}])", now) is not None
            tiers.append({"tier": tier.name, "factor": tier.factor, "severity": tier.severity,
                          "alert": name, "should_fire": should, "fired": fired})  # fmt: skip
    except ObservationError as exc:
        return {**found, "reason": f"Prometheus could not be read: {exc}"}
    if ratio is None:
        return {**found, "reason": "no data: the SLI's queries returned nothing over the window"}
    burn = ratio / slo.budget
    return {
        **found, "error_ratio": ratio, "burn_rate": burn,
        "consumed": burn * window_s / (slo.period * scale),
        "peak_burn": peak / slo.budget if peak is not None else None,
        "peak_window_s": shortest, "tiers": tiers,
    }  # fmt: skip

