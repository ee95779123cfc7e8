"""Multiwindow, multi-burn-rate alerts for a service's SLOs, and their `promtool` unit tests.

For each SLO, recording rules give the error ratio over every window its tiers use
(``slo:sli_error:ratio_rate<window>``, labelled ``slo``); each tier is an alert that fires while
both its long and its short window burn the error budget ``factor`` times faster than the
period allows (the Google SRE workbook's "multiwindow, multi-burn-rate alerts").

A tier of factor F over a long window W sees a constant error ratio e (above F x budget) after

    t = F x budget x W / e

which is the arithmetic `detection_time` gives and the docs tabulate per profile.

    >>> [t.name for t in tiers_of(SloAlerting())]
    ['page', 'page-slow', 'ticket']
"""

from __future__ import annotations

import math
import re
from typing import Any

from mlchaos.schema.slo import PROFILES, WINDOW, BurnTier, SloAlerting, SloSpec

__all__ = [
    "PROFILES",
    "alert_name",
    "describe",
    "detection_time",
    "prom_duration",
    "slo_rule_tests",
    "slo_rules",
    "tiers_of",
    "windows",
]

def tiers_of(alerting: SloAlerting) -> tuple[BurnTier, ...]:
    """The tiers an SLO alerts with: its own, or its profile's. `KeyError` names a profile
    that does not exist (the loader reports it at its line)."""
    return alerting.tiers or PROFILES[alerting.profile or "workbook"]


def prom_duration(seconds: float) -> str:
    """A Prometheus duration, whole milliseconds at least: ``3600`` -> ``1h``, ``36`` -> ``36s``."""
    ms = max(1, round(seconds * 1000))
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def windows(slo: SloSpec) -> list[float]:
    """Every window (seconds, scaled) the SLO's tiers read, shortest first."""
    scale = slo.alerting.time_scale
    found = {w * scale for t in tiers_of(slo.alerting) for w in (t.long, t.short)}
    return sorted(found)


def alert_name(slo: SloSpec, tier: BurnTier, prefix: str = "") -> str:
    """``availability`` and ``page`` -> ``AvailabilityBurnRatePage``."""
    camel = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", slo.name) if p)
    tier_part = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", tier.name) if p)
    return f"{prefix}{camel}BurnRate{tier_part}"


def _record(window: float) -> str:
    return f"slo:sli_error:ratio_rate{prom_duration(window)}"


def slo_rules(slos: tuple[SloSpec, ...], prefix: str = "") -> list[dict[str, Any]]:
    """Rule groups: per SLO, its recording rules and its burn-rate alerts."""
    groups = []
    for slo in slos:
        scale = slo.alerting.time_scale
        records = [
            {
                "record": _record(w),
                "expr": f"({_windowed(slo.sli.errors, w)})\n/\n({_windowed(slo.sli.total, w)})",
                "labels": {"slo": slo.name},
            }
            for w in windows(slo)
        ]
        alerts = [_alert(slo, tier, scale, prefix) for tier in tiers_of(slo.alerting)]
        groups.append({"name": f"slo-{slo.name}", "rules": [*records, *alerts]})
    return groups


def _windowed(query: str, window: float) -> str:
    return query.replace(WINDOW, prom_duration(window))


def _alert(slo: SloSpec, tier: BurnTier, scale: float, prefix: str) -> dict[str, Any]:
    threshold = tier.factor * slo.budget
    long, short = tier.long * scale, tier.short * scale
    selector = f'{{slo="{slo.name}"}}'
    rule: dict[str, Any] = {
        "alert": alert_name(slo, tier, prefix),
        "expr": (
            f"{_record(long)}{selector} > {threshold:.10g}\n"
            f"and\n{_record(short)}{selector} > {threshold:.10g}"
        ),
    }
    if tier.for_:
        rule["for"] = prom_duration(tier.for_ * scale)
    scaled = f", time scaled x{scale:g}" if scale != 1 else ""
    rule["labels"] = {
        "severity": tier.severity,
        "slo": slo.name,
        "burn_profile": slo.alerting.profile or ("workbook" if not slo.alerting.tiers else "own"),
        "burn_tier": tier.name,
        "burn_factor": f"{tier.factor:g}",
    }
    rule["annotations"] = {
        "summary": (
            f"{slo.name} burns its error budget over {tier.factor:g}x the sustainable rate "
            f"over {prom_duration(long)} and {prom_duration(short)}{scaled}"
        ),
    }
    return rule


def detection_time(slo: SloSpec, tier: BurnTier, error_ratio: float) -> float | None:
    """Seconds from the start of a constant ``error_ratio`` until ``tier`` fires (its ``for``
    included), with the SLO's time scale; None when that ratio never burns fast enough."""
    threshold = tier.factor * slo.budget
    if error_ratio <= threshold:
        return None
    scale = slo.alerting.time_scale
    return threshold * tier.long * scale / error_ratio + tier.for_ * scale


def slo_rule_tests(
    slos: tuple[SloSpec, ...], rule_file: str, prefix: str = "", interval_s: float = 1.0
) -> dict[str, Any]:
    """A ``promtool test rules`` file for the alerts of ``slos``, on their recorded ratios:
    each tier fires when both windows burn above its factor, stays quiet when only the long
    window does (the burn has stopped), and when both stay just under it."""
    tests = []
    for slo in slos:
        scale = slo.alerting.time_scale
        for tier in tiers_of(slo.alerting):
            threshold = tier.factor * slo.budget
            long, short = tier.long * scale, tier.short * scale
            steps = math.ceil(max(tier.for_ * scale, interval_s) / interval_s) + 2
            at = prom_duration(steps * interval_s)
            name = alert_name(slo, tier, prefix)
            for case, (ratio_long, ratio_short, fires) in {
                "burning": (threshold * 1.5, threshold * 1.5, True),
                "stopped": (threshold * 1.5, threshold * 0.5, False),
                "within budget": (threshold * 0.9, threshold * 0.9, False),
            }.items():
                series = [
                    _series(long, slo, ratio_long, steps),
                    _series(short, slo, ratio_short, steps),
                ]
                expected = [_expected(slo, tier, name)] if fires else []
                tests.append({
                    "name": f"{name}: {case}",
                    "interval": prom_duration(interval_s),
                    "input_series": _distinct(series),
                    "alert_rule_test": [
                        {"eval_time": at, "alertname": name, "exp_alerts": expected}
                    ],
                })  # fmt: skip
    return {"rule_files": [rule_file], "evaluation_interval": prom_duration(interval_s),
            "tests": tests}  # fmt: skip


def _series(window: float, slo: SloSpec, ratio: float, steps: int) -> dict[str, str]:
    return {
        "series": f'{_record(window)}{{slo="{slo.name}"}}',
        "values": f"{ratio:.10g}x{steps + 1}",
    }


def _distinct(series: list[dict[str, str]]) -> list[dict[str, str]]:
    """One series per name: a tier whose windows coincide after scaling reads one series."""
    seen: dict[str, dict[str, str]] = {}
    for item in series:
        seen.setdefault(item["series"], item)
    return list(seen.values())


def _expected(slo: SloSpec, tier: BurnTier, name: str) -> dict[str, Any]:
    rule = _alert(slo, tier, slo.alerting.time_scale, "")
    return {
        "exp_labels": {"alertname": name, **rule["labels"]},
        "exp_annotations": rule["annotations"],
    }


def describe(slo: SloSpec) -> str:
    """One line per tier: factor, windows and the time a total outage takes to fire it."""
    lines = []
    for tier in tiers_of(slo.alerting):
        full = detection_time(slo, tier, 1.0)
        took = f"{full:.3g}s" if full is not None else "never"
        windows_ = f"{prom_duration(tier.long)}/{prom_duration(tier.short)}"
        lines.append(f"{alert_name(slo, tier)}: {tier.factor:g}x over {windows_}, "
                     f"a total outage fires it in {took}")  # fmt: skip
    return "\n".join(lines)
