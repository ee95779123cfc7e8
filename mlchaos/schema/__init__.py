"""Pydantic models of the published documents: what users write (experiment, scenario,
service, runbook) and what mlchaos writes (results). `published` makes their JSON Schemas."""

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
