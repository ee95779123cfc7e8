"""Pydantic models for the documents users write: experiments and scenarios."""

from mlchaos.schema.experiment import (
    BadVersionFault,
    Expectations,
    Experiment,
    Fault,
    Slo,
)
from mlchaos.schema.scenario import Load, Responders, Scenario
from mlchaos.schema.units import Duration, parse_duration

__all__ = [
    "BadVersionFault",
    "Duration",
    "Expectations",
    "Experiment",
    "Fault",
    "Load",
    "Responders",
    "Scenario",
    "Slo",
    "parse_duration",
]
