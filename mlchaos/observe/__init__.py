"""Clients for the systems that own each event's time: Prometheus, Alertmanager, PagerDuty,
the registry. Each raises `ObservationError` when its system cannot be read."""

__all__ = []
