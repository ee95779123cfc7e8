"""Which alerts a fault can set off, judged from the metrics their rules read.

A fault the chaos gateway applies *before* the model (a latency spike delays a request on
its way; an error burst answers it with a 5xx) is invisible to every metric the model server
measures: MLServer's request counters and histograms never see the delay or the refused
request. Only what is measured at the gateway (``mlchaos_gateway_*``), or in front of it (an
ingress mlchaos cannot know about), can. A fault in a request body or in the model itself
reaches the server, so its metrics can see it.

`mlchaos init` pairs a fault only with alerts that can see it, and `mlchaos doctor` warns
about a pairing written by hand that cannot.

    >>> blind_spot("error_burst", 'sum(rate(rest_server_requests_total{code=~"5.."}[1m])) > 1')
    ['rest_server_requests_total']
"""

from __future__ import annotations

import re

__all__ = ["BEFORE_MODEL", "EDGE_PREFIX", "blind_spot", "metric_names"]

EDGE_PREFIX = "mlchaos_gateway_"
"""Metrics the chaos gateway exports: measured where clients meet the service."""
BEFORE_MODEL = frozenset({"latency_spike", "error_burst"})
"""Fault types the gateway applies before the request reaches the model."""

_IDENTIFIER = re.compile(
    r"(?<![\w:.\"'])([A-Za-z_:][A-Za-z0-9_:]*)(?=\s*(\{|\[|\)|$|\s|[-+*/<>=!]))"
)
_NOT_METRICS = frozenset({
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "rate", "irate", "increase", "delta", "idelta",
    "deriv", "histogram_quantile", "abs", "absent", "absent_over_time", "ceil", "floor", "round",
    "clamp", "clamp_min", "clamp_max", "vector", "scalar", "time", "timestamp", "label_replace",
    "label_join", "sort", "sort_desc", "exp", "ln", "log2", "log10", "sqrt", "changes", "resets",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "quantile_over_time", "stddev_over_time", "last_over_time", "present_over_time",
    "predict_linear", "holt_winters", "day_of_week", "hour", "minute", "month", "year", "inf",
    "nan", "atan2", "sgn",
})  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, label names and
    strings aside)."""
    text = re.sub(r"\{[^}]*\}", "{}", re.sub(r"\"[^\"]*\"|'[^']*'", '""', expr))
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    names = {m.group(1) for m in _IDENTIFIER.finditer(text)}
    return {n for n in names if n.lower() not in _NOT_METRICS and not n[0].isdigit()}


def blind_spot(fault_type: str, expr: str) -> list[str] | None:
    """The metrics ``expr`` reads when none of them can see a ``fault_type`` fault; None when
    one can (or the fault reaches the model, or the expression names no metric to judge)."""
    if fault_type not in BEFORE_MODEL:
        return None
    names = metric_names(expr)
    if not names or any(n.startswith(EDGE_PREFIX) for n in names):
        return None
    return sorted(names)
