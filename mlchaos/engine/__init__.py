"""The engine: compile an experiment for Chaos Toolkit, run it, and judge it from the journal."""

__all__ = []
