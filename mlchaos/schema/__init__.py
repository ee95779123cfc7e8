"""Pydantic models for the documents users write: experiments and scenarios."""

from mlchaos.schema.experiment import (
    BadVersionFault,
    DataDriftFault,
    ErrorBurstFault,
    Expectations,
    Experiment,
    Fault,
    GatewayFault,
    LatencySpikeFault,
    MissingFeaturesFault,
    SchemaChangeFault,
    Slo,
)
from mlchaos.schema.scenario import Load, Responders, Scenario
from mlchaos.schema.units import Duration, Share, Sigma, parse_duration, parse_share, parse_sigma

__all__ = [
    "BadVersionFault",
    "DataDriftFault",
    "Duration",
    "ErrorBurstFault",
    "Expectations",
    "Experiment",
    "Fault",
    "GatewayFault",
    "LatencySpikeFault",
    "Load",
    "MissingFeaturesFault",
    "Responders",
    "Scenario",
    "SchemaChangeFault",
    "Share",
    "Sigma",
    "Slo",
    "parse_duration",
    "parse_share",
    "parse_sigma",
]
