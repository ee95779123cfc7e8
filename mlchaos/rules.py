"""Prometheus alert rules for a model service, as `mlchaos rules` prints them.

Every rule carries ``model`` and ``version`` labels from the series it fires on, a
``severity``, an ``action`` (``rollback`` routes it to the rollback controller as well as the
pager) and a ``runbook_url`` annotation. The output passes ``promtool check rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from mlchaos.burnrate import slo_rule_tests, slo_rules
from mlchaos.schema.slo import SloSpec
from mlchaos.schema.units import parse_duration

__all__ = ["RUNBOOK_OF", "RuleSettings", "alert_rules", "render_rule_tests", "render_rules"]


@dataclass(frozen=True)
class RuleSettings:
    """The model the rules watch, and the knobs that set each rule's sensitivity; the defaults
    are calibrated on the reference stack.

    The drift threshold is calibrated against the monitor's 1000-observation window on the
    replayed reference traffic: the largest score seen over 60,000 requests was 0.21 sigma
    (benchmarks/soak.py measures it live), so 0.3 leaves a margin, while a 0.5 sigma shift
    crosses it 60% of the way into the window.
    """

    model: str
    window: str = "3s"
    error_ratio: float = 0.05
    score_shift: float = 0.15
    min_scores: int = 60
    """A mean over fewer predictions is noise: when traffic stops (a schema change rejects it
    all) the last few scores' mean crossed 0.15 and rolled a good version back. With 60, the
    0.15 threshold is about four standard errors of the mean score."""
    min_segment_scores: int = 30
    latency_objective_s: float = 0.25
    """A request slower than this is slow; it must be a bucket bound of the histograms."""
    slow_share: float = 0.2
    """The latency rules fire on the share of slow requests, not on a p99. On 2 cores with
    another process keeping one busy, a 3 s p99 crossed 250 ms in 6 of 166 seconds at 250 req/s
    (and both p99 rules paged) while the share of slow requests peaked at 0.17; a third of
    requests delayed (the latency spike) or a slow build (every request) is 0.33 to 1."""
    validation_ratio: float = 0.05
    drift_score: float = 0.3
    segment_gap: float = 0.2
    accuracy_drop: float = 0.15
    label_window: str = "15s"
    """Labels arrive slower than requests, so accuracy is judged over a longer window."""
    for_: str = "1s"
    keep_firing_for: str | None = None
    """Prometheus 2.42+: how long a ``rollback`` alert stays firing after its expression
    clears. A rollback set off by a sibling alert (a bad version trips the score shift and the
    segment gap within a second) can clear this alert before Alertmanager's group wait ends,
    and then it never pages; on a busy 2-core runner the shift alert fired at +3.1 s, the
    segment gap's rollback landed at +3.1 s, and no page for the shift ever came. Unset, the
    key is left out, so older Prometheus versions load the rules."""
    evaluation_interval: str = "1s"
    alert_prefix: str = ""
    """Prepended to every alert name, for teams with their own naming."""
    runbook_base_url: str = "https://runbooks.example.invalid/mlchaos"


def alert_rules(settings: RuleSettings) -> dict[str, Any]:
    """The rule file as a dict, ready for YAML."""
    s, w = settings, settings.window
    model = f'model="{s.model}"'
    per_version = "sum by (model, version)"
    requests = f"{per_version} (rate(mlchaos_model_requests_total{{{model}}}[{w}]))"
    edge = f"sum by (model) (rate(mlchaos_gateway_requests_total{{{model}}}[{w}]))"
    rules = [
        _rule(
            s,
            "ModelHighErrorRate",
            "critical",
            "rollback",
            f'{per_version} (rate(mlchaos_model_requests_total{{{model},code=~"5.."}}[{w}]))\n'
            f"  / {requests}\n  > {s.error_ratio:g}",
            "{{ $labels.model }} {{ $labels.version }} fails {{ $value | humanizePercentage }}"
            " of requests",
        ),
        _rule(
            s,
            "ModelPredictionShift",
            "critical",
            "rollback",
            f"abs(\n  {per_version} (rate(mlchaos_model_prediction_score_sum{{{model}}}[{w}]))\n"
            f"  / {per_version} (rate(mlchaos_model_prediction_score_count{{{model}}}[{w}]))\n"
            f"  - on (model) group_left\n"
            f"    max by (model) (mlchaos_model_reference_positive_share{{{model}}})\n"
            f") > {s.score_shift:g}\n"
            f"and {per_version} (increase(mlchaos_model_prediction_score_count{{{model}}}[{w}]))"
            f" >= {s.min_scores}",
            "{{ $labels.model }} {{ $labels.version }} mean score is {{ $value | humanize }}"
            " away from the training reference",
        ),
        _rule(
            s,
            "ModelSlowRequests",
            "critical",
            "rollback",
            _slow_share("mlchaos_model_request_duration_seconds", "model, version", model, s),
            "{{ $labels.model }} {{ $labels.version }} answers {{ $value | humanizePercentage }} "
            f"of requests slower than {s.latency_objective_s:g}s",
        ),
        _rule(
            s,
            "ModelInputValidationFailures",
            "critical",
            "fallback",
            f"sum by (model) (rate(mlchaos_model_validation_failures_total{{{model}}}[{w}]))\n"
            f"  / sum by (model) (rate(mlchaos_model_requests_total{{{model}}}[{w}]))\n"
            f"  > {s.validation_ratio:g}",
            "{{ $labels.model }} rejects {{ $value | humanizePercentage }} of requests",
        ),
        _rule(
            s,
            "ModelFeatureDrift",
            "warning",
            "fallback",
            f'max by (model, feature) (mlchaos_model_drift_score{{{model},stat="mean"}})\n'
            f"  > {s.drift_score:g}",
            "{{ $labels.model }} input {{ $labels.feature }} drifted {{ $value | humanize }}"
            " sigma from the training data",
        ),
        _rule(
            s,
            "EdgeHighErrorRate",
            "critical",
            "fallback",
            f'sum by (model) (rate(mlchaos_gateway_requests_total{{{model},code=~"5.."}}[{w}]))\n'
            f"  / {edge}\n  > {s.error_ratio:g}",
            "clients of {{ $labels.model }} see {{ $value | humanizePercentage }} errors",
        ),
        _rule(
            s,
            "EdgeSlowRequests",
            "critical",
            "fallback",
            _slow_share("mlchaos_gateway_request_duration_seconds", "model", model, s),
            "clients of {{ $labels.model }} wait longer than "
            f"{s.latency_objective_s:g}s for {{{{ $value | humanizePercentage }}}} of requests",
        ),
    ]
    segment = "sum by (model, version, segment)"
    labels = "sum by (model) (rate(mlchaos_model_labels_total"
    lw = s.label_window
    rules += [
        _rule(
            s,
            "ModelSegmentGap",
            "critical",
            "rollback",
            f"abs(\n  {segment} (rate(mlchaos_model_segment_score_sum{{{model}}}[{w}]))\n"
            f"  / {segment} (rate(mlchaos_model_segment_score_count{{{model}}}[{w}]))\n"
            f"  - on (model, segment) group_left\n"
            f"    max by (model, segment) "
            f"(mlchaos_model_reference_segment_positive_share{{{model}}})\n"
            f") > {s.segment_gap:g}\n"
            f"and {segment} (increase(mlchaos_model_segment_score_count{{{model}}}[{w}]))"
            f" >= {s.min_segment_scores}",
            "{{ $labels.model }} {{ $labels.version }} scores segment {{ $labels.segment }}"
            " {{ $value | humanize }} away from its training reference",
        ),
        _rule(
            s,
            "ModelAccuracyDrop",
            "critical",
            "retrain",
            f'{labels}{{{model},outcome="correct"}}[{lw}]))\n'
            f'  / {labels}{{{model},outcome=~"correct|wrong"}}[{lw}]))\n'
            f"  < on (model)\n"
            f"  max by (model) (mlchaos_model_reference_accuracy{{{model}}}) - {s.accuracy_drop:g}",
            "{{ $labels.model }} is right on {{ $value | humanizePercentage }} of labelled"
            " requests",
        ),
    ]
    return {
        "groups": [
            {"name": f"mlchaos-{s.model}", "interval": s.evaluation_interval, "rules": rules}
        ]
    }


RUNBOOK_OF = {
    "ModelHighErrorRate": "bad-version",
    "ModelPredictionShift": "bad-version",
    "ModelSlowRequests": "bad-version",
    "ModelInputValidationFailures": "input-validation",
    "ModelFeatureDrift": "data-drift",
    "EdgeHighErrorRate": "edge-degradation",
    "EdgeSlowRequests": "edge-degradation",
    "ModelSegmentGap": "segment-regression",
    "ModelAccuracyDrop": "concept-drift",
}
"""Each rule's runbook (runbooks/NAME.md.j2), linked from its ``runbook_url``."""


def _slow_share(histogram: str, by: str, model: str, s: RuleSettings) -> str:
    """The share of requests slower than the latency objective, from a histogram's buckets."""
    window, le = s.window, f'le="{s.latency_objective_s:g}"'
    fast = f"sum by ({by}) (rate({histogram}_bucket{{{model},{le}}}[{window}]))"
    every = f"sum by ({by}) (rate({histogram}_count{{{model}}}[{window}]))"
    return f"1 - {fast}\n  / {every}\n  > {s.slow_share:g}"


def _rule(
    s: RuleSettings, name: str, severity: str, action: str, expr: str, summary: str
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": f"{s.alert_prefix}{name}", "expr": expr, "for": s.for_}
    if s.keep_firing_for and action == "rollback":
        rule["keep_firing_for"] = s.keep_firing_for
    return {
        **rule,
        "labels": {"severity": severity, "action": action},
        "annotations": {
            "summary": summary,
            "runbook_url": f"{s.runbook_base_url}/{RUNBOOK_OF[name]}.md",
        },
    }


def render_rules(settings: RuleSettings, slos: tuple[SloSpec, ...] = ()) -> str:
    """The rule file: the model's alerts, and each SLO's burn-rate rules (`mlchaos.burnrate`)."""
    document = alert_rules(settings)
    for group in slo_rules(slos, settings.alert_prefix):
        document["groups"].append({**group, "interval": settings.evaluation_interval})
    return _dump(document)


def render_rule_tests(settings: RuleSettings, slos: tuple[SloSpec, ...], rule_file: str) -> str:
    """``promtool test rules`` unit tests of the SLOs' burn-rate alerts in ``rule_file``."""
    interval = parse_duration(settings.evaluation_interval)
    return _dump(slo_rule_tests(slos, rule_file, settings.alert_prefix, interval))


def _dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_ReadableDumper, sort_keys=False, width=100)


class _ReadableDumper(yaml.SafeDumper):
    """Writes multi-line PromQL as literal blocks, as a person would."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _str)
